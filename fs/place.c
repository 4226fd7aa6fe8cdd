/*
 * NAME
 *	place - where a name lives: route, locate, duplicates, mount-time scan
 * DESCRIPTION
 *	A file lives on exactly one backing, normally its hash home. Renames
 *	never move data, so a file may live elsewhere (Postfix renames its
 *	temporary name to the queue id; a full shard sends new files to the
 *	next one): locating asks the home first, then the class's other shards
 *	in rendezvous order, then the rest. Only a miss costs one fstatat per
 *	backing, and those are answered from the backing's dentry cache.
 *
 *	Two copies of one name can only appear behind queuefs's back or from a
 *	crash between the two steps of a rename onto a name that lived on
 *	another backing (rename first, then remove the old copy). The rule is
 *	deterministic: the newest ctime wins (the renamed file), ties go to the
 *	preferred backing; losers are moved, never deleted, to the
 *	.queuefs/quarantine directory of their backing.
 * DIAGNOSTICS
 *	Every duplicate is logged with its path and backings. The mount-time
 *	scan logs and skips what it cannot read; it fails only when it cannot
 *	create a missing directory copy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "place.h"
#include "route.h"
#include "stats.h"

#define SCAN_MAX_DEPTH 64

/* place_hidden - names of the root that belong to queuefs or the disk */
int place_hidden(struct fs *fs, struct node *d, const char *name)
{
	return d == &fs->root && (strcmp(name, QFS_META_NAME) == 0 || strcmp(name, "lost+found") == 0);
}

/* place_relpath - "DIRPATH/NAME" (or NAME in the root) into BUF */
int place_relpath(struct node *d, const char *name, char *buf, size_t len)
{
	char dpath[QFS_PATH_MAX];
	int n;

	node_dir_path_copy(d, dpath, sizeof(dpath));
	n = snprintf(buf, len, "%s%s%s", dpath, dpath[0] ? "/" : "", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* route_rel - the placement of a relative path */
static void route_rel(struct fs *fs, const char *rel, struct placement *p)
{
	const struct layout *l = fs->layout;
	struct route r;
	int order[QFS_MAX_SHARDS];

	route_path(fs->conf, rel, &r);
	p->cls = r.cls;
	p->n = l->cls_n[r.cls];
	route_order(l->cls_shard_id[r.cls], p->n, r.key, r.keylen, r.pin, order);
	for (int i = 0; i < p->n; i++)
		p->order[i] = l->cls_backing[r.cls][order[i]];
	p->home_n = route_choices(&fs->conf->classes[r.cls], r.pin, p->n);
}

/* place_is_home - is B one of the homes of REL? */
int place_is_home(struct fs *fs, const char *rel, int b)
{
	struct placement p;

	route_rel(fs, rel, &p);
	return place_at_home(&p, b);
}

/* place_pick - the least busy home first */
void place_pick(struct fs *fs, struct placement *p)
{
	int load[QFS_MAX_SHARDS], best, b;

	for (int i = 0; i < p->home_n; i++)
		load[i] = atomic_load_explicit(&fs->layout->b[p->order[i]].busy, memory_order_relaxed);
	best = route_least(load, p->home_n);
	b = p->order[best];
	memmove(&p->order[1], &p->order[0], sizeof(p->order[0]) * (size_t)best);
	p->order[0] = b;
}

/* place_route - the backings NAME in D may be created on, best first */
void place_route(struct fs *fs, struct node *d, const char *name, struct placement *p)
{
	char rel[QFS_PATH_MAX];

	if (place_relpath(d, name, rel, sizeof(rel)) < 0)
		snprintf(rel, sizeof(rel), "%s", name); /* route by the name alone */
	route_rel(fs, rel, p);
}

/*
 * stat_retry - fstatat that retries ESTALE: an NFS client answers it when
 *	its cached handle of a name went stale because another node replaced
 *	the object; a second look revalidates. (Dovecot's nfs-workarounds do
 *	the same.) Local filesystems never return it.
 */
static int stat_retry(int dirfd, const char *name, struct stat *st)
{
	for (int tries = 0;; tries++) {
		if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
			return 0;
		if (errno != ESTALE || tries == 3)
			return -1;
	}
}

/* locate_fds - place_locate over an explicit array of directory copies */
static int locate_fds(struct fs *fs, const int *fds, const struct placement *p, const char *name, int *bidx,
		      struct stat *st)
{
	uint64_t tried = 0;
	int err = -ENOENT;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < (pass == 0 ? p->n : fs->layout->n); i++) {
			int b = pass == 0 ? p->order[i] : i;

			if ((tried & (UINT64_C(1) << b)) || fds[b] < 0)
				continue;
			tried |= UINT64_C(1) << b;
			if (stat_retry(fds[b], name, st) == 0) {
				*bidx = b;
				return 0;
			}
			if (errno != ENOENT) {
				/* A sick backing must not hide a name: report it, keep looking. */
				err = -errno;
				log_warn(errno, "place_locate: stat %s on %s", name, fs->layout->b[b].path);
			}
		}
	}
	return err;
}

/* dir_fds_copy - a snapshot of D's copy fds (they only ever go from -1 to valid) */
static void dir_fds_copy(struct fs *fs, struct node *d, int *fds)
{
	pthread_mutex_lock(&d->dir->lock);
	memcpy(fds, d->dir->fds, sizeof(int) * (size_t)fs->layout->n);
	pthread_mutex_unlock(&d->dir->lock);
}

/* place_locate - the backing that holds NAME in directory D */
int place_locate(struct fs *fs, struct node *d, const char *name, int *bidx, struct stat *st)
{
	struct placement p;
	int fds[QFS_MAX_BACKINGS];

	place_route(fs, d, name, &p);
	dir_fds_copy(fs, d, fds);
	if (atomic_load(&d->dir->strays) == 0) {
		/* Every name of D is on one of its homes (see struct dirinfo): look there only. */
		int sick = 0;

		stats_search(1);
		for (int i = 0; i < p.home_n; i++) {
			int b = p.order[i];

			if (fds[b] < 0)
				continue;
			if (stat_retry(fds[b], name, st) == 0) {
				*bidx = b;
				return 0;
			}
			sick |= errno != ENOENT;
		}
		if (!sick)
			return -ENOENT;
		/* A sick home: the full search below reports it. */
	}
	stats_search(0);
	return locate_fds(fs, fds, &p, name, bidx, st);
}

/* place_stray - NAME arrived in (DELTA 1) or left (-1) D's copy on backing B: count strays */
void place_stray(struct fs *fs, struct node *d, const char *name, int b, int delta)
{
	struct placement p;
	long s = atomic_load(&d->dir->strays);

	/*
	 * Unknown: nothing to count. Zero: NAME (whose lock the caller holds,
	 * so its own share is in the count) is at home; removing it changes
	 * nothing, and no route need be worked out on this path.
	 */
	if (s < 0 || (s == 0 && delta < 0))
		return;
	place_route(fs, d, name, &p);
	if (!place_at_home(&p, b))
		atomic_fetch_add(&d->dir->strays, delta);
}

/* place_census - count the strays of a directory node not yet shared (struct dirinfo) */
long place_census(struct fs *fs, struct node *d)
{
	char dpath[QFS_PATH_MAX], rel[QFS_PATH_MAX];
	long strays = 0;

	if (!fs->absent_memo)
		return NODE_STRAYS_UNKNOWN;
	node_dir_path_copy(d, dpath, sizeof(dpath));
	for (int b = 0; b < fs->layout->n; b++) {
		int pfd = node_dir_fd(d, b);
		struct dirent *de;
		DIR *dir;

		if (pfd < 0)
			continue;
		if (!(dir = backing_opendir(pfd))) {
			log_warn(errno, "place_census: read %s on %s", dpath[0] ? dpath : "/",
				 fs->layout->b[b].path);
			return NODE_STRAYS_UNKNOWN;
		}
		while ((de = readdir(dir)) != NULL) {
			struct placement p;
			struct stat st;
			int n;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
			    place_hidden(fs, d, de->d_name))
				continue;
			/* Subdirectories have copies everywhere: search everywhere here. */
			if (de->d_type == DT_DIR ||
			    (de->d_type == DT_UNKNOWN &&
			     (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			      S_ISDIR(st.st_mode)))) {
				closedir(dir);
				return NODE_STRAYS_UNKNOWN;
			}
			n = snprintf(rel, sizeof(rel), "%s%s%s", dpath, dpath[0] ? "/" : "", de->d_name);
			if (n < 0 || (size_t)n >= sizeof(rel)) {
				closedir(dir);
				return NODE_STRAYS_UNKNOWN;
			}
			route_rel(fs, rel, &p);
			if (!place_at_home(&p, b))
				strays++;
		}
		closedir(dir);
	}
	return strays;
}

/*
 * resolve_fds - place_resolve over explicit copies; REL is the name's path.
 *	*GONE_STRAYS counts the copies moved away from backings not their home.
 */
static int resolve_fds(struct fs *fs, const int *fds, const char *rel, const char *name, uint64_t mask,
		       long *gone_strays)
{
	struct placement p;
	struct stat st[QFS_MAX_BACKINGS];
	int rank[QFS_MAX_BACKINGS];
	int win = -1;

	route_rel(fs, rel, &p);
	for (int b = 0; b < fs->layout->n; b++)
		rank[b] = fs->layout->n + b;
	for (int i = 0; i < p.n; i++)
		rank[p.order[i]] = i;
	for (int b = 0; b < fs->layout->n; b++) {
		if (!(mask & (UINT64_C(1) << b)))
			continue;
		if (fstatat(fds[b], name, &st[b], AT_SYMLINK_NOFOLLOW) < 0) {
			mask &= ~(UINT64_C(1) << b);
			continue;
		}
		if (win < 0 || st[b].st_ctim.tv_sec > st[win].st_ctim.tv_sec ||
		    (st[b].st_ctim.tv_sec == st[win].st_ctim.tv_sec &&
		     (st[b].st_ctim.tv_nsec > st[win].st_ctim.tv_nsec ||
		      (st[b].st_ctim.tv_nsec == st[win].st_ctim.tv_nsec && rank[b] < rank[win]))))
			win = b;
	}
	if (win < 0)
		return -ENOENT;
	for (int b = 0; b < fs->layout->n; b++) {
		char qname[NAME_MAX + 1];
		struct timespec now;

		if (b == win || !(mask & (UINT64_C(1) << b)))
			continue;
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(qname, sizeof(qname), "%lld.%09ld.%.200s", (long long)now.tv_sec, now.tv_nsec, name);
		if (renameat(fds[b], name, fs->layout->b[b].quarfd, qname) < 0) {
			log_warn(errno, "place_resolve: duplicate %s: cannot quarantine the copy on %s", rel,
				 fs->layout->b[b].path);
			continue;
		}
		if (!place_at_home(&p, b))
			(*gone_strays)++;
		log_warnx("place_resolve: duplicate %s: kept the copy on %s (newest), moved the one on %s "
			  "to %s/%s/quarantine/%s",
			  rel, fs->layout->b[win].path, fs->layout->b[b].path, fs->layout->b[b].path,
			  QFS_META_NAME, qname);
	}
	return win;
}

/* place_resolve - keep one copy of a name found on several backings */
int place_resolve(struct fs *fs, struct node *d, const char *name, uint64_t mask)
{
	char rel[QFS_PATH_MAX];
	int fds[QFS_MAX_BACKINGS];

	long gone = 0;
	int win;

	if (place_relpath(d, name, rel, sizeof(rel)) < 0)
		return -ENAMETOOLONG;
	dir_fds_copy(fs, d, fds);
	win = resolve_fds(fs, fds, rel, name, mask, &gone);
	if (atomic_load(&d->dir->strays) >= 0)
		atomic_fetch_sub(&d->dir->strays, gone);
	return win;
}

struct scan_ent {
	char *name;
	int b;
	int isdir;
};

/* scan_cmp - by name, then backing */
static int scan_cmp(const void *a, const void *b)
{
	const struct scan_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->b - y->b;
}

/* scan_read - append the entries of one directory copy */
static int scan_read(int pathfd, int b, int root, struct scan_ent **ents, size_t *n, size_t *cap)
{
	struct dirent *de;
	DIR *dir = backing_opendir(pathfd);

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		int isdir;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (root && (strcmp(de->d_name, QFS_META_NAME) == 0 || strcmp(de->d_name, "lost+found") == 0))
			continue;
		if (de->d_type == DT_UNKNOWN)
			isdir = fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISDIR(st.st_mode);
		else
			isdir = de->d_type == DT_DIR;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct scan_ent *ne = realloc(*ents, ncap * sizeof(*ne));

			if (!ne) {
				closedir(dir);
				return -ENOMEM;
			}
			*ents = ne;
			*cap = ncap;
		}
		(*ents)[*n].name = strdup(de->d_name);
		if (!(*ents)[*n].name) {
			closedir(dir);
			return -ENOMEM;
		}
		(*ents)[*n].b = b;
		(*ents)[(*n)++].isdir = isdir;
	}
	closedir(dir);
	return 0;
}

/* scan_dir - one directory of the union, then its subdirectories */
static int scan_dir(struct fs *fs, const char *rel, const int *fds, int depth)
{
	struct scan_ent *ents = NULL;
	size_t n = 0, cap = 0;
	int err = 0, nb = fs->layout->n;

	if (depth > SCAN_MAX_DEPTH) {
		log_warnx("place_scan: %s: deeper than %d levels, not scanned", rel, SCAN_MAX_DEPTH);
		return 0;
	}
	for (int b = 0; b < nb; b++) {
		int r;

		if (fds[b] < 0)
			continue;
		r = scan_read(fds[b], b, rel[0] == 0, &ents, &n, &cap);
		if (r < 0)
			log_warn(-r, "place_scan: read %s on %s", rel[0] ? rel : "/", fs->layout->b[b].path);
	}
	if (n)
		qsort(ents, n, sizeof(*ents), scan_cmp);
	for (size_t i = 0; i < n && !err;) {
		uint64_t files = 0, dirs = 0;
		char child[QFS_PATH_MAX];
		size_t j = i;

		while (j < n && strcmp(ents[j].name, ents[i].name) == 0) {
			if (ents[j].isdir)
				dirs |= UINT64_C(1) << ents[j].b;
			else
				files |= UINT64_C(1) << ents[j].b;
			j++;
		}
		if (snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", ents[i].name) >=
		    (int)sizeof(child)) {
			log_warnx("place_scan: %s/%s: path too long, skipped", rel, ents[i].name);
		} else if (files && dirs) {
			log_warnx("place_scan: %s is a directory on some backings and a file on others; "
				  "left alone",
				  child);
		} else if (__builtin_popcountll(files) > 1) {
			long gone = 0; /* no directory node exists yet to count them */

			resolve_fds(fs, fds, child, ents[i].name, files, &gone);
		} else if (dirs) {
			int cfds[QFS_MAX_BACKINGS];
			struct stat tpl;
			int first = __builtin_ctzll(dirs);

			if (fstatat(fds[first], ents[i].name, &tpl, AT_SYMLINK_NOFOLLOW) < 0)
				tpl.st_mode = 0755, tpl.st_uid = 0, tpl.st_gid = 0;
			for (int b = 0; b < nb; b++) {
				cfds[b] = -1;
				if (fds[b] < 0)
					continue;
				if (!(dirs & (UINT64_C(1) << b))) {
					/* A copy is missing (tmpfs after reboot, new shard): make it. */
					if (mkdirat(fds[b], ents[i].name, tpl.st_mode & 07777) < 0 ||
					    fchownat(fds[b], ents[i].name, tpl.st_uid, tpl.st_gid,
						     AT_SYMLINK_NOFOLLOW) < 0) {
						err = -errno;
						log_warn(errno, "place_scan: create directory %s on %s",
							 child, fs->layout->b[b].path);
						break;
					}
				}
				cfds[b] = openat(fds[b], ents[i].name,
						 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			}
			if (!err)
				err = scan_dir(fs, child, cfds, depth + 1);
			for (int b = 0; b < nb; b++)
				if (cfds[b] >= 0)
					close(cfds[b]);
		}
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	return err;
}

/* place_scan - walk the whole tree at mount */
int place_scan(struct fs *fs)
{
	int fds[QFS_MAX_BACKINGS];

	for (int b = 0; b < fs->layout->n; b++)
		fds[b] = fs->layout->b[b].rootfd;
	return scan_dir(fs, "", fds, 0);
}
