/*
 * NAME
 *	check_faults.c - faults: the daemon killed under load, full and
 *	vanished backings
 *
 * DESCRIPTION
 *	kill: four writers queue sendmail-style messages (df and tf written
 *	O_EXCL and fsynced, tf renamed to qf, the directory fsynced) and
 *	note each message once that last fsync returned; the daemon is
 *	killed with SIGKILL at a random moment, the dead mount detached and
 *	the queue mounted again. Every noted message must be there, intact,
 *	on exactly one backing. Rounds: $FAULT_ROUNDS (default 4).
 *	enospc: every shard of the control class is a small tmpfs; once all
 *	are full, a write fails with ENOSPC (never EIO) while the data class
 *	keeps working.
 *	vanish: one control shard (a tmpfs) is lazily unmounted under the
 *	daemon, another remounted read-only: files on the first stay
 *	readable through the daemon (nothing lost), writes to the second
 *	fail with EROFS, new files go to the third without an error, and
 *	status marks both.
 *	The figures are printed as "faults: ..." lines.
 *
 * DIAGNOSTICS
 *	Failures name the message and what was found.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "mnt.h"

#define WRITERS	    4
#define MAX_DURABLE 100000

struct durable {
	volatile int n[WRITERS];
	volatile int ids[WRITERS][MAX_DURABLE / WRITERS];
};

/* body - the content of message ID, long enough to span pages */
static void body(int id, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "message %d\n", id);

	while (used + 40 < len && used < 5000)
		used += (size_t)snprintf(buf + used, len - used, "line %zu of message %d\n", used, id);
}

/* put - create PATH O_EXCL with DATA, fsynced; 0 or -1 */
static int put(const char *path, const char *data)
{
	size_t len = strlen(data);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);

	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* writer - queue messages until the mount dies; note the durable ones */
static void writer(const char *dir, int w, int round, struct durable *d)
{
	char df[PATH_MAX], tf[PATH_MAX], qf[PATH_MAX], data[8192];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	for (int n = 0; d->n[w] < MAX_DURABLE / WRITERS && dfd >= 0; n++) {
		int id = round * 1000000 + w * 100000 + n;

		body(id, data, sizeof(data));
		mnt_fmt(df, sizeof(df), "%s/dfK%08d", dir, id);
		mnt_fmt(tf, sizeof(tf), "%s/tfK%08d", dir, id);
		mnt_fmt(qf, sizeof(qf), "%s/qfK%08d", dir, id);
		if (put(df, data) < 0 || put(tf, data) < 0 || rename(tf, qf) < 0 || fsync(dfd) < 0)
			break;
		d->ids[w][d->n[w]] = id;
		__sync_synchronize();
		d->n[w]++;
	}
	_exit(0);
}

/* verify - every durable message intact and on one backing; returns the lost count */
static int verify(struct mnt *m, const struct durable *d, int *checked)
{
	char rel[64], path[PATH_MAX], want[8192], got[8192];
	int lost = 0;

	for (int w = 0; w < WRITERS; w++) {
		for (int i = 0; i < d->n[w]; i++) {
			int id = d->ids[w][i];

			body(id, want, sizeof(want));
			for (int k = 0; k < 2; k++) {
				snprintf(rel, sizeof(rel), "q/%cfK%08d", k ? 'q' : 'd', id);
				(*checked)++;
				if (mnt_get(mnt_fmt(path, sizeof(path), "%s/%s", m->dir, rel), got,
					    sizeof(got)) < 0 ||
				    strcmp(got, want) != 0 || mnt_where(m, rel, NULL) != 1) {
					printf("faults:   lost or damaged: %s (in %d backings)\n", rel,
					       mnt_where(m, rel, NULL));
					lost++;
				}
			}
		}
	}
	return lost;
}

START_TEST(test_faults_kill)
{
	static struct mnt m;
	struct durable *d = mnt_shared(sizeof(*d));
	const char *env = getenv("FAULT_ROUNDS");
	int rounds = env ? atoi(env) : 4, checked = 0, lost = 0, noted = 0;
	char dir[PATH_MAX];

	ck_assert_msg(mnt_layout(&m, "kill", NULL) == 0, "%s", m.why);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);
	MNT_OK(mkdir(mnt_fmt(dir, sizeof(dir), "%s/q", m.dir), 0755));
	srand((unsigned)getpid());
	for (int r = 1; r <= rounds; r++) {
		pid_t pids[WRITERS];
		int before = 0, after = 0;

		for (int w = 0; w < WRITERS; w++)
			before += d->n[w];
		for (int w = 0; w < WRITERS; w++) {
			pids[w] = fork();
			ck_assert_int_ge(pids[w], 0);
			if (pids[w] == 0)
				writer(dir, w, r, d);
		}
		/* Kill only once work is under way (slow under valgrind), at a random moment. */
		for (int t = 0, now = before; now < before + 5 && t < 3000 * mnt_scale(); t++) {
			usleep(10000);
			now = 0;
			for (int w = 0; w < WRITERS; w++)
				now += d->n[w];
		}
		usleep((useconds_t)(rand() % 300000));
		ck_assert_msg(mnt_crash(&m) == 0, "%s", m.why);
		for (int w = 0; w < WRITERS; w++)
			waitpid(pids[w], NULL, 0);
		ck_assert_msg(mnt_start(&m, NULL) == 0, "remount after kill %d: %s", r, m.why);
		for (int w = 0; w < WRITERS; w++)
			after += d->n[w];
		ck_assert_msg(after > before, "round %d: no message became durable before the kill", r);
	}
	for (int w = 0; w < WRITERS; w++)
		noted += d->n[w];
	lost = verify(&m, d, &checked);
	printf("faults: kill -9 under load: %d kills survived, %d messages durable, %d files checked, %d "
	       "lost\n",
	       rounds, noted, checked, lost);
	ck_assert_msg(lost == 0, "%d files lost or damaged after %d kills", lost, rounds);
	ck_assert_int_eq(mnt_stop(&m), 0);
}
END_TEST

static const char enospc_conf[] = "preset = sendmail\n"
				  "ctl_dir = {B}/ctl\n"
				  "[class control]\n"
				  "shards = {B}/c1 {B}/c2\n"
				  "[class data]\n"
				  "shards = {B}/d1\n"
				  "[class transcript]\n"
				  "shards = {B}/x1\n";

/* tmpfs_on - a small tmpfs on backing B of M */
static void tmpfs_on(struct mnt *m, int b, const char *size)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
	ck_assert_msg(mount("qfs-fault", m->back[b], "tmpfs", 0, opts) == 0, "mount tmpfs on %s: %s",
		      m->back[b], strerror(errno));
}

START_TEST(test_faults_enospc)
{
	static struct mnt m;
	static char block[16384];
	char path[PATH_MAX];
	int i, fd, full_errno = 0, made = 0;

	ck_assert_msg(mnt_layout(&m, "enospc", enospc_conf) == 0, "%s", m.why);
	tmpfs_on(&m, MNT_C1, "128k");
	tmpfs_on(&m, MNT_C2, "128k");
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);
	memset(block, 'x', sizeof(block));
	for (i = 0; i < 100 && !full_errno; i++) {
		ssize_t n;

		fd = open(mnt_fmt(path, sizeof(path), "%s/qfFULL%03d", m.dir, i), O_CREAT | O_EXCL | O_WRONLY,
			  0600);
		if (fd < 0) {
			full_errno = errno;
			break;
		}
		errno = 0;
		n = write(fd, block, sizeof(block));
		if (n != (ssize_t)sizeof(block))
			full_errno = errno ? errno : ENOSPC;
		if (fsync(fd) < 0 && !full_errno)
			full_errno = errno;
		close(fd);
		made++;
	}
	printf("faults: both control shards full after %d files: %s\n", made, strerror(full_errno));
	ck_assert_msg(full_errno == ENOSPC, "a full class answered %s, want ENOSPC", strerror(full_errno));
	ck_assert_msg(made >= 12, "only %d files of 16 KiB fit in 2 x 128 KiB", made);
	/* The data class is elsewhere and keeps working. */
	MNT_OK(mnt_put(mnt_fmt(path, sizeof(path), "%s/dfSTILL", m.dir), "fine", 0600));
	MNT_CONTENT(path, "fine");
	ck_assert_int_eq(mnt_stop(&m), 0);
	umount2(m.back[MNT_C1], MNT_DETACH);
	umount2(m.back[MNT_C2], MNT_DETACH);
}
END_TEST

/* first_on - index of the first qfV### file on backing B, or -1 */
static int first_on(struct mnt *m, int b, int n)
{
	char name[64];
	int w;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "qfV%03d", i);
		if (mnt_where(m, name, &w) == 1 && w == b)
			return i;
	}
	return -1;
}

START_TEST(test_faults_vanish)
{
	static struct mnt m;
	char path[PATH_MAX], name[64], out[16384], ctl[PATH_MAX];
	int on_c1, on_c2, i, fd, e;

	ck_assert_msg(mnt_layout(&m, "vanish", mnt_conf_sendmail_ctl) == 0, "%s", m.why);
	tmpfs_on(&m, MNT_C1, "1m");
	tmpfs_on(&m, MNT_C2, "1m");
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);
	for (i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "qfV%03d", i);
		MNT_OK(mnt_put(mnt_fmt(path, sizeof(path), "%s/%s", m.dir, name), "before", 0600));
	}
	on_c1 = first_on(&m, MNT_C1, 60);
	on_c2 = first_on(&m, MNT_C2, 60);
	ck_assert_msg(on_c1 >= 0 && on_c2 >= 0, "no file landed on c1 or c2");

	/* c1's disk is unmounted (lazily) under the daemon; c2 goes read-only. */
	MNT_OK(umount2(m.back[MNT_C1], MNT_DETACH));
	/* FUSE releases files after close(2) returns: the daemon may still hold some for writing. */
	for (i = 0; i < 200 && mount(NULL, m.back[MNT_C2], NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0; i++)
		usleep(10000);
	ck_assert_msg(i < 200, "remount c2 read-only: %s", strerror(errno));
	sleep(1); /* health is checked at most once a second */

	/* Nothing is lost: files on the vanished shard stay readable through the daemon. */
	snprintf(name, sizeof(name), "qfV%03d", on_c1);
	MNT_CONTENT(mnt_fmt(path, sizeof(path), "%s/%s", m.dir, name), "before");
	/* A write to the read-only shard fails with a clear errno, not EIO. */
	snprintf(name, sizeof(name), "qfV%03d", on_c2);
	errno = 0;
	fd = open(mnt_fmt(path, sizeof(path), "%s/%s", m.dir, name), O_WRONLY | O_APPEND);
	e = errno;
	if (fd >= 0)
		close(fd);
	printf("faults: writing a file on a read-only shard: %s\n", fd >= 0 ? "success" : strerror(e));
	ck_assert_msg(fd < 0 && e == EROFS, "open for writing on a read-only shard: %s",
		      fd >= 0 ? "succeeded" : strerror(e));
	MNT_CONTENT(path, "before");
	/* New files avoid both, and the MTA sees no error. */
	for (i = 0; i < 20; i++) {
		int b;

		snprintf(name, sizeof(name), "qfAFTER%03d", i);
		MNT_OK(mnt_put(mnt_fmt(path, sizeof(path), "%s/%s", m.dir, name), "after", 0600));
		MNT_CONTENT(path, "after");
		ck_assert_msg(mnt_where(&m, name, &b) == 1 && b == MNT_C3, "%s is not on c3", name);
	}
	ck_assert_int_eq(
		mnt_ask(mnt_fmt(ctl, sizeof(ctl), "%s/ctl", m.root), m.dir, "status", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "FAILED: vanished") && strstr(out, "FAILED: read-only"),
		      "status does not mark the failed shards:\n%s", out);
	printf("faults: vanished and read-only shards avoided by 20 new files, marked in status\n");
	mnt_stop(&m);
	umount2(m.back[MNT_C2], MNT_DETACH);
}
END_TEST

/*
 * stress: six processes do random creates (O_EXCL and not), writes,
 * fsyncs, renames (within and across directories, onto existing names),
 * links, unlinks, mkdir and rmdir over a few hundred sendmail-style names
 * in three directories, for $STRESS_SECONDS (default 8). Then the merged
 * view must equal the backings: every name the mount lists is on exactly
 * one backing (directories on all), with the same size and inode number,
 * and every file on a backing is listed; hard links share one st_ino.
 */
#define STRESS_PROCS 6

static int stress_worker(int i, void *arg, char *err, size_t len)
{
	const struct mnt *m = arg;
	const char *dirs[] = { "s1", "s2", "s3/sub" };
	const char *pfx[] = { "qf", "tf", "df", "xf", "Qf" };
	const char *env = getenv("STRESS_SECONDS");
	time_t end = time(NULL) + (env ? atoi(env) : 8);
	unsigned seed = (unsigned)getpid() * 2654435761u + (unsigned)i;
	char a[PATH_MAX], b[PATH_MAX];
	long ops = 0;

	(void)err;
	(void)len;
	while (time(NULL) < end) {
		int r = rand_r(&seed) % 100, fd;

		mnt_fmt(a, sizeof(a), "%s/%s/%s%04d", m->dir, dirs[rand_r(&seed) % 3], pfx[rand_r(&seed) % 5],
			rand_r(&seed) % 60);
		mnt_fmt(b, sizeof(b), "%s/%s/%s%04d", m->dir, dirs[rand_r(&seed) % 3], pfx[rand_r(&seed) % 5],
			rand_r(&seed) % 60);
		if (r < 30) {
			fd = open(a, O_CREAT | O_WRONLY | (r < 15 ? O_EXCL : O_APPEND), 0600);
			if (fd >= 0) {
				char buf[300];
				int n = snprintf(buf, sizeof(buf), "%d:%ld\n", i, ops);

				if (write(fd, buf, (size_t)n) < 0 && errno != ENOENT)
					return mnt_fail(err, len, "write %s", a);
				if (r % 3 == 0)
					fsync(fd);
				close(fd);
			} else if (errno != EEXIST && errno != ENOENT) {
				return mnt_fail(err, len, "create %s", a);
			}
		} else if (r < 55) {
			if (rename(a, b) < 0 && errno != ENOENT && errno != EISDIR && errno != ENOTDIR)
				return mnt_fail(err, len, "rename %s %s", a, b);
		} else if (r < 65) {
			if (link(a, b) < 0 && errno != ENOENT && errno != EEXIST)
				return mnt_fail(err, len, "link %s %s", a, b);
		} else if (r < 85) {
			if (unlink(a) < 0 && errno != ENOENT && errno != EISDIR)
				return mnt_fail(err, len, "unlink %s", a);
		} else if (r < 95) {
			fd = open(mnt_fmt(b, sizeof(b), "%s/%s", m->dir, dirs[rand_r(&seed) % 3]),
				  O_RDONLY | O_DIRECTORY);
			if (fd >= 0) {
				if (fsync(fd) < 0)
					return mnt_fail(err, len, "fsyncdir %s", b);
				close(fd);
			}
		} else {
			mnt_fmt(b, sizeof(b), "%s/s1/d%02d", m->dir, rand_r(&seed) % 4);
			if (mkdir(b, 0755) < 0 && errno != EEXIST)
				return mnt_fail(err, len, "mkdir %s", b);
			rmdir(b); /* often ENOTEMPTY or ENOENT: both fine */
		}
		ops++;
	}
	return 0;
}

/* stress_compare - the merged view of REL against the backings; returns mismatches */
static int stress_compare(struct mnt *m, const char *rel, int *names)
{
	struct mnt_dent *d;
	char path[PATH_MAX], crel[PATH_MAX];
	int n, bad = 0;

	n = mnt_readdir(mnt_fmt(path, sizeof(path), "%s/%s", m->dir, rel), &d, NULL);
	ck_assert_msg(n >= 0, "readdir %s: %s", rel, strerror(-n));
	for (int i = 0; i < n; i++) {
		struct stat mst, bst;
		int b, copies;

		mnt_fmt(crel, sizeof(crel), "%s/%s", rel, d[i].name);
		copies = mnt_where(m, crel, &b);
		(*names)++;
		if (d[i].type == DT_DIR) {
			if (copies != MNT_NDEFAULT) {
				printf("faults:   directory %s on %d backings\n", crel, copies);
				bad++;
			}
			continue;
		}
		if (copies != 1 || lstat(mnt_fmt(path, sizeof(path), "%s/%s", m->dir, crel), &mst) < 0 ||
		    lstat(mnt_bpath(m, b, crel, path, sizeof(path)), &bst) < 0 ||
		    mst.st_size != bst.st_size || mst.st_ino != ((((uint64_t)b + 1) << 48) | bst.st_ino) ||
		    mst.st_ino != d[i].ino || mst.st_nlink != bst.st_nlink) {
			printf("faults:   %s: %d copies, or size/inode/nlink differ from its backing\n", crel,
			       copies);
			bad++;
		}
	}
	if (n >= 0)
		free(d);
	/* And nothing on a backing that the mount does not list. */
	for (int b = 0; b < MNT_NDEFAULT; b++) {
		struct mnt_dent *bd;
		int bn = mnt_readdir(mnt_bpath(m, b, rel, path, sizeof(path)), &bd, NULL);

		for (int i = 0; i < bn; i++) {
			struct stat st;

			if (bd[i].type == DT_DIR)
				continue;
			mnt_fmt(crel, sizeof(crel), "%s/%s/%s", m->dir, rel, bd[i].name);
			if (lstat(crel, &st) < 0) {
				printf("faults:   %s/%s on %s is not visible through the mount\n", rel,
				       bd[i].name, mnt_back_name[b]);
				bad++;
			}
		}
		if (bn >= 0)
			free(bd);
	}
	return bad;
}

START_TEST(test_faults_stress)
{
	static struct mnt m;
	char err[1024], path[PATH_MAX];
	int bad = 0, names = 0;

	/* Zero cache timeouts: the comparison must see the daemon's truth. */
	ck_assert_msg(mnt_layout(&m, "stress", NULL) == 0, "%s", m.why);
	ck_assert_msg(mnt_start(&m, "entry_timeout=0,attr_timeout=0") == 0, "%s", m.why);
	MNT_OK(mkdir(mnt_fmt(path, sizeof(path), "%s/s1", m.dir), 0755));
	MNT_OK(mkdir(mnt_fmt(path, sizeof(path), "%s/s2", m.dir), 0755));
	MNT_OK(mkdir(mnt_fmt(path, sizeof(path), "%s/s3", m.dir), 0755));
	MNT_OK(mkdir(mnt_fmt(path, sizeof(path), "%s/s3/sub", m.dir), 0755));
	ck_assert_msg(mnt_workers(STRESS_PROCS, stress_worker, &m, err, sizeof(err)) == 0, "%s", err);
	bad += stress_compare(&m, "s1", &names);
	bad += stress_compare(&m, "s2", &names);
	bad += stress_compare(&m, "s3/sub", &names);
	printf("faults: stress: %d processes, %d names left, %d mismatches between the view and the "
	       "backings\n",
	       STRESS_PROCS, names, bad);
	ck_assert_msg(bad == 0, "%d mismatches after the stress run", bad);
	ck_assert_int_eq(mnt_stop(&m), 0);
}
END_TEST

/*
 * hostile: symlinks planted inside the backings that point outside them.
 * A directory copy replaced by a symlink to a directory outside, and a
 * symlink planted as a queue file: queuefs must never read, list or write
 * through them on its own (the kernel resolves a symlink the caller opens,
 * in the caller's namespace and with the caller's rights, as anywhere).
 */
START_TEST(test_faults_planted_symlinks)
{
	static struct mnt m;
	char path[PATH_MAX], outside[PATH_MAX], target[PATH_MAX];
	struct mnt_dent *d;
	struct stat st;
	int n;

	ck_assert_msg(mnt_layout(&m, "hostile", NULL) == 0, "%s", m.why);
	mnt_fmt(outside, sizeof(outside), "%s/outside", m.root);
	MNT_OK(mkdir(outside, 0755));
	MNT_OK(mnt_put(mnt_fmt(path, sizeof(path), "%s/secret", outside), "secret", 0600));
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);
	MNT_OK(mkdir(mnt_fmt(path, sizeof(path), "%s/spool", m.dir), 0755));
	ck_assert_int_eq(mnt_stop(&m), 0);
	/* c1's copy of spool/ becomes a symlink to the outside directory. */
	MNT_OK(rmdir(mnt_bpath(&m, MNT_C1, "spool", path, sizeof(path))));
	MNT_OK(symlink(outside, path));
	MNT_OK(symlink(mnt_fmt(target, sizeof(target), "%s/secret", outside),
		       mnt_bpath(&m, MNT_C2, "qfPLANTED", path, sizeof(path))));
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);

	n = mnt_readdir(mnt_fmt(path, sizeof(path), "%s/spool", m.dir), &d, NULL);
	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++)
		ck_assert_msg(strcmp(d[i].name, "secret") != 0,
			      "spool/ lists a file of the outside directory");
	free(d);
	for (int i = 0; i < 30; i++) {
		char name[PATH_MAX];

		mnt_fmt(name, sizeof(name), "%s/spool/qfIN%02d", m.dir, i);
		MNT_OK(mnt_put(name, "in", 0600));
	}
	{
		struct mnt_dent *od;
		int on = mnt_readdir(outside, &od, NULL);

		ck_assert_msg(on == 1,
			      "the outside directory holds %d entries, want 1 (nothing written there)", on);
		free(od);
	}
	/* The planted symlink is a symlink through the mount, nothing more. */
	MNT_OK(lstat(mnt_fmt(path, sizeof(path), "%s/qfPLANTED", m.dir), &st));
	ck_assert_msg(S_ISLNK(st.st_mode), "planted symlink shows as mode %o", (unsigned)st.st_mode);
	printf("faults: planted symlinks: nothing listed or written outside the backings\n");
	ck_assert_int_eq(mnt_stop(&m), 0);
}
END_TEST

/* A writer killed in the middle of a large write: the daemon goes on, the file holds a prefix. */
START_TEST(test_faults_killed_writer)
{
	static struct mnt m;
	static char block[1 << 20];
	char path[PATH_MAX];
	struct stat st;
	pid_t pid;

	ck_assert_msg(mnt_layout(&m, "killw", NULL) == 0, "%s", m.why);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);
	mnt_fmt(path, sizeof(path), "%s/dfBIG", m.dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_CREAT | O_WRONLY, 0600);

		memset(block, 'b', sizeof(block));
		for (int i = 0; i < 256; i++) /* at most 256 MiB if the kill comes late */
			if (fd < 0 || write(fd, block, sizeof(block)) < 0)
				_exit(1);
		pause();
		_exit(0);
	}
	usleep(300000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	MNT_OK(stat(path, &st));
	ck_assert_msg(st.st_size > 0, "killed writer left %lld bytes", (long long)st.st_size);
	/* The daemon serves on. */
	MNT_OK(mnt_put(mnt_fmt(path, sizeof(path), "%s/qfAFTERKILL", m.dir), "ok", 0600));
	MNT_CONTENT(path, "ok");
	printf("faults: a writer killed mid-write left %lld bytes; the mount serves on\n",
	       (long long)st.st_size);
	ck_assert_int_eq(mnt_stop(&m), 0);
}
END_TEST

Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_faults_kill);
	tcase_add_test(tc, test_faults_enospc);
	tcase_add_test(tc, test_faults_vanish);
	tcase_add_test(tc, test_faults_stress);
	tcase_add_test(tc, test_faults_planted_symlinks);
	tcase_add_test(tc, test_faults_killed_writer);
	suite_add_tcase(s, tc);
	return s;
}
