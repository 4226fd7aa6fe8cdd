/*
 * NAME
 *	check_manifest.c - mount-time checks, crashes and unmount
 *
 * DESCRIPTION
 *	Every test makes its own layouts and starts and stops its own
 *	daemons (the fixture only reaps what a failed test leaves).
 *	refuse: a missing backing, a non-empty backing on first mount, an
 *	empty persistent backing later, a backing of another queuefs, a
 *	shard added or removed, a malformed config: the daemon exits
 *	non-zero, nothing is mounted, the backings are untouched and stderr
 *	says why. accept: an emptied volatile backing, -o migrate. crash:
 *	kill -9 keeps fsynced files; duplicate names found at mount resolve
 *	to the newer copy and quarantine the other. unmount: clean exit 0.
 *
 * DIAGNOSTICS
 *	Failures quote the daemon's stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mnt.h"

static const char conf_c4[] = "preset = sendmail\n"
			      "[class control]\n"
			      "shards = {B}/c1 {B}/c2 {B}/c3 {B}/c4\n"
			      "[class data]\n"
			      "shards = {B}/d1\n"
			      "[class transcript]\n"
			      "shards = {B}/x1\n";

static const char conf_no_c3[] = "preset = sendmail\n"
				 "[class control]\n"
				 "shards = {B}/c1 {B}/c2\n"
				 "[class data]\n"
				 "shards = {B}/d1\n"
				 "[class transcript]\n"
				 "shards = {B}/x1\n";

/* errors on lines 3 and 5 */
static const char conf_bad[] = "preset = sendmail\n"
			       "[class control]\n"
			       "frobnicate = yes\n"
			       "shards = {B}/c1 {B}/c2 {B}/c3\n"
			       "key = strip-prefix:abc\n"
			       "[class data]\n"
			       "shards = {B}/d1\n"
			       "[class transcript]\n"
			       "shards = {B}/x1\n";

static void man_up(void)
{
}

static void man_down(void)
{
	mnt_reap(mnt_test_dir());
}

/* man_fresh - a layout in the test's own process */
static void man_fresh(struct mnt *m, const char *tag, const char *conf)
{
	ck_assert_msg(mnt_layout(m, tag, conf) == 0, "layout: %s", m->why);
}

/* man_cycle - mount, put a few files in, unmount cleanly */
static void man_cycle(struct mnt *m, const char *opts)
{
	char p[PATH_MAX];
	int st;

	ck_assert_msg(mnt_start(m, opts) == 0, "mount: %s", m->why);
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/qfKEEP1", m->dir), "keep qf", 0600));
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/dfKEEP1", m->dir), "keep df", 0600));
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/xfKEEP1", m->dir), "keep xf", 0600));
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/tfKEEP2", m->dir), "keep tf", 0600));
	MNT_OK(mkdir(mnt_fmt(p, sizeof(p), "%s/sub", m->dir), 0755));
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/sub/xfKEEP3", m->dir), "keep xf", 0600));
	st = mnt_stop(m);
	ck_assert_msg(st == 0, "daemon exit status %d after unmount, want 0 (%s)", st, m->why);
}

/* man_refuse - the daemon must refuse, mention NEEDLE, change nothing */
static void man_refuse(struct mnt *m, const char *opts, const char *needle, const char *what)
{
	char *before = mnt_snapshot(m), *after;
	int st = mnt_refused(m, opts);

	ck_assert_msg(st > 0 && st < 128, "%s: got status %d, want a non-zero exit (%s)", what, st, m->why);
	ck_assert_msg(!mnt_mounted(m->dir), "%s: %s is mounted", what, m->dir);
	ck_assert_msg(!needle || strstr(m->why, needle), "%s: stderr does not mention %s: %s", what, needle,
		      m->why);
	after = mnt_snapshot(m);
	ck_assert_msg(strcmp(before, after) == 0,
		      "%s: the refused mount changed the backings:\nbefore:\n%s\nafter:\n%s", what, before,
		      after);
	free(before);
	free(after);
}

START_TEST(test_refuse_missing_backing)
{
	struct mnt m;

	man_fresh(&m, "missing", NULL);
	MNT_OK(rmdir(m.back[MNT_D1]));
	man_refuse(&m, NULL, m.back[MNT_D1], "missing d1");
}
END_TEST

START_TEST(test_refuse_nonempty_first_mount)
{
	char p[PATH_MAX];
	struct mnt m;

	man_fresh(&m, "nonempty", NULL);
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/junk", m.back[MNT_C2]), "junk", 0644));
	man_refuse(&m, NULL, m.back[MNT_C2], "non-empty c2 without manifest");
	ck_assert_msg(access(mnt_fmt(p, sizeof(p), "%s/.queuefs", m.back[MNT_C1]), F_OK) < 0,
		      "refused first mount left %s", p);
}
END_TEST

START_TEST(test_refuse_empty_persistent)
{
	struct mnt m;

	man_fresh(&m, "empty", NULL);
	man_cycle(&m, NULL);
	/* the disk behind c2 "is not mounted": an empty directory */
	MNT_OK(mnt_rm_rf(m.back[MNT_C2]));
	MNT_OK(mkdir(m.back[MNT_C2], 0755));
	man_refuse(&m, NULL, m.back[MNT_C2], "empty persistent c2");
}
END_TEST

START_TEST(test_refuse_foreign_backing)
{
	char a_man[PATH_MAX], b_man[PATH_MAX], text[4096], fa[256], fb[256];
	struct mnt a, b;

	man_fresh(&a, "forA", NULL);
	man_fresh(&b, "forB", NULL);
	man_cycle(&a, NULL);
	man_cycle(&b, NULL);
	ck_assert_msg(mnt_manifest(&a, MNT_C2, "fsid", fa, sizeof(fa)) == 0 &&
			      mnt_manifest(&b, MNT_C2, "fsid", fb, sizeof(fb)) == 0,
		      "no fsid in the manifests");
	ck_assert_msg(strcmp(fa, fb) != 0, "two fresh queuefs got the same fsid %s", fa);
	mnt_fmt(a_man, sizeof(a_man), "%s/.queuefs/manifest", a.back[MNT_C2]);
	mnt_fmt(b_man, sizeof(b_man), "%s/.queuefs/manifest", b.back[MNT_C2]);
	ck_assert_msg(mnt_get(b_man, text, sizeof(text)) > 0, "read %s", b_man);
	MNT_OK(mnt_put(a_man, text, 0644));
	man_refuse(&a, NULL, a.back[MNT_C2], "c2 of another queuefs");
}
END_TEST

START_TEST(test_refuse_layout_change_then_migrate)
{
	char p[PATH_MAX], v[64];
	struct mnt m;
	int st, i;

	man_fresh(&m, "migrate", NULL);
	man_cycle(&m, NULL);
	MNT_OK(mkdir(m.back[MNT_C4], 0755));
	MNT_OK(mnt_write_conf(&m, conf_c4));
	man_refuse(&m, NULL, NULL, "control shard c4 added");
	MNT_OK(mnt_write_conf(&m, conf_no_c3));
	man_refuse(&m, NULL, NULL, "control shard c3 removed");

	MNT_OK(mnt_write_conf(&m, conf_c4));
	ck_assert_msg(mnt_start(&m, "migrate") == 0, "-o migrate with c4 added: %s", m.why);
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/qfKEEP1", m.dir), "keep qf");
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/dfKEEP1", m.dir), "keep df");
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/tfKEEP2", m.dir), "keep tf");
	for (i = 0; i < 60; i++)
		MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/qfNEW%03d", m.dir, i), "new", 0600));
	ck_assert_msg(mnt_manifest(&m, MNT_C4, "fsid", v, sizeof(v)) == 0,
		      "c4 has no manifest after migrate");
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);
	/* the new layout is now the recorded one */
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount after migrate, without -o migrate: %s", m.why);
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/qfKEEP1", m.dir), "keep qf");
	for (i = 0; i < 60; i++)
		MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/qfNEW%03d", m.dir, i), "new");
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);
}
END_TEST

START_TEST(test_accept_volatile_emptied)
{
	char p[PATH_MAX];
	struct mnt m;
	int st, b;

	man_fresh(&m, "volatile", NULL);
	man_cycle(&m, NULL);
	/* x1 is tmpfs after a reboot */
	MNT_OK(mnt_rm_rf(m.back[MNT_X1]));
	MNT_OK(mkdir(m.back[MNT_X1], 0755));
	ck_assert_msg(mnt_start(&m, NULL) == 0, "emptied volatile x1: %s", m.why);
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/qfKEEP1", m.dir), "keep qf");
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/dfKEEP1", m.dir), "keep df");
	MNT_ERR(access(mnt_fmt(p, sizeof(p), "%s/xfKEEP1", m.dir), F_OK), ENOENT);
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/xfNEW", m.dir), "x", 0600));
	ck_assert_msg(mnt_where(&m, "xfNEW", &b) == 1 && b == MNT_X1, "xfNEW: not on x1 alone");
	/* sub/ spans the backings but is gone from the emptied x1 */
	MNT_ERR(access(mnt_fmt(p, sizeof(p), "%s/sub/xfKEEP3", m.dir), F_OK), ENOENT);
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/sub/xfNEW", m.dir), "x", 0600));
	MNT_CONTENT(p, "x");
	ck_assert_msg(mnt_where(&m, "sub/xfNEW", &b) == 1 && b == MNT_X1, "sub/xfNEW: not on x1 alone");
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);
}
END_TEST

START_TEST(test_refuse_bad_config)
{
	char want[PATH_MAX + 8];
	struct mnt m;

	man_fresh(&m, "badconf", conf_bad);
	man_refuse(&m, NULL, mnt_fmt(want, sizeof(want), "%s:3:", m.conf), "unknown key on line 3");
	ck_assert_msg(strstr(m.why, mnt_fmt(want, sizeof(want), "%s:5:", m.conf)),
		      "stderr does not report line 5 too: %s", m.why);

	MNT_OK(unlink(m.conf));
	man_refuse(&m, NULL, m.conf, "missing config file");
}
END_TEST

#define CRASH_FILES 100

START_TEST(test_crash_keeps_fsynced)
{
	char p[PATH_MAX], name[64], text[64], rel[96];
	struct mnt_dent *v;
	struct mnt m;
	int i, fd, n, st;

	man_fresh(&m, "crash", NULL);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount: %s", m.why);
	MNT_OK(mkdir(mnt_fmt(p, sizeof(p), "%s/cr", m.dir), 0755));
	for (i = 0; i < CRASH_FILES; i++) {
		mnt_fmt(name, sizeof(name), "%s%04dC", i % 2 ? "qf" : "df", i);
		mnt_fmt(text, sizeof(text), "message %d\n", i);
		fd = MNT_OK(open(mnt_fmt(p, sizeof(p), "%s/cr/%s", m.dir, name), O_CREAT | O_EXCL | O_WRONLY,
				 0600));
		ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
		MNT_OK(fsync(fd));
		MNT_OK(close(fd));
	}
	ck_assert_msg(mnt_crash(&m) == 0, "%s", m.why);
	ck_assert_msg(!mnt_mounted(m.dir), "dead mount still there");
	ck_assert_msg(mnt_start(&m, NULL) == 0, "remount after kill -9: %s", m.why);
	for (i = 0; i < CRASH_FILES; i++) {
		mnt_fmt(name, sizeof(name), "%s%04dC", i % 2 ? "qf" : "df", i);
		mnt_fmt(text, sizeof(text), "message %d\n", i);
		MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/cr/%s", m.dir, name), text);
		n = mnt_where(&m, mnt_fmt(rel, sizeof(rel), "cr/%s", name), NULL);
		ck_assert_msg(n == 1, "%s: in %d backings after the crash, want 1", rel, n);
	}
	n = mnt_readdir(mnt_fmt(p, sizeof(p), "%s/cr", m.dir), &v, NULL);
	ck_assert_msg(n == CRASH_FILES, "readdir after the crash: %d entries, want %d", n, CRASH_FILES);
	free(v);
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);
}
END_TEST

/* State of one quarantine search (nftw has no closure argument). */
static int man_q_found;
static const char *man_q_want;

static int man_q_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char buf[64];

	(void)st;
	(void)ftw;
	if (type == FTW_F && mnt_get(path, buf, sizeof(buf)) >= 0 && strcmp(buf, man_q_want) == 0)
		man_q_found++;
	return 0;
}

START_TEST(test_crash_duplicate_resolved)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	struct mnt_dent *v;
	struct mnt m;
	int i, n, seen = 0, st;

	man_fresh(&m, "dup", NULL);
	man_cycle(&m, NULL);
	MNT_OK(mnt_put(mnt_bpath(&m, MNT_C1, "qfDUP", p, sizeof(p)), "older copy", 0600));
	nanosleep(&nap, NULL);
	MNT_OK(mnt_put(mnt_bpath(&m, MNT_C2, "qfDUP", p, sizeof(p)), "newer copy", 0600));
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount with a duplicate: %s", m.why);
	n = mnt_readdir(m.dir, &v, NULL);
	for (i = 0; i < n; i++)
		seen += strcmp(v[i].name, "qfDUP") == 0;
	free(v);
	ck_assert_msg(seen == 1, "qfDUP listed %d times, want once", seen);
	MNT_CONTENT(mnt_fmt(p, sizeof(p), "%s/qfDUP", m.dir), "newer copy");
	ck_assert_msg(mnt_where(&m, "qfDUP", &i) == 1 && i == MNT_C2, "qfDUP: in %s, want c2 only",
		      mnt_where_list(&m, "qfDUP", q, sizeof(q)));
	mnt_fmt(q, sizeof(q), "%s/.queuefs/quarantine", m.back[MNT_C1]);
	man_q_found = 0;
	man_q_want = "older copy";
	nftw(q, man_q_one, 16, FTW_PHYS);
	ck_assert_msg(man_q_found == 1, "the older copy is in %s %d times, want once", q, man_q_found);
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);
}
END_TEST

START_TEST(test_remount_off_home)
{
	char p[PATH_MAX], a_name[64], rel[96], list[64];
	struct mnt m;
	int a = -1, b = -1, i, fd, st;

	man_fresh(&m, "offhome", NULL);
	ck_assert_msg(mnt_start(&m, "entry_timeout=0,attr_timeout=0,negative_timeout=0") == 0, "mount: %s",
		      m.why);
	MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/tfHOME", m.dir), "moved", 0600));
	ck_assert_int_eq(mnt_where(&m, "tfHOME", &a), 1);
	for (i = 0; i < 200; i++) { /* a qf name whose home is another shard */
		mnt_fmt(a_name, sizeof(a_name), "qfAWAY%03d", i);
		MNT_OK(mnt_put(mnt_fmt(p, sizeof(p), "%s/%s", m.dir, a_name), "", 0600));
		mnt_where(&m, a_name, &b);
		MNT_OK(unlink(p));
		if (b != a)
			break;
	}
	ck_assert_msg(b != a, "no probe name left %s", mnt_back_name[a]);
	MNT_OK(rename(mnt_fmt(rel, sizeof(rel), "%s/tfHOME", m.dir), p));
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);

	ck_assert_msg(mnt_start(&m, "entry_timeout=0,attr_timeout=0,negative_timeout=0") == 0, "remount: %s",
		      m.why);
	MNT_CONTENT(p, "moved");
	MNT_ERR(open(p, O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
	fd = MNT_OK(open(p, O_CREAT | O_WRONLY | O_APPEND, 0600));
	ck_assert_int_eq(write(fd, "!", 1), 1);
	MNT_OK(close(fd));
	MNT_CONTENT(p, "moved!");
	ck_assert_msg(mnt_where(&m, a_name, &b) == 1 && b == a, "%s: in %s, want only %s", a_name,
		      mnt_where_list(&m, a_name, list, sizeof(list)), mnt_back_name[a]);
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d, want 0 (%s)", st, m.why);
}
END_TEST

START_TEST(test_unmount_clean)
{
	char p[PATH_MAX];
	struct mnt m;
	int st, fd;

	man_fresh(&m, "umount", NULL);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount: %s", m.why);
	fd = MNT_OK(open(mnt_fmt(p, sizeof(p), "%s/qfU", m.dir), O_CREAT | O_WRONLY, 0600));
	MNT_OK(close(fd));
	st = mnt_stop(&m);
	ck_assert_msg(st == 0, "daemon exit status %d after umount2, want 0 (%s)", st, m.why);
	ck_assert_msg(!mnt_mounted(m.dir), "%s still mounted", m.dir);
	ck_assert_msg(access(m.pidfile, F_OK) < 0, "pid file left behind");
	ck_assert_int_eq(mnt_where(&m, "qfU", NULL), 1);
}
END_TEST

START_TEST(test_unmount_fusermount)
{
	struct mnt m;
	int st, cst;
	pid_t pid;

	man_fresh(&m, "fusermount", NULL);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount: %s", m.why);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", m.dir, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &cst, 0);
	ck_assert_msg(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "fusermount3 -u: status %d", cst);
	st = mnt_stop(&m); /* nothing left to unmount: just waits */
	ck_assert_msg(st == 0, "daemon exit status %d after fusermount3 -u, want 0 (%s)", st, m.why);
	ck_assert_msg(!mnt_mounted(m.dir), "%s still mounted", m.dir);
}
END_TEST

Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc;

	tc = tcase_create("refuse");
	tcase_add_unchecked_fixture(tc, man_up, man_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_refuse_missing_backing);
	tcase_add_test(tc, test_refuse_nonempty_first_mount);
	tcase_add_test(tc, test_refuse_empty_persistent);
	tcase_add_test(tc, test_refuse_foreign_backing);
	tcase_add_test(tc, test_refuse_layout_change_then_migrate);
	tcase_add_test(tc, test_accept_volatile_emptied);
	tcase_add_test(tc, test_refuse_bad_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash");
	tcase_add_unchecked_fixture(tc, man_up, man_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_crash_keeps_fsynced);
	tcase_add_test(tc, test_crash_duplicate_resolved);
	tcase_add_test(tc, test_remount_off_home);
	suite_add_tcase(s, tc);

	tc = tcase_create("unmount");
	tcase_add_unchecked_fixture(tc, man_up, man_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unmount_clean);
	tcase_add_test(tc, test_unmount_fusermount);
	suite_add_tcase(s, tc);
	return s;
}
