/*
 * NAME
 *	qgen - MTA-shaped queue workload generator
 *
 * SYNOPSIS
 *	qgen [-w workers] [-p] [-A] [-s bytes] [-F] [-S] [-L] [-t secs | -n count]
 *	     [-b rewrites] [-B depth] [-r msecs] [-q] QDIR...
 *
 * DESCRIPTION
 *	Each worker queues and delivers messages the way sendmail does with
 *	its queue on QDIR: df created O_EXCL, written, fsynced; tf created
 *	O_EXCL, flocked, written, fsynced and renamed over qf; with -S
 *	(SuperSafe) the directory is fsynced after the rename and after the
 *	unlinks. Delivery reads qf and df back and checks them byte for byte,
 *	writes and removes an xf transcript, then unlinks df and qf.
 *
 *	With -b R (backlog) a message is deferred R times before delivery:
 *	each worker keeps -B messages queued and visits them in turn, and
 *	every visit locks qf, reads qf and df, writes an xf and rewrites qf
 *	through a new tf renamed over it, as a queue run does for deferred
 *	mail. Its messages/s counts work units in the timed window: one
 *	message is R + 2 units (queue, R rewrites, delivery). The backlog is
 *	drained, untimed, at the end.
 *
 *	Several QDIRs form a multi-queue (sendmail QUEUE_DIR=/q/q.*): message
 *	k of worker w goes to queue (w + k) mod N; with -A every message of
 *	worker w goes to queue w mod N (each worker keeps to one queue, as a
 *	per-queue daemon would). With -L every QDIR holds
 *	qf/ df/ xf/ subdirectories (created if missing), as in sendmail's
 *	native layout. A missing QDIR is created (its parent must exist).
 *	A queue-runner thread lists every qf directory every
 *	-r milliseconds.
 *
 *	Output: a table of per-operation latency percentiles and one line
 *	"RESULT key=value ..." for scripts.
 *
 * DIAGNOSTICS
 *	Any failed system call, any content read back that differs from what
 *	was written, and any file left in a queue directory at the end is
 *	reported on stderr and makes the exit status 1. Usage errors exit 2.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QGEN_MAX_QUEUES	 256
#define QGEN_MAX_WORKERS 1024
#define QGEN_MAX_DEPTH	 256
#define QGEN_QF_BYTES	 600 /* a typical qf: envelope, headers */
#define QGEN_XF_BYTES	 200
#define QGEN_ID_LEN	 32

/* Operations whose latency is recorded, in table order. */
enum qgen_op {
	OP_MESSAGE,
	OP_CREATE,
	OP_WRITE,
	OP_FSYNC,
	OP_RENAME,
	OP_FSYNCDIR,
	OP_FLOCK,
	OP_OPEN,
	OP_READ,
	OP_UNLINK,
	OP_READDIR,
	OP_COUNT
};

static const char *const qgen_op_names[OP_COUNT] = {
	"message", "create", "write", "fsync",	"rename",  "fsyncdir",
	"flock",   "open",   "read",  "unlink", "readdir",
};

/*
 * Log-linear histogram of nanoseconds: 16 sub-buckets per power of two,
 * so percentiles are within ~6 %, in a fixed 8 KiB per operation.
 */
#define HIST_SUB  16
#define HIST_SIZE (64 * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t b[HIST_SIZE];
};

/* Per-worker results, in shared memory so process workers can fill them. */
struct worker_stats {
	struct hist h[OP_COUNT];
	uint64_t messages; /* delivered */
	uint64_t units;	   /* backlog: units done inside the timed window */
	uint64_t bytes_checked;
	int failed;
};

/* Shared control block (MAP_SHARED: valid for threads and processes). */
struct shared {
	atomic_int go;
	atomic_int stop;
	atomic_int failed;
	atomic_ulong claimed; /* -n: messages handed out */
	struct worker_stats runner;
	struct worker_stats w[];
};

struct queue {
	char path[PATH_MAX];
	char qf[PATH_MAX], df[PATH_MAX], xf[PATH_MAX];
};

struct opts {
	int workers;
	bool procs;
	size_t size;
	bool fsync;
	bool dirsync;
	bool subdirs;
	bool affinity; /* -A: worker w keeps to queue w mod N */
	double secs;
	unsigned long count;
	int rewrites; /* backlog when > 0 */
	int depth;
	int runner_ms;
	bool quiet;
	char tag[8];
	int nq;
	struct queue q[QGEN_MAX_QUEUES];
};

static struct opts opt = {
	.workers = 1,
	.size = 4096,
	.fsync = true,
	.secs = 5,
	.depth = 4,
	.runner_ms = 100,
};
static struct shared *sh;

/* Directory fds of one queue, per worker (fsync on a private fd). */
struct qfds {
	int qf, df, xf;
};

/* One message in flight. */
struct msg {
	bool used;
	char id[QGEN_ID_LEN];
	int q;
	int gen; /* qf generation: 0 at queueing, +1 per rewrite */
};

struct worker {
	int n;
	struct worker_stats *st;
	struct qfds *fds;
	char *buf;  /* content written */
	char *rbuf; /* content read back */
	unsigned long seq;
};

/* now_ns - monotonic clock in nanoseconds */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* hist_index - bucket of a value: exponent, then 4 bits of mantissa */
static int hist_index(uint64_t v)
{
	int msb;

	if (v < HIST_SUB)
		return (int)v;
	msb = 63 - __builtin_clzll(v);
	return (msb - 3) * HIST_SUB + (int)((v >> (msb - 4)) & (HIST_SUB - 1));
}

/* hist_value - upper edge of bucket I (what a percentile reports) */
static uint64_t hist_value(int i)
{
	int e = i / HIST_SUB, m = i % HIST_SUB;

	if (e == 0)
		return (uint64_t)m;
	return ((uint64_t)(HIST_SUB + m + 1) << (e + 3 - 4)) - 1;
}

/* hist_add - record one latency */
static void hist_add(struct hist *h, uint64_t ns)
{
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->b[hist_index(ns)]++;
}

/* hist_merge - add SRC into DST */
static void hist_merge(struct hist *dst, const struct hist *src)
{
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	for (int i = 0; i < HIST_SIZE; i++)
		dst->b[i] += src->b[i];
}

/* hist_pct - the P-th percentile (0..100) in nanoseconds */
static uint64_t hist_pct(const struct hist *h, double p)
{
	uint64_t want = (uint64_t)((double)h->count * p / 100.0 + 0.5), seen = 0;

	if (want == 0)
		want = 1;
	for (int i = 0; i < HIST_SIZE; i++) {
		seen += h->b[i];
		if (seen >= want)
			return hist_value(i) < h->max_ns ? hist_value(i) : h->max_ns;
	}
	return h->max_ns;
}

/* qgen_fail - report an error; the worker stops, the run fails */
static void qgen_fail(struct worker_stats *st, const char *what, const char *obj, int err)
{
	if (err)
		fprintf(stderr, "qgen: %s %s: %s\n", what, obj, strerror(err));
	else
		fprintf(stderr, "qgen: %s %s\n", what, obj);
	st->failed = 1;
	atomic_store(&sh->failed, 1);
	atomic_store(&sh->stop, 1);
}

/* fill_content - deterministic bytes for message ID, generation GEN */
static void fill_content(char *buf, size_t len, const char *id, int gen, char kind)
{
	uint64_t x = 1469598103934665603ull ^ (uint64_t)(unsigned char)kind;
	size_t i, n;

	for (const char *p = id; *p; p++)
		x = (x ^ (unsigned char)*p) * 1099511628211ull;
	x ^= (uint64_t)gen * 0x9e3779b97f4a7c15ull;
	/* A readable head (as in a real qf), then pseudo-random bytes. */
	n = (size_t)snprintf(buf, len, "V8\nI%s\nK%d\nC%c\n", id, gen, kind);
	if (n >= len)
		n = len ? len - 1 : 0;
	for (i = n; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (char)(x & 0xff);
	}
}

/* timed - run one system call and record its latency under OP */
#define TIMED(w, op, expr)                                                                                   \
	({                                                                                                   \
		uint64_t t0_ = now_ns();                                                                     \
		__typeof__(expr) r_ = (expr);                                                                \
		hist_add(&(w)->st->h[op], now_ns() - t0_);                                                   \
		r_;                                                                                          \
	})

/* write_all - write LEN bytes, recorded as one write */
static int write_all(struct worker *w, int fd, const char *buf, size_t len)
{
	uint64_t t0 = now_ns();
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	hist_add(&w->st->h[OP_WRITE], now_ns() - t0);
	return 0;
}

/* dir_sync - SuperSafe: fsync a queue directory */
static int dir_sync(struct worker *w, int dfd, const char *what)
{
	if (!opt.dirsync)
		return 0;
	if (TIMED(w, OP_FSYNCDIR, fsync(dfd)) < 0) {
		qgen_fail(w->st, "fsync directory", what, errno);
		return -1;
	}
	return 0;
}

/* file_create - create NAME with O_EXCL, write LEN bytes, fsync; fd kept if KEEP */
static int file_create(struct worker *w, int dfd, const char *dname, const char *name, const char *buf,
		       size_t len, bool lock, bool keep)
{
	char obj[PATH_MAX + 64];
	int fd, err;

	snprintf(obj, sizeof obj, "%s/%s", dname, name);
	fd = TIMED(w, OP_CREATE, openat(dfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
	if (fd < 0) {
		qgen_fail(w->st, "create", obj, errno);
		return -1;
	}
	if (lock && TIMED(w, OP_FLOCK, flock(fd, LOCK_EX | LOCK_NB)) < 0) {
		qgen_fail(w->st, "flock", obj, errno);
		goto fail;
	}
	if ((err = write_all(w, fd, buf, len)) < 0) {
		qgen_fail(w->st, "write", obj, -err);
		goto fail;
	}
	if (opt.fsync && TIMED(w, OP_FSYNC, fsync(fd)) < 0) {
		qgen_fail(w->st, "fsync", obj, errno);
		goto fail;
	}
	if (keep)
		return fd;
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* file_check - open NAME, read it whole and compare with WANT */
static int file_check(struct worker *w, int dfd, const char *dname, const char *name, const char *want,
		      size_t len, int lockfd)
{
	char obj[PATH_MAX + 64];
	struct stat a, b;
	size_t got = 0;
	ssize_t n;
	int fd;

	snprintf(obj, sizeof obj, "%s/%s", dname, name);
	fd = TIMED(w, OP_OPEN, openat(dfd, name, O_RDONLY | O_CLOEXEC));
	if (fd < 0) {
		qgen_fail(w->st, "open", obj, errno);
		return -1;
	}
	/* sendmail skips a qf whose name no longer matches the fd it holds */
	if (lockfd >= 0) {
		if (fstat(fd, &a) < 0 || fstat(lockfd, &b) < 0) {
			qgen_fail(w->st, "fstat", obj, errno);
			goto fail;
		}
		if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
			qgen_fail(w->st, "inode differs from the locked fd:", obj, 0);
			goto fail;
		}
	}
	{
		uint64_t t0 = now_ns();
		while (got <= len) {
			n = read(fd, w->rbuf + got, len + 1 - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				qgen_fail(w->st, "read", obj, errno);
				goto fail;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		hist_add(&w->st->h[OP_READ], now_ns() - t0);
	}
	if (got != len || memcmp(w->rbuf, want, len) != 0) {
		char why[96];
		snprintf(why, sizeof why, "content differs (%zu bytes read, %zu written):", got, len);
		qgen_fail(w->st, why, obj, 0);
		goto fail;
	}
	w->st->bytes_checked += len;
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* file_unlink - unlink NAME */
static int file_unlink(struct worker *w, int dfd, const char *dname, const char *name)
{
	char obj[PATH_MAX + 64];

	if (TIMED(w, OP_UNLINK, unlinkat(dfd, name, 0)) < 0) {
		snprintf(obj, sizeof obj, "%s/%s", dname, name);
		qgen_fail(w->st, "unlink", obj, errno);
		return -1;
	}
	return 0;
}

/* msg_name - PREFIX + id */
static void msg_name(char *out, size_t len, const char *prefix, const struct msg *m)
{
	snprintf(out, len, "%s%s", prefix, m->id);
}

/* msg_queue - create df and qf (via tf) of M; returns the locked qf fd or -1 */
static int msg_queue(struct worker *w, struct msg *m)
{
	struct queue *q = &opt.q[m->q];
	struct qfds *f = &w->fds[m->q];
	char df[64], tf[64], qf[64];
	int fd;

	msg_name(df, sizeof df, "df", m);
	msg_name(tf, sizeof tf, "tf", m);
	msg_name(qf, sizeof qf, "qf", m);
	fill_content(w->buf, opt.size, m->id, 0, 'd');
	if (file_create(w, f->df, q->df, df, w->buf, opt.size, false, false) < 0)
		return -1;
	/* df must be durable by name before qf commits the message */
	if (f->df != f->qf && dir_sync(w, f->df, q->df) < 0)
		return -1;
	fill_content(w->buf, QGEN_QF_BYTES, m->id, m->gen, 'q');
	fd = file_create(w, f->qf, q->qf, tf, w->buf, QGEN_QF_BYTES, true, true);
	if (fd < 0)
		return -1;
	if (TIMED(w, OP_RENAME, renameat(f->qf, tf, f->qf, qf)) < 0) {
		qgen_fail(w->st, "rename", tf, errno);
		close(fd);
		return -1;
	}
	if (dir_sync(w, f->qf, q->qf) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* msg_attempt - a delivery attempt: lock, read back, transcript */
static int msg_attempt(struct worker *w, struct msg *m, int lockfd)
{
	struct queue *q = &opt.q[m->q];
	struct qfds *f = &w->fds[m->q];
	char df[64], qf[64], xf[64];

	msg_name(df, sizeof df, "df", m);
	msg_name(qf, sizeof qf, "qf", m);
	msg_name(xf, sizeof xf, "xf", m);
	fill_content(w->buf, QGEN_QF_BYTES, m->id, m->gen, 'q');
	if (file_check(w, f->qf, q->qf, qf, w->buf, QGEN_QF_BYTES, lockfd) < 0)
		return -1;
	fill_content(w->buf, opt.size, m->id, 0, 'd');
	if (file_check(w, f->df, q->df, df, w->buf, opt.size, -1) < 0)
		return -1;
	/* The transcript is never fsynced (sendmail does not either). */
	fill_content(w->buf, QGEN_XF_BYTES, m->id, m->gen, 'x');
	{
		char obj[PATH_MAX + 64];
		int fd =
			TIMED(w, OP_CREATE, openat(f->xf, xf, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
		if (fd < 0) {
			snprintf(obj, sizeof obj, "%s/%s", q->xf, xf);
			qgen_fail(w->st, "create", obj, errno);
			return -1;
		}
		if (write_all(w, fd, w->buf, QGEN_XF_BYTES) < 0) {
			snprintf(obj, sizeof obj, "%s/%s", q->xf, xf);
			qgen_fail(w->st, "write", obj, errno);
			close(fd);
			return -1;
		}
		close(fd);
	}
	return file_unlink(w, f->xf, q->xf, xf);
}

/* msg_deliver - the message is done: unlink df and qf, SuperSafe sync */
static int msg_deliver(struct worker *w, struct msg *m)
{
	struct queue *q = &opt.q[m->q];
	struct qfds *f = &w->fds[m->q];
	char df[64], qf[64];

	msg_name(df, sizeof df, "df", m);
	msg_name(qf, sizeof qf, "qf", m);
	if (file_unlink(w, f->df, q->df, df) < 0 || file_unlink(w, f->qf, q->qf, qf) < 0)
		return -1;
	if (dir_sync(w, f->qf, q->qf) < 0)
		return -1;
	if (f->df != f->qf && dir_sync(w, f->df, q->df) < 0)
		return -1;
	return 0;
}

/* msg_rewrite - a deferred attempt: write the next qf through tf */
static int msg_rewrite(struct worker *w, struct msg *m)
{
	struct queue *q = &opt.q[m->q];
	struct qfds *f = &w->fds[m->q];
	char tf[64], qf[64];
	int fd;

	msg_name(tf, sizeof tf, "tf", m);
	msg_name(qf, sizeof qf, "qf", m);
	fill_content(w->buf, QGEN_QF_BYTES, m->id, m->gen + 1, 'q');
	fd = file_create(w, f->qf, q->qf, tf, w->buf, QGEN_QF_BYTES, true, true);
	if (fd < 0)
		return -1;
	if (TIMED(w, OP_RENAME, renameat(f->qf, tf, f->qf, qf)) < 0) {
		qgen_fail(w->st, "rename", tf, errno);
		close(fd);
		return -1;
	}
	close(fd);
	m->gen++;
	return dir_sync(w, f->qf, q->qf);
}

/* msg_new - give M the next id of worker W */
static bool msg_new(struct worker *w, struct msg *m)
{
	if (opt.count) {
		if (atomic_fetch_add(&sh->claimed, 1) >= opt.count)
			return false;
	} else if (atomic_load(&sh->stop)) {
		return false;
	}
	m->used = true;
	m->gen = 0;
	m->q = (int)((w->n + (opt.affinity ? 0 : w->seq)) % (unsigned long)opt.nq);
	snprintf(m->id, sizeof m->id, "%s%03d%07lu", opt.tag, w->n % 1000, w->seq);
	w->seq++;
	return true;
}

/* worker_simple - queue, deliver at once, next (sendmail's interactive mode) */
static void worker_simple(struct worker *w)
{
	struct msg m;

	while (!atomic_load(&sh->stop) || opt.count) {
		uint64_t t0 = now_ns();
		int fd;

		if (atomic_load(&sh->failed) || !msg_new(w, &m))
			return;
		fd = msg_queue(w, &m);
		if (fd < 0)
			return;
		if (msg_attempt(w, &m, fd) < 0 || msg_deliver(w, &m) < 0) {
			close(fd);
			return;
		}
		close(fd);
		hist_add(&w->st->h[OP_MESSAGE], now_ns() - t0);
		w->st->messages++;
	}
}

/* worker_backlog - keep DEPTH messages deferred, visit them in turn */
static void worker_backlog(struct worker *w)
{
	struct msg ring[QGEN_MAX_DEPTH];
	uint64_t born[QGEN_MAX_DEPTH];
	bool more = true;
	int live = 0;

	memset(ring, 0, sizeof ring);
	for (int i = 0;; i = (i + 1) % opt.depth) {
		struct msg *m = &ring[i];
		bool timed = !atomic_load(&sh->stop);
		int fd;

		if (atomic_load(&sh->failed))
			return;
		if (!m->used) {
			if (more && !msg_new(w, m))
				more = false;
			if (!m->used) {
				if (live == 0)
					return;
				continue;
			}
			born[i] = now_ns();
			fd = msg_queue(w, m);
			if (fd < 0)
				return;
			close(fd);
			live++;
		} else {
			/* a queue run: lock the qf, as sendmail does, then try */
			struct qfds *f = &w->fds[m->q];
			char qf[64];
			msg_name(qf, sizeof qf, "qf", m);
			fd = TIMED(w, OP_OPEN, openat(f->qf, qf, O_RDWR | O_CLOEXEC));
			if (fd < 0) {
				qgen_fail(w->st, "open", qf, errno);
				return;
			}
			if (TIMED(w, OP_FLOCK, flock(fd, LOCK_EX | LOCK_NB)) < 0) {
				qgen_fail(w->st, "flock", qf, errno);
				close(fd);
				return;
			}
			if (msg_attempt(w, m, fd) < 0) {
				close(fd);
				return;
			}
			if (m->gen < opt.rewrites) {
				if (msg_rewrite(w, m) < 0) {
					close(fd);
					return;
				}
			} else {
				if (msg_deliver(w, m) < 0) {
					close(fd);
					return;
				}
				hist_add(&w->st->h[OP_MESSAGE], now_ns() - born[i]);
				w->st->messages++;
				m->used = false;
				live--;
			}
			close(fd);
		}
		if (timed && !atomic_load(&sh->stop))
			w->st->units++;
	}
}

/* dir_open - open a directory for *at() calls and fsync */
static int dir_open(const char *path, struct worker_stats *st)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		qgen_fail(st, "open directory", path, errno);
	return fd;
}

/* worker_main - open the queue directories, wait for go, work */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t blen = opt.size > 4096 ? opt.size : 4096;

	w->buf = malloc(blen + 1);
	w->rbuf = malloc(blen + 1);
	w->fds = calloc((size_t)opt.nq, sizeof *w->fds);
	if (!w->buf || !w->rbuf || !w->fds) {
		qgen_fail(w->st, "malloc", "buffers", ENOMEM);
		return NULL;
	}
	for (int i = 0; i < opt.nq; i++) {
		struct qfds *f = &w->fds[i];
		f->qf = dir_open(opt.q[i].qf, w->st);
		f->df = opt.subdirs ? dir_open(opt.q[i].df, w->st) : f->qf;
		f->xf = opt.subdirs ? dir_open(opt.q[i].xf, w->st) : f->qf;
		if (f->qf < 0 || f->df < 0 || f->xf < 0)
			return NULL;
	}
	while (!atomic_load(&sh->go) && !atomic_load(&sh->failed))
		usleep(1000);
	if (opt.rewrites > 0)
		worker_backlog(w);
	else
		worker_simple(w);
	for (int i = 0; i < opt.nq; i++) {
		struct qfds *f = &w->fds[i];
		if (f->df != f->qf)
			close(f->df);
		if (f->xf != f->qf)
			close(f->xf);
		close(f->qf);
	}
	free(w->buf);
	free(w->rbuf);
	free(w->fds);
	return NULL;
}

/* dir_count - entries of PATH other than . and ..; -1 on error */
static long dir_count(const char *path, struct worker_stats *st, bool subdirs_ok)
{
	DIR *d = opendir(path);
	struct dirent *de;
	long n = 0;

	if (!d) {
		qgen_fail(st, "opendir", path, errno);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (subdirs_ok &&
		    (!strcmp(de->d_name, "qf") || !strcmp(de->d_name, "df") || !strcmp(de->d_name, "xf")))
			continue;
		n++;
		errno = 0;
	}
	if (errno) {
		qgen_fail(st, "readdir", path, errno);
		n = -1;
	}
	closedir(d);
	return n;
}

/* runner_main - the queue runner: list every qf directory periodically */
static void *runner_main(void *arg)
{
	struct worker_stats *st = arg;

	while (!atomic_load(&sh->go) && !atomic_load(&sh->failed))
		usleep(1000);
	while (!atomic_load(&sh->stop)) {
		for (int i = 0; i < opt.nq && !atomic_load(&sh->stop); i++) {
			uint64_t t0 = now_ns();
			if (dir_count(opt.q[i].qf, st, false) < 0)
				return NULL;
			hist_add(&st->h[OP_READDIR], now_ns() - t0);
		}
		usleep((useconds_t)opt.runner_ms * 1000);
	}
	return NULL;
}

/* queue_setup - fill in the directories of queue Q; create it (and qf/ df/ xf/ with -L) */
static int queue_setup(struct queue *q)
{
	const char *sub[3] = { "qf", "df", "xf" };
	char *dst[3] = { q->qf, q->df, q->xf };

	if (mkdir(q->path, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "qgen: mkdir %s: %s\n", q->path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		if (!opt.subdirs) {
			snprintf(dst[i], PATH_MAX, "%s", q->path);
			continue;
		}
		if (snprintf(dst[i], PATH_MAX, "%s/%s", q->path, sub[i]) >= PATH_MAX) {
			fprintf(stderr, "qgen: %s: name too long\n", q->path);
			return -1;
		}
		if (mkdir(dst[i], 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "qgen: mkdir %s: %s\n", dst[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* leftovers_check - every queue directory must be empty again */
static int leftovers_check(void)
{
	struct worker_stats dummy;
	int bad = 0;

	memset(&dummy, 0, sizeof dummy);
	for (int i = 0; i < opt.nq; i++) {
		const char *dirs[3] = { opt.q[i].qf, opt.q[i].df, opt.q[i].xf };
		int nd = opt.subdirs ? 3 : 1;
		if (opt.subdirs) {
			long n = dir_count(opt.q[i].path, &dummy, true);
			if (n != 0) {
				fprintf(stderr, "qgen: %ld unexpected entries left in %s\n", n,
					opt.q[i].path);
				bad = 1;
			}
		}
		for (int k = 0; k < nd; k++) {
			long n = dir_count(dirs[k], &dummy, false);
			if (n != 0) {
				fprintf(stderr, "qgen: %ld files left in %s\n", n, dirs[k]);
				bad = 1;
			}
		}
	}
	return bad || dummy.failed ? -1 : 0;
}

/* usage - print usage and exit 2 */
static void usage(void)
{
	fprintf(stderr,
		"usage: qgen [options] QDIR...\n"
		"  -w N      workers (default 1)\n"
		"  -p        workers are processes (default: threads)\n"
		"  -s BYTES  df size (default 4096)\n"
		"  -F        no fsync of files\n"
		"  -S        SuperSafe: fsync the directory after rename and unlink\n"
		"  -L        each QDIR has qf/ df/ xf/ subdirectories (created if missing)\n"
		"  -t SECS   duration (default 5)\n"
		"  -n COUNT  number of messages instead of a duration\n"
		"  -b R      backlog: defer each message R times (qf rewritten R times)\n"
		"  -B DEPTH  backlog: messages kept queued per worker (default 4)\n"
		"  -r MSECS  queue-runner readdir interval (default 100, 0: none)\n"
		"  -A        worker w keeps to queue w mod N (default: its messages go round the queues)\n"
		"  -q        print only the RESULT line\n");
	exit(2);
}

/* opts_parse - command line into opt */
static void opts_parse(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "w:pAs:FSLt:n:b:B:r:q")) != -1) {
		switch (c) {
		case 'w':
			opt.workers = atoi(optarg);
			break;
		case 'p':
			opt.procs = true;
			break;
		case 'A':
			opt.affinity = true;
			break;
		case 's':
			opt.size = strtoul(optarg, NULL, 0);
			break;
		case 'F':
			opt.fsync = false;
			break;
		case 'S':
			opt.dirsync = true;
			break;
		case 'L':
			opt.subdirs = true;
			break;
		case 't':
			opt.secs = atof(optarg);
			break;
		case 'n':
			opt.count = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			opt.rewrites = atoi(optarg);
			break;
		case 'B':
			opt.depth = atoi(optarg);
			break;
		case 'r':
			opt.runner_ms = atoi(optarg);
			break;
		case 'q':
			opt.quiet = true;
			break;
		default:
			usage();
		}
	}
	if (opt.workers < 1 || opt.workers > QGEN_MAX_WORKERS || opt.size < 64 || opt.size > (64u << 20) ||
	    opt.secs <= 0 || opt.rewrites < 0 || opt.depth < 1 || opt.depth > QGEN_MAX_DEPTH ||
	    opt.runner_ms < 0 || optind >= argc || argc - optind > QGEN_MAX_QUEUES)
		usage();
	for (int i = optind; i < argc; i++) {
		struct queue *q = &opt.q[opt.nq++];
		if (strlen(argv[i]) >= PATH_MAX - 8)
			usage();
		snprintf(q->path, sizeof q->path, "%s", argv[i]);
	}
	/* ids unique across runs sharing a directory: base-36 of pid and time */
	{
		const char *d = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
		unsigned long v = (unsigned long)getpid() * 7919u + (unsigned long)time(NULL);
		for (int i = 0; i < 4; i++, v /= 36)
			opt.tag[i] = d[v % 36];
	}
}

/* report - merged percentiles and the RESULT line */
static void report(double secs, double window)
{
	struct worker_stats *all = calloc(1, sizeof *all);
	double rate;

	if (!all) {
		perror("qgen: calloc");
		exit(1);
	}
	for (int i = 0; i < opt.workers; i++) {
		for (int k = 0; k < OP_COUNT; k++)
			hist_merge(&all->h[k], &sh->w[i].h[k]);
		all->messages += sh->w[i].messages;
		all->units += sh->w[i].units;
		all->bytes_checked += sh->w[i].bytes_checked;
	}
	hist_merge(&all->h[OP_READDIR], &sh->runner.h[OP_READDIR]);
	if (opt.rewrites > 0)
		rate = (double)all->units / (opt.rewrites + 2) / window;
	else
		rate = (double)all->messages / secs;
	if (!opt.quiet) {
		printf("%-9s %10s %10s %10s %10s %10s %10s\n", "op", "count", "mean_us", "p50_us", "p90_us",
		       "p99_us", "max_us");
		for (int k = 0; k < OP_COUNT; k++) {
			struct hist *h = &all->h[k];
			if (!h->count)
				continue;
			printf("%-9s %10llu %10.1f %10.1f %10.1f %10.1f %10.1f\n", qgen_op_names[k],
			       (unsigned long long)h->count, (double)h->sum_ns / (double)h->count / 1e3,
			       (double)hist_pct(h, 50) / 1e3, (double)hist_pct(h, 90) / 1e3,
			       (double)hist_pct(h, 99) / 1e3, (double)h->max_ns / 1e3);
		}
	}
	printf("RESULT msgs_per_s=%.1f messages=%llu secs=%.3f workers=%d queues=%d size=%zu "
	       "fsync=%d dirsync=%d rewrites=%d checked_bytes=%llu",
	       rate, (unsigned long long)all->messages, secs, opt.workers, opt.nq, opt.size, opt.fsync,
	       opt.dirsync, opt.rewrites, (unsigned long long)all->bytes_checked);
	for (int k = 0; k < OP_COUNT; k++) {
		struct hist *h = &all->h[k];
		if (h->count)
			printf(" %s_n=%llu %s_p50_us=%.1f %s_p90_us=%.1f %s_p99_us=%.1f", qgen_op_names[k],
			       (unsigned long long)h->count, qgen_op_names[k], (double)hist_pct(h, 50) / 1e3,
			       qgen_op_names[k], (double)hist_pct(h, 90) / 1e3, qgen_op_names[k],
			       (double)hist_pct(h, 99) / 1e3);
	}
	printf("\n");
	free(all);
}

/* main - set up, start workers, time the run, check, report */
int main(int argc, char **argv)
{
	size_t shsize;
	pthread_t *tids = NULL, rtid;
	pid_t *pids = NULL;
	struct worker *ws;
	uint64_t t0, tstop, tend;
	int rc = 0;

	opts_parse(argc, argv);
	for (int i = 0; i < opt.nq; i++)
		if (queue_setup(&opt.q[i]) < 0)
			return 1;
	shsize = sizeof *sh + (size_t)opt.workers * sizeof(struct worker_stats);
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ws = calloc((size_t)opt.workers, sizeof *ws);
	if (sh == MAP_FAILED || !ws) {
		perror("qgen: memory");
		return 1;
	}
	for (int i = 0; i < opt.workers; i++) {
		ws[i].n = i;
		ws[i].st = &sh->w[i];
	}
	if (opt.procs) {
		pids = calloc((size_t)opt.workers, sizeof *pids);
		for (int i = 0; pids && i < opt.workers; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				worker_main(&ws[i]);
				_exit(ws[i].st->failed ? 1 : 0);
			}
			if (pids[i] < 0) {
				perror("qgen: fork");
				atomic_store(&sh->failed, 1);
				opt.workers = i;
				break;
			}
		}
	} else {
		tids = calloc((size_t)opt.workers, sizeof *tids);
		for (int i = 0; tids && i < opt.workers; i++) {
			if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0) {
				perror("qgen: pthread_create");
				atomic_store(&sh->failed, 1);
				opt.workers = i;
				break;
			}
		}
	}
	if (!pids && !tids) {
		perror("qgen: calloc");
		return 1;
	}
	if (opt.runner_ms > 0 && pthread_create(&rtid, NULL, runner_main, &sh->runner) != 0) {
		perror("qgen: pthread_create");
		return 1;
	}
	usleep(20000); /* let workers open their directories */
	t0 = now_ns();
	atomic_store(&sh->go, 1);
	tstop = t0 + (uint64_t)(opt.secs * 1e9);
	if (!opt.count) {
		while (now_ns() < tstop && !atomic_load(&sh->failed))
			usleep(2000);
		tstop = now_ns();
		atomic_store(&sh->stop, 1);
	}
	for (int i = 0; i < opt.workers; i++) {
		if (opt.procs) {
			int status;
			while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
				;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				atomic_store(&sh->failed, 1);
		} else {
			pthread_join(tids[i], NULL);
		}
	}
	tend = now_ns();
	if (opt.count)
		tstop = tend;
	atomic_store(&sh->stop, 1);
	if (opt.runner_ms > 0)
		pthread_join(rtid, NULL);
	if (atomic_load(&sh->failed))
		rc = 1;
	else if (leftovers_check() < 0)
		rc = 1;
	report((double)(tend - t0) / 1e9, (double)(tstop - t0) / 1e9);
	if (rc)
		fprintf(stderr, "qgen: FAILED\n");
	free(tids);
	free(pids);
	free(ws);
	return rc;
}
