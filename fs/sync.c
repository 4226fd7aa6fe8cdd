/*
 * NAME
 *	sync - dirty tracking and the fsyncdir fan-out
 * DESCRIPTION
 *	Every backing has one worker thread that runs the directory fsyncs
 *	handed to it, so that a fsyncdir touching copies on several disks
 *	waits for the slowest disk, not for the sum of them. The calling FUSE
 *	thread syncs one copy itself and hands the others to their workers.
 * DIAGNOSTICS
 *	A failed fsync is logged with the backing and directory, its copy is
 *	marked dirty again, and the error goes back to the caller: the MTA
 *	must learn that its directory is not durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sync.h"

struct sync_batch {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int pending;
};

struct sync_job {
	struct sync_job *next;
	int fd;	  /* O_PATH fd of the directory copy */
	int bidx; /* its backing: which worker, which dirty bit */
	int datasync;
	int err;
	struct sync_batch *batch;
};

struct sync_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct sync_job *head, **tail;
	int stop;
	int started;
};

static struct sync_worker workers[QFS_MAX_BACKINGS];
static int nworkers;

/* sync_fd - fsync a directory known by an O_PATH fd */
static int sync_fd(int pathfd, int datasync)
{
	int fd, err = 0;

	fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* sync_worker_main - run the jobs of one backing, one at a time */
static void *sync_worker_main(void *arg)
{
	struct sync_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct sync_job *j;

		while (!w->head && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->head)
			break;
		j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);

		j->err = sync_fd(j->fd, j->datasync);
		pthread_mutex_lock(&j->batch->lock);
		if (--j->batch->pending == 0)
			pthread_cond_signal(&j->batch->done);
		pthread_mutex_unlock(&j->batch->lock);

		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* sync_start - one worker per backing */
int sync_start(struct fs *fs)
{
	nworkers = fs->layout->n;
	for (int i = 0; i < nworkers; i++) {
		struct sync_worker *w = &workers[i];
		int err;

		memset(w, 0, sizeof(*w));
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->wake, NULL);
		w->tail = &w->head;
		err = pthread_create(&w->thread, NULL, sync_worker_main, w);
		if (err) {
			log_warn(err, "sync_start: worker for %s", fs->layout->b[i].path);
			return -err;
		}
		w->started = 1;
	}
	return 0;
}

/* sync_stop - finish queued jobs and join the workers */
void sync_stop(void)
{
	for (int i = 0; i < nworkers; i++) {
		struct sync_worker *w = &workers[i];

		if (!w->started)
			continue;
		pthread_mutex_lock(&w->lock);
		w->stop = 1;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->started = 0;
	}
	nworkers = 0;
}

/* busy_add - DELTA directory fsyncs on every backing in MASK (place_pick reads them) */
static void busy_add(struct fs *fs, uint64_t mask, int delta)
{
	for (int b = 0; b < fs->layout->n; b++)
		if (mask & (UINT64_C(1) << b))
			atomic_fetch_add_explicit(&fs->layout->b[b].busy, delta, memory_order_relaxed);
}

/* sync_dir - make every dirty copy of D durable */
int sync_dir(struct fs *fs, struct node *d, int datasync)
{
	struct sync_job jobs[QFS_MAX_BACKINGS];
	struct sync_batch batch = { .pending = 0 };
	uint64_t mask = atomic_exchange(&d->dir->dirty, 0);
	int inline_b = -1, err = 0, n = 0;

	if (!mask)
		return 0;
	busy_add(fs, mask, 1);
	pthread_mutex_init(&batch.lock, NULL);
	pthread_cond_init(&batch.done, NULL);
	for (int b = 0; b < fs->layout->n; b++) {
		if (!(mask & (UINT64_C(1) << b)))
			continue;
		/* The first copy is synced by this thread; the rest in parallel. */
		if (inline_b < 0) {
			inline_b = b;
			continue;
		}
		if (b >= nworkers || !workers[b].started) {
			/* No worker (its start failed): sync it here, in series. */
			int r = sync_fd(node_dir_fd(d, b), datasync);

			if (r < 0) {
				err = r;
				sync_mark(d, b);
				log_warn(-r, "sync_dir: fsync directory copy on %s", fs->layout->b[b].path);
			}
			continue;
		}
		jobs[n++] = (struct sync_job){
			.fd = node_dir_fd(d, b), .bidx = b, .datasync = datasync, .batch = &batch
		};
	}
	pthread_mutex_lock(&batch.lock);
	batch.pending = n;
	pthread_mutex_unlock(&batch.lock);
	for (int i = 0; i < n; i++) {
		struct sync_worker *w = &workers[jobs[i].bidx];

		pthread_mutex_lock(&w->lock);
		jobs[i].next = NULL;
		*w->tail = &jobs[i];
		w->tail = &jobs[i].next;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
	}
	if (inline_b >= 0) {
		int r = sync_fd(node_dir_fd(d, inline_b), datasync);

		if (r < 0) {
			err = r;
			sync_mark(d, inline_b);
			log_warn(-r, "sync_dir: fsync directory copy on %s", fs->layout->b[inline_b].path);
		}
	}
	pthread_mutex_lock(&batch.lock);
	while (batch.pending > 0)
		pthread_cond_wait(&batch.done, &batch.lock);
	pthread_mutex_unlock(&batch.lock);
	for (int i = 0; i < n; i++) {
		if (jobs[i].err < 0) {
			err = jobs[i].err;
			sync_mark(d, jobs[i].bidx);
			log_warn(-err, "sync_dir: fsync directory copy on %s",
				 fs->layout->b[jobs[i].bidx].path);
		}
	}
	pthread_cond_destroy(&batch.done);
	pthread_mutex_destroy(&batch.lock);
	busy_add(fs, mask, -1);
	return err;
}
