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
#include "sync.h"

int ops_proc_fd = -1;

/* ops_proc_init - open /proc/self/fd once: files are reopened through it */
int ops_proc_init(void)
{
	ops_proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return ops_proc_fd < 0 ? -errno : 0;
}

/* ops_proc_name - the /proc/self/fd entry of FD */
void ops_proc_name(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "%d", fd);
}

/* ops_node_stat - attributes of N as the mount shows them */
int ops_node_stat(struct node *n, struct stat *st)
{
	int fd = n->dir ? node_dir_fd(n, n->bidx) : n->fd;

	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	st->st_ino = n->st_ino;
	return 0;
}

/* ops_entry_fill - a reply entry for N with the configured timeouts */
void ops_entry_fill(struct fs *fs, struct node *n, const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = node_id(fs, n);
	e->attr = *st;
	e->attr.st_ino = n->st_ino;
	e->attr_timeout = fs->conf->attr_timeout;
	e->entry_timeout = fs->conf->entry_timeout;
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

/* new_owner - give a new object the caller's uid and gid (set-gid dirs keep theirs) */
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

const struct fuse_lowlevel_ops qfs_ops = {
	.init = qfs_init,
	.lookup = qfs_lookup,
	.forget = qfs_forget,
	.forget_multi = qfs_forget_multi,
	.getattr = qfs_getattr,
	.setattr = qfs_setattr,
	.readlink = qfs_readlink,
	.mknod = qfs_mknod,
	.mkdir = qfs_mkdir,
	.unlink = qfs_unlink,
	.rmdir = qfs_rmdir,
	.symlink = qfs_symlink,
	.rename = qfs_rename,
	.link = qfs_link,
	.open = qfs_open,
	.read = qfs_read,
	.write_buf = qfs_write_buf,
	.flush = qfs_flush,
	.release = qfs_release,
	.fsync = qfs_fsync,
	.opendir = qfs_opendir,
	.readdir = qfs_readdir,
	.releasedir = qfs_releasedir,
	.fsyncdir = qfs_fsyncdir,
	.statfs = qfs_statfs,
	.create = qfs_create,
	.fallocate = qfs_fallocate,
};
