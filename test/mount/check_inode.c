/*
 * NAME
 *	check_inode.c - inode numbers and ownership through the mount
 *
 * DESCRIPTION
 *	inode: st_ino unique over files spread across all backings, equal in
 *	stat, fstat and readdir, composed as ((backing id + 1) << 48) | the
 *	backing inode, stable across a remount; sendmail's stat/fstat
 *	comparison. owner: files and directories made by uid 65534 under
 *	umask 027 belong to it with the right modes, in the mount and in the
 *	backings; default_permissions keeps it out of root's directories.
 *	With allow_other = no the kernel lets no other user in at all, and
 *	the mount then goes without default_permissions.
 *
 * DIAGNOSTICS
 *	Failures print inode numbers in hex, where the backing id shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mnt.h"

#define INO_FILES  500
#define INO_LOW(i) ((uint64_t)(i) & ((UINT64_C(1) << 48) - 1))

static struct mnt ino_m, own_m;

static void ino_up(void)
{
	mnt_fixture_up(&ino_m, "inode", NULL, NULL);
}

static void ino_down(void)
{
	mnt_fixture_down(&ino_m);
}

static void own_up(void)
{
	mnt_fixture_up(&own_m, "owner", NULL, NULL);
}

static void own_down(void)
{
	mnt_fixture_down(&own_m);
}

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ino_name - the I-th test file: prefixes spread it over all backings */
static const char *ino_name(int i, char *buf, size_t len)
{
	static const char *pfx[] = { "qf", "df", "xf", "tf", "zz" };

	return mnt_fmt(buf, len, "%s%04dI%X", pfx[i % 5], i, i * 7919);
}

START_TEST(test_ino_unique_composed)
{
	uint64_t *all = calloc(INO_FILES + 10, sizeof(uint64_t));
	int per[MNT_NBACK] = { 0 }, ids[MNT_NBACK], i, b, n, fd, k;
	char name[64], rel[96], p[PATH_MAX], v[64];
	struct stat st, fst, bst;
	struct mnt_dent *d;

	for (b = 0; b < MNT_NDEFAULT; b++) {
		ck_assert_msg(mnt_manifest(&ino_m, b, "backing", v, sizeof(v)) == 0, "%s: no backing id",
			      ino_m.back[b]);
		ids[b] = atoi(v);
	}
	mnt_enter(&ino_m, NULL);
	MNT_OK(mkdir("ino", 0755));
	MNT_OK(chdir("ino"));
	for (i = 0; i < INO_FILES; i++) {
		fd = MNT_OK(open(ino_name(i, name, sizeof(name)), O_CREAT | O_EXCL | O_RDWR, 0600));
		MNT_OK(fstat(fd, &fst));
		MNT_OK(stat(name, &st));
		ck_assert_msg(st.st_ino == fst.st_ino, "%s: stat ino %#llx, fstat %#llx", name,
			      (unsigned long long)st.st_ino, (unsigned long long)fst.st_ino);
		close(fd);
		n = mnt_where(&ino_m, mnt_fmt(rel, sizeof(rel), "ino/%s", name), &b);
		ck_assert_msg(n == 1, "%s: in %d backings, want 1", rel, n);
		MNT_OK(lstat(mnt_bpath(&ino_m, b, rel, p, sizeof(p)), &bst));
		ck_assert_msg((uint64_t)st.st_ino >> 48 == (uint64_t)ids[b] + 1 &&
				      INO_LOW(st.st_ino) == bst.st_ino,
			      "%s on %s (backing id %d, inode %#llx): st_ino %#llx, want %#llx", name,
			      mnt_back_name[b], ids[b], (unsigned long long)bst.st_ino,
			      (unsigned long long)st.st_ino,
			      (unsigned long long)((((uint64_t)ids[b] + 1) << 48) | bst.st_ino));
		per[b]++;
		all[i] = st.st_ino;
	}
	for (k = 0; k < 10; k++) {
		MNT_OK(mkdir(mnt_fmt(name, sizeof(name), "dir%d", k), 0755));
		MNT_OK(stat(name, &st));
		all[INO_FILES + k] = st.st_ino;
	}
	for (b = 0; b < MNT_NDEFAULT; b++)
		ck_assert_msg(per[b] > 0, "no test file landed on %s", mnt_back_name[b]);
	qsort(all, INO_FILES + 10, sizeof(uint64_t), ino_cmp);
	for (i = 1; i < INO_FILES + 10; i++)
		ck_assert_msg(all[i] != all[i - 1], "st_ino %#llx used twice", (unsigned long long)all[i]);

	n = mnt_readdir(".", &d, NULL);
	ck_assert_msg(n == INO_FILES + 10, "readdir: got %d entries, want %d", n, INO_FILES + 10);
	for (i = 0; i < n; i++) {
		MNT_OK(lstat(d[i].name, &st));
		ck_assert_msg(d[i].ino == st.st_ino, "%s: d_ino %#llx, stat %#llx", d[i].name,
			      (unsigned long long)d[i].ino, (unsigned long long)st.st_ino);
	}
	free(d);
	free(all);
}
END_TEST

/* ino_same - sendmail's check: stat(name) and fstat(fd) must agree */
static void ino_same(const char *name, int fd, const char *when)
{
	struct stat a, b;

	MNT_OK(stat(name, &a));
	MNT_OK(fstat(fd, &b));
	ck_assert_msg(a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_nlink == b.st_nlink &&
			      a.st_uid == b.st_uid && a.st_gid == b.st_gid && a.st_size == b.st_size,
		      "%s %s: stat dev %lu ino %#llx nlink %lu uid %u gid %u size %lld; "
		      "fstat dev %lu ino %#llx nlink %lu uid %u gid %u size %lld",
		      name, when, (unsigned long)a.st_dev, (unsigned long long)a.st_ino,
		      (unsigned long)a.st_nlink, a.st_uid, a.st_gid, (long long)a.st_size,
		      (unsigned long)b.st_dev, (unsigned long long)b.st_ino, (unsigned long)b.st_nlink,
		      b.st_uid, b.st_gid, (long long)b.st_size);
}

START_TEST(test_ino_sendmail_compare)
{
	int fd;

	mnt_enter(&ino_m, NULL);
	MNT_OK(mkdir("cmp", 0755));
	MNT_OK(chdir("cmp"));
	fd = MNT_OK(open("tfCMP", O_CREAT | O_EXCL | O_RDWR, 0600));
	ino_same("tfCMP", fd, "after create");
	ck_assert_int_eq(write(fd, "V8\n", 3), 3);
	ino_same("tfCMP", fd, "after write");
	MNT_OK(rename("tfCMP", "qfCMP"));
	ino_same("qfCMP", fd, "after rename");
	MNT_OK(link("qfCMP", "qfCMP2"));
	ino_same("qfCMP", fd, "after link");
	MNT_OK(unlink("qfCMP2"));
	ino_same("qfCMP", fd, "after unlink of the link");
	MNT_OK(fchown(fd, 65534, 65534));
	ino_same("qfCMP", fd, "after fchown");
	MNT_OK(ftruncate(fd, 1));
	ino_same("qfCMP", fd, "after ftruncate");
	MNT_OK(close(fd));
}
END_TEST

START_TEST(test_ino_stable_remount)
{
	uint64_t before[100];
	char name[64], p[PATH_MAX];
	struct stat st;
	struct mnt m;
	int i, st_exit;

	ck_assert_msg(mnt_layout(&m, "stable", NULL) == 0, "%s", m.why);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "%s", m.why);
	for (i = 0; i < 100; i++) {
		mnt_fmt(p, sizeof(p), "%s/%s", m.dir, ino_name(i, name, sizeof(name)));
		MNT_OK(mnt_put(p, name, 0600));
		MNT_OK(stat(p, &st));
		before[i] = st.st_ino;
	}
	st_exit = mnt_stop(&m);
	ck_assert_msg(st_exit == 0, "daemon exit status %d after unmount, want 0 (%s)", st_exit, m.why);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "remount: %s", m.why);
	for (i = 0; i < 100; i++) {
		mnt_fmt(p, sizeof(p), "%s/%s", m.dir, ino_name(i, name, sizeof(name)));
		MNT_OK(stat(p, &st));
		ck_assert_msg(st.st_ino == before[i], "%s: st_ino %#llx after remount, was %#llx", name,
			      (unsigned long long)st.st_ino, (unsigned long long)before[i]);
	}
	st_exit = mnt_stop(&m);
	ck_assert_msg(st_exit == 0, "daemon exit status %d after unmount, want 0 (%s)", st_exit, m.why);
}
END_TEST

/* own_nobody - as uid/gid 65534 under umask 027, in the cwd "own" */
static int own_nobody(int me, void *arg, char *err, size_t len)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 2000000000, 0 } };
	struct stat st;
	int fd;

	(void)me;
	(void)arg;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return mnt_fail(err, len, "drop to 65534");
	umask(027);
	if ((fd = open("qfNB", O_CREAT | O_EXCL | O_WRONLY, 0666)) < 0)
		return mnt_fail(err, len, "create own/qfNB as 65534");
	if (fstat(fd, &st) < 0)
		return mnt_fail(err, len, "fstat qfNB");
	close(fd);
	if ((st.st_mode & 07777) != 0640 || st.st_uid != 65534 || st.st_gid != 65534) {
		mnt_fmt(err, len, "qfNB: got %o %u:%u, want 640 65534:65534", st.st_mode & 07777, st.st_uid,
			st.st_gid);
		return -1;
	}
	if (mkdir("dNB", 0777) < 0)
		return mnt_fail(err, len, "mkdir own/dNB as 65534");
	if (stat("dNB", &st) < 0)
		return mnt_fail(err, len, "stat dNB");
	if ((st.st_mode & 07777) != 0750 || st.st_uid != 65534 || st.st_gid != 65534) {
		mnt_fmt(err, len, "dNB: got %o %u:%u, want 750 65534:65534", st.st_mode & 07777, st.st_uid,
			st.st_gid);
		return -1;
	}
	if (utimensat(AT_FDCWD, "qfNB", ts, 0) < 0)
		return mnt_fail(err, len, "utimensat by the owner");
	if (stat("qfNB", &st) < 0 || st.st_mtim.tv_sec != 2000000000) {
		mnt_fmt(err, len, "qfNB mtime: got %lld, want 2000000000", (long long)st.st_mtim.tv_sec);
		return -1;
	}
	errno = 0;
	if ((fd = open("../rootdir/qfX", O_CREAT | O_WRONLY, 0600)) >= 0 || errno != EACCES) {
		mnt_fmt(err, len, "create in root's 0755 dir: got %s, want EACCES",
			fd >= 0 ? "success" : strerror(errno));
		return -1;
	}
	errno = 0;
	if (mkdir("../rootdir/d", 0700) == 0 || errno != EACCES) {
		mnt_fmt(err, len, "mkdir in root's 0755 dir: got %s, want EACCES",
			errno ? strerror(errno) : "success");
		return -1;
	}
	errno = 0;
	if ((fd = open("../rootdir/qfROOT", O_WRONLY)) >= 0 || errno != EACCES) {
		mnt_fmt(err, len, "write root's 0644 file: got %s, want EACCES",
			fd >= 0 ? "success" : strerror(errno));
		return -1;
	}
	errno = 0;
	if (utimensat(AT_FDCWD, "../rootdir/qfROOT", ts, 0) == 0 || errno != EPERM) {
		mnt_fmt(err, len, "explicit utimensat of root's file: got %s, want EPERM",
			errno ? strerror(errno) : "success");
		return -1;
	}
	if (rename("qfNB", "qfNB2") < 0 || rename("qfNB2", "qfNB") < 0)
		return mnt_fail(err, len, "rename in its own dir");
	return 0;
}

START_TEST(test_own_nobody)
{
	char err[1024], p[PATH_MAX];
	struct stat st;
	int b;

	mnt_enter(&own_m, NULL);
	MNT_OK(mkdir("rootdir", 0755));
	MNT_OK(mnt_put("rootdir/qfROOT", "root", 0644));
	MNT_OK(mkdir("own", 0755));
	MNT_OK(chown("own", 65534, 65534));
	MNT_OK(chdir("own"));
	ck_assert_msg(mnt_workers(1, own_nobody, NULL, err, sizeof(err)) == 0, "%s", err);

	MNT_OK(stat("qfNB", &st));
	ck_assert_msg(st.st_uid == 65534 && st.st_gid == 65534 && (st.st_mode & 07777) == 0640,
		      "qfNB as root sees it: %o %u:%u", st.st_mode & 07777, st.st_uid, st.st_gid);
	ck_assert_msg(mnt_where(&own_m, "own/qfNB", &b) == 1, "own/qfNB: not in exactly one backing");
	MNT_OK(lstat(mnt_bpath(&own_m, b, "own/qfNB", p, sizeof(p)), &st));
	ck_assert_msg(st.st_uid == 65534 && st.st_gid == 65534 && (st.st_mode & 07777) == 0640,
		      "%s: got %o %u:%u, want 640 65534:65534", p, st.st_mode & 07777, st.st_uid, st.st_gid);
	for (b = 0; b < MNT_NDEFAULT; b++) {
		mnt_bpath(&own_m, b, "own/dNB", p, sizeof(p));
		ck_assert_msg(lstat(p, &st) == 0, "%s: %s", p, strerror(errno));
		ck_assert_msg(st.st_uid == 65534 && st.st_gid == 65534 && (st.st_mode & 07777) == 0750,
			      "%s: got %o %u:%u, want 750 65534:65534", p, st.st_mode & 07777, st.st_uid,
			      st.st_gid);
	}
	ck_assert_int_eq(mnt_where(&own_m, "rootdir/qfX", NULL), 0);
	MNT_CONTENT("../rootdir/qfROOT", "root");
}
END_TEST

/* mount_opts - the options /proc/self/mounts shows for DIR */
static void mount_opts(const char *dir, char *out, size_t len)
{
	char line[4096], mp[PATH_MAX], opts[2048];
	FILE *f = fopen("/proc/self/mounts", "r");

	ck_assert_ptr_nonnull(f);
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s %*s %2047s", mp, opts) == 2 && strcmp(mp, dir) == 0)
			snprintf(out, len, "%s", opts);
	fclose(f);
	ck_assert_msg(out[0], "%s is not in /proc/self/mounts", dir);
}

/* stat_nobody - stat PATH as uid/gid 65534 */
static int stat_nobody(int me, void *arg, char *err, size_t len)
{
	struct stat st;

	(void)me;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return mnt_fail(err, len, "drop to 65534");
	errno = 0;
	if (stat(arg, &st) == 0 || errno != EACCES) {
		mnt_fmt(err, len, "stat %s as 65534: got %s, want EACCES", (const char *)arg,
			errno ? strerror(errno) : "success");
		return -1;
	}
	return 0;
}

START_TEST(test_own_root_only)
{
	char opts[2048], err[1024], p[PATH_MAX];
	struct mnt m;

	mount_opts(own_m.dir, opts, sizeof(opts));
	ck_assert_msg(strstr(opts, "default_permissions") && strstr(opts, "allow_other"),
		      "default mount options: %s", opts);

	ck_assert_int_eq(
		mnt_layout(&m, "rootonly", "allow_other = no\npreset = sendmail\n" MNT_SENDMAIL_CLASSES), 0);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount: %s", m.why);
	mount_opts(m.dir, opts, sizeof(opts));
	if (strstr(opts, "default_permissions") || strstr(opts, "allow_other")) {
		mnt_stop(&m);
		ck_abort_msg("allow_other = no: mount options %s, want neither default_permissions nor "
			     "allow_other",
			     opts);
	}
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/tfRO", m.dir), "root", 0600));
	if (mnt_workers(1, stat_nobody, p, err, sizeof(err)) != 0) {
		mnt_stop(&m);
		ck_abort_msg("%s", err);
	}
	MNT_CONTENT(p, "root");
	ck_assert_int_eq(mnt_stop(&m), 0);
}
END_TEST

Suite *inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *tc;

	tc = tcase_create("inode");
	tcase_add_unchecked_fixture(tc, ino_up, ino_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ino_unique_composed);
	tcase_add_test(tc, test_ino_sendmail_compare);
	tcase_add_test(tc, test_ino_stable_remount);
	suite_add_tcase(s, tc);

	tc = tcase_create("owner");
	tcase_add_unchecked_fixture(tc, own_up, own_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_own_nobody);
	tcase_add_test(tc, test_own_root_only);
	suite_add_tcase(s, tc);
	return s;
}
