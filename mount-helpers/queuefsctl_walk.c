/*
 * NAME
 *	queuefsctl_walk - walk the union of the backings and judge every name
 * DESCRIPTION
 *	The tree is read as the daemon's mount-time scan reads it: every copy
 *	of a directory at once, entries merged by name. For each name:
 *
 *	a directory must exist on every configured backing (a missing copy is
 *	made, with the mode and owner of an existing one); a name that is a
 *	directory somewhere and a file elsewhere is reported and left alone;
 *	a file on several backings is a duplicate: byte-identical copies are
 *	what an interrupted move leaves, and the copy nearest the hash home
 *	is kept; otherwise the daemon's rule decides (newest ctime wins, ties
 *	to the hash home) and the losers go to quarantine, never deleted;
 *	MTA leftovers (stale tf, df without qf, ...) are quarantined only
 *	with --force; a file off its hash home is planned for a move, unless
 *	it sits where a full home sent it.
 *
 *	Directory and quarantine fixes happen during the walk (they are
 *	renames and mkdirs inside one backing); moves are collected and run
 *	afterwards, so that their number is known for the progress bar.
 * DIAGNOSTICS
 *	Unreadable directories and failed fixes are warned about and counted;
 *	the walk goes on with the rest. Only running out of memory stops it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queuefsctl.h"
#include "route.h"

#define WALK_MAX_DEPTH 64

struct walk_ent {
	char *name;
	int b;
	int isdir;
};

/* walk_cmp - by name, then backing */
static int walk_cmp(const void *a, const void *b)
{
	const struct walk_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->b - y->b;
}

/* walk_read - append the entries of one directory copy */
static int walk_read(int pathfd, int b, bool root, struct walk_ent **ents, size_t *n, size_t *cap)
{
	struct dirent *de;
	DIR *dir;
	int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (root && (strcmp(de->d_name, QFS_META_NAME) == 0 || strcmp(de->d_name, "lost+found") == 0))
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct walk_ent *ne = realloc(*ents, ncap * sizeof(*ne));

			if (!ne)
				break;
			*ents = ne;
			*cap = ncap;
		}
		if (!((*ents)[*n].name = strdup(de->d_name)))
			break;
		(*ents)[*n].b = b;
		if (de->d_type == DT_UNKNOWN)
			(*ents)[*n].isdir = fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					    S_ISDIR(st.st_mode);
		else
			(*ents)[*n].isdir = de->d_type == DT_DIR;
		(*n)++;
	}
	closedir(dir);
	return de ? -ENOMEM : 0;
}

/*
 * walk_order - backing indices of REL's class, hash home first; their
 *	count. *HOME_N: how many of them are homes (route_choices).
 */
static int walk_order(struct ctl *x, const char *rel, int *order, int *home_n)
{
	const struct layout *l = &x->layout;
	int shard[QFS_MAX_SHARDS], n;
	struct route r;

	route_path(&x->conf, rel, &r);
	n = l->cls_n[r.cls];
	route_order(l->cls_shard_id[r.cls], n, r.key, r.keylen, r.pin, shard);
	for (int i = 0; i < n; i++)
		order[i] = l->cls_backing[r.cls][shard[i]];
	*home_n = route_choices(&x->conf.classes[r.cls], r.pin, n);
	return n;
}

/* walk_dup - settle a name found on several backings; the copy that stays */
static int walk_dup(struct ctl *x, const char *rel, const char *name, const int *fds, const int *copies,
		    int nc, const struct stat *st, const int *rank)
{
	bool same = true;
	int win = copies[0];
	char list[1024] = "";
	size_t used = 0;

	for (int i = 0; i < nc; i++)
		used += (size_t)snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0, " %s",
					 x->path[copies[i]]);
	for (int i = 1; i < nc; i++)
		if (rank[copies[i]] < rank[win])
			win = copies[i];
	for (int i = 0; i < nc && same; i++)
		same = copies[i] == win || ctl_copies_same_ok(fds[win], fds[copies[i]], name);
	if (same) {
		ctl_finding(x, "duplicate %s: identical copies on%s (an interrupted move)", rel, list);
		for (int i = 0; i < nc && x->mode != CTL_CHECK; i++) {
			int b = copies[i];

			if (b == win)
				continue;
			if (x->apply && unlinkat(fds[b], name, 0) < 0) {
				ctl_warn(x, errno, "unlink %s on %s", rel, x->path[b]);
				continue;
			}
			ctl_action(x, "unlink %s on %s (identical copy kept on %s)", rel, x->path[b],
				   x->path[win]);
		}
		return win;
	}
	/* The daemon's rule (place_resolve): newest ctime, ties to the better rank. */
	for (int i = 0; i < nc; i++) {
		const struct stat *a = &st[copies[i]], *w = &st[win];

		if (a->st_ctim.tv_sec > w->st_ctim.tv_sec ||
		    (a->st_ctim.tv_sec == w->st_ctim.tv_sec &&
		     (a->st_ctim.tv_nsec > w->st_ctim.tv_nsec ||
		      (a->st_ctim.tv_nsec == w->st_ctim.tv_nsec && rank[copies[i]] < rank[win]))))
			win = copies[i];
	}
	ctl_finding(x, "duplicate %s: on%s: the copy on %s is the newest", rel, list, x->path[win]);
	for (int i = 0; i < nc && x->mode != CTL_CHECK; i++)
		if (copies[i] != win)
			ctl_quarantine(x, fds[copies[i]], copies[i], rel, name, "duplicate");
	return win;
}

/* walk_plan_move - remember a move from B to T */
static void walk_plan_move(struct ctl *x, const char *rel, int b, int t)
{
	if (x->nmoves == x->capmoves) {
		size_t ncap = x->capmoves ? x->capmoves * 2 : 256;
		struct ctl_move *nm = realloc(x->moves, ncap * sizeof(*nm));

		if (!nm) {
			ctl_warn(x, ENOMEM, "plan move of %s", rel);
			return;
		}
		x->moves = nm;
		x->capmoves = ncap;
	}
	if (!(x->moves[x->nmoves].rel = strdup(rel))) {
		ctl_warn(x, ENOMEM, "plan move of %s", rel);
		return;
	}
	x->moves[x->nmoves].from = b;
	x->moves[x->nmoves++].to = t;
}

/* walk_file - judge one non-directory name; KIND[b] is 'f' where a copy is */
static void walk_file(struct ctl *x, const char *rel, const char *name, const int *fds, const char *kind)
{
	struct stat st[CTL_MAX_B];
	int copies[CTL_MAX_B], rank[CTL_MAX_B], order[QFS_MAX_SHARDS];
	int nc = 0, n, home_n, b, t = -1;
	char why[256];

	for (int i = 0; i < x->nb; i++) {
		rank[i] = x->nb + i;
		if (kind[i] == 'f' && fstatat(fds[i], name, &st[i], AT_SYMLINK_NOFOLLOW) == 0)
			copies[nc++] = i;
	}
	if (nc == 0)
		return;
	n = walk_order(x, rel, order, &home_n);
	for (int i = 0; i < n; i++)
		rank[order[i]] = i;
	b = nc > 1 ? walk_dup(x, rel, name, fds, copies, nc, st, rank) : copies[0];

	if (x->mode != CTL_REBALANCE && S_ISREG(st[b].st_mode) &&
	    (ctl_mta_leftover(x, rel, name, &st[b], why, sizeof(why)) ||
	     ctl_mta_orphan(x, rel, fds, name, why, sizeof(why)))) {
		ctl_finding(x, "leftover %s: on %s: %s", rel, x->path[b], why);
		if (x->force)
			ctl_quarantine(x, fds[b], b, rel, name, "leftover");
		else
			ctl_left(x, "%s: leftovers are quarantined only with --force", rel);
		return;
	}

	/* The target is the first shard with room; a file a full home sent there is in place. */
	for (int i = 0; i < n && t < 0; i++)
		if (order[i] == b || backing_room_ok(&x->layout.b[order[i]]))
			t = order[i];
	if (t < 0 || t == b)
		return;
	/*
	 * A file on another of its homes is where the daemon may have put it
	 * (the least busy home). Rebalance still moves it to its first
	 * choice: that is what spreads a queue over a shard just added.
	 */
	for (int i = 0; i < home_n && x->mode != CTL_REBALANCE; i++)
		if (order[i] == b)
			return;
	ctl_finding(x, "%s %s: on %s, its home is %s", b >= x->layout.n ? "retired" : "off-home", rel,
		    x->path[b], x->path[t]);
	if (x->mode == CTL_CHECK)
		return;
	if (!S_ISREG(st[b].st_mode) && !S_ISLNK(st[b].st_mode))
		ctl_left(x, "%s: not a regular file, not moved", rel);
	else if (S_ISREG(st[b].st_mode) && st[b].st_nlink > 1)
		ctl_left(x, "%s: has %ju hard links, not moved (move them together by hand)", rel,
			 (uintmax_t)st[b].st_nlink);
	else
		walk_plan_move(x, rel, b, t);
}

/* walk_mkdir - make the missing copy NAME on B like the template TPL */
static int walk_mkdir(struct ctl *x, int dfd, int b, const char *rel, const char *name,
		      const struct stat *tpl)
{
	int fd;

	if (x->mode == CTL_CHECK)
		return -1;
	if (x->apply) {
		if (mkdirat(dfd, name, tpl->st_mode & 07777) < 0 ||
		    fchownat(dfd, name, tpl->st_uid, tpl->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(dfd, name, tpl->st_mode & 07777, 0) < 0) {
			ctl_warn(x, errno, "mkdir %s on %s", rel, x->path[b]);
			return -1;
		}
		if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	ctl_action(x, "mkdir %s on %s (mode %04o, owner %ju:%ju)", rel, x->path[b],
		   (unsigned)(tpl->st_mode & 07777), (uintmax_t)tpl->st_uid, (uintmax_t)tpl->st_gid);
	return 0;
}

static int walk_dir(struct ctl *x, const char *rel, const int *fds, int depth);

/* walk_subdir - NAME is a directory somewhere: complete its copies, descend */
static int walk_subdir(struct ctl *x, const char *rel, const char *name, const int *fds, const char *kind,
		       int depth)
{
	int cfds[CTL_MAX_B], err;
	struct stat tpl;
	int first = -1;

	for (int b = 0; b < x->nb && first < 0; b++)
		if (kind[b] == 'd')
			first = b;
	if (fstatat(fds[first], name, &tpl, AT_SYMLINK_NOFOLLOW) < 0) {
		tpl.st_mode = 0755;
		tpl.st_uid = tpl.st_gid = 0;
	}
	for (int b = 0; b < x->nb; b++) {
		cfds[b] = -1;
		if (fds[b] < 0)
			continue;
		if (kind[b] != 'd' && b < x->layout.n) {
			/* A retired root needs no copies; every configured one does. */
			ctl_finding(x, "missing-dir %s: on %s", rel, x->path[b]);
			if (walk_mkdir(x, fds[b], b, rel, name, &tpl) < 0 || !x->apply)
				continue;
		} else if (kind[b] != 'd') {
			continue;
		}
		cfds[b] = openat(fds[b], name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfds[b] < 0)
			ctl_warn(x, errno, "open %s on %s", rel, x->path[b]);
	}
	err = walk_dir(x, rel, cfds, depth + 1);
	for (int b = 0; b < x->nb; b++)
		if (cfds[b] >= 0)
			close(cfds[b]);
	return err;
}

/* walk_dir - one directory of the union, then its subdirectories */
static int walk_dir(struct ctl *x, const char *rel, const int *fds, int depth)
{
	struct walk_ent *ents = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (depth > WALK_MAX_DEPTH) {
		ctl_warn(x, 0, "%s: deeper than %d levels, not walked", rel, WALK_MAX_DEPTH);
		return 0;
	}
	for (int b = 0; b < x->nb && !err; b++) {
		if (fds[b] < 0)
			continue;
		err = walk_read(fds[b], b, rel[0] == 0, &ents, &n, &cap);
		if (err == -ENOMEM)
			ctl_warn(x, err, "read %s", rel[0] ? rel : "/");
		else if (err < 0)
			ctl_warn(x, err, "read %s on %s", rel[0] ? rel : "/", x->path[b]);
		err = err == -ENOMEM ? err : 0;
	}
	if (n)
		qsort(ents, n, sizeof(*ents), walk_cmp);
	for (size_t i = 0, j; i < n && !err; i = j) {
		char kind[CTL_MAX_B] = { 0 }, child[PATH_MAX];
		bool files = false, dirs = false;

		for (j = i; j < n && strcmp(ents[j].name, ents[i].name) == 0; j++) {
			kind[ents[j].b] = ents[j].isdir ? 'd' : 'f';
			files |= !ents[j].isdir;
			dirs |= ents[j].isdir;
		}
		if (snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", ents[i].name) >=
		    (int)sizeof(child)) {
			ctl_warn(x, 0, "%s/%s: path too long, skipped", rel, ents[i].name);
		} else if (files && dirs) {
			ctl_finding(x, "conflict %s: a directory on some backings, a file on others", child);
			ctl_left(x, "%s: sort it out by hand", child);
		} else if (dirs) {
			err = walk_subdir(x, child, ents[i].name, fds, kind, depth);
		} else {
			walk_file(x, child, ents[i].name, fds, kind);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	return err;
}

/* ctl_walk - judge the whole tree; -ENOMEM is the only failure */
int ctl_walk(struct ctl *x)
{
	return walk_dir(x, "", x->rootfd, 0);
}
