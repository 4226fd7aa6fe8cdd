/*
 * NAME
 *	ops_dir - FUSE handlers on directories as a whole: listing, fsyncdir, statfs
 * DESCRIPTION
 *	readdir merges the copies of a directory into one sorted listing
 *	without duplicates, built afresh at offset 0 so that new entries show
 *	as soon as the create or rename returns. readdirplus adds the
 *	attributes of the names the kernel does not know yet. fsyncdir
 *	syncs the dirty copies (sync.c). statfs tells the truth about space
 *	per the rule in the README.
 * DIAGNOSTICS
 *	Replies carry the backing's errno; backing trouble is logged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

struct dir_entry {
	char *name;
	uint64_t ino;	   /* as the mount shows it */
	ino_t backing_ino; /* in the copy on backing B: the node table's key */
	mode_t type;
	int b;
};

struct dir_handle {
	struct dir_handle *prev, *next; /* open handles, for ops_dir_cleanup */
	struct dir_entry *ents;
	size_t n;
	uint64_t dotdot; /* st_ino of the parent: glibc hides entries with d_ino 0 */
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
		int pfd = node_dir_fd(d, b);
		struct dirent *de;
		DIR *dir;

		if (pfd < 0)
			continue;
		if (!(dir = backing_opendir(pfd))) {
			err = -errno;
			ops_trouble(fs, -err, "readdir", "directory", b);
			break;
		}
		while ((de = readdir(dir)) != NULL) {
			if (strcmp(de->d_name, "..") == 0 && b == d->bidx)
				h->dotdot = d == &fs->root ? d->st_ino
							   : backing_ino(&fs->layout->b[b], de->d_ino);
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
			h->ents[h->n].backing_ino = de->d_ino;
			h->ents[h->n].type = (mode_t)(de->d_type << 12);
			h->ents[h->n++].b = b;
		}
		closedir(dir);
	}
	if (err)
		return err;
	if (h->n)
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

/*
 * Open directory handles, so that those the kernel never released (the
 * mount went away with a directory open) are freed at exit.
 */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir_handle *handles;

/* ops_dir_cleanup - free handles still open when the session ended */
void ops_dir_cleanup(void)
{
	pthread_mutex_lock(&handles_lock);
	while (handles) {
		struct dir_handle *h = handles;

		handles = h->next;
		dir_handle_clear(h);
		free(h);
	}
	pthread_mutex_unlock(&handles_lock);
}

void qfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *h;

	if (!node_get(FS(req), ino)->dir) {
		ops_reply_err(req, ENOTDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&handles_lock);
	h->next = handles;
	if (handles)
		handles->prev = h;
	handles = h;
	pthread_mutex_unlock(&handles_lock);
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
}

/*
 * plus_entry - the readdirplus answer E for entry ENT of D: a full lookup
 *	(one lookup taken, *TAKEN set) for a name the kernel does not know
 *	yet; for one whose node it holds, or one gone since the listing,
 *	only the name (nodeid 0: the kernel leaves its dentry as it is).
 */
static void plus_entry(struct fs *fs, struct node *d, const struct dir_entry *ent, struct fuse_entry_param *e,
		       bool *taken)
{
	*taken = false;
	if (!node_find_id(fs, fs->layout->b[ent->b].dev, ent->backing_ino) &&
	    ops_lookup_entry(fs, d, ent->name, e) == 0) {
		*taken = true;
		return;
	}
	memset(e, 0, sizeof(*e));
	e->attr.st_ino = ent->ino;
	e->attr.st_mode = ent->type;
}

/*
 * dir_reply - one buffer of the listing from OFF. With PLUS, every entry
 *	the kernel does not know comes with its attributes, which saves the
 *	LOOKUP it would send next (ls -l after a restart or a flush).
 */
static void dir_reply(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi,
		      bool plus)
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
			ops_reply_err(req, -err);
			return;
		}
	}
	buf = malloc(size);
	if (!buf) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: 1 = ".", 2 = "..", 3 + i = entry i. */
	for (size_t i = (size_t)off; i < h->n + 2; i++) {
		struct fuse_entry_param e = { 0 };
		bool taken = false;
		const char *name;
		size_t len;

		if (i == 0) {
			name = ".";
			e.attr.st_ino = d->st_ino;
			e.attr.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			e.attr.st_ino = h->dotdot ? h->dotdot : d->st_ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			name = h->ents[i - 2].name;
			if (plus) {
				plus_entry(fs, d, &h->ents[i - 2], &e, &taken);
			} else {
				e.attr.st_ino = h->ents[i - 2].ino;
				e.attr.st_mode = h->ents[i - 2].type;
			}
		}
		len = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)i + 1)
			   : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, (off_t)i + 1);
		if (len > size - used) {
			/* Not sent: the kernel never learns of this lookup. */
			if (taken)
				node_forget(fs, node_get(fs, e.ino), 1);
			break;
		}
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void qfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	dir_reply(req, ino, size, off, fi, false);
}

void qfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	dir_reply(req, ino, size, off, fi, true);
}

void qfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	pthread_mutex_lock(&handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&handles_lock);
	dir_handle_clear(h);
	free(h);
	ops_reply_err(req, 0);
}

void qfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);

	(void)fi;
	ops_reply_err(req, -sync_dir(fs, node_get(fs, ino), datasync));
}

/*
 * qfs_statfs - the truth about space, per the rule in the README: the
 * class with the least free space speaks for the mount (an MTA checks
 * statfs before it accepts a message, and every class must take a part of
 * it). A class's space is the sum over its shards, each filesystem counted
 * once; inodes likewise, from the class with the fewest free.
 */
void qfs_statfs(fuse_req_t req, fuse_ino_t ino)
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
			if (dup || backing_statvfs(b, &sv) < 0)
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
