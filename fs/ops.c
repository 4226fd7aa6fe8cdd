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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "ops.h"
#include "place.h"
#include "sync.h"

static int proc_fd = -1;

#define FS(req) ((struct fs *)fuse_req_userdata(req))

/* ops_proc_init - open /proc/self/fd once: files are reopened through it */
int ops_proc_init(void)
{
	proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return proc_fd < 0 ? -errno : 0;
}

/* proc_name - the /proc/self/fd entry of FD */
static void proc_name(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "%d", fd);
}

/* node_stat - attributes of N as the mount shows them */
static int node_stat(struct node *n, struct stat *st)
{
	int fd = n->dir ? node_dir_fd(n, n->bidx) : n->fd;

	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	st->st_ino = n->st_ino;
	return 0;
}

/* entry_fill - a reply entry for N with the configured timeouts */
static void entry_fill(struct fs *fs, struct node *n, const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = node_id(fs, n);
	e->attr = *st;
	e->attr.st_ino = n->st_ino;
	e->attr_timeout = fs->conf->attr_timeout;
	e->entry_timeout = fs->conf->entry_timeout;
}

/* trouble - log errors that mean a backing is sick, not ordinary answers */
static void trouble(struct fs *fs, int err, const char *op, const char *name, int b)
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
static int new_owner(fuse_req_t req, int dirfd, const char *name, int fd)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat dst;
	gid_t gid = ctx->gid;
	int r;

	if (ctx->uid == 0 && ctx->gid == 0)
		return 0; /* created by root already */
	if (fstatat(dirfd, "", &dst, AT_EMPTY_PATH) == 0 && (dst.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (fd >= 0)
		r = fchown(fd, ctx->uid, gid);
	else
		r = fchownat(dirfd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

/* reply_node - build the entry reply for a name just found or made on backing B */
static int lookup_node(struct fs *fs, struct node *d, const char *name, int b, const struct stat *st,
		       struct node **out)
{
	if (S_ISDIR(st->st_mode)) {
		char rel[PATH_MAX];
		int err = place_relpath(d, name, rel, sizeof(rel));

		return err ? err : node_find_or_add_dir(fs, d, name, rel, out);
	}
	return node_find_or_add_file(fs, b, node_dir_fd(d, b), name, st, out);
}

static void qfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *n;
	struct fuse_entry_param e;
	struct stat st;
	unsigned slot;
	int b, err;

	if (!d->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (place_hidden(fs, d, name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	slot = node_name_slot(d, name);
	node_name_lock2(fs, slot, slot);
	err = place_locate(fs, d, name, &b, &st);
	if (!err)
		err = lookup_node(fs, d, name, b, &st, &n);
	if (!err)
		err = node_stat(n, &st);
	node_name_unlock2(fs, slot, slot);
	if (err == -ENOENT && fs->conf->negative_timeout > 0) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->conf->negative_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	entry_fill(fs, n, &st, &e);
	fuse_reply_entry(req, &e);
}

/* reply_new - the common end of create, mknod, symlink, mkdir, link */
static void reply_new(fuse_req_t req, struct fs *fs, struct node *n, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct stat st;
	int err = node_stat(n, &st);

	if (err) {
		node_forget(fs, n, 1);
		if (fi)
			close((int)fi->fh);
		fuse_reply_err(req, -err);
		return;
	}
	entry_fill(fs, n, &st, &e);
	if (fi)
		fuse_reply_create(req, &e, fi);
	else
		fuse_reply_entry(req, &e);
}

/*
 * make_placed - create a non-directory NAME in D on the first backing of its
 *	class that has room; MAKE does the backing call and returns an fd (or
 *	0 when there is none) or -errno. ENOSPC/EDQUOT go to the next shard.
 */
typedef int (*make_fn)(int dirfd, const char *name, const void *arg);

static int make_placed(fuse_req_t req, struct fs *fs, struct node *d, const char *name, make_fn make,
		       const void *arg, int *fdp, struct node **out)
{
	struct placement p;
	struct statvfs sv;
	struct stat st;
	int err = -ENOSPC, b = -1, fd = -1;

	place_route(fs, d, name, &p);
	/* First pass: shards above their free-space floor; second: any shard. */
	for (int pass = 0; pass < 2 && fd < 0; pass++) {
		for (int i = 0; i < p.n; i++) {
			int pfd;

			b = p.order[i];
			if ((pass == 0) != backing_room_ok(&fs->layout->b[b]))
				continue;
			pfd = node_dir_copy(fs, d, b);
			if (pfd < 0) {
				err = pfd;
				continue;
			}
			fd = make(pfd, name, arg);
			if (fd >= 0)
				break;
			err = fd;
			if (err != -ENOSPC && err != -EDQUOT)
				goto fail;
			/* Refresh the cached free space: the floor check must see it full. */
			backing_statvfs(&fs->layout->b[b], &sv, true);
		}
	}
	if (fd < 0)
		goto fail;
	sync_mark(d, b);
	err = new_owner(req, node_dir_fd(d, b), name, fd > 0 ? fd : -1);
	if (!err && fstatat(node_dir_fd(d, b), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	if (!err)
		err = node_find_or_add_file(fs, b, node_dir_fd(d, b), name, &st, out);
	if (err) {
		unlinkat(node_dir_fd(d, b), name, 0);
		if (fd > 0)
			close(fd);
		goto fail;
	}
	if (fdp)
		*fdp = fd;
	return 0;
fail:
	trouble(fs, -err, "create", name, b);
	return err;
}

struct create_arg {
	int flags;
	mode_t mode;
	dev_t rdev;
	const char *target;
};

static int make_open(int dirfd, const char *name, const void *arg)
{
	const struct create_arg *a = arg;
	int fd = openat(dirfd, name, (a->flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC) & ~O_NOCTTY,
			a->mode);

	return fd < 0 ? -errno : fd;
}

static int make_node(int dirfd, const char *name, const void *arg)
{
	const struct create_arg *a = arg;

	return mknodat(dirfd, name, a->mode, a->rdev) < 0 ? -errno : 0;
}

static int make_symlink(int dirfd, const char *name, const void *arg)
{
	const struct create_arg *a = arg;

	return symlinkat(a->target, dirfd, name) < 0 ? -errno : 0;
}

/* open_node - a new open file description of N's backing file */
static int open_node(struct node *n, int flags)
{
	char pn[32];
	int fd;

	proc_name(n->fd, pn, sizeof(pn));
	fd = openat(proc_fd, pn, (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* new_entry - the shared frame of create/mknod/symlink: locks, existence, placement */
static void new_entry(fuse_req_t req, fuse_ino_t parent, const char *name, make_fn make, struct create_arg *a,
		      struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *n = NULL;
	struct stat st;
	unsigned slot;
	int b, err, fd = -1;

	if (place_hidden(fs, d, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	slot = node_name_slot(d, name);
	node_name_lock2(fs, slot, slot);
	err = place_locate(fs, d, name, &b, &st);
	if (err == 0) {
		/* The name exists (perhaps on another backing): one name, one file. */
		if (!fi || (fi->flags & O_EXCL))
			err = -EEXIST;
		else if (S_ISDIR(st.st_mode))
			err = -EISDIR;
		else if ((err = lookup_node(fs, d, name, b, &st, &n)) == 0) {
			fd = open_node(n, fi->flags);
			if (fd < 0) {
				err = fd;
				node_forget(fs, n, 1);
			}
		}
	} else if (err == -ENOENT) {
		err = make_placed(req, fs, d, name, make, a, fi ? &fd : NULL, &n);
	}
	node_name_unlock2(fs, slot, slot);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (fi)
		fi->fh = (uint64_t)fd;
	reply_new(req, fs, n, fi);
}

static void qfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct create_arg a = { .flags = fi->flags, .mode = mode };

	new_entry(req, parent, name, make_open, &a, fi);
}

static void qfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct create_arg a = { .mode = mode, .rdev = rdev };

	new_entry(req, parent, name, make_node, &a, NULL);
}

static void qfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct create_arg a = { .target = link };

	new_entry(req, parent, name, make_symlink, &a, NULL);
}

static void qfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *n = NULL;
	uint64_t made = 0;
	struct stat st;
	char rel[PATH_MAX];
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	err = place_relpath(d, name, rel, sizeof(rel));
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	slot = node_name_slot(d, name);
	node_name_lock2(fs, slot, slot);
	err = place_locate(fs, d, name, &b, &st);
	if (err == 0)
		err = -EEXIST;
	else if (err == -ENOENT)
		err = 0;
	/* Directories span every backing: make every copy, or none. */
	for (b = 0; b < fs->layout->n && !err; b++) {
		int pfd = node_dir_copy(fs, d, b);

		if (pfd < 0) {
			err = pfd;
		} else if (mkdirat(pfd, name, mode) < 0) {
			err = -errno;
		} else {
			made |= UINT64_C(1) << b;
			sync_mark(d, b);
			err = new_owner(req, pfd, name, -1);
		}
		if (err)
			trouble(fs, -err, "mkdir", rel, b);
	}
	if (!err)
		err = node_find_or_add_dir(fs, d, name, rel, &n);
	if (err) {
		for (b = 0; b < fs->layout->n; b++)
			if (made & (UINT64_C(1) << b))
				unlinkat(node_dir_fd(d, b), name, AT_REMOVEDIR);
	}
	node_name_unlock2(fs, slot, slot);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	reply_new(req, fs, n, NULL);
}

static void qfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino), *d = node_get(fs, newparent), *got;
	struct stat st;
	unsigned slot;
	int b, pfd, err;

	if (n->dir) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (place_hidden(fs, d, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	slot = node_name_slot(d, newname);
	node_name_lock2(fs, slot, slot);
	err = place_locate(fs, d, newname, &b, &st);
	if (err == 0)
		err = -EEXIST;
	else if (err == -ENOENT)
		err = 0;
	/* A link stays on the backing of its source: data never moves. */
	if (!err && (pfd = node_dir_copy(fs, d, n->bidx)) < 0)
		err = pfd;
	if (!err && linkat(n->fd, "", pfd, newname, AT_EMPTY_PATH) < 0)
		err = -errno;
	if (!err) {
		sync_mark(d, n->bidx);
		if (fstatat(pfd, newname, &st, AT_SYMLINK_NOFOLLOW) < 0)
			err = -errno;
		else
			err = node_find_or_add_file(fs, n->bidx, pfd, newname, &st, &got);
	}
	node_name_unlock2(fs, slot, slot);
	if (err) {
		trouble(fs, -err, "link", newname, n->bidx);
		fuse_reply_err(req, -err);
		return;
	}
	reply_new(req, fs, got, NULL);
}

static void qfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent);
	struct stat st;
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	slot = node_name_slot(d, name);
	node_name_lock2(fs, slot, slot);
	err = place_locate(fs, d, name, &b, &st);
	if (!err && S_ISDIR(st.st_mode))
		err = -EISDIR;
	if (!err && unlinkat(node_dir_fd(d, b), name, 0) < 0)
		err = -errno;
	if (!err)
		sync_mark(d, b);
	node_name_unlock2(fs, slot, slot);
	if (err)
		trouble(fs, -err, "unlink", name, b);
	fuse_reply_err(req, -err);
}

/* dir_copy_empty - is the copy of NAME under PFD empty (or absent)? */
static int dir_copy_empty(int pfd, const char *name)
{
	struct dirent *de;
	DIR *dir;
	int fd, empty = 1;

	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(dir);
	return empty;
}

static void qfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent);
	struct stat st;
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	slot = node_name_slot(d, name);
	node_name_lock2(fs, slot, slot);
	err = place_locate(fs, d, name, &b, &st);
	if (!err && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	/* Check every copy first, so that a refusal leaves all of them in place. */
	for (b = 0; b < fs->layout->n && !err; b++) {
		int pfd = node_dir_fd(d, b);
		int r = pfd < 0 ? 1 : dir_copy_empty(pfd, name);

		if (r < 0)
			err = r;
		else if (r == 0)
			err = -ENOTEMPTY;
	}
	for (b = 0; b < fs->layout->n && !err; b++) {
		int pfd = node_dir_fd(d, b);

		if (pfd < 0)
			continue;
		if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			err = -errno;
			trouble(fs, -err, "rmdir", name, b);
		} else {
			sync_mark(d, b);
		}
	}
	node_name_unlock2(fs, slot, slot);
	fuse_reply_err(req, -err);
}

/* rename_dir - rename every copy of a directory; undo on failure */
static int rename_dir(struct fs *fs, struct node *d, const char *name, struct node *nd, const char *newname,
		      unsigned flags)
{
	char oldrel[PATH_MAX], newrel[PATH_MAX];
	uint64_t done = 0;
	int err = 0;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (place_relpath(d, name, oldrel, sizeof(oldrel)) < 0 ||
	    place_relpath(nd, newname, newrel, sizeof(newrel)) < 0)
		return -ENAMETOOLONG;
	for (int b = 0; b < fs->layout->n && !err; b++) {
		int sfd = node_dir_fd(d, b), tfd;
		struct stat st;

		if (sfd < 0 || fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		tfd = node_dir_copy(fs, nd, b);
		if (tfd < 0)
			err = tfd;
		else if (renameat2(sfd, name, tfd, newname, flags) < 0)
			err = -errno;
		else {
			done |= UINT64_C(1) << b;
			sync_mark(d, b);
			sync_mark(nd, b);
		}
	}
	if (err) {
		for (int b = 0; b < fs->layout->n; b++)
			if (done & (UINT64_C(1) << b))
				renameat(node_dir_fd(nd, b), newname, node_dir_fd(d, b), name);
		return err;
	}
	node_dir_rename_paths(fs, oldrel, newrel);
	return 0;
}

static void qfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *nd = node_get(fs, newparent);
	struct stat sst, tst;
	unsigned s1, s2;
	int sb, tb = -1, tfd, err;

	if (place_hidden(fs, d, name) || place_hidden(fs, nd, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	s1 = node_name_slot(d, name);
	s2 = node_name_slot(nd, newname);
	node_name_lock2(fs, s1, s2);
	err = place_locate(fs, d, name, &sb, &sst);
	if (!err) {
		err = place_locate(fs, nd, newname, &tb, &tst);
		if (err == -ENOENT) {
			tb = -1;
			err = (flags & RENAME_EXCHANGE) ? -ENOENT : 0;
		} else if (!err && (flags & RENAME_NOREPLACE)) {
			err = -EEXIST;
		}
	}
	if (err)
		goto out;
	if (tb >= 0 && S_ISDIR(tst.st_mode) && !S_ISDIR(sst.st_mode) && !(flags & RENAME_EXCHANGE)) {
		err = -EISDIR;
		goto out;
	}
	if (tb >= 0 && !S_ISDIR(tst.st_mode) && S_ISDIR(sst.st_mode) && !(flags & RENAME_EXCHANGE)) {
		err = -ENOTDIR;
		goto out;
	}
	if (S_ISDIR(sst.st_mode) || (tb >= 0 && S_ISDIR(tst.st_mode))) {
		err = rename_dir(fs, d, name, nd, newname, flags);
		goto out;
	}
	/* An exchange of files on two backings would have to move data. */
	if ((flags & RENAME_EXCHANGE) && tb != sb) {
		err = -EINVAL;
		goto out;
	}
	/* The rename happens inside the backing that holds the source: atomic, fds stay valid. */
	tfd = node_dir_copy(fs, nd, sb);
	if (tfd < 0) {
		err = tfd;
		goto out;
	}
	if (renameat2(node_dir_fd(d, sb), name, tfd, newname, flags) < 0) {
		err = -errno;
		goto out;
	}
	sync_mark(d, sb);
	sync_mark(nd, sb);
	if (tb >= 0 && tb != sb) {
		/*
		 * The old target lived on another backing. Remove it only now:
		 * a crash in between leaves two copies, and the newer (renamed)
		 * one wins at the next mount (place_resolve).
		 */
		if (unlinkat(node_dir_fd(nd, tb), newname, 0) < 0 && errno != ENOENT)
			log_warn(errno, "rename: remove replaced %s on %s (left as a duplicate)", newname,
				 fs->layout->b[tb].path);
		sync_mark(nd, tb);
	}
out:
	node_name_unlock2(fs, s1, s2);
	if (err)
		trouble(fs, -err, "rename", name, sb);
	fuse_reply_err(req, -err);
}

static void qfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = FS(req);

	node_forget(fs, node_get(fs, ino), nlookup);
	fuse_reply_none(req);
}

static void qfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = FS(req);

	for (size_t i = 0; i < count; i++)
		node_forget(fs, node_get(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void qfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct stat st;
	int err;

	(void)fi;
	err = node_stat(node_get(fs, ino), &st);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, fs->conf->attr_timeout);
}

/* setattr_one - apply the requested changes to one backing object */
static int setattr_one(int pathfd, int fh, int is_symlink, struct stat *attr, int valid)
{
	char pn[32];

	proc_name(pathfd, pn, sizeof(pn));
	if (valid & FUSE_SET_ATTR_MODE) {
		if (is_symlink)
			return -EOPNOTSUPP;
		if ((fh >= 0 ? fchmod(fh, attr->st_mode) : fchmodat(proc_fd, pn, attr->st_mode, 0)) < 0)
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
			int fd = openat(proc_fd, pn, O_WRONLY | O_CLOEXEC);

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
		if (is_symlink)
			return -EOPNOTSUPP;
		if ((fh >= 0 ? futimens(fh, tv) : utimensat(proc_fd, pn, tv, 0)) < 0)
			return -errno;
	}
	return 0;
}

static void qfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
			struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino);
	struct stat st;
	int err = 0;

	if (n->dir) {
		if (valid & FUSE_SET_ATTR_SIZE) {
			fuse_reply_err(req, EISDIR);
			return;
		}
		/* Directories are shared state: every copy must say the same. */
		for (int b = 0; b < fs->layout->n && !err; b++) {
			int fd = node_dir_fd(n, b);

			if (fd >= 0)
				err = setattr_one(fd, -1, 0, attr, valid);
			if (err)
				trouble(fs, -err, "setattr", "directory", b);
		}
	} else {
		err = node_stat(n, &st);
		if (!err)
			err = setattr_one(n->fd, fi ? (int)fi->fh : -1, S_ISLNK(st.st_mode), attr, valid);
		if (err)
			trouble(fs, -err, "setattr", "file", n->bidx);
	}
	if (!err)
		err = node_stat(n, &st);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, fs->conf->attr_timeout);
}

static void qfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = node_get(FS(req), ino);
	char buf[PATH_MAX + 1];
	ssize_t len;

	if (n->dir) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	len = readlinkat(n->fd, "", buf, sizeof(buf));
	if (len < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if ((size_t)len >= sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[len] = 0;
	fuse_reply_readlink(req, buf);
}

static void qfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino);
	int fd;

	if (n->dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fd = open_node(n, fi->flags);
	if (fd < 0) {
		trouble(fs, -fd, "open", "file", n->bidx);
		fuse_reply_err(req, -fd);
		return;
	}
	/* queuefs is the only writer of its backings: the page cache stays valid. */
	fi->keep_cache = 1;
	fi->fh = (uint64_t)fd;
	fuse_reply_open(req, fi);
}

static void qfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void qfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd;

	(void)ino;
	/* close(2) of a duplicate flushes what the backing filesystem defers to close (NFS). */
	fd = dup((int)fi->fh);
	fuse_reply_err(req, fd < 0 ? errno : (close(fd) < 0 ? errno : 0));
}

static void qfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	int r;

	r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	if (r < 0) {
		trouble(fs, errno, "fsync", "file", node_get(fs, ino)->bidx);
		fuse_reply_err(req, errno);
		return;
	}
	fuse_reply_err(req, 0);
}

static void qfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void qfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t res;

	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	res = fuse_buf_copy(&out, in, 0);
	if (res < 0) {
		trouble(FS(req), (int)-res, "write", "file", node_get(FS(req), ino)->bidx);
		fuse_reply_err(req, (int)-res);
	} else {
		fuse_reply_write(req, (size_t)res);
	}
}

static void qfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			  struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, fallocate((int)fi->fh, mode, off, len) < 0 ? errno : 0);
}

struct dir_entry {
	char *name;
	uint64_t ino;
	mode_t type;
	int b;
};

struct dir_handle {
	struct dir_entry *ents;
	size_t n;
	int loaded;
};

/* dent_cmp - by name, then backing: the primary copy of a directory first */
static int dent_cmp(const void *a, const void *b)
{
	const struct dir_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->b - y->b;
}

/* dir_handle_free - drop a listing */
static void dir_handle_clear(struct dir_handle *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->ents[i].name);
	free(h->ents);
	h->ents = NULL;
	h->n = 0;
	h->loaded = 0;
}

/* dir_list - merge the copies of D into one sorted listing without duplicates */
static int dir_list(struct fs *fs, struct node *d, struct dir_handle *h)
{
	size_t cap = 0, out = 0;
	int err = 0;

	for (int b = 0; b < fs->layout->n && !err; b++) {
		int pfd = node_dir_fd(d, b), fd;
		struct dirent *de;
		DIR *dir;

		if (pfd < 0)
			continue;
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || !(dir = fdopendir(fd))) {
			err = -errno;
			if (fd >= 0)
				close(fd);
			trouble(fs, -err, "readdir", "directory", b);
			break;
		}
		while ((de = readdir(dir)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
			    place_hidden(fs, d, de->d_name))
				continue;
			if (h->n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct dir_entry *ne = realloc(h->ents, ncap * sizeof(*ne));

				if (!ne) {
					err = -ENOMEM;
					break;
				}
				h->ents = ne;
				cap = ncap;
			}
			h->ents[h->n].name = strdup(de->d_name);
			if (!h->ents[h->n].name) {
				err = -ENOMEM;
				break;
			}
			h->ents[h->n].ino = backing_ino(&fs->layout->b[b], de->d_ino);
			h->ents[h->n].type = (mode_t)(de->d_type << 12);
			h->ents[h->n++].b = b;
		}
		closedir(dir);
	}
	if (err)
		return err;
	qsort(h->ents, h->n, sizeof(*h->ents), dent_cmp);
	for (size_t i = 0; i < h->n;) {
		uint64_t files = 0;
		size_t j = i;

		for (; j < h->n && strcmp(h->ents[j].name, h->ents[i].name) == 0; j++)
			if (h->ents[j].type != S_IFDIR)
				files |= UINT64_C(1) << h->ents[j].b;
		h->ents[out] = h->ents[i];
		if (__builtin_popcountll(files) > 1) {
			/* Found behind our back: settle it now, show the survivor. */
			unsigned slot = node_name_slot(d, h->ents[i].name);
			int win;

			node_name_lock2(fs, slot, slot);
			win = place_resolve(fs, d, h->ents[i].name, files);
			node_name_unlock2(fs, slot, slot);
			for (size_t k = i; k < j; k++)
				if ((int)h->ents[k].b == win)
					h->ents[out] = h->ents[k];
		}
		for (size_t k = i; k < j; k++)
			if (h->ents[k].name != h->ents[out].name)
				free(h->ents[k].name);
		out++;
		i = j;
	}
	h->n = out;
	h->loaded = 1;
	return 0;
}

static void qfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *h;

	if (!node_get(FS(req), ino)->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void qfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, ino);
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf;
	size_t used = 0;
	int err;

	/* Offset 0 is a (re)start: list afresh, so new entries show at once. */
	if (off == 0 || !h->loaded) {
		dir_handle_clear(h);
		err = dir_list(fs, d, h);
		if (err) {
			dir_handle_clear(h);
			fuse_reply_err(req, -err);
			return;
		}
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: 1 = ".", 2 = "..", 3 + i = entry i. */
	for (size_t i = (size_t)off; i < h->n + 2; i++) {
		struct stat st = { 0 };
		const char *name;
		size_t len;

		if (i == 0) {
			name = ".";
			st.st_ino = d->st_ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			st.st_mode = S_IFDIR;
		} else {
			name = h->ents[i - 2].name;
			st.st_ino = h->ents[i - 2].ino;
			st.st_mode = h->ents[i - 2].type;
		}
		len = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)i + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void qfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	dir_handle_clear(h);
	free(h);
	fuse_reply_err(req, 0);
}

static void qfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);

	(void)fi;
	fuse_reply_err(req, -sync_dir(fs, node_get(fs, ino), datasync));
}

/*
 * qfs_statfs - the truth about space, per the rule in the README: the
 * class with the least free space speaks for the mount (an MTA checks
 * statfs before it accepts a message, and every class must take a part of
 * it). A class's space is the sum over its shards, each filesystem counted
 * once; inodes likewise, from the class with the fewest free.
 */
static void qfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct layout *l = fs->layout;
	struct statvfs out = { 0 };
	unsigned long long best_free = ~0ULL, best_ifree = ~0ULL;

	(void)ino;
	for (int c = 0; c < fs->conf->nclasses; c++) {
		unsigned long long blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, favail = 0;
		dev_t seen[QFS_MAX_SHARDS];
		int nseen = 0;

		for (int s = 0; s < l->cls_n[c]; s++) {
			struct backing *b = &l->b[l->cls_backing[c][s]];
			struct statvfs sv;
			int dup = 0;

			for (int k = 0; k < nseen; k++)
				dup |= seen[k] == b->dev;
			if (dup || backing_statvfs(b, &sv, true) < 0)
				continue;
			seen[nseen++] = b->dev;
			blocks += (unsigned long long)sv.f_blocks * sv.f_frsize / 4096;
			bfree += (unsigned long long)sv.f_bfree * sv.f_frsize / 4096;
			bavail += (unsigned long long)sv.f_bavail * sv.f_frsize / 4096;
			files += sv.f_files;
			ffree += sv.f_ffree;
			favail += sv.f_favail;
		}
		if (bavail < best_free) {
			best_free = bavail;
			out.f_blocks = blocks;
			out.f_bfree = bfree;
			out.f_bavail = bavail;
		}
		/* tmpfs with nr_inodes=0 reports no inode limit: it never is the smallest. */
		if (files && ffree < best_ifree) {
			best_ifree = ffree;
			out.f_files = files;
			out.f_ffree = ffree;
			out.f_favail = favail;
		}
	}
	out.f_bsize = 4096;
	out.f_frsize = 4096;
	out.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &out);
}

static void qfs_init(void *userdata, struct fuse_conn_info *conn)
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
