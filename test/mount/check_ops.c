/*
 * NAME
 *	check_ops.c - every file system operation an MTA uses, through the mount
 *
 * DESCRIPTION
 *	One sendmail-preset mount per TCase (unchecked fixture, parent
 *	process); each test works in its own directory of it and checks the
 *	outcome both through the mount and in the backing roots: where a
 *	file landed, that directories span all backings, that attributes of
 *	a directory reach every copy, that .queuefs stays hidden.
 *
 * DIAGNOSTICS
 *	Failures read "call: got X, want Y".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mnt.h"

static struct mnt ops_m;

static void ops_up(void)
{
	mnt_fixture_up(&ops_m, "ops", NULL, NULL);
}

static void ops_down(void)
{
	mnt_fixture_down(&ops_m);
}

/* ops_dir - a fresh directory of the mount for one test, made the cwd */
static void ops_dir(const char *sub)
{
	mnt_enter(&ops_m, NULL);
	ck_assert_msg(mkdir(sub, 0755) == 0, "mkdir %s: %s", sub, strerror(errno));
	ck_assert_msg(chdir(sub) == 0, "chdir %s: %s", sub, strerror(errno));
}

/* ops_one - REL must be in exactly one backing; returns which */
static int ops_one(const char *rel)
{
	char list[64];
	int b = -1, n = mnt_where(&ops_m, rel, &b);

	ck_assert_msg(n == 1, "%s: in %d backings (%s), want 1", rel, n,
		      mnt_where_list(&ops_m, rel, list, sizeof(list)));
	return b;
}

/* ops_bstat - stat of REL in backing B */
static void ops_bstat(int b, const char *rel, struct stat *st)
{
	char p[PATH_MAX];

	mnt_bpath(&ops_m, b, rel, p, sizeof(p));
	ck_assert_msg(lstat(p, st) == 0, "lstat %s: %s", p, strerror(errno));
}

START_TEST(test_ops_read_write)
{
	char buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	ops_dir("rw");
	fd = MNT_OK(open("dfRW", O_CREAT | O_EXCL | O_RDWR, 0644));
	ck_assert_int_eq(write(fd, "hello world", 11), 11);
	n = MNT_OK(pread(fd, buf, sizeof(buf) - 1, 0));
	buf[n] = 0;
	ck_assert_str_eq(buf, "hello world");
	ck_assert_int_eq(pwrite(fd, "WORLD", 5, 6), 5);
	n = MNT_OK(pread(fd, buf, sizeof(buf) - 1, 0));
	buf[n] = 0;
	ck_assert_str_eq(buf, "hello WORLD");
	ck_assert_int_eq(pread(fd, buf, 8, 11), 0); /* EOF */
	MNT_OK(close(fd));
	MNT_ERR(open("dfRW", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);

	fd = MNT_OK(open("dfRW", O_WRONLY | O_APPEND));
	ck_assert_int_eq(write(fd, "!!", 2), 2);
	MNT_OK(fstat(fd, &st));
	ck_assert_msg(st.st_size == 13, "size after O_APPEND: got %lld, want 13", (long long)st.st_size);
	MNT_OK(close(fd));
	MNT_CONTENT("dfRW", "hello WORLD!!");

	fd = MNT_OK(open("dfRW", O_RDWR));
	MNT_OK(ftruncate(fd, 5));
	MNT_OK(fstat(fd, &st));
	ck_assert_msg(st.st_size == 5, "fstat after ftruncate: got %lld, want 5", (long long)st.st_size);
	MNT_OK(close(fd));
	MNT_OK(stat("dfRW", &st));
	ck_assert_msg(st.st_size == 5, "stat after ftruncate: got %lld, want 5", (long long)st.st_size);
	MNT_OK(truncate("dfRW", 2));
	MNT_CONTENT("dfRW", "he");
	fd = MNT_OK(open("dfRW", O_WRONLY | O_TRUNC));
	MNT_OK(fstat(fd, &st));
	ck_assert_msg(st.st_size == 0, "O_TRUNC: got size %lld, want 0", (long long)st.st_size);
	MNT_OK(close(fd));
	ck_assert_msg(ops_one("rw/dfRW") == MNT_D1, "dfRW: not on d1");
	ops_bstat(MNT_D1, "rw/dfRW", &st);
	ck_assert_msg(st.st_size == 0, "backing size: got %lld, want 0", (long long)st.st_size);
	MNT_ERR(open("nonexistent", O_RDONLY), ENOENT);
}
END_TEST

START_TEST(test_ops_stat)
{
	struct stat a, b, root;
	int fd;

	ops_dir("st");
	fd = MNT_OK(open("qfST", O_CREAT | O_EXCL | O_RDWR, 0640));
	ck_assert_int_eq(write(fd, "12345", 5), 5);
	MNT_OK(fstat(fd, &b));
	MNT_OK(stat("qfST", &a));
	MNT_OK(stat(ops_m.dir, &root));
	ck_assert_msg(a.st_ino == b.st_ino, "st_ino: stat %llu, fstat %llu", (unsigned long long)a.st_ino,
		      (unsigned long long)b.st_ino);
	ck_assert_msg(a.st_dev == b.st_dev && a.st_dev == root.st_dev, "st_dev differs inside the mount");
	ck_assert_msg(a.st_mode == (S_IFREG | 0640), "mode: got %o, want %o", a.st_mode, S_IFREG | 0640);
	ck_assert_msg(a.st_size == 5 && a.st_nlink == 1 && a.st_uid == 0 && a.st_gid == 0,
		      "got size %lld nlink %lu uid %u gid %u, want 5 1 0 0", (long long)a.st_size,
		      (unsigned long)a.st_nlink, a.st_uid, a.st_gid);
	ck_assert_msg(a.st_blksize > 0, "st_blksize: got %ld", (long)a.st_blksize);
	MNT_OK(close(fd));
	MNT_OK(stat(".", &a));
	ck_assert_msg(S_ISDIR(a.st_mode) && a.st_nlink >= 2, "dir: mode %o nlink %lu", a.st_mode,
		      (unsigned long)a.st_nlink);
	MNT_ERR(stat("qfNONE", &a), ENOENT);
}
END_TEST

START_TEST(test_ops_chmod_chown)
{
	struct stat st;
	int fd, b;

	ops_dir("ch");
	fd = MNT_OK(open("qfCH", O_CREAT | O_EXCL | O_WRONLY, 0600));
	b = ops_one("ch/qfCH");
	MNT_OK(chmod("qfCH", 0640));
	MNT_OK(stat("qfCH", &st));
	ck_assert_msg((st.st_mode & 07777) == 0640, "chmod: got %o, want 640", st.st_mode & 07777);
	ops_bstat(b, "ch/qfCH", &st);
	ck_assert_msg((st.st_mode & 07777) == 0640, "backing after chmod: got %o, want 640",
		      st.st_mode & 07777);
	MNT_OK(chown("qfCH", 65534, 65534));
	MNT_OK(stat("qfCH", &st));
	ck_assert_msg(st.st_uid == 65534 && st.st_gid == 65534, "chown: got %u:%u, want 65534:65534",
		      st.st_uid, st.st_gid);
	ops_bstat(b, "ch/qfCH", &st);
	ck_assert_msg(st.st_uid == 65534 && st.st_gid == 65534, "backing after chown: got %u:%u", st.st_uid,
		      st.st_gid);
	MNT_OK(fchown(fd, 0, 65534));
	MNT_OK(fchmod(fd, 0700)); /* Postfix: owner-x marks a finished file */
	MNT_OK(stat("qfCH", &st));
	ck_assert_msg(st.st_uid == 0 && st.st_gid == 65534 && (st.st_mode & 07777) == 0700,
		      "fchown/fchmod: got %u:%u %o, want 0:65534 700", st.st_uid, st.st_gid,
		      st.st_mode & 07777);
	MNT_OK(close(fd));
}
END_TEST

START_TEST(test_ops_utimens)
{
	struct timespec ts[2];
	struct stat st;
	time_t future = time(NULL) + 10 * 86400;
	int fd, b;

	ops_dir("ut");
	fd = MNT_OK(open("qfUT", O_CREAT | O_EXCL | O_WRONLY, 0600));
	b = ops_one("ut/qfUT");
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = future;
	ts[1].tv_nsec = 123456789;
	MNT_OK(utimensat(AT_FDCWD, "qfUT", ts, 0));
	MNT_OK(stat("qfUT", &st));
	ck_assert_msg(st.st_mtim.tv_sec == future && st.st_mtim.tv_nsec == 123456789,
		      "mtime: got %lld.%09ld, want %lld.123456789", (long long)st.st_mtim.tv_sec,
		      st.st_mtim.tv_nsec, (long long)future);
	ops_bstat(b, "ut/qfUT", &st);
	ck_assert_msg(st.st_mtim.tv_sec == future, "backing mtime: got %lld, want %lld",
		      (long long)st.st_mtim.tv_sec, (long long)future);
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = future + 60;
	ts[1].tv_nsec = 0;
	MNT_OK(futimens(fd, ts));
	MNT_OK(fstat(fd, &st));
	ck_assert_msg(st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == future + 60,
		      "futimens: got atime %lld mtime %lld, want 1000000000 %lld",
		      (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec, (long long)future + 60);
	MNT_OK(close(fd));
	MNT_OK(utimensat(AT_FDCWD, "qfUT", NULL, 0)); /* now */
	MNT_OK(stat("qfUT", &st));
	ck_assert_msg(st.st_mtim.tv_sec <= time(NULL) + 1, "utimensat(NULL): mtime still in the future");
}
END_TEST

START_TEST(test_ops_access)
{
	ops_dir("ac");
	MNT_OK(mnt_put("qfAC", "x", 0644));
	MNT_OK(access("qfAC", F_OK));
	MNT_OK(access("qfAC", R_OK | W_OK));
	MNT_ERR(access("qfAC", X_OK), EACCES); /* root too needs an x bit */
	MNT_ERR(access("qfNONE", F_OK), ENOENT);
	MNT_OK(access(".", R_OK | W_OK | X_OK));
}
END_TEST

START_TEST(test_ops_mkdir_rmdir)
{
	char p[PATH_MAX];
	struct stat st;
	int b;

	ops_dir("mk");
	MNT_OK(mkdir("dirA", 0750));
	MNT_OK(stat("dirA", &st));
	ck_assert_msg(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750, "dirA: got mode %o, want dir 750",
		      st.st_mode);
	for (b = 0; b < MNT_NDEFAULT; b++) {
		mnt_bpath(&ops_m, b, "mk/dirA", p, sizeof(p));
		ck_assert_msg(lstat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s: %s, want a directory", p,
			      strerror(errno));
		ck_assert_msg((st.st_mode & 07777) == 0750, "%s: mode %o, want 750", p, st.st_mode & 07777);
	}
	MNT_ERR(mkdir("dirA", 0755), EEXIST);
	MNT_OK(mkdir("dirA/sub", 0755));
	ck_assert_int_eq(mnt_where(&ops_m, "mk/dirA/sub", NULL), MNT_NDEFAULT);
	MNT_OK(mnt_put("dirA/qfIn", "x", 0600));
	MNT_ERR(rmdir("dirA"), ENOTEMPTY);
	MNT_ERR(unlink("dirA"), EISDIR);
	MNT_OK(unlink("dirA/qfIn"));
	MNT_ERR(unlink("dirA/qfIn"), ENOENT);
	MNT_ERR(rmdir("dirA"), ENOTEMPTY); /* sub is still there */
	MNT_OK(rmdir("dirA/sub"));
	MNT_OK(rmdir("dirA"));
	MNT_ERR(stat("dirA", &st), ENOENT);
	ck_assert_msg(mnt_where(&ops_m, "mk/dirA", NULL) == 0, "mk/dirA: still in %s",
		      mnt_where_list(&ops_m, "mk/dirA", p, sizeof(p)));
	MNT_ERR(rmdir("dirA"), ENOENT);
}
END_TEST

/* ops_seen - how often NAME occurs in V */
static int ops_seen(const struct mnt_dent *v, int n, const char *name)
{
	int i, c = 0;

	for (i = 0; i < n; i++)
		c += strcmp(v[i].name, name) == 0;
	return c;
}

START_TEST(test_ops_readdir)
{
	static const char *pfx[] = { "qf", "df", "xf", "zz", "tf" };
	struct mnt_dent *v;
	char name[64];
	int i, k, n, dots, want = 0;

	ops_dir("rd");
	for (i = 0; i < 40; i++) {
		for (k = 0; k < 5; k++) {
			mnt_fmt(name, sizeof(name), "%s%03d", pfx[k], i);
			MNT_OK(mnt_put(name, "x", 0600));
			want++;
		}
	}
	for (i = 0; i < 3; i++) {
		mnt_fmt(name, sizeof(name), "sub%d", i);
		MNT_OK(mkdir(name, 0755));
		want++;
	}
	n = mnt_readdir(".", &v, &dots);
	ck_assert_msg(n == want, "readdir: got %d entries, want %d", n, want);
	ck_assert_msg(dots == 17, "readdir: \".\" listed %d times, \"..\" %d times, want once each",
		      dots % 16, dots / 16);
	for (i = 0; i < 3; i++) {
		mnt_fmt(name, sizeof(name), "sub%d", i);
		ck_assert_msg(ops_seen(v, n, name) == 1, "%s listed %d times, want once", name,
			      ops_seen(v, n, name));
	}
	for (i = 0; i < n; i++) {
		ck_assert_msg(ops_seen(v, n, v[i].name) == 1, "%s listed %d times", v[i].name,
			      ops_seen(v, n, v[i].name));
		if (v[i].type != DT_UNKNOWN)
			ck_assert_msg(v[i].type == (strncmp(v[i].name, "sub", 3) == 0 ? DT_DIR : DT_REG),
				      "%s: d_type %d", v[i].name, v[i].type);
	}
	free(v);

	/* a new name is listed as soon as create/rename returns */
	MNT_OK(mnt_put("qfNEW", "x", 0600));
	n = mnt_readdir(".", &v, NULL);
	ck_assert_msg(ops_seen(v, n, "qfNEW") == 1, "qfNEW not listed right after create");
	free(v);
	MNT_OK(rename("qfNEW", "qfREN"));
	n = mnt_readdir(".", &v, NULL);
	ck_assert_msg(ops_seen(v, n, "qfREN") == 1 && ops_seen(v, n, "qfNEW") == 0,
		      "after rename: qfREN listed %d times, qfNEW %d times, want 1 and 0",
		      ops_seen(v, n, "qfREN"), ops_seen(v, n, "qfNEW"));
	free(v);
	MNT_OK(unlink("qfREN"));
	n = mnt_readdir(".", &v, NULL);
	ck_assert_msg(ops_seen(v, n, "qfREN") == 0, "qfREN still listed after unlink");
	free(v);

	n = mnt_readdir(ops_m.dir, &v, &dots);
	ck_assert_msg(n >= 0, "readdir root: %s", strerror(-n));
	ck_assert_msg(dots == 17, "readdir root: \".\" listed %d times, \"..\" %d times, want once each",
		      dots % 16, dots / 16);
	ck_assert_msg(ops_seen(v, n, ".queuefs") == 0, "root listing shows .queuefs");
	ck_assert_msg(ops_seen(v, n, "rd") == 1, "root lists rd %d times, want 1", ops_seen(v, n, "rd"));
	free(v);
}
END_TEST

START_TEST(test_ops_symlink)
{
	char buf[256], p[PATH_MAX];
	struct stat st;
	ssize_t n;
	int b;

	ops_dir("sl");
	MNT_OK(symlink("some/target", "slnk"));
	n = MNT_OK(readlink("slnk", buf, sizeof(buf) - 1));
	buf[n] = 0;
	ck_assert_str_eq(buf, "some/target");
	MNT_OK(lstat("slnk", &st));
	ck_assert_msg(S_ISLNK(st.st_mode) && st.st_size == 11, "lstat slnk: mode %o size %lld", st.st_mode,
		      (long long)st.st_size);
	b = ops_one("sl/slnk");
	n = readlink(mnt_bpath(&ops_m, b, "sl/slnk", p, sizeof(p)), buf, sizeof(buf) - 1);
	ck_assert_msg(n == 11, "backing readlink %s: %zd", p, n);
	MNT_OK(mnt_put("qfT", "target data", 0600));
	MNT_OK(symlink("qfT", "sl2"));
	MNT_CONTENT("sl2", "target data");
	MNT_ERR(symlink("x", "slnk"), EEXIST);
	MNT_OK(unlink("slnk"));
	ck_assert_int_eq(mnt_where(&ops_m, "sl/slnk", NULL), 0);
}
END_TEST

START_TEST(test_ops_link)
{
	struct stat a, b;

	ops_dir("ln");
	MNT_OK(mnt_put("dfL1", "linkdata", 0600));
	MNT_OK(link("dfL1", "dfL2"));
	MNT_OK(stat("dfL1", &a));
	MNT_OK(stat("dfL2", &b));
	ck_assert_msg(a.st_nlink == 2 && b.st_nlink == 2, "nlink: got %lu and %lu, want 2",
		      (unsigned long)a.st_nlink, (unsigned long)b.st_nlink);
	ck_assert_msg(a.st_ino == b.st_ino, "st_ino: got %llu and %llu, want equal",
		      (unsigned long long)a.st_ino, (unsigned long long)b.st_ino);
	MNT_CONTENT("dfL2", "linkdata");
	ck_assert_int_eq(ops_one("ln/dfL1"), ops_one("ln/dfL2"));

	/* sendmail links df files of different ids: the link stays with its source */
	MNT_OK(mnt_put("qfL3", "control", 0600));
	MNT_OK(link("qfL3", "qfOtherId"));
	ck_assert_int_eq(ops_one("ln/qfL3"), ops_one("ln/qfOtherId"));
	MNT_OK(mkdir("sub", 0755));
	MNT_OK(link("dfL1", "sub/dfL3"));
	MNT_OK(stat("dfL2", &b));
	ck_assert_msg(b.st_nlink == 3, "nlink after a third link: got %lu, want 3",
		      (unsigned long)b.st_nlink);
	MNT_ERR(link("dfL1", "qfL3"), EEXIST);
	MNT_OK(unlink("dfL1"));
	MNT_OK(stat("dfL2", &b));
	ck_assert_msg(b.st_nlink == 2, "nlink after unlink: got %lu, want 2", (unsigned long)b.st_nlink);
	MNT_CONTENT("sub/dfL3", "linkdata");
	MNT_ERR(link("dfL1", "dfL4"), ENOENT);
}
END_TEST

START_TEST(test_ops_rename)
{
	struct stat a, b;
	int src;

	ops_dir("rn");
	MNT_OK(mnt_put("tfR1", "r1", 0600));
	MNT_OK(stat("tfR1", &a));
	src = ops_one("rn/tfR1");
	MNT_OK(rename("tfR1", "tfR2"));
	MNT_ERR(stat("tfR1", &b), ENOENT);
	MNT_OK(stat("tfR2", &b));
	ck_assert_msg(a.st_ino == b.st_ino, "rename changed st_ino: %llu -> %llu",
		      (unsigned long long)a.st_ino, (unsigned long long)b.st_ino);
	MNT_CONTENT("tfR2", "r1");
	ck_assert_int_eq(ops_one("rn/tfR2"), src);
	ck_assert_int_eq(mnt_where(&ops_m, "rn/tfR1", NULL), 0);

	/* across directories */
	MNT_OK(mkdir("a", 0755));
	MNT_OK(mkdir("b", 0755));
	MNT_OK(mnt_put("a/qfX", "x", 0600));
	src = ops_one("rn/a/qfX");
	MNT_OK(rename("a/qfX", "b/qfX"));
	MNT_ERR(stat("a/qfX", &b), ENOENT);
	MNT_CONTENT("b/qfX", "x");
	ck_assert_int_eq(ops_one("rn/b/qfX"), src);
	ck_assert_int_eq(mnt_where(&ops_m, "rn/a/qfX", NULL), 0);

	/* RENAME_NOREPLACE */
	MNT_OK(mnt_put("tfN1", "n1", 0600));
	MNT_OK(mnt_put("tfN2", "n2", 0600));
	MNT_ERR(renameat2(AT_FDCWD, "tfN1", AT_FDCWD, "tfN2", RENAME_NOREPLACE), EEXIST);
	MNT_CONTENT("tfN1", "n1");
	MNT_CONTENT("tfN2", "n2");
	MNT_OK(renameat2(AT_FDCWD, "tfN1", AT_FDCWD, "tfN3", RENAME_NOREPLACE));
	MNT_CONTENT("tfN3", "n1");
	MNT_ERR(stat("tfN1", &b), ENOENT);

	/* RENAME_EXCHANGE on one backing: tfE1 and qfE1 share the key E1 */
	MNT_OK(mnt_put("tfE1", "T", 0600));
	MNT_OK(mnt_put("qfE1", "Q", 0600));
	ck_assert_msg(ops_one("rn/tfE1") == ops_one("rn/qfE1"), "tfE1 and qfE1 on different shards");
	MNT_OK(renameat2(AT_FDCWD, "tfE1", AT_FDCWD, "qfE1", RENAME_EXCHANGE));
	MNT_CONTENT("tfE1", "Q");
	MNT_CONTENT("qfE1", "T");
	/* ... and across backings: EINVAL, nothing changes */
	MNT_OK(mnt_put("dfE2", "D", 0600));
	MNT_OK(mnt_put("qfE2", "Q", 0600));
	MNT_ERR(renameat2(AT_FDCWD, "dfE2", AT_FDCWD, "qfE2", RENAME_EXCHANGE), EINVAL);
	MNT_CONTENT("dfE2", "D");
	MNT_CONTENT("qfE2", "Q");

	/* a directory: every copy moves */
	MNT_OK(mkdir("dA", 0755));
	MNT_OK(mnt_put("dA/qfIn", "in", 0600));
	MNT_OK(rename("dA", "dB"));
	MNT_CONTENT("dB/qfIn", "in");
	ck_assert_int_eq(mnt_where(&ops_m, "rn/dB", NULL), MNT_NDEFAULT);
	ck_assert_int_eq(mnt_where(&ops_m, "rn/dA", NULL), 0);
	MNT_ERR(rename("tfN3", "dB"), EISDIR);
	MNT_ERR(rename("tfNONE", "tfN4"), ENOENT);
}
END_TEST

START_TEST(test_ops_fifo)
{
	struct stat st;
	char c = 0;
	int fd;

	ops_dir("ff");
	MNT_OK(mknod("fifo", S_IFIFO | 0600, 0));
	MNT_OK(stat("fifo", &st));
	ck_assert_msg(S_ISFIFO(st.st_mode), "fifo: mode %o, want a FIFO", st.st_mode);
	ops_one("ff/fifo");
	fd = MNT_OK(open("fifo", O_RDWR | O_NONBLOCK));
	ck_assert_int_eq(write(fd, "z", 1), 1);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	ck_assert_int_eq(c, 'z');
	MNT_OK(close(fd));
	MNT_ERR(mknod("fifo", S_IFIFO | 0600, 0), EEXIST);
	MNT_OK(unlink("fifo"));
}
END_TEST

START_TEST(test_ops_socket)
{
	struct sockaddr_un sa;
	struct stat st;
	char buf[8] = { 0 };
	int s, c, st_child;
	pid_t pid;

	ops_dir("so");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, "sock"); /* relative: the cwd is in the mount */
	s = MNT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	MNT_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	MNT_OK(listen(s, 4));
	MNT_OK(stat("sock", &st));
	ck_assert_msg(S_ISSOCK(st.st_mode), "sock: mode %o, want a socket", st.st_mode);
	ops_one("so/sock");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    write(fd, "ping", 4) != 4)
			_exit(1);
		_exit(0);
	}
	c = MNT_OK(accept(s, NULL, NULL));
	ck_assert_int_eq(read(c, buf, 4), 4);
	ck_assert_str_eq(buf, "ping");
	waitpid(pid, &st_child, 0);
	ck_assert_msg(WIFEXITED(st_child) && WEXITSTATUS(st_child) == 0, "connect from a child failed");
	close(c);
	close(s);
	MNT_OK(unlink("sock"));
}
END_TEST

START_TEST(test_ops_statfs)
{
	struct statvfs mv, bv;
	double mbytes, bbytes;

	mnt_enter(&ops_m, NULL);
	MNT_OK(statvfs(".", &mv));
	MNT_OK(statvfs(ops_m.back[MNT_C1], &bv));
	ck_assert_msg(mv.f_blocks > 0 && mv.f_bavail > 0 && mv.f_ffree > 0 && mv.f_files > 0,
		      "statfs: blocks %llu bavail %llu files %llu ffree %llu, want all > 0",
		      (unsigned long long)mv.f_blocks, (unsigned long long)mv.f_bavail,
		      (unsigned long long)mv.f_files, (unsigned long long)mv.f_ffree);
	/* all backings share one file system here: the least free class is it */
	mbytes = (double)mv.f_bavail * mv.f_frsize;
	bbytes = (double)bv.f_bavail * bv.f_frsize;
	ck_assert_msg(mbytes <= bbytes * 1.05 && mbytes >= bbytes * 0.5,
		      "f_bavail: got %.0f bytes, backing file system has %.0f", mbytes, bbytes);
	if (bv.f_files > 0)
		ck_assert_msg(mv.f_ffree <= bv.f_ffree * 1.05 && mv.f_ffree >= bv.f_ffree / 2,
			      "f_ffree: got %llu, backing file system has %llu",
			      (unsigned long long)mv.f_ffree, (unsigned long long)bv.f_ffree);
}
END_TEST

START_TEST(test_ops_fsync)
{
	int fd, dfd;

	ops_dir("fs");
	fd = MNT_OK(open("qfFS", O_CREAT | O_EXCL | O_WRONLY, 0600));
	ck_assert_int_eq(write(fd, "sync", 4), 4);
	MNT_OK(fsync(fd));
	MNT_OK(fdatasync(fd));
	MNT_OK(close(fd));
	dfd = MNT_OK(open(".", O_RDONLY | O_DIRECTORY));
	MNT_OK(fsync(dfd));
	MNT_OK(fdatasync(dfd));
	MNT_OK(close(dfd));
	dfd = MNT_OK(open(ops_m.dir, O_RDONLY | O_DIRECTORY));
	MNT_OK(fsync(dfd));
	MNT_OK(close(dfd));
}
END_TEST

START_TEST(test_ops_hidden_meta)
{
	static const char *cls[MNT_NDEFAULT] = { "control", "control", "control", "data", "transcript" };
	char v[256], fsid[256], want[16];
	struct stat st;
	int b;

	mnt_enter(&ops_m, NULL);
	MNT_ERR(stat(".queuefs", &st), ENOENT);
	MNT_ERR(lstat(".queuefs/manifest", &st), ENOENT);
	MNT_ERR(open(".queuefs", O_CREAT | O_WRONLY, 0600), EPERM);
	MNT_ERR(mkdir(".queuefs", 0755), EPERM);
	MNT_ERR(symlink("x", ".queuefs"), EPERM);
	MNT_ERR(mknod(".queuefs", S_IFIFO | 0600, 0), EPERM);
	MNT_OK(mnt_put("qfHID", "x", 0600));
	MNT_ERR(rename("qfHID", ".queuefs"), EPERM);
	MNT_OK(unlink("qfHID"));

	for (b = 0; b < MNT_NDEFAULT; b++) {
		ck_assert_msg(mnt_manifest(&ops_m, b, "fsid", v, sizeof(v)) == 0, "%s: no fsid in manifest",
			      ops_m.back[b]);
		if (b == 0)
			mnt_fmt(fsid, sizeof(fsid), "%s", v);
		ck_assert_msg(strcmp(v, fsid) == 0, "%s: fsid %s, want %s as on c1", ops_m.back[b], v, fsid);
		ck_assert_msg(mnt_manifest(&ops_m, b, "backing", v, sizeof(v)) == 0, "%s: no backing line",
			      ops_m.back[b]);
		mnt_fmt(want, sizeof(want), "%d", b);
		ck_assert_msg(strcmp(v, want) == 0, "%s: backing = %s, want %s (config order)", ops_m.back[b],
			      v, want);
		ck_assert_msg(mnt_manifest(&ops_m, b, "class", v, sizeof(v)) == 0 && strcmp(v, cls[b]) == 0,
			      "%s: class = %s, want %s", ops_m.back[b], v, cls[b]);
		ck_assert_msg(mnt_manifest(&ops_m, b, "shard", v, sizeof(v)) == 0, "%s: no shard line",
			      ops_m.back[b]);
		ck_assert_msg(mnt_manifest(&ops_m, b, "generation", v, sizeof(v)) == 0,
			      "%s: no generation line", ops_m.back[b]);
		ck_assert_msg(mnt_manifest(&ops_m, b, "layout", v, sizeof(v)) == 0, "%s: no layout line",
			      ops_m.back[b]);
	}
}
END_TEST

START_TEST(test_ops_dir_attrs)
{
	struct timespec ts[2];
	struct stat st;
	char rel[] = "da/d";
	time_t future = time(NULL) + 86400;
	int b;

	ops_dir("da");
	MNT_OK(mkdir("d", 0755));
	MNT_OK(mnt_put("d/qfX", "x", 0600));
	MNT_OK(chmod("d", 0710));
	MNT_OK(chown("d", 65534, 65534));
	MNT_OK(stat("d", &st));
	ck_assert_msg((st.st_mode & 07777) == 0710 && st.st_uid == 65534 && st.st_gid == 65534,
		      "through the mount: got %o %u:%u, want 710 65534:65534", st.st_mode & 07777, st.st_uid,
		      st.st_gid);
	for (b = 0; b < MNT_NDEFAULT; b++) {
		ops_bstat(b, rel, &st);
		ck_assert_msg((st.st_mode & 07777) == 0710 && st.st_uid == 65534 && st.st_gid == 65534,
			      "%s copy of %s: got %o %u:%u, want 710 65534:65534", mnt_back_name[b], rel,
			      st.st_mode & 07777, st.st_uid, st.st_gid);
	}
	ts[0].tv_sec = future;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = future;
	ts[1].tv_nsec = 0;
	MNT_OK(utimensat(AT_FDCWD, "d", ts, 0));
	MNT_OK(stat("d", &st));
	ck_assert_msg(st.st_mtim.tv_sec == future, "dir mtime: got %lld, want %lld",
		      (long long)st.st_mtim.tv_sec, (long long)future);
}
END_TEST

START_TEST(test_ops_open_unlinked)
{
	char buf[32];
	struct stat st, st2;
	ssize_t n;
	int fd, fq, ft;

	ops_dir("ou");
	fd = MNT_OK(open("qfOU", O_CREAT | O_EXCL | O_RDWR, 0644));
	ck_assert_int_eq(write(fd, "abc", 3), 3);
	MNT_OK(unlink("qfOU"));
	MNT_ERR(stat("qfOU", &st), ENOENT);
	ck_assert_int_eq(write(fd, "def", 3), 3);
	MNT_OK(fsync(fd));
	MNT_OK(fchmod(fd, 0600));
	MNT_OK(fstat(fd, &st));
	ck_assert_msg(st.st_nlink == 0 && st.st_size == 6 && (st.st_mode & 07777) == 0600,
		      "unlinked fd: got nlink %lu size %lld mode %o, want 0 6 600",
		      (unsigned long)st.st_nlink, (long long)st.st_size, st.st_mode & 07777);
	n = MNT_OK(pread(fd, buf, sizeof(buf) - 1, 0));
	buf[n] = 0;
	ck_assert_str_eq(buf, "abcdef");
	MNT_OK(close(fd));
	ck_assert_int_eq(mnt_where(&ops_m, "ou/qfOU", NULL), 0);

	/* Postfix: rename while open, then write, fchmod, fsync through the fd */
	fd = MNT_OK(open("tfRO", O_CREAT | O_EXCL | O_RDWR, 0600));
	ck_assert_int_eq(write(fd, "one", 3), 3);
	MNT_OK(rename("tfRO", "qfRO"));
	ck_assert_int_eq(write(fd, "two", 3), 3);
	MNT_OK(fsync(fd));
	MNT_OK(fchmod(fd, 0700));
	MNT_OK(fstat(fd, &st));
	MNT_OK(stat("qfRO", &st2));
	ck_assert_msg(st.st_ino == st2.st_ino && (st2.st_mode & 07777) == 0700 && st2.st_size == 6,
		      "qfRO: ino %llu/%llu mode %o size %lld", (unsigned long long)st.st_ino,
		      (unsigned long long)st2.st_ino, st2.st_mode & 07777, (long long)st2.st_size);
	MNT_OK(close(fd));
	MNT_CONTENT("qfRO", "onetwo");

	/* sendmail: tf renamed over a qf that is still open */
	fq = MNT_OK(open("qfOV", O_CREAT | O_EXCL | O_RDWR, 0600));
	ck_assert_int_eq(write(fq, "old", 3), 3);
	ft = MNT_OK(open("tfOV", O_CREAT | O_EXCL | O_RDWR, 0600));
	ck_assert_int_eq(write(ft, "new", 3), 3);
	MNT_OK(rename("tfOV", "qfOV"));
	MNT_CONTENT("qfOV", "new");
	ck_assert_int_eq(write(fq, "+", 1), 1);
	MNT_OK(fsync(fq));
	MNT_OK(fchmod(fq, 0640));
	MNT_OK(fstat(fq, &st));
	ck_assert_msg(st.st_nlink == 0 && st.st_size == 4, "replaced qf fd: nlink %lu size %lld, want 0 4",
		      (unsigned long)st.st_nlink, (long long)st.st_size);
	MNT_OK(fstat(ft, &st));
	MNT_OK(stat("qfOV", &st2));
	ck_assert_msg(st.st_ino == st2.st_ino, "qfOV: stat ino %llu, fstat of the tf fd %llu",
		      (unsigned long long)st2.st_ino, (unsigned long long)st.st_ino);
	MNT_OK(close(fq));
	MNT_OK(close(ft));
	ck_assert_int_eq(mnt_where(&ops_m, "ou/tfOV", NULL), 0);
	ops_one("ou/qfOV");
}
END_TEST

/* ops_lock_probe - in a child: can another process take the byte lock? */
static int ops_lock_probe(int me, void *arg, char *err, size_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19 };
	pid_t holder = *(pid_t *)arg;
	int fd = open("qfLK", O_RDWR);

	(void)me;
	if (fd < 0)
		return mnt_fail(err, len, "child: open qfLK");
	errno = 0;
	if (fcntl(fd, F_SETLK, &fl) == 0 || (errno != EAGAIN && errno != EACCES)) {
		mnt_fmt(err, len, "F_SETLK on a held range: got %s, want EAGAIN",
			errno ? strerror(errno) : "success");
		return -1;
	}
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return mnt_fail(err, len, "F_GETLK");
	if (fl.l_type != F_WRLCK || fl.l_pid != holder) {
		mnt_fmt(err, len, "F_GETLK: type %d pid %d, want F_WRLCK by %d", fl.l_type, (int)fl.l_pid,
			(int)holder);
		return -1;
	}
	fl.l_type = F_WRLCK;
	fl.l_start = 100;
	fl.l_len = 10;
	if (fcntl(fd, F_SETLK, &fl) < 0)
		return mnt_fail(err, len, "F_SETLK on a free range");
	errno = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		mnt_fmt(err, len, "flock of a flock'ed file: got %s, want EWOULDBLOCK",
			errno ? strerror(errno) : "success");
		return -1;
	}
	close(fd);
	return 0;
}

/* ops_lock_free - in a child: the range is free again */
static int ops_lock_free(int me, void *arg, char *err, size_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19 };
	int fd = open("qfLK", O_RDWR);

	(void)me;
	(void)arg;
	if (fd < 0)
		return mnt_fail(err, len, "child: open qfLK");
	if (fcntl(fd, F_SETLK, &fl) < 0)
		return mnt_fail(err, len, "F_SETLK after the holder unlocked");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return mnt_fail(err, len, "flock after the holder closed");
	close(fd);
	return 0;
}

START_TEST(test_ops_locks)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19 };
	char err[512];
	pid_t me = getpid();
	int fd, fd2;

	ops_dir("lk");
	fd = MNT_OK(open("qfLK", O_CREAT | O_EXCL | O_RDWR, 0600));
	ck_assert_int_eq(write(fd, "0123456789abcdefghijklmnop", 26), 26);
	MNT_OK(fcntl(fd, F_SETLK, &fl)); /* Exim: bytes 0-18 of -D */
	fd2 = MNT_OK(open("qfLK", O_RDONLY));
	MNT_OK(flock(fd2, LOCK_EX)); /* sendmail, Postfix */
	ck_assert_msg(mnt_workers(1, ops_lock_probe, &me, err, sizeof(err)) == 0, "%s", err);
	fl.l_type = F_UNLCK;
	MNT_OK(fcntl(fd, F_SETLK, &fl));
	MNT_OK(close(fd2));
	ck_assert_msg(mnt_workers(1, ops_lock_free, NULL, err, sizeof(err)) == 0, "%s", err);
	MNT_OK(close(fd));
}
END_TEST

START_TEST(test_ops_odd_names)
{
	static const char *odd[] = { "qf with space", "qf\ttab", "qf\nnewline", "qf\xff\xfe",
				     "qf*?[",	      "-qfdash", "qf\\back" };
	char longname[300], rel[400], list[64];
	struct mnt_dent *v;
	struct stat st;
	int i, n, k, found;

	ops_dir("odd");
	for (i = 0; i < (int)(sizeof(odd) / sizeof(odd[0])); i++) {
		MNT_OK(mnt_put(odd[i], odd[i], 0600));
		MNT_CONTENT(odd[i], odd[i]);
		n = mnt_where(&ops_m, mnt_fmt(rel, sizeof(rel), "odd/%s", odd[i]), NULL);
		ck_assert_msg(n == 1, "odd name #%d: in %d backings (%s), want 1", i, n,
			      mnt_where_list(&ops_m, rel, list, sizeof(list)));
	}
	n = mnt_readdir(".", &v, NULL);
	for (i = 0; i < (int)(sizeof(odd) / sizeof(odd[0])); i++) {
		for (found = 0, k = 0; k < n; k++)
			found += strcmp(v[k].name, odd[i]) == 0;
		ck_assert_msg(found == 1, "odd name #%d listed %d times, want once", i, found);
	}
	free(v);
	for (i = 0; i < (int)(sizeof(odd) / sizeof(odd[0])); i++)
		MNT_OK(unlink(odd[i]));

	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "qf", 2);
	longname[255] = 0;
	MNT_OK(mnt_put(longname, "long", 0600));
	MNT_OK(stat(longname, &st));
	ck_assert_int_eq(mnt_where(&ops_m, mnt_fmt(rel, sizeof(rel), "odd/%s", longname), NULL), 1);
	MNT_OK(unlink(longname));
	longname[255] = 'a';
	longname[256] = 0;
	MNT_ERR(open(longname, O_CREAT | O_WRONLY, 0600), ENAMETOOLONG);
	MNT_ERR(stat(longname, &st), ENAMETOOLONG);
	MNT_ERR(mkdir(longname, 0755), ENAMETOOLONG);
}
END_TEST

/* A directory renamed onto a non-empty one: refused, and nothing lost on any backing. */
START_TEST(test_ops_rename_dir_nonempty)
{
	struct stat st;
	int n;

	mnt_enter(&ops_m, NULL);
	MNT_OK(mkdir("rdA", 0755));
	MNT_OK(mkdir("rdB", 0755));
	MNT_OK(mnt_put("rdB/qfKEEP", "keep", 0600));
	MNT_ERR(rename("rdA", "rdB"), ENOTEMPTY);
	n = mnt_where(&ops_m, "rdB", NULL);
	ck_assert_msg(n == MNT_NDEFAULT, "rdB has %d copies after the refused rename, want %d", n,
		      MNT_NDEFAULT);
	ck_assert_int_eq(mnt_where(&ops_m, "rdA", NULL), MNT_NDEFAULT);
	MNT_CONTENT("rdB/qfKEEP", "keep");
	/* Directory times follow a create on any backing. */
	MNT_OK(stat("rdB", &st));
	MNT_OK(unlink("rdB/qfKEEP"));
	MNT_OK(rename("rdA", "rdB"));
	ck_assert_int_eq(mnt_where(&ops_m, "rdA", NULL), 0);
	ck_assert_int_eq(mnt_where(&ops_m, "rdB", NULL), MNT_NDEFAULT);
	MNT_OK(rmdir("rdB"));
}
END_TEST

/* A create on any backing moves the directory's mtime and ctime forward. */
START_TEST(test_ops_dir_times)
{
	struct stat before, after;
	char name[32];

	mnt_enter(&ops_m, NULL);
	MNT_OK(mkdir("dtimes", 0755));
	for (int i = 0; i < 12; i++) {
		MNT_OK(stat("dtimes", &before));
		usleep(20000);
		snprintf(name, sizeof(name), "dtimes/qfT%02d", i);
		MNT_OK(mnt_put(name, "x", 0600));
		MNT_OK(stat("dtimes", &after));
		ck_assert_msg(after.st_mtim.tv_sec > before.st_mtim.tv_sec ||
				      (after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
				       after.st_mtim.tv_nsec > before.st_mtim.tv_nsec),
			      "creating %s did not move the directory's mtime", name);
	}
}
END_TEST

/* Times of a symlink itself (AT_SYMLINK_NOFOLLOW), and of its target through it. */
START_TEST(test_ops_symlink_times)
{
	struct timespec t1[2] = { { 1900000000, 0 }, { 1950000000, 0 } },
			t2[2] = { { 1960000000, 0 }, { 1970000000, 0 } };
	struct stat st;

	mnt_enter(&ops_m, NULL);
	MNT_OK(mnt_put("qfSLT", "t", 0600));
	MNT_OK(symlink("qfSLT", "qfSLL"));
	MNT_OK(utimensat(AT_FDCWD, "qfSLL", t2, AT_SYMLINK_NOFOLLOW));
	MNT_OK(utimensat(AT_FDCWD, "qfSLL", t1, 0));
	MNT_OK(lstat("qfSLL", &st));
	ck_assert_msg(st.st_mtim.tv_sec == 1970000000, "symlink mtime: got %ld, want 1970000000",
		      (long)st.st_mtim.tv_sec);
	MNT_OK(lstat("qfSLT", &st));
	ck_assert_msg(st.st_mtim.tv_sec == 1950000000, "target mtime: got %ld, want 1950000000",
		      (long)st.st_mtim.tv_sec);
	MNT_OK(unlink("qfSLL"));
	MNT_OK(unlink("qfSLT"));
}
END_TEST

/* A tree deeper than PATH_MAX from the mount root, walked with chdir as any process may. */
START_TEST(test_ops_deep_path)
{
	char name[250];
	int depth = 0;

	mnt_enter(&ops_m, NULL);
	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	MNT_OK(mkdir("deep", 0755));
	MNT_OK(chdir("deep"));
	for (depth = 0; depth < 20; depth++) { /* 20 x 250 bytes: 5000 > PATH_MAX */
		MNT_OK(mkdir(name, 0755));
		MNT_OK(chdir(name));
	}
	MNT_OK(mnt_put("qfDEEP", "deep", 0600));
	MNT_CONTENT("qfDEEP", "deep");
	MNT_OK(unlink("qfDEEP"));
	for (; depth > 0; depth--) {
		MNT_OK(chdir(".."));
		MNT_OK(rmdir(name));
	}
}
END_TEST

Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("ops");

	tcase_add_unchecked_fixture(tc, ops_up, ops_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ops_read_write);
	tcase_add_test(tc, test_ops_stat);
	tcase_add_test(tc, test_ops_chmod_chown);
	tcase_add_test(tc, test_ops_utimens);
	tcase_add_test(tc, test_ops_access);
	tcase_add_test(tc, test_ops_mkdir_rmdir);
	tcase_add_test(tc, test_ops_readdir);
	tcase_add_test(tc, test_ops_symlink);
	tcase_add_test(tc, test_ops_link);
	tcase_add_test(tc, test_ops_rename);
	tcase_add_test(tc, test_ops_fifo);
	tcase_add_test(tc, test_ops_socket);
	tcase_add_test(tc, test_ops_statfs);
	tcase_add_test(tc, test_ops_fsync);
	tcase_add_test(tc, test_ops_hidden_meta);
	tcase_add_test(tc, test_ops_dir_attrs);
	tcase_add_test(tc, test_ops_open_unlinked);
	tcase_add_test(tc, test_ops_locks);
	tcase_add_test(tc, test_ops_odd_names);
	tcase_add_test(tc, test_ops_rename_dir_nonempty);
	tcase_add_test(tc, test_ops_dir_times);
	tcase_add_test(tc, test_ops_symlink_times);
	tcase_add_test(tc, test_ops_deep_path);
	suite_add_tcase(s, tc);
	return s;
}
