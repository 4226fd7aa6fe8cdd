/*
 * NAME
 *	ops_file - FUSE handlers on one object: attributes, open files, I/O
 * DESCRIPTION
 *	getattr, setattr (every copy of a directory), readlink, open (a new
 *	open file description of the backing file per FUSE open), read and
 *	write (spliced), flush, release, fsync, fallocate.
 * DIAGNOSTICS
 *	Replies carry the backing's errno; backing trouble is logged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "ops_int.h"
#include "place.h"
#include "sync.h"

void qfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino);
	double entry, attr;
	struct stat st;
	int err;

	(void)fi;
	err = ops_node_stat(fs, n, &st);
	ops_timeouts(fs, n, &entry, &attr);
	if (err)
		ops_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, attr);
}

/* setattr_one - apply the requested changes to one backing object */
static int setattr_one(int pathfd, int fh, int is_symlink, struct stat *attr, int valid)
{
	char pn[32];

	ops_proc_name(pathfd, pn, sizeof(pn));
	if (valid & FUSE_SET_ATTR_MODE) {
		if (is_symlink)
			return -EOPNOTSUPP;
		if ((fh >= 0 ? fchmod(fh, attr->st_mode) : fchmodat(ops_proc_fd, pn, attr->st_mode, 0)) < 0)
			return -errno;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(pathfd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		int r;

		if (fh >= 0) {
			r = ftruncate(fh, attr->st_size);
		} else {
			int fd = openat(ops_proc_fd, pn, O_WRONLY | O_CLOEXEC);

			if (fd < 0)
				return -errno;
			r = ftruncate(fd, attr->st_size);
			close(fd);
		}
		if (r < 0)
			return -errno;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		/*
		 * Through /proc/self/fd the O_PATH fd's own inode is reached,
		 * also when it is a symlink (a magic link does not resolve
		 * further): utimensat(..., AT_SYMLINK_NOFOLLOW) works.
		 */
		if ((fh >= 0 ? futimens(fh, tv) : utimensat(ops_proc_fd, pn, tv, 0)) < 0)
			return -errno;
	}
	return 0;
}

void qfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino);
	double t_entry, t_attr;
	struct stat st;
	int err = 0;

	if (n->dir) {
		if (valid & FUSE_SET_ATTR_SIZE) {
			ops_reply_err(req, EISDIR);
			return;
		}
		/* Directories are shared state: every copy must say the same. */
		ops_dir_times_reset(n);
		for (int b = 0; b < fs->layout->n && !err; b++) {
			int fd = node_dir_fd(n, b);

			if (fd >= 0)
				err = setattr_one(fd, -1, 0, attr, valid);
			if (err)
				ops_trouble(fs, -err, "setattr", "directory", b);
		}
	} else {
		err = ops_node_stat(fs, n, &st);
		if (!err)
			err = setattr_one(n->fd, fi ? (int)fi->fh : -1, S_ISLNK(st.st_mode), attr, valid);
		if (err)
			ops_trouble(fs, -err, "setattr", "file", n->bidx);
	}
	if (!err)
		err = ops_node_stat(fs, n, &st);
	ops_timeouts(fs, n, &t_entry, &t_attr);
	if (err)
		ops_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, t_attr);
}

void qfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = node_get(FS(req), ino);
	char buf[PATH_MAX + 1];
	ssize_t len;

	if (n->dir) {
		ops_reply_err(req, EINVAL);
		return;
	}
	len = readlinkat(n->fd, "", buf, sizeof(buf));
	if (len < 0) {
		ops_reply_err(req, errno);
		return;
	}
	if ((size_t)len >= sizeof(buf)) {
		ops_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[len] = 0;
	fuse_reply_readlink(req, buf);
}

void qfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino);
	int fd;

	if (n->dir) {
		ops_reply_err(req, EISDIR);
		return;
	}
	fd = ops_open_node(n, fi->flags);
	if (fd < 0) {
		ops_trouble(fs, -fd, "open", "file", n->bidx);
		ops_reply_err(req, -fd);
		return;
	}
	ops_open_cache(fs, n, fi);
	fi->fh = (uint64_t)fd;
	fuse_reply_open(req, fi);
}

void qfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	ops_reply_err(req, 0);
}

void qfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	int fd, err;

	(void)ino;
	if (fs->conf->locks == CONF_LOCKS_BACKING) {
		/* close(2) releases the caller's POSIX locks: release what this open forwarded. */
		struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

		fcntl((int)fi->fh, F_OFD_SETLK, &un);
	}
	/*
	 * close(2) of a duplicate flushes what the backing filesystem defers
	 * to close (NFS write-back errors such as ENOSPC must reach the MTA).
	 * A file another node removed has nothing left to flush: its ENOENT
	 * or ESTALE is no error of the caller's close.
	 */
	fd = dup((int)fi->fh);
	err = fd < 0 ? errno : (close(fd) < 0 ? errno : 0);
	ops_reply_err(req, err == ENOENT || err == ESTALE ? 0 : err);
}

void qfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	int bidx = node_get(fs, ino)->bidx, r, err;
	struct backing *b = &fs->layout->b[bidx];

	/* New files go where fewer fsyncs are waiting (place_pick). */
	atomic_fetch_add_explicit(&b->busy, 1, memory_order_relaxed);
	r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	err = r < 0 ? errno : 0;
	atomic_fetch_sub_explicit(&b->busy, 1, memory_order_relaxed);
	if (err)
		ops_trouble(fs, err, "fsync", "file", bidx);
	ops_reply_err(req, err);
}

void qfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void qfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		   struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t res;

	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	res = fuse_buf_copy(&out, in, 0);
	if (res < 0) {
		ops_trouble(FS(req), (int)-res, "write", "file", node_get(FS(req), ino)->bidx);
		ops_reply_err(req, (int)-res);
	} else {
		fuse_reply_write(req, (size_t)res);
	}
}

void qfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	(void)ino;
	ops_reply_err(req, fallocate((int)fi->fh, mode, off, len) < 0 ? errno : 0);
}

/*
 * Lock forwarding (locks = backing). Every FUSE open has its own backing
 * open file description (ops_open_node), so flock(2) and OFD locks on it
 * give each open its own lock owner at the backing: MTAs on two nodes that
 * share the backing exclude each other, and a non-blocking probe fails
 * when anyone else holds the lock. Waits are polled, never blocking a
 * thread in the kernel, so that an interrupted caller gets EINTR.
 */

/* lock_wait - retry TRY until it stops saying "busy", or the caller gives up */
static int lock_wait(fuse_req_t req, int (*try)(int fd, void *arg), int fd, void *arg)
{
	useconds_t pause = 1000;

	for (;;) {
		int r = try(fd, arg);

		if (r != -EAGAIN && r != -EWOULDBLOCK && r != -EACCES)
			return r;
		if (fuse_req_interrupted(req))
			return -EINTR;
		usleep(pause);
		if (pause < 50000)
			pause *= 2;
	}
}

static int try_flock(int fd, void *arg)
{
	return flock(fd, *(int *)arg | LOCK_NB) < 0 ? -errno : 0;
}

static int try_ofd(int fd, void *arg)
{
	return fcntl(fd, F_OFD_SETLK, (struct flock *)arg) < 0 ? -errno : 0;
}

void qfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	int how = op & ~LOCK_NB, r;

	(void)ino;
	if (op & LOCK_NB || how == LOCK_UN)
		r = try_flock((int)fi->fh, &how);
	else
		r = lock_wait(req, try_flock, (int)fi->fh, &how);
	ops_reply_err(req, -r);
}

void qfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct flock fl = *lock;

	(void)ino;
	fl.l_pid = 0; /* required by OFD locks */
	if (fcntl((int)fi->fh, F_OFD_GETLK, &fl) < 0) {
		ops_reply_err(req, errno);
		return;
	}
	if (fl.l_pid == -1)
		fl.l_pid = 0; /* held through another open, perhaps on another node */
	fuse_reply_lock(req, &fl);
}

void qfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock, int sleep)
{
	struct flock fl = *lock;
	int r;

	(void)ino;
	fl.l_pid = 0;
	if (!sleep || fl.l_type == F_UNLCK)
		r = try_ofd((int)fi->fh, &fl);
	else
		r = lock_wait(req, try_ofd, (int)fi->fh, &fl);
	ops_reply_err(req, r == -EACCES ? EAGAIN : -r);
}
