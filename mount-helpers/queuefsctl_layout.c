/*
 * NAME
 *	queuefsctl_layout - open the backings of a queue for offline work
 * DESCRIPTION
 *	check and repair open the layout exactly as the daemon does at mount
 *	(backing_layout_open without migrate), so that they accept and refuse
 *	the same things; its complaints become findings. rebalance opens it
 *	with migrate, which records a changed set of shards in the manifests
 *	(new roots get fresh ids), and a dry run previews the ids the same
 *	rule would give without writing anything.
 *
 *	Before anything is opened for writing, two guards: no running queuefs
 *	daemon may hold one of the roots (it would not see the changes), and
 *	no other queuefsctl may work on them (flock on each ROOT/.queuefs).
 * DIAGNOSTICS
 *	Every refusal is one line on stderr, "queuefsctl: CMD: ...", and the
 *	function returns -errno; check turns the layout's complaints into
 *	"manifest: ..." findings on stdout instead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "queuefsctl.h"

/* conf_root - the configured root of flat index I, in layout order */
static const char *conf_root(const struct conf *c, int i, int *cls, int *shard)
{
	for (int ci = 0; ci < c->nclasses; ci++) {
		if (i < c->classes[ci].nshards) {
			*cls = ci;
			*shard = i;
			return c->classes[ci].shards[i];
		}
		i -= c->classes[ci].nshards;
	}
	return NULL;
}

/* manifest_of - read the manifest of the root at PATH; -errno */
static int manifest_of(const char *path, struct manifest *m)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = backing_manifest_read(fd, m);
	close(fd);
	return err;
}

/* ctl_layout_adopt - mirror the opened layout in the run's flat arrays */
static void ctl_layout_adopt(struct ctl *x)
{
	x->layout_open = true;
	x->nb = x->layout.n;
	for (int i = 0; i < x->layout.n; i++) {
		x->path[i] = x->layout.b[i].path;
		x->rootfd[i] = x->layout.b[i].rootfd;
		x->metafd[i] = x->layout.b[i].metafd;
		x->quarfd[i] = x->layout.b[i].quarfd;
	}
}

/* ctl_manifest_sync - manifests left behind by an interrupted layout change */
static void ctl_manifest_sync(struct ctl *x)
{
	struct manifest m[QFS_MAX_BACKINGS];
	int newest = -1;

	for (int i = 0; i < x->layout.n; i++) {
		if (backing_manifest_read(x->rootfd[i], &m[i]) < 0)
			m[i].generation = 0;
		else if (newest < 0 || m[i].generation > m[newest].generation)
			newest = i;
	}
	for (int i = 0; i < x->layout.n && newest >= 0; i++) {
		int err;

		if (m[i].generation == m[newest].generation && strcmp(m[i].layout, m[newest].layout) == 0)
			continue;
		ctl_finding(x, "manifest %s: generation %u, the layout is at generation %u", x->path[i],
			    m[i].generation, m[newest].generation);
		if (x->mode == CTL_CHECK)
			continue;
		m[i].generation = m[newest].generation;
		memcpy(m[i].layout, m[newest].layout, sizeof(m[i].layout));
		if (x->apply && (err = backing_manifest_write(x->rootfd[i], &m[i])) < 0)
			ctl_warn(x, err, "rewrite manifest of %s", x->path[i]);
		else
			ctl_action(x, "rewrite manifest %s: generation %u", x->path[i], m[i].generation);
	}
}

/* ctl_layout_open - open the layout as the daemon would (MIGRATE: record changes) */
int ctl_layout_open(struct ctl *x, bool migrate)
{
	struct manifest m;
	char *buf = NULL, *line, *save;
	size_t len = 0, n = 0, none = 0;
	int cls, shard, err;
	FILE *errs;

	for (const char *p; (p = conf_root(&x->conf, (int)n, &cls, &shard)) != NULL; n++)
		if (manifest_of(p, &m) == -ENOENT)
			none++;
	if (n && none == n) {
		fprintf(stderr,
			"queuefsctl: %s: %s: no backing has a manifest (never mounted): nothing to do\n",
			x->cmd, x->conf.path);
		return -ENODATA;
	}
	x->conf.migrate = migrate;
	errs = open_memstream(&buf, &len);
	if (!errs)
		return -errno;
	err = backing_layout_open(&x->layout, &x->conf, errs);
	fclose(errs);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (x->mode == CTL_CHECK)
			ctl_finding(x, "manifest: %s", line);
		else
			ctl_warn(x, 0, "%s", line);
	}
	free(buf);
	if (err < 0) {
		fprintf(stderr, "queuefsctl: %s: the layout is refused%s\n", x->cmd,
			migrate ? "" : "; nothing further checked (a changed set of shards needs rebalance)");
		return err;
	}
	ctl_layout_adopt(x);
	ctl_manifest_sync(x);
	return 0;
}

/*
 * ctl_layout_plan - the layout a migrating open would record, written nowhere
 *
 * The same rule as backing_layout_open: roots with a manifest keep their
 * ids, roots without one get the next free backing id and the next free
 * shard id of their class, in config order.
 */
int ctl_layout_plan(struct ctl *x)
{
	struct layout *l = &x->layout;
	struct manifest m[QFS_MAX_BACKINGS];
	bool have[QFS_MAX_BACKINGS] = { false };
	uint32_t next_id = 0, next_shard[QFS_MAX_CLASSES] = { 0 };
	const char *p;
	int cls, shard, err;

	memset(l, 0, sizeof(*l));
	x->layout_open = true;
	for (int i = 0; (p = conf_root(&x->conf, i, &cls, &shard)) != NULL; i++) {
		struct backing *b = &l->b[l->n++];
		const struct qclass *q = &x->conf.classes[cls];

		b->path = (char *)p;
		b->cls = cls;
		b->shard = shard;
		b->metafd = b->quarfd = -1;
		b->min_free_bytes = q->min_free_bytes ? q->min_free_bytes : x->conf.min_free_bytes;
		b->min_free_inodes = q->min_free_inodes ? q->min_free_inodes : x->conf.min_free_inodes;
		l->cls_backing[cls][shard] = i;
		l->cls_n[cls] = q->nshards;
		b->rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (b->rootfd < 0) {
			ctl_warn(x, errno, "backing %s", p);
			return -ENOENT;
		}
		err = backing_manifest_read(b->rootfd, &m[i]);
		if (err < 0 && err != -ENOENT) {
			ctl_warn(x, err, "backing %s: manifest", p);
			return err;
		}
		if (err == 0) {
			have[i] = true;
			if (!l->fsid[0])
				memcpy(l->fsid, m[i].fsid, sizeof(l->fsid));
			if (strcmp(m[i].fsid, l->fsid) != 0) {
				ctl_warn(x, 0, "backing %s belongs to another queuefs (fsid %s)", p,
					 m[i].fsid);
				return -EINVAL;
			}
			b->id = m[i].id;
			b->shard_id = m[i].shard_id;
			if (b->id >= next_id)
				next_id = b->id + 1;
			if (b->shard_id >= next_shard[cls])
				next_shard[cls] = b->shard_id + 1;
			if (m[i].generation > l->generation)
				l->generation = m[i].generation;
		}
	}
	for (int i = 0; i < l->n; i++) {
		struct backing *b = &l->b[i];

		if (!have[i]) {
			b->id = next_id++;
			b->shard_id = next_shard[b->cls]++;
			fprintf(stderr, "queuefsctl: %s: %s would become %s shard id %" PRIu32 "\n", x->cmd,
				b->path, x->conf.classes[b->cls].name, b->shard_id);
		}
		l->cls_shard_id[b->cls][b->shard] = b->shard_id;
	}
	x->layout_open = false; /* adopt sets it again; backing_layout_close copes with -1 fds */
	ctl_layout_adopt(x);
	return 0;
}

/* ctl_layout_dropped_ok - does every shard the manifests record still have a root? */
int ctl_layout_dropped_ok(struct ctl *x, const char *const *from, int nfrom)
{
	struct manifest m, newest = { .generation = 0 };
	uint32_t ids[CTL_MAX_B];
	int nid = 0, unclaimed[QFS_MAX_CLASSES] = { 0 }, cls, shard, bad = 0;
	char *tok, *save, name[32];
	const char *p;

	for (int i = 0; (p = conf_root(&x->conf, i, &cls, &shard)) != NULL; i++) {
		if (manifest_of(p, &m) < 0) {
			unclaimed[cls]++; /* a new root, or an emptied tmpfs */
			continue;
		}
		ids[nid++] = m.id;
		if (m.generation > newest.generation)
			newest = m;
	}
	for (int i = 0; i < nfrom; i++)
		if (manifest_of(from[i], &m) == 0)
			ids[nid++] = m.id;
	for (tok = strtok_r(newest.layout, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		uint32_t sid, id;
		bool found = false;
		int ci;

		if (sscanf(tok, "%31[^/]/%" SCNu32 "/%" SCNu32, name, &sid, &id) != 3)
			continue;
		for (int j = 0; j < nid; j++)
			found |= ids[j] == id;
		ci = conf_class_by_name(&x->conf, name);
		/* A volatile root that came back empty takes back its old ids. */
		if (!found && ci >= 0 && x->conf.classes[ci].is_volatile && unclaimed[ci] > 0) {
			unclaimed[ci]--;
			found = true;
		}
		if (found)
			continue;
		if (x->force) {
			fprintf(stderr,
				"queuefsctl: %s: abandoning the files of %s shard %" PRIu32 " (--force)\n",
				x->cmd, name, sid);
			continue;
		}
		ctl_warn(x, 0,
			 "the recorded layout has %s shard %" PRIu32 " (backing id %" PRIu32 ") and no "
			 "configured root carries it: name its old root with --from ROOT (or --force "
			 "to abandon its files)",
			 name, sid, id);
		bad = 1;
	}
	return bad ? -EINVAL : 0;
}

/* ctl_from_open - add a retired root of this queue (rebalance --from) */
int ctl_from_open(struct ctl *x, const char *path)
{
	struct manifest m;
	struct stat st, cst;
	int i = x->nb, err;

	if (i == CTL_MAX_B) {
		ctl_warn(x, 0, "too many backings");
		return -E2BIG;
	}
	x->path[i] = path;
	x->metafd[i] = x->quarfd[i] = -1;
	x->rootfd[i] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (x->rootfd[i] < 0 || fstat(x->rootfd[i], &st) < 0) {
		ctl_warn(x, errno, "--from %s", path);
		return -errno;
	}
	x->nb++;
	for (int j = 0; j < i; j++)
		if (fstat(x->rootfd[j], &cst) == 0 && cst.st_dev == st.st_dev && cst.st_ino == st.st_ino) {
			ctl_warn(x, 0, "--from %s: the same directory as %s", path, x->path[j]);
			return -EINVAL;
		}
	if ((err = backing_manifest_read(x->rootfd[i], &m)) < 0) {
		ctl_warn(x, err, "--from %s: no queuefs manifest", path);
		return err;
	}
	if (strcmp(m.fsid, x->layout.fsid) != 0) {
		ctl_warn(x, 0, "--from %s: belongs to another queuefs (fsid %s, this one is %s)", path,
			 m.fsid, x->layout.fsid);
		return -EINVAL;
	}
	x->metafd[i] = openat(x->rootfd[i], QFS_META_NAME, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->apply && mkdirat(x->rootfd[i], QFS_META_NAME "/quarantine", 0700) < 0 && errno != EEXIST) {
		ctl_warn(x, errno, "--from %s: create %s/quarantine", path, QFS_META_NAME);
		return -errno;
	}
	x->quarfd[i] = openat(x->rootfd[i], QFS_META_NAME "/quarantine",
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return 0;
}

/* fd_names_root_ok - does /proc/PID/fd hold one of the N roots in REAL? */
static bool fd_names_root_ok(const char *pid, char (*real)[PATH_MAX], int n)
{
	char dpath[NAME_MAX + 16], lpath[2 * NAME_MAX + 32], target[PATH_MAX];
	struct dirent *de;
	bool hit = false;
	DIR *d;

	snprintf(dpath, sizeof(dpath), "/proc/%s/fd", pid);
	if (!(d = opendir(dpath)))
		return false;
	while (!hit && (de = readdir(d)) != NULL) {
		ssize_t len;

		snprintf(lpath, sizeof(lpath), "%s/%s", dpath, de->d_name);
		len = readlink(lpath, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		for (int i = 0; i < n && !hit; i++)
			hit = strcmp(target, real[i]) == 0;
	}
	closedir(d);
	return hit;
}

/* ctl_busy_check - refuse while a queuefs daemon holds one of the roots */
int ctl_busy_check(struct ctl *x)
{
	static char real[QFS_MAX_BACKINGS][PATH_MAX];
	char comm[64], cpath[NAME_MAX + 16];
	struct dirent *de;
	const char *p;
	int n = 0, cls, shard, busy = 0;
	DIR *proc;
	FILE *f;

	for (int i = 0; (p = conf_root(&x->conf, i, &cls, &shard)) != NULL; i++)
		if (realpath(p, real[n]))
			n++;
	if (!(proc = opendir("/proc")))
		return 0; /* no /proc: nothing to ask */
	while ((de = readdir(proc)) != NULL) {
		if (strspn(de->d_name, "0123456789") != strlen(de->d_name))
			continue;
		snprintf(cpath, sizeof(cpath), "/proc/%s/comm", de->d_name);
		if (!(f = fopen(cpath, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		comm[strcspn(comm, "\n")] = 0;
		if (strcmp(comm, "queuefs") != 0 || !fd_names_root_ok(de->d_name, real, n))
			continue;
		fprintf(stderr, "queuefsctl: %s: queuefs (pid %s) has the backings of %s open: %s\n", x->cmd,
			de->d_name, x->conf.path,
			x->ignore_mounted ? "going on (--ignore-mounted)" : "unmount it first");
		busy = 1;
	}
	closedir(proc);
	if (busy && !x->ignore_mounted) {
		x->errors++;
		return -EBUSY;
	}
	return 0;
}

/*
 * ctl_lock_backings - one queuefsctl at a time on a root
 *
 * The lock is an flock on ROOT/.queuefs, held until the process exits:
 * the descriptors are deliberately never closed.
 */
int ctl_lock_backings(struct ctl *x)
{
	for (int i = 0; i < x->nb; i++) {
		int fd = openat(x->rootfd[i], QFS_META_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0) {
			ctl_warn(x, errno, "open %s/%s", x->path[i], QFS_META_NAME);
			return -errno;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			ctl_warn(x, errno == EWOULDBLOCK ? 0 : errno,
				 "%s: another queuefsctl is working on it", x->path[i]);
			close(fd);
			return -EBUSY;
		}
	}
	return 0;
}

/* ctl_layout_close - close the layout and the --from roots */
void ctl_layout_close(struct ctl *x)
{
	int n = x->layout.n;

	for (int i = n; i < x->nb; i++) {
		if (x->rootfd[i] >= 0)
			close(x->rootfd[i]);
		if (x->metafd[i] >= 0)
			close(x->metafd[i]);
		if (x->quarfd[i] >= 0)
			close(x->quarfd[i]);
	}
	if (x->layout_open)
		backing_layout_close(&x->layout);
	x->layout_open = false;
	x->nb = 0;
}
