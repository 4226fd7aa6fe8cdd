/*
 * NAME
 *	inval - the invalidation thread and its queue
 * DESCRIPTION
 *	Producers (the control channel's flush, the backing watcher) append
 *	requests to a list under a mutex; one thread sends them with
 *	fuse_lowlevel_notify_inval_entry / _inval_inode. An unbounded list
 *	would let a storm of outside changes eat memory: past INVAL_MAX
 *	queued requests, new ones are dropped and counted (the kernel's
 *	cached entries then expire by their timeouts; use flush mode where
 *	that is too late).
 * DIAGNOSTICS
 *	ENOENT from the kernel (nothing cached) is normal and silent; other
 *	errors are logged once per kind.
 */
#include "queuefs.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "inval.h"
#include "log.h"

#define INVAL_MAX 65536

struct inval_req {
	struct inval_req *next;
	uint64_t ino; /* the inode, or the parent of NAME */
	char name[];  /* empty: an inode invalidation */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct inval_req *head, **tail;
	size_t queued;
	int stop;
	int running;
	pthread_t thread;
	struct fuse_session *se;
	atomic_uint_fast64_t sent, dropped;
} iq = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* inval_main - send queued invalidations until stopped */
static void *inval_main(void *arg)
{
	int warned = 0;

	(void)arg;
	pthread_mutex_lock(&iq.lock);
	for (;;) {
		struct inval_req *r;
		int err;

		while (!iq.head && !iq.stop)
			pthread_cond_wait(&iq.wake, &iq.lock);
		if (!iq.head)
			break;
		r = iq.head;
		iq.head = r->next;
		if (!iq.head)
			iq.tail = &iq.head;
		iq.queued--;
		pthread_mutex_unlock(&iq.lock);

		if (r->name[0])
			err = fuse_lowlevel_notify_inval_entry(iq.se, r->ino, r->name, strlen(r->name));
		else
			err = fuse_lowlevel_notify_inval_inode(iq.se, r->ino, 0, 0);
		if (err == 0)
			atomic_fetch_add(&iq.sent, 1);
		else if (err != -ENOENT && !warned++)
			log_warn(-err, "inval: notify %s", r->name[0] ? r->name : "inode");
		free(r);
		pthread_mutex_lock(&iq.lock);
	}
	pthread_mutex_unlock(&iq.lock);
	return NULL;
}

/* inval_push - queue one request (dropped, and counted, when the queue is full) */
static void inval_push(uint64_t ino, const char *name)
{
	size_t len = name ? strlen(name) : 0;
	struct inval_req *r;

	if (!iq.running)
		return;
	r = malloc(sizeof(*r) + len + 1);
	if (!r) {
		atomic_fetch_add(&iq.dropped, 1);
		return;
	}
	r->next = NULL;
	r->ino = ino;
	memcpy(r->name, name ? name : "", len + 1);
	pthread_mutex_lock(&iq.lock);
	if (iq.queued >= INVAL_MAX) {
		pthread_mutex_unlock(&iq.lock);
		free(r);
		if (atomic_fetch_add(&iq.dropped, 1) == 0)
			log_warnx("inval: queue full, dropping invalidations (kernel caches expire by "
				  "timeout)");
		return;
	}
	*iq.tail = r;
	iq.tail = &r->next;
	iq.queued++;
	pthread_cond_signal(&iq.wake);
	pthread_mutex_unlock(&iq.lock);
}

void inval_entry(uint64_t parent, const char *name)
{
	if (name && name[0])
		inval_push(parent, name);
}

void inval_inode(uint64_t ino)
{
	inval_push(ino, NULL);
}

uint64_t inval_sent(void)
{
	return atomic_load(&iq.sent);
}

/* inval_start - the sending thread for session SE */
int inval_start(struct fuse_session *se)
{
	int err;

	iq.se = se;
	iq.tail = &iq.head;
	iq.stop = 0;
	err = pthread_create(&iq.thread, NULL, inval_main, NULL);
	if (err) {
		log_warn(err, "inval: thread");
		return -err;
	}
	iq.running = 1;
	return 0;
}

/* inval_stop - drop what is queued (the mount is going away) and join */
void inval_stop(void)
{
	if (!iq.running)
		return;
	pthread_mutex_lock(&iq.lock);
	iq.running = 0;
	while (iq.head) {
		struct inval_req *r = iq.head;

		iq.head = r->next;
		free(r);
	}
	iq.tail = &iq.head;
	iq.queued = 0;
	iq.stop = 1;
	pthread_cond_signal(&iq.wake);
	pthread_mutex_unlock(&iq.lock);
	pthread_join(iq.thread, NULL);
}
