/*
 * NAME
 *	ops_entry - FUSE handlers that change names: lookup, create, mknod,
 *	symlink, mkdir, link, unlink, rmdir, rename, forget
 * DESCRIPTION
 *	Each handler takes the per-name lock(s), asks place_locate whether
 *	the name exists anywhere (one name, one file), acts inside one
 *	backing directory and replies once. Non-directories are created on
 *	the first shard of their class with room; directories on every
 *	backing; renames and links inside the backing of their source.
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
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <xxhash.h>

#include "log.h"
#include "ops_int.h"
#include "place.h"
#include "sync.h"

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

/*
 * locate_memo - place_locate, but a name this daemon found absent under
 *	the same lock, with nothing added since, is absent still (see
 *	fs->absent). The caller holds the name lock SLOT.
 */
static int locate_memo(struct fs *fs, struct node *d, const char *name, unsigned slot, int *b,
		       struct stat *st)
{
	uint64_t h;
	int err;

	if (!fs->absent_memo)
		return place_locate(fs, d, name, b, st);
	h = XXH3_64bits(name, strlen(name));
	if (fs->absent[slot].dir == d->st_ino && fs->absent[slot].hash == h)
		return -ENOENT;
	err = place_locate(fs, d, name, b, st);
	if (err == -ENOENT) {
		fs->absent[slot].dir = d->st_ino;
		fs->absent[slot].hash = h;
	}
	return err;
}

/* name_added - a name now exists under lock SLOT: forget what was absent there */
static void name_added(struct fs *fs, unsigned slot)
{
	fs->absent[slot].dir = 0;
}

/*
 * name_begin - take the per-name lock of NAME in D and locate it: 0 with
 *	*B and *ST, -ENOENT, or another -errno; the lock is held on return
 *	whatever the result, until name_end.
 */
static int name_begin(struct fs *fs, struct node *d, const char *name, unsigned *slot, int *b,
		      struct stat *st)
{
	*slot = node_name_slot(d, name);
	node_name_lock2(fs, *slot, *slot);
	return locate_memo(fs, d, name, *slot, b, st);
}

static void name_end(struct fs *fs, unsigned slot)
{
	node_name_unlock2(fs, slot, slot);
}

/* lookup_node - the node of NAME just found or made on backing B of D; takes one lookup */
static int lookup_node(struct fs *fs, struct node *d, const char *name, int b, const struct stat *st,
		       struct node **out)
{
	if (S_ISDIR(st->st_mode)) {
		char rel[QFS_PATH_MAX];
		int err = place_relpath(d, name, rel, sizeof(rel));

		return err ? err : node_find_or_add_dir(fs, d, name, rel, out);
	}
	return node_find_or_add_file(fs, d, b, name, st, out);
}

/*
 * ops_lookup_entry - what a LOOKUP of NAME in D answers: 0 with E filled
 *	and one lookup taken on its node, or -errno. readdirplus shares it.
 */
int ops_lookup_entry(struct fs *fs, struct node *d, const char *name, struct fuse_entry_param *e)
{
	struct node *n;
	struct stat st;
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name))
		return -ENOENT;
	err = name_begin(fs, d, name, &slot, &b, &st);
	if (!err)
		err = lookup_node(fs, d, name, b, &st, &n);
	/* A file's attributes are those locate just read, if the node is that inode. */
	if (!err && (n->dir || n->dev != st.st_dev || n->ino != st.st_ino)) {
		err = ops_node_stat(fs, n, &st);
		if (err)
			node_forget(fs, n, 1);
	}
	name_end(fs, slot);
	if (!err)
		ops_entry_fill(fs, n, &st, e);
	return err;
}

void qfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent);
	struct fuse_entry_param e;
	int err;

	if (!d->dir) {
		ops_reply_err(req, ENOTDIR);
		return;
	}
	err = ops_lookup_entry(fs, d, name, &e);
	if (err == -ENOENT) {
		struct placement p;
		double negative;

		/* A miss may be cached as long as the class the name would have allows. */
		place_route(fs, d, name, &p);
		negative = fs->cls_negative[p.cls];
		if (negative > 0) {
			memset(&e, 0, sizeof(e));
			e.entry_timeout = negative;
			fuse_reply_entry(req, &e);
			return;
		}
	}
	if (err) {
		ops_reply_err(req, -err);
		return;
	}
	fuse_reply_entry(req, &e);
}

/*
 * reply_new - the common end of create, mknod, symlink, mkdir, link. ST,
 *	when not NULL, holds attributes just read from N's backing inode.
 */
static void reply_new(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *st,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct stat own;
	int err = 0;

	if (!st || n->dir || n->dev != st->st_dev || n->ino != st->st_ino) {
		err = ops_node_stat(fs, n, &own);
		st = &own;
	}
	if (err) {
		node_forget(fs, n, 1);
		if (fi)
			close((int)fi->fh);
		ops_reply_err(req, -err);
		return;
	}
	ops_entry_fill(fs, n, st, &e);
	if (fi)
		fuse_reply_create(req, &e, fi);
	else
		fuse_reply_entry(req, &e);
}

/*
 * make_placed - create a non-directory NAME in D on the first backing of its
 *	class that has room; MAKE does the backing call and returns an fd (or
 *	0 when there is none) or -errno. ENOSPC/EDQUOT go to the next shard.
 *	*STP gets the new file's attributes.
 */
typedef int (*make_fn)(int dirfd, const char *name, const void *arg);

static int make_placed(fuse_req_t req, struct fs *fs, struct node *d, const char *name, make_fn make,
		       const void *arg, int *fdp, struct node **out, struct stat *stp)
{
	struct placement p;
	struct stat st;
	int err = -ENOSPC, b = -1, fd = -1;

	place_route(fs, d, name, &p);
	place_pick(fs, &p);
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
			/* A full, read-only or failing shard: the next one in rendezvous order. */
			if (err != -ENOSPC && err != -EDQUOT && err != -EROFS && err != -EIO)
				goto fail;
		}
	}
	if (fd < 0)
		goto fail;
	sync_mark(d, b);
	err = new_owner(req, node_dir_fd(d, b), name, fd > 0 ? fd : -1);
	if (!err &&
	    (fd > 0 ? fstat(fd, &st) : fstatat(node_dir_fd(d, b), name, &st, AT_SYMLINK_NOFOLLOW)) < 0)
		err = -errno;
	if (!err)
		err = node_find_or_add_file(fs, d, b, name, &st, out);
	if (err) {
		unlinkat(node_dir_fd(d, b), name, 0);
		if (fd > 0)
			close(fd);
		goto fail;
	}
	if (!place_at_home(&p, b) && atomic_load(&d->dir->strays) >= 0)
		atomic_fetch_add(&d->dir->strays, 1);
	if (fdp)
		*fdp = fd;
	*stp = st;
	return 0;
fail:
	ops_trouble(fs, -err, "create", name, b);
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

/* new_entry - the shared frame of create/mknod/symlink: locks, existence, placement */
static void new_entry(fuse_req_t req, fuse_ino_t parent, const char *name, make_fn make, struct create_arg *a,
		      struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *n = NULL;
	struct stat st;
	unsigned slot;
	int b, err, fd = -1;
	bool made = false;

	if (place_hidden(fs, d, name)) {
		ops_reply_err(req, EPERM);
		return;
	}
	err = name_begin(fs, d, name, &slot, &b, &st);
	if (err == 0) {
		/* The name exists (perhaps on another backing): one name, one file. */
		if (!fi || (fi->flags & O_EXCL))
			err = -EEXIST;
		else if (S_ISDIR(st.st_mode))
			err = -EISDIR;
		else if ((err = lookup_node(fs, d, name, b, &st, &n)) == 0) {
			fd = ops_open_node(n, fi->flags);
			if (fd < 0) {
				err = fd;
				node_forget(fs, n, 1);
			}
		}
	} else if (err == -ENOENT) {
		err = make_placed(req, fs, d, name, make, a, fi ? &fd : NULL, &n, &st);
		name_added(fs, slot);
		made = true;
	}
	name_end(fs, slot);
	if (err) {
		ops_reply_err(req, -err);
		return;
	}
	if (fi) {
		fi->fh = (uint64_t)fd;
		ops_open_cache(fs, n, fi);
	}
	/* An existing file opened here may just have been truncated: stat it again. */
	reply_new(req, fs, n, made ? &st : NULL, fi);
}

void qfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct create_arg a = { .flags = fi->flags, .mode = mode };

	new_entry(req, parent, name, make_open, &a, fi);
}

void qfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct create_arg a = { .mode = mode, .rdev = rdev };

	new_entry(req, parent, name, make_node, &a, NULL);
}

void qfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct create_arg a = { .target = link };

	new_entry(req, parent, name, make_symlink, &a, NULL);
}

void qfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *n = NULL;
	uint64_t made = 0;
	struct stat st;
	char rel[QFS_PATH_MAX];
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name)) {
		ops_reply_err(req, EPERM);
		return;
	}
	err = place_relpath(d, name, rel, sizeof(rel));
	if (err) {
		ops_reply_err(req, -err);
		return;
	}
	err = name_begin(fs, d, name, &slot, &b, &st);
	if (err == 0)
		err = -EEXIST;
	else if (err == -ENOENT)
		err = 0;
	/* A directory with subdirectories has its names looked for everywhere (struct dirinfo). */
	if (!err)
		atomic_store(&d->dir->strays, NODE_STRAYS_UNKNOWN);
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
			ops_trouble(fs, -err, "mkdir", rel, b);
	}
	name_added(fs, slot);
	if (!err)
		err = node_find_or_add_dir(fs, d, name, rel, &n);
	if (err) {
		for (b = 0; b < fs->layout->n; b++)
			if (made & (UINT64_C(1) << b))
				unlinkat(node_dir_fd(d, b), name, AT_REMOVEDIR);
	}
	name_end(fs, slot);
	if (err) {
		ops_reply_err(req, -err);
		return;
	}
	reply_new(req, fs, n, NULL, NULL);
}

void qfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = FS(req);
	struct node *n = node_get(fs, ino), *d = node_get(fs, newparent), *got;
	struct stat st;
	unsigned slot;
	int b, pfd, err;

	if (n->dir) {
		ops_reply_err(req, EPERM);
		return;
	}
	if (place_hidden(fs, d, newname)) {
		ops_reply_err(req, EPERM);
		return;
	}
	err = name_begin(fs, d, newname, &slot, &b, &st);
	if (err == 0)
		err = -EEXIST;
	else if (err == -ENOENT)
		err = 0;
	/* A link stays on the backing of its source: data never moves. */
	if (!err && (pfd = node_dir_copy(fs, d, n->bidx)) < 0)
		err = pfd;
	if (!err && linkat(n->fd, "", pfd, newname, AT_EMPTY_PATH) < 0)
		err = -errno;
	name_added(fs, slot);
	if (!err) {
		sync_mark(d, n->bidx);
		place_stray(fs, d, newname, n->bidx, 1);
		if (fstatat(pfd, newname, &st, AT_SYMLINK_NOFOLLOW) < 0)
			err = -errno;
		else
			err = node_find_or_add_file(fs, d, n->bidx, newname, &st, &got);
	}
	name_end(fs, slot);
	if (err) {
		ops_trouble(fs, -err, "link", newname, n->bidx);
		ops_reply_err(req, -err);
		return;
	}
	reply_new(req, fs, got, NULL, NULL);
}

void qfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent);
	struct stat st;
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name)) {
		ops_reply_err(req, EPERM);
		return;
	}
	err = name_begin(fs, d, name, &slot, &b, &st);
	if (!err && S_ISDIR(st.st_mode))
		err = -EISDIR;
	if (!err && unlinkat(node_dir_fd(d, b), name, 0) < 0)
		err = -errno;
	if (!err) {
		sync_mark(d, b);
		place_stray(fs, d, name, b, -1);
	}
	name_end(fs, slot);
	if (err)
		ops_trouble(fs, -err, "unlink", name, b);
	ops_reply_err(req, -err);
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

void qfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent);
	struct stat st;
	unsigned slot;
	int b, err;

	if (place_hidden(fs, d, name)) {
		ops_reply_err(req, EPERM);
		return;
	}
	err = name_begin(fs, d, name, &slot, &b, &st);
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
			ops_trouble(fs, -err, "rmdir", name, b);
		} else {
			sync_mark(d, b);
		}
	}
	name_end(fs, slot);
	ops_reply_err(req, -err);
}

/* rename_dir - rename every copy of a directory; undo on failure */
static int rename_dir(struct fs *fs, struct node *d, const char *name, struct node *nd, const char *newname,
		      unsigned flags)
{
	char oldrel[QFS_PATH_MAX], newrel[QFS_PATH_MAX];
	uint64_t done = 0;
	int err = 0;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (place_relpath(d, name, oldrel, sizeof(oldrel)) < 0 ||
	    place_relpath(nd, newname, newrel, sizeof(newrel)) < 0)
		return -ENAMETOOLONG;
	atomic_store(&nd->dir->strays, NODE_STRAYS_UNKNOWN); /* it gets a subdirectory */
	/*
	 * A target directory must be empty in every copy, checked first: its
	 * files live on one backing each, so renaming copy by copy would
	 * replace the empty copies before meeting the full one.
	 */
	for (int b = 0; b < fs->layout->n; b++) {
		int tfd = node_dir_fd(nd, b), r = tfd < 0 ? 1 : dir_copy_empty(tfd, newname);

		if (r < 0)
			return r;
		if (r == 0)
			return -ENOTEMPTY;
	}
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

void qfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct fs *fs = FS(req);
	struct node *d = node_get(fs, parent), *nd = node_get(fs, newparent);
	struct stat sst, tst;
	unsigned s1, s2;
	int sb, tb = -1, tfd, err;

	if (place_hidden(fs, d, name) || place_hidden(fs, nd, newname)) {
		ops_reply_err(req, EPERM);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		ops_reply_err(req, EINVAL);
		return;
	}
	s1 = node_name_slot(d, name);
	s2 = node_name_slot(nd, newname);
	node_name_lock2(fs, s1, s2);
	err = locate_memo(fs, d, name, s1, &sb, &sst);
	if (!err) {
		err = locate_memo(fs, nd, newname, s2, &tb, &tst);
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
	node_renamed(fs, sst.st_dev, sst.st_ino, nd, newname);
	if (flags & RENAME_EXCHANGE)
		node_renamed(fs, tst.st_dev, tst.st_ino, d, name);
	/*
	 * Strays: an exchange leaves both names on SB, and a rename between
	 * two links of one file does nothing at all. Otherwise NAME left SB
	 * and NEWNAME arrived there (or replaced its old self on SB).
	 */
	if (!(flags & RENAME_EXCHANGE) &&
	    !(tb >= 0 && tst.st_dev == sst.st_dev && tst.st_ino == sst.st_ino)) {
		place_stray(fs, d, name, sb, -1);
		if (tb != sb)
			place_stray(fs, nd, newname, sb, 1);
	}
	if (tb >= 0 && tb != sb) {
		/*
		 * The old target lived on another backing. Remove it only now:
		 * a crash in between leaves two copies, and the newer (renamed)
		 * one wins at the next mount (place_resolve).
		 */
		if (unlinkat(node_dir_fd(nd, tb), newname, 0) < 0 && errno != ENOENT)
			log_warn(errno, "rename: remove replaced %s on %s (left as a duplicate)", newname,
				 fs->layout->b[tb].path);
		else
			place_stray(fs, nd, newname, tb, -1);
		sync_mark(nd, tb);
	}
out:
	name_added(fs, s2); /* whatever happened, the target may exist now */
	node_name_unlock2(fs, s1, s2);
	if (err)
		ops_trouble(fs, -err, "rename", name, sb);
	ops_reply_err(req, -err);
}

void qfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = FS(req);

	node_forget(fs, node_get(fs, ino), nlookup);
	fuse_reply_none(req);
}

void qfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = FS(req);

	for (size_t i = 0; i < count; i++)
		node_forget(fs, node_get(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}
