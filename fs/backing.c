/*
 * NAME
 *	backing - backing roots: fds, manifests, free space
 * DESCRIPTION
 *	Each backing root is opened once as an O_PATH directory fd; every
 *	later access is relative to it. A hidden directory ROOT/.queuefs holds
 *	the manifest ("key = value" lines: fsid, class, shard, backing,
 *	generation, layout) and a quarantine directory for duplicate copies.
 *
 *	On the first mount every root must be empty; queuefs writes a fresh
 *	fsid, gives backing ids 0..n-1 in config order and shard ids 0..k-1
 *	within each class. On later mounts the manifests must agree with each
 *	other and with the config. A volatile (tmpfs) root that comes back
 *	empty after a reboot silently takes back the ids it had. Adding or
 *	removing a shard changes the layout and needs "migrate": new roots get
 *	fresh ids, so rendezvous hashing moves only the keys the new shard wins.
 * DIAGNOSTICS
 *	Start-up problems are written to the error stream, one line each, and
 *	all of them are reported before the mount is refused. Nothing is
 *	written to any root unless every check passed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xxhash.h>

#include "backing.h"
#include "log.h"

#define MANIFEST_NAME	"manifest"
#define QUARANTINE_NAME "quarantine"
#define INO_BITS	48

/* backing_ino - compose a mount-wide unique, remount-stable st_ino */
uint64_t backing_ino(const struct backing *b, uint64_t ino)
{
	/*
	 * Inode numbers that do not fit in 48 bits (tmpfs with inode64, xfs
	 * on huge disks) are folded by a hash: unique in practice, though no
	 * longer guaranteed. ext4 and default tmpfs never get here.
	 */
	if (ino >> INO_BITS)
		ino = XXH3_64bits(&ino, sizeof(ino)) & ((UINT64_C(1) << INO_BITS) - 1);
	return ((uint64_t)(b->id + 1) << INO_BITS) | ino;
}

/* backing_statvfs - statvfs of B's root, logged when it fails */
int backing_statvfs(struct backing *b, struct statvfs *sv)
{
	if (fstatvfs(b->rootfd, sv) < 0) {
		log_warn(errno, "backing_statvfs: statvfs %s", b->path);
		return -errno;
	}
	return 0;
}

/*
 * backing_health - 0, or why B should take no new files: -ENODEV when its
 *	path no longer leads to the root queuefs opened (the disk was
 *	unmounted, lazily, under the daemon: the files on it stay reachable
 *	through the daemon's fds, but nothing new should land there), -EROFS
 *	when it went read-only, or the error of statvfs. Checked at most once
 *	a second (racy by design: a stale answer only delays avoidance).
 */
int backing_health(struct backing *b)
{
	struct timespec now;
	struct statvfs sv;
	struct stat ps, rs;
	int h = 0;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (atomic_load(&b->health_when) == now.tv_sec)
		return atomic_load(&b->health);
	if (stat(b->path, &ps) < 0 || fstat(b->rootfd, &rs) < 0 || ps.st_dev != rs.st_dev ||
	    ps.st_ino != rs.st_ino)
		h = -ENODEV;
	else if (fstatvfs(b->rootfd, &sv) < 0)
		h = -errno;
	else if (sv.f_flag & ST_RDONLY)
		h = -EROFS;
	if (h != atomic_load(&b->health))
		log_warnx("backing %s: %s", b->path,
			  h == -ENODEV ? "vanished (its path leads elsewhere now): no new files go there"
			  : h	       ? "failing: no new files go there"
				       : "healthy again");
	atomic_store(&b->health, h);
	atomic_store(&b->health_when, now.tv_sec);
	return h;
}

/*
 * backing_room_ok - is B healthy, with room above its free-space floor?
 *
 * The floor is asked afresh at every create while one is set: statfs costs
 * no disk I/O on local filesystems, and a cached answer lets a burst of
 * creates overshoot the floor and fill the shard.
 */
bool backing_room_ok(struct backing *b)
{
	struct statvfs sv;

	if (backing_health(b) < 0)
		return false;
	if (b->min_free_bytes == 0 && b->min_free_inodes == 0)
		return true;
	if (backing_statvfs(b, &sv) < 0)
		return false;
	if ((uint64_t)sv.f_bavail * sv.f_frsize < b->min_free_bytes)
		return false;
	/* Filesystems without inode accounting (f_files == 0) never run out. */
	if (sv.f_files && (uint64_t)sv.f_favail < b->min_free_inodes)
		return false;
	return true;
}

/* manifest_field - set one "key = value" of a manifest; -EINVAL if malformed */
static int manifest_field(struct manifest *m, const char *k, const char *v)
{
	char *end;
	unsigned long n;

	if (strcmp(k, "fsid") == 0) {
		if (strlen(v) != 32 || strspn(v, "0123456789abcdef") != 32)
			return -EINVAL;
		memcpy(m->fsid, v, 33);
		return 0;
	}
	if (strcmp(k, "class") == 0) {
		if (strlen(v) == 0 || strlen(v) >= sizeof(m->cls))
			return -EINVAL;
		strcpy(m->cls, v);
		return 0;
	}
	if (strcmp(k, "layout") == 0) {
		if (strlen(v) >= sizeof(m->layout))
			return -EINVAL;
		strcpy(m->layout, v);
		return 0;
	}
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > UINT32_MAX)
		return -EINVAL;
	if (strcmp(k, "shard") == 0)
		m->shard_id = (uint32_t)n;
	else if (strcmp(k, "backing") == 0)
		m->id = (uint32_t)n;
	else if (strcmp(k, "generation") == 0)
		m->generation = (unsigned)n;
	/* Unknown keys are kept for newer versions: ignore them. */
	return 0;
}

/* backing_manifest_read - parse ROOTFD/.queuefs/manifest */
int backing_manifest_read(int rootfd, struct manifest *m)
{
	char buf[4096];
	char *line, *save, *eq, *k, *v;
	ssize_t len;
	int fd, err = 0;

	memset(m, 0, sizeof(*m));
	fd = openat(rootfd, QFS_META_NAME "/" MANIFEST_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[len] = 0;
	if (strncmp(buf, "queuefs-manifest 1\n", 19) != 0)
		return -EINVAL;
	for (line = strtok_r(buf + 19, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		if (!eq)
			return -EINVAL;
		*eq = 0;
		k = line;
		v = eq + 1;
		while (*k == ' ')
			k++;
		for (char *e = eq - 1; e >= k && *e == ' '; e--)
			*e = 0;
		while (*v == ' ')
			v++;
		if (manifest_field(m, k, v) < 0)
			return -EINVAL;
	}
	if (!m->fsid[0] || !m->cls[0] || !m->generation)
		return -EINVAL;
	return 0;
}

/* backing_manifest_write - replace the manifest atomically and durably */
int backing_manifest_write(int rootfd, const struct manifest *m)
{
	char buf[2048];
	int metafd = -1, fd = -1, len, err = 0;

	if (mkdirat(rootfd, QFS_META_NAME, 0700) < 0 && errno != EEXIST)
		return -errno;
	metafd = openat(rootfd, QFS_META_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (metafd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf),
		       "queuefs-manifest 1\nfsid = %s\nclass = %s\nshard = %" PRIu32 "\nbacking = %" PRIu32
		       "\ngeneration = %u\nlayout = %s\n",
		       m->fsid, m->cls, m->shard_id, m->id, m->generation, m->layout);
	fd = openat(metafd, MANIFEST_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0 || write(fd, buf, (size_t)len) != len || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	if (!err && renameat(metafd, MANIFEST_NAME ".tmp", metafd, MANIFEST_NAME) < 0)
		err = -errno;
	if (!err && fsync(metafd) < 0)
		err = -errno;
	close(metafd);
	return err;
}

/* backing_opendir - open the directory behind an O_PATH fd for reading */
DIR *backing_opendir(int pathfd)
{
	int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;

	if (fd < 0)
		return NULL;
	dir = fdopendir(fd);
	if (!dir) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return dir;
}

/* root_empty_ok - is the root empty but for lost+found and our own dir? */
static int root_empty_ok(int rootfd)
{
	struct dirent *de;
	DIR *d = backing_opendir(rootfd);
	int empty = 1;

	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "lost+found") == 0 || strcmp(de->d_name, QFS_META_NAME) == 0)
			continue;
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

/* layout_describe - the canonical layout string "class/shard/id ..." in id order */
static void layout_describe(const struct layout *l, const struct conf *c, char *out, size_t len)
{
	size_t used = 0;
	uint32_t next = 0;

	out[0] = 0;
	for (int done = 0; done < l->n; done++) {
		int best = -1;

		for (int i = 0; i < l->n; i++)
			if (l->b[i].id >= next && (best < 0 || l->b[i].id < l->b[best].id))
				best = i;
		if (best < 0)
			break;
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s/%" PRIu32 "/%" PRIu32,
					 used ? " " : "", c->classes[l->b[best].cls].name,
					 l->b[best].shard_id, l->b[best].id);
		next = l->b[best].id + 1;
	}
}

/* layout_vacancy - find an entry of class CLS in LAYOUT whose id nobody holds */
static int layout_vacancy(const char *recorded, const char *cls, const struct layout *l, const bool *claimed,
			  uint32_t *shard_id, uint32_t *id)
{
	char buf[1024], name[32];
	char *tok, *save;
	uint32_t s, b;

	snprintf(buf, sizeof(buf), "%s", recorded);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		bool taken = false;

		if (sscanf(tok, "%31[^/]/%" SCNu32 "/%" SCNu32, name, &s, &b) != 3)
			continue;
		if (strcmp(name, cls) != 0)
			continue;
		for (int i = 0; i < l->n; i++)
			if (claimed[i] && l->b[i].id == b)
				taken = true;
		if (!taken) {
			*shard_id = s;
			*id = b;
			return 0;
		}
	}
	return -ENOENT;
}

/* open_meta - open (creating) ROOT/.queuefs and its quarantine directory */
static int open_meta(struct backing *b)
{
	if (mkdirat(b->rootfd, QFS_META_NAME, 0700) < 0 && errno != EEXIST)
		return -errno;
	b->metafd = openat(b->rootfd, QFS_META_NAME, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->metafd < 0)
		return -errno;
	if (mkdirat(b->metafd, QUARANTINE_NAME, 0700) < 0 && errno != EEXIST)
		return -errno;
	b->quarfd = openat(b->metafd, QUARANTINE_NAME, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->quarfd < 0)
		return -errno;
	return 0;
}

/* pick_fsid - the fsid most manifests carry (a foreign root is the odd one out) */
static const char *pick_fsid(const struct manifest *m, const bool *have, int n)
{
	const char *best = NULL;
	int bestcount = 0;

	for (int i = 0; i < n; i++) {
		int count = 0;

		if (!have[i])
			continue;
		for (int j = 0; j < n; j++)
			if (have[j] && strcmp(m[i].fsid, m[j].fsid) == 0)
				count++;
		if (count > bestcount) {
			best = m[i].fsid;
			bestcount = count;
		}
	}
	return best;
}

/* layout_fill - one struct backing per configured shard, roots opened */
/*
 * fs_remote - is the filesystem of FD one whose close(2) can report
 *	errors a write did not (NFS, SMB, Ceph, AFS, 9p, cluster filesystems,
 *	any FUSE filesystem such as a GlusterFS client)? Unknown answers yes.
 */
static bool fs_remote(int fd)
{
	static const unsigned long remote[] = {
		0x6969,	    /* NFS */
		0x517b,	    /* SMB */
		0xfe534d42, /* SMB2 */
		0xff534d42, /* CIFS */
		0x00c36400, /* Ceph */
		0x5346414f, /* AFS */
		0x6b414653, /* kAFS */
		0x01021997, /* 9p */
		0x7461636f, /* OCFS2 */
		0x01161970, /* GFS2 */
		0x0bd00bd0, /* Lustre */
		0x65735546, /* FUSE */
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return true;
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		if ((unsigned long)sf.f_type == remote[i])
			return true;
	return false;
}

static int layout_fill(struct layout *l, const struct conf *c, FILE *errs)
{
	struct stat st[QFS_MAX_BACKINGS];
	int bad = 0;

	memset(l, 0, sizeof(*l));
	for (int ci = 0; ci < c->nclasses; ci++) {
		const struct qclass *q = &c->classes[ci];

		for (int s = 0; s < q->nshards; s++) {
			struct backing *b = &l->b[l->n];

			b->path = q->shards[s];
			b->cls = ci;
			b->shard = s;
			b->is_volatile = q->is_volatile;
			b->min_free_bytes = q->min_free_bytes ? q->min_free_bytes : c->min_free_bytes;
			b->min_free_inodes = q->min_free_inodes ? q->min_free_inodes : c->min_free_inodes;
			b->metafd = b->quarfd = -1;
			l->cls_backing[ci][s] = l->n;
			l->cls_n[ci] = q->nshards;
			b->rootfd = open(b->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (b->rootfd < 0 || fstat(b->rootfd, &st[l->n]) < 0) {
				fprintf(errs, "backing %s (class %s): %s\n", b->path, q->name,
					strerror(errno));
				bad = 1;
			} else {
				b->dev = st[l->n].st_dev;
				b->remote = fs_remote(b->rootfd);
				for (int j = 0; j < l->n; j++)
					if (l->b[j].rootfd >= 0 && st[j].st_dev == st[l->n].st_dev &&
					    st[j].st_ino == st[l->n].st_ino) {
						fprintf(errs, "backing %s: same directory as %s\n", b->path,
							l->b[j].path);
						bad = 1;
					}
			}
			l->n++;
		}
	}
	return bad ? -EINVAL : 0;
}

/* backing_layout_open - open every root, read or create manifests, check them */
int backing_layout_open(struct layout *l, const struct conf *c, FILE *errs)
{
	struct manifest m[QFS_MAX_BACKINGS];
	bool have[QFS_MAX_BACKINGS] = { false }, fresh[QFS_MAX_BACKINGS] = { false };
	char recorded[1024] = "", current[1024];
	const char *fsid;
	uint32_t next_id = 0, next_shard[QFS_MAX_CLASSES] = { 0 };
	unsigned gen = 0;
	int bad, err;

	bad = layout_fill(l, c, errs) < 0;
	if (bad)
		goto refuse;

	for (int i = 0; i < l->n; i++) {
		err = backing_manifest_read(l->b[i].rootfd, &m[i]);
		if (err == 0) {
			have[i] = true;
		} else if (err != -ENOENT) {
			fprintf(errs, "backing %s: unreadable manifest %s/%s: %s\n", l->b[i].path,
				QFS_META_NAME, MANIFEST_NAME, err == -EINVAL ? "malformed" : strerror(-err));
			bad = 1;
		}
	}
	if (bad)
		goto refuse;
	fsid = pick_fsid(m, have, l->n);

	if (!fsid) {
		/* First mount: every root must be empty, then all get fresh ids. */
		unsigned char raw[16];

		for (int i = 0; i < l->n; i++) {
			err = root_empty_ok(l->b[i].rootfd);
			if (err != 1) {
				fprintf(errs, "backing %s: %s\n", l->b[i].path,
					err < 0 ? strerror(-err)
						: "not empty and not a queuefs backing (no manifest)");
				bad = 1;
			}
		}
		if (bad)
			goto refuse;
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
			fprintf(errs, "getrandom: %s\n", strerror(errno));
			goto refuse;
		}
		for (int i = 0; i < 16; i++)
			snprintf(l->fsid + 2 * i, 3, "%02x", raw[i]);
		for (int i = 0; i < l->n; i++) {
			l->b[i].id = (uint32_t)i;
			l->b[i].shard_id = (uint32_t)l->b[i].shard;
			fresh[i] = true;
		}
		l->generation = 1;
		goto commit;
	}

	memcpy(l->fsid, fsid, sizeof(l->fsid));
	for (int i = 0; i < l->n; i++) {
		const char *cname = c->classes[l->b[i].cls].name;

		if (!have[i])
			continue;
		if (strcmp(m[i].fsid, fsid) != 0) {
			fprintf(errs, "backing %s: belongs to another queuefs (fsid %s, this one is %s)\n",
				l->b[i].path, m[i].fsid, fsid);
			bad = 1;
			continue;
		}
		if (strcmp(m[i].cls, cname) != 0) {
			fprintf(errs, "backing %s: manifest says class %s, config says class %s\n",
				l->b[i].path, m[i].cls, cname);
			bad = 1;
		}
		for (int j = 0; j < i; j++)
			if (have[j] && m[j].id == m[i].id) {
				fprintf(errs,
					"backing %s: same backing id %" PRIu32 " as %s (copied root?)\n",
					l->b[i].path, m[i].id, l->b[j].path);
				bad = 1;
			}
		l->b[i].id = m[i].id;
		l->b[i].shard_id = m[i].shard_id;
		if (m[i].generation > gen) {
			gen = m[i].generation;
			memcpy(recorded, m[i].layout, sizeof(recorded));
		}
		if (m[i].id >= next_id)
			next_id = m[i].id + 1;
		if (m[i].shard_id >= next_shard[l->b[i].cls])
			next_shard[l->b[i].cls] = m[i].shard_id + 1;
	}
	if (bad)
		goto refuse;

	/* Roots without a manifest: a tmpfs back from reboot, or a new shard. */
	for (int i = 0; i < l->n; i++) {
		struct backing *b = &l->b[i];
		const char *cname = c->classes[b->cls].name;
		uint32_t sid, id;

		if (have[i])
			continue;
		err = root_empty_ok(b->rootfd);
		if (err != 1) {
			fprintf(errs, "backing %s: %s\n", b->path,
				err < 0 ? strerror(-err)
					: "not empty and not a queuefs backing (no manifest)");
			bad = 1;
			continue;
		}
		if (b->is_volatile && layout_vacancy(recorded, cname, l, have, &sid, &id) == 0) {
			b->shard_id = sid;
			b->id = id;
			have[i] = true; /* claimed: the next volatile root takes the next vacancy */
			fresh[i] = true;
			log_info("backing %s: volatile root is empty, re-initialised as %s shard %" PRIu32,
				 b->path, cname, sid);
			continue;
		}
		if (!c->migrate) {
			fprintf(errs,
				"backing %s: empty, but this queuefs already has data: is the disk mounted? "
				"(to add it as a new %s shard, mount with -o migrate)\n",
				b->path, cname);
			bad = 1;
			continue;
		}
		b->id = next_id++;
		b->shard_id = next_shard[b->cls]++;
		fresh[i] = true;
	}
	if (bad)
		goto refuse;
	l->generation = gen;

commit:
	for (int i = 0; i < l->n; i++) {
		const int ci = l->b[i].cls;

		l->cls_shard_id[ci][l->b[i].shard] = l->b[i].shard_id;
	}
	layout_describe(l, c, current, sizeof(current));
	if (recorded[0] && strcmp(recorded, current) != 0) {
		if (!c->migrate) {
			fprintf(errs,
				"layout changed: recorded \"%s\", configured \"%s\"; "
				"mount with -o migrate to accept\n",
				recorded, current);
			goto refuse;
		}
		l->generation++;
		log_info("layout migrated to generation %u: %s", l->generation, current);
		for (int i = 0; i < l->n; i++)
			fresh[i] = true;
	}
	for (int i = 0; i < l->n; i++) {
		struct backing *b = &l->b[i];
		struct manifest nm = { .shard_id = b->shard_id, .id = b->id, .generation = l->generation };

		if (fresh[i]) {
			memcpy(nm.fsid, l->fsid, sizeof(nm.fsid));
			snprintf(nm.cls, sizeof(nm.cls), "%s", c->classes[b->cls].name);
			snprintf(nm.layout, sizeof(nm.layout), "%s", current);
			err = backing_manifest_write(b->rootfd, &nm);
			if (err < 0) {
				fprintf(errs, "backing %s: cannot write manifest: %s\n", b->path,
					strerror(-err));
				goto refuse;
			}
		}
		err = open_meta(b);
		if (err < 0) {
			fprintf(errs, "backing %s: cannot open %s: %s\n", b->path, QFS_META_NAME,
				strerror(-err));
			goto refuse;
		}
	}
	return 0;

refuse:
	backing_layout_close(l);
	return -EINVAL;
}

/* backing_layout_close - close every fd the layout holds */
void backing_layout_close(struct layout *l)
{
	for (int i = 0; i < l->n; i++) {
		struct backing *b = &l->b[i];

		if (b->rootfd >= 0)
			close(b->rootfd);
		if (b->metafd >= 0)
			close(b->metafd);
		if (b->quarfd >= 0)
			close(b->quarfd);
		b->rootfd = b->metafd = b->quarfd = -1;
	}
	l->n = 0;
}
