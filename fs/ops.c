/*
 * NAME
 *	ops - the FUSE low-level handlers of queuefs
 * DESCRIPTION
 *	Thin handlers: decode the request, take the per-name locks, call into
 *	place/node/backing, reply exactly once. Every backing access is an
 *	*at() call relative to a backing directory fd, with O_NOFOLLOW where
 *	the name comes from the caller; an open file is reopened through
 *	/proc/self/fd of its O_PATH fd, as libfuse's passthrough_ll does.
 *
 *	Namespace operations never wait for a disk: the kernel holds the
 *	parent directory's lock for the whole round trip, so a synchronous
 *	disk operation here would serialise the whole queue directory. Only
 *	fsync and fsyncdir wait, and fsyncdir only for the copies that changed.
 *
 *	The daemon runs as root with umask 0: new objects are created with the
 *	mode the kernel passed (already masked by the caller's umask) and then
 *	given to the caller's uid and gid (the directory's gid when it is
 *	set-group-id). Permission checks are the kernel's (default_permissions).
 * DIAGNOSTICS
 *	Handlers reply with the backing's errno. Errors that mean a backing is
 *	in trouble (EIO, EROFS, ...) are logged with the path and backing;
 *	ordinary answers (ENOENT, EEXIST, ...) are not.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "ops_int.h"
#include "place.h"
#include "stats.h"
#include "sync.h"

int ops_proc_fd = -1;

/* ops_proc_init - open /proc/self/fd once: files are reopened through it */
int ops_proc_init(void)
{
	ops_proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return ops_proc_fd < 0 ? -errno : 0;
}

/*
 * ops_reply_err - the one exit for error replies. ESTALE from a shared
 *	backing means the object the caller holds was replaced or removed by
 *	another node: to the MTA that is ENOENT (the kernel then looks the
 *	name up again), never a "stale file handle" it cannot act on.
 */
void ops_reply_err(fuse_req_t req, int err)
{
	fuse_reply_err(req, err == ESTALE ? ENOENT : err);
}

/* ops_proc_name - the /proc/self/fd entry of FD */
void ops_proc_name(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "%d", fd);
}

/* ts_later - is A later than B? */
static int ts_later(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/*
 * ops_node_stat - attributes of N as the mount shows them. A directory's
 *	come from its primary copy, but its times are the latest of all
 *	copies: a file created on another backing changed that copy only,
 *	and the directory as a whole did change. The other copies' latest
 *	times are kept; only copies changed since (restat) are read again,
 *	or all of them in flush mode, where others change them too.
 */
int ops_node_stat(struct fs *fs, struct node *n, struct stat *st)
{
	int fd = n->dir ? node_dir_fd(n, n->bidx) : n->fd;
	struct timespec *own[3] = { &st->st_atim, &st->st_mtim, &st->st_ctim };
	struct dirinfo *di = n->dir;
	uint64_t mask;

	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	st->st_ino = n->st_ino;
	if (!di)
		return 0;
	mask = atomic_exchange(&di->restat, 0);
	pthread_mutex_lock(&di->lock);
	if (fs->dir_flush)
		mask = ~UINT64_C(0);
	for (int b = 0; b < fs->layout->n; b++) {
		struct timespec *t[3];
		struct stat cst;

		if (b == n->bidx || !(mask & (UINT64_C(1) << b)) || di->fds[b] < 0 ||
		    fstatat(di->fds[b], "", &cst, AT_EMPTY_PATH) < 0)
			continue;
		t[0] = &cst.st_atim;
		t[1] = &cst.st_mtim;
		t[2] = &cst.st_ctim;
		for (int k = 0; k < 3; k++)
			if (ts_later(t[k], &di->tmax[k]))
				di->tmax[k] = *t[k];
	}
	for (int k = 0; k < 3; k++)
		if (ts_later(&di->tmax[k], own[k]))
			*own[k] = di->tmax[k];
	pthread_mutex_unlock(&di->lock);
	return 0;
}

/* ops_dir_times_reset - times were set on every copy: forget the kept maxima */
void ops_dir_times_reset(struct node *n)
{
	pthread_mutex_lock(&n->dir->lock);
	memset(n->dir->tmax, 0, sizeof(n->dir->tmax));
	pthread_mutex_unlock(&n->dir->lock);
	atomic_store(&n->dir->restat, ~UINT64_C(0));
}

/*
 * ops_flush_node - must the kernel revalidate N at every access? A file
 *	follows the coherence of its backing's class; directories are shared
 *	by all classes and flush when any class does (names come and go there).
 */
bool ops_flush_node(struct fs *fs, struct node *n)
{
	return n->dir ? fs->dir_flush : fs->cls_flush[fs->layout->b[n->bidx].cls];
}

/* ops_timeouts - how long the kernel may cache N's name and attributes */
void ops_timeouts(struct fs *fs, struct node *n, double *entry, double *attr)
{
	int cls;

	if (n->dir) {
		*entry = fs->dir_flush ? 0 : fs->conf->entry_timeout;
		*attr = fs->dir_flush ? 0 : fs->conf->attr_timeout;
		return;
	}
	cls = fs->layout->b[n->bidx].cls;
	*entry = fs->cls_entry[cls];
	*attr = fs->cls_attr[cls];
}

/* ops_open_cache - page cache policy of a new open: flush mode never caches */
void ops_open_cache(struct fs *fs, struct node *n, struct fuse_file_info *fi)
{
	/*
	 * local: queuefs is the only writer of its backings, the page cache
	 * stays valid across opens. flush: another node may have written
	 * the file; direct I/O reads the backing at every read, which also
	 * makes data read after taking a lock fresh (Dovecot's
	 * flush-after-lock) without an invalidation racing the read.
	 */
	if (ops_flush_node(fs, n)) {
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else {
		fi->keep_cache = 1;
	}
	/*
	 * FLUSH (sent at every close) only closes a duplicate so that the
	 * backing reports deferred errors, and releases forwarded locks. A
	 * local disk defers none (writes are not cached by the kernel here:
	 * no writeback cache), so with kernel-held locks it is a wasted round
	 * trip per close.
	 */
	fi->noflush = !ops_flush_node(fs, n) && fs->conf->locks != CONF_LOCKS_BACKING &&
		      !fs->layout->b[n->bidx].remote;
}

/* ops_entry_fill - a reply entry for N with its class's timeouts */
void ops_entry_fill(struct fs *fs, struct node *n, const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = node_id(fs, n);
	e->attr = *st;
	e->attr.st_ino = n->st_ino;
	ops_timeouts(fs, n, &e->entry_timeout, &e->attr_timeout);
}

/* ops_trouble - log errors that mean a backing is sick, not ordinary answers */
void ops_trouble(struct fs *fs, int err, const char *op, const char *name, int b)
{
	switch (err) {
	case ENOENT:
	case EEXIST:
	case ENOTEMPTY:
	case EISDIR:
	case ENOTDIR:
	case EACCES:
	case EPERM:
	case EINVAL:
	case ENAMETOOLONG:
	case EXDEV:
	case ELOOP:
		return;
	default:
		log_warn(err, "%s %s on %s", op, name, b >= 0 ? fs->layout->b[b].path : "(all backings)");
	}
}

/* ops_open_node - a new open file description of N's backing file */
int ops_open_node(struct node *n, int flags)
{
	char pn[32];
	int fd;

	ops_proc_name(n->fd, pn, sizeof(pn));
	fd = openat(ops_proc_fd, pn, (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void qfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Locks stay in the kernel (local): no flock/getlk/setlk handlers. */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

/*
 * Every handler is timed for queuefsctl status: from entry to return, which
 * covers the reply (handlers reply before they return).
 */
#define TIMED(op, st, params, args)                                                                          \
	static void timed_##op params                                                                        \
	{                                                                                                    \
		uint64_t t0 = stats_now();                                                                   \
		qfs_##op args;                                                                               \
		stats_record(st, t0);                                                                        \
	}

TIMED(lookup, QOP_LOOKUP, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
TIMED(forget, QOP_FORGET, (fuse_req_t r, fuse_ino_t i, uint64_t n), (r, i, n))
TIMED(forget_multi, QOP_FORGET, (fuse_req_t r, size_t c, struct fuse_forget_data *f), (r, c, f))
TIMED(getattr, QOP_GETATTR, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
TIMED(setattr, QOP_SETATTR, (fuse_req_t r, fuse_ino_t i, struct stat *a, int v, struct fuse_file_info *f),
      (r, i, a, v, f))
TIMED(readlink, QOP_READLINK, (fuse_req_t r, fuse_ino_t i), (r, i))
TIMED(mknod, QOP_MKNOD, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, dev_t d), (r, p, n, m, d))
TIMED(mkdir, QOP_MKDIR, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m), (r, p, n, m))
TIMED(unlink, QOP_UNLINK, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
TIMED(rmdir, QOP_RMDIR, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
TIMED(symlink, QOP_SYMLINK, (fuse_req_t r, const char *l, fuse_ino_t p, const char *n), (r, l, p, n))
TIMED(rename, QOP_RENAME,
      (fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn, unsigned f),
      (r, p, n, np, nn, f))
TIMED(link, QOP_LINK, (fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn), (r, i, np, nn))
TIMED(open, QOP_OPEN, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
TIMED(read, QOP_READ, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
      (r, i, s, o, f))
TIMED(write_buf, QOP_WRITE,
      (fuse_req_t r, fuse_ino_t i, struct fuse_bufvec *b, off_t o, struct fuse_file_info *f), (r, i, b, o, f))
TIMED(flush, QOP_FLUSH, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
TIMED(release, QOP_RELEASE, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
TIMED(fsync, QOP_FSYNC, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *f), (r, i, d, f))
TIMED(opendir, QOP_OPENDIR, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
TIMED(readdir, QOP_READDIR, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
      (r, i, s, o, f))
TIMED(readdirplus, QOP_READDIRPLUS, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
      (r, i, s, o, f))
TIMED(releasedir, QOP_RELEASEDIR, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
TIMED(fsyncdir, QOP_FSYNCDIR, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *f), (r, i, d, f))
TIMED(statfs, QOP_STATFS, (fuse_req_t r, fuse_ino_t i), (r, i))
TIMED(create, QOP_CREATE, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *f),
      (r, p, n, m, f))
TIMED(fallocate, QOP_FALLOCATE,
      (fuse_req_t r, fuse_ino_t i, int m, off_t o, off_t l, struct fuse_file_info *f), (r, i, m, o, l, f))

const struct fuse_lowlevel_ops qfs_ops = {
	.init = qfs_init,
	.lookup = timed_lookup,
	.forget = timed_forget,
	.forget_multi = timed_forget_multi,
	.getattr = timed_getattr,
	.setattr = timed_setattr,
	.readlink = timed_readlink,
	.mknod = timed_mknod,
	.mkdir = timed_mkdir,
	.unlink = timed_unlink,
	.rmdir = timed_rmdir,
	.symlink = timed_symlink,
	.rename = timed_rename,
	.link = timed_link,
	.open = timed_open,
	.read = timed_read,
	.write_buf = timed_write_buf,
	.flush = timed_flush,
	.release = timed_release,
	.fsync = timed_fsync,
	.opendir = timed_opendir,
	.readdir = timed_readdir,
	.releasedir = timed_releasedir,
	.fsyncdir = timed_fsyncdir,
	.statfs = timed_statfs,
	.create = timed_create,
	.fallocate = timed_fallocate,
};

TIMED(flock, QOP_LOCK, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f, int op), (r, i, f, op))
TIMED(getlk, QOP_LOCK, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f, struct flock *l), (r, i, f, l))
TIMED(setlk, QOP_LOCK, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f, struct flock *l, int s),
      (r, i, f, l, s))

/* ops_build - the table for this config */
void ops_build(struct fuse_lowlevel_ops *ops, const struct conf *c)
{
	*ops = qfs_ops;
	/*
	 * Without lock handlers the kernel keeps flock and fcntl locks local
	 * to this mount, which is exactly right for one host and costs no
	 * round trip; with them, locks reach the backing files.
	 */
	if (c->locks == CONF_LOCKS_BACKING) {
		ops->flock = timed_flock;
		ops->getlk = timed_getlk;
		ops->setlk = timed_setlk;
	}
	/* With the handler libfuse asks for readdirplus in the kernel's "auto" mode. */
	if (c->readdirplus)
		ops->readdirplus = timed_readdirplus;
}
