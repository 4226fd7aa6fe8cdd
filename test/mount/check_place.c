/*
 * NAME
 *	check_place.c - placement through the mount: routing by name and by
 *	path, and "one name, one file" under concurrency
 *
 * DESCRIPTION
 *	route: the sendmail preset sends qf/tf/Qf/hf to the control shards
 *	(same shard for one id), df to d1, xf to x1. seed: sendmail's own
 *	q.N/{qf,df,xf} layout with path globs and pins. excl: six processes
 *	race O_CREAT|O_EXCL on one name, rename onto a name held by another
 *	shard, and O_EXCL on a name living off its hash home; this TCase
 *	mounts with zero kernel cache timeouts so the daemon decides. floor:
 *	a small tmpfs shard with a free-space floor sends new files elsewhere.
 *
 * DIAGNOSTICS
 *	Failures name the file and the backings that hold it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mnt.h"

static struct mnt route_m, seed_m, excl_m;

static const char seed_conf[] = "[class control]\n"
				"shards = {B}/c1 {B}/c2 {B}/c3\n"
				"match = */qf/*\n"
				"key = strip-prefix:2\n"
				"pin = q.1/* 1\n"
				"pin = q.2/* 2\n"
				"pin = q.3/* 3\n"
				"default = yes\n"
				"[class data]\n"
				"shards = {B}/d1\n"
				"match = */df/*\n"
				"key = strip-prefix:2\n"
				"[class transcript]\n"
				"shards = {B}/x1\n"
				"match = */xf/*\n"
				"key = strip-prefix:2\n"
				"volatile = yes\n";

static void route_up(void)
{
	mnt_fixture_up(&route_m, "route", NULL, NULL);
}

static void route_down(void)
{
	mnt_fixture_down(&route_m);
}

static void seed_up(void)
{
	mnt_fixture_up(&seed_m, "seed", seed_conf, NULL);
}

static void seed_down(void)
{
	mnt_fixture_down(&seed_m);
}

static void excl_up(void)
{
	mnt_fixture_up(&excl_m, "excl", NULL, "entry_timeout=0,attr_timeout=0,negative_timeout=0");
}

static void excl_down(void)
{
	mnt_fixture_down(&excl_m);
}

/* place_one - REL must be in exactly one backing of M; returns which */
static int place_one(const struct mnt *m, const char *rel)
{
	char list[64];
	int b = -1, n = mnt_where(m, rel, &b);

	ck_assert_msg(n == 1, "%s: in %d backings (%s), want 1", rel, n,
		      mnt_where_list(m, rel, list, sizeof(list)));
	return b;
}

/* place_touch - create an empty file, O_EXCL */
static void place_touch(const char *name)
{
	int fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0600);

	ck_assert_msg(fd >= 0, "create %s: %s", name, strerror(errno));
	close(fd);
}

/* place_forget - make the kernel forget every unused dentry and inode (cwd leaves the mount) */
static void place_forget(void)
{
	int fd;

	MNT_OK(chdir("/"));
	fd = MNT_OK(open("/proc/sys/vm/drop_caches", O_WRONLY));
	ck_assert_int_eq(write(fd, "2", 1), 1);
	close(fd);
}

#define ROUTE_IDS 300

static int place_cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct mnt_dent *)a)->name, ((const struct mnt_dent *)b)->name);
}

START_TEST(test_route_sendmail)
{
	static const char *ctl[] = { "qf", "tf", "Qf", "hf" };
	char name[64], rel[96], id[32];
	int per[MNT_NBACK] = { 0 }, i, k, b, home;

	mnt_enter(&route_m, NULL);
	MNT_OK(mkdir("rt", 0755));
	MNT_OK(chdir("rt"));
	for (i = 0; i < ROUTE_IDS; i++) {
		mnt_fmt(id, sizeof(id), "5%c%07X%04d", 'A' + i % 26, (unsigned)(i * 2654435761u) >> 4, i);
		for (k = 0; k < 4; k++)
			place_touch(mnt_fmt(name, sizeof(name), "%s%s", ctl[k], id));
		place_touch(mnt_fmt(name, sizeof(name), "df%s", id));
		place_touch(mnt_fmt(name, sizeof(name), "xf%s", id));
		place_touch(mnt_fmt(name, sizeof(name), "zz%s", id));
	}
	for (i = 0; i < ROUTE_IDS; i++) {
		mnt_fmt(id, sizeof(id), "5%c%07X%04d", 'A' + i % 26, (unsigned)(i * 2654435761u) >> 4, i);
		home = place_one(&route_m, mnt_fmt(rel, sizeof(rel), "rt/qf%s", id));
		ck_assert_msg(home >= MNT_C1 && home <= MNT_C3, "%s: on %s, want a control shard", rel,
			      mnt_back_name[home]);
		per[home]++;
		for (k = 1; k < 4; k++) {
			b = place_one(&route_m, mnt_fmt(rel, sizeof(rel), "rt/%s%s", ctl[k], id));
			ck_assert_msg(b == home, "%s: on %s, want %s like qf%s", rel, mnt_back_name[b],
				      mnt_back_name[home], id);
		}
		b = place_one(&route_m, mnt_fmt(rel, sizeof(rel), "rt/df%s", id));
		ck_assert_msg(b == MNT_D1, "%s: on %s, want d1", rel, mnt_back_name[b]);
		b = place_one(&route_m, mnt_fmt(rel, sizeof(rel), "rt/xf%s", id));
		ck_assert_msg(b == MNT_X1, "%s: on %s, want x1", rel, mnt_back_name[b]);
		b = place_one(&route_m, mnt_fmt(rel, sizeof(rel), "rt/zz%s", id));
		ck_assert_msg(b >= MNT_C1 && b <= MNT_C3, "%s (unmatched): on %s, want a control shard", rel,
			      mnt_back_name[b]);
	}
	/* one merged listing of 2100 names: several getdents calls, no repeats */
	{
		struct mnt_dent *v;
		int n = mnt_readdir(".", &v, NULL), dup = 0;

		ck_assert_msg(n == 7 * ROUTE_IDS, "readdir rt: got %d entries, want %d", n, 7 * ROUTE_IDS);
		qsort(v, n, sizeof(*v), place_cmp_dent);
		for (i = 1; i < n; i++)
			dup += strcmp(v[i].name, v[i - 1].name) == 0;
		ck_assert_msg(dup == 0, "readdir rt: %d names listed twice", dup);
		free(v);
	}
	/* rendezvous hashing of 300 keys over 3 shards: ~100 each */
	ck_assert_msg(per[MNT_C1] > 50 && per[MNT_C2] > 50 && per[MNT_C3] > 50,
		      "control ids per shard: c1 %d c2 %d c3 %d, want each > 50", per[MNT_C1], per[MNT_C2],
		      per[MNT_C3]);
}
END_TEST

START_TEST(test_route_seed_layout)
{
	static const char *sub[] = { "qf", "df", "xf" };
	char p[96], rel[128], list[64];
	int q, k, i, b;

	mnt_enter(&seed_m, NULL);
	for (q = 1; q <= 3; q++) {
		MNT_OK(mkdir(mnt_fmt(p, sizeof(p), "q.%d", q), 0755));
		for (k = 0; k < 3; k++)
			MNT_OK(mkdir(mnt_fmt(p, sizeof(p), "q.%d/%s", q, sub[k]), 0755));
	}
	ck_assert_msg(mnt_where(&seed_m, "q.2/qf", NULL) == MNT_NDEFAULT, "q.2/qf: in %s, want all backings",
		      mnt_where_list(&seed_m, "q.2/qf", list, sizeof(list)));
	for (q = 1; q <= 3; q++) {
		for (i = 0; i < 40; i++) {
			place_touch(mnt_fmt(p, sizeof(p), "q.%d/qf/qf%05dAA", q, i));
			place_touch(mnt_fmt(p, sizeof(p), "q.%d/qf/tf%05dAB", q, i));
			place_touch(mnt_fmt(p, sizeof(p), "q.%d/df/df%05dAA", q, i));
			place_touch(mnt_fmt(p, sizeof(p), "q.%d/xf/xf%05dAA", q, i));
		}
	}
	for (q = 1; q <= 3; q++) {
		for (i = 0; i < 40; i++) {
			b = place_one(&seed_m, mnt_fmt(rel, sizeof(rel), "q.%d/qf/qf%05dAA", q, i));
			ck_assert_msg(b == MNT_C1 + q - 1, "%s: on %s, want c%d (pin)", rel, mnt_back_name[b],
				      q);
			b = place_one(&seed_m, mnt_fmt(rel, sizeof(rel), "q.%d/qf/tf%05dAB", q, i));
			ck_assert_msg(b == MNT_C1 + q - 1, "%s: on %s, want c%d (pin)", rel, mnt_back_name[b],
				      q);
			b = place_one(&seed_m, mnt_fmt(rel, sizeof(rel), "q.%d/df/df%05dAA", q, i));
			ck_assert_msg(b == MNT_D1, "%s: on %s, want d1", rel, mnt_back_name[b]);
			b = place_one(&seed_m, mnt_fmt(rel, sizeof(rel), "q.%d/xf/xf%05dAA", q, i));
			ck_assert_msg(b == MNT_X1, "%s: on %s, want x1", rel, mnt_back_name[b]);
		}
	}
}
END_TEST

#define EXCL_PROCS  6
#define EXCL_ROUNDS 200

struct excl_shared {
	pthread_barrier_t bar;
	int wins[EXCL_ROUNDS];	   /* winners of the reused name qfSAME */
	int keepwins[EXCL_ROUNDS]; /* winners of the kept name tfK<round> */
	int keepwinner[EXCL_ROUNDS];
};

/* excl_racer - one of the racing processes; keeps to the barriers on error */
static int excl_racer(int me, void *arg, char *err, size_t len)
{
	struct excl_shared *sh = arg;
	char name[32], want[8], got[8], list[64];
	int r, fd, won, bad = 0, n;

	mnt_fmt(want, sizeof(want), "%d", me);
	for (r = 0; r < EXCL_ROUNDS; r++) {
		pthread_barrier_wait(&sh->bar);
		won = 0;
		fd = open("qfSAME", O_CREAT | O_EXCL | O_WRONLY, 0600);
		if (fd >= 0) {
			won = 1;
			__atomic_add_fetch(&sh->wins[r], 1, __ATOMIC_SEQ_CST);
			if (write(fd, want, strlen(want)) < 0 && !bad)
				bad = mnt_fail(err, len, "round %d: write qfSAME", r);
			close(fd);
		} else if (errno != EEXIST && !bad) {
			bad = mnt_fail(err, len, "round %d: create qfSAME: want success or EEXIST", r);
		}
		mnt_fmt(name, sizeof(name), "tfK%03d", r);
		fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0600);
		if (fd >= 0) {
			__atomic_add_fetch(&sh->keepwins[r], 1, __ATOMIC_SEQ_CST);
			sh->keepwinner[r] = me;
			if (write(fd, want, strlen(want)) < 0 && !bad)
				bad = mnt_fail(err, len, "round %d: write %s", r, name);
			close(fd);
		} else if (errno != EEXIST && !bad) {
			bad = mnt_fail(err, len, "round %d: create %s: want success or EEXIST", r, name);
		}
		pthread_barrier_wait(&sh->bar);
		if (won && !bad) {
			n = mnt_where(&excl_m, "excl/qfSAME", NULL);
			if (n != 1) {
				mnt_fmt(err, len, "round %d: qfSAME in %d backings (%s), want 1", r, n,
					mnt_where_list(&excl_m, "excl/qfSAME", list, sizeof(list)));
				bad = -1;
			} else if (mnt_get("qfSAME", got, sizeof(got)) < 0 || strcmp(got, want) != 0) {
				mnt_fmt(err, len, "round %d: qfSAME holds \"%s\", want the winner's \"%s\"",
					r, got, want);
				bad = -1;
			} else if (unlink("qfSAME") < 0) {
				bad = mnt_fail(err, len, "round %d: winner's unlink qfSAME", r);
			}
		}
		pthread_barrier_wait(&sh->bar);
	}
	return bad ? -1 : 0;
}

START_TEST(test_excl_race)
{
	struct excl_shared *sh = mnt_shared(sizeof(*sh));
	pthread_barrierattr_t ba;
	char err[1024], name[32], rel[64], got[8], want[8];
	int r;

	mnt_enter(&excl_m, NULL);
	MNT_OK(mkdir("excl", 0755));
	MNT_OK(chdir("excl"));
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->bar, &ba, EXCL_PROCS);
	ck_assert_msg(mnt_workers(EXCL_PROCS, excl_racer, sh, err, sizeof(err)) == 0, "%s", err);
	for (r = 0; r < EXCL_ROUNDS; r++) {
		ck_assert_msg(sh->wins[r] == 1, "round %d: %d winners of qfSAME, want 1", r, sh->wins[r]);
		ck_assert_msg(sh->keepwins[r] == 1, "round %d: %d winners of tfK%03d, want 1", r,
			      sh->keepwins[r], r);
		place_one(&excl_m, mnt_fmt(rel, sizeof(rel), "excl/tfK%03d", r));
		mnt_fmt(name, sizeof(name), "tfK%03d", r);
		mnt_fmt(want, sizeof(want), "%d", sh->keepwinner[r]);
		ck_assert_msg(mnt_get(name, got, sizeof(got)) >= 0 && strcmp(got, want) == 0,
			      "%s: holds \"%s\", want the winner's \"%s\"", name, got, want);
	}
	ck_assert_int_eq(mnt_where(&excl_m, "excl/qfSAME", NULL), 0);
}
END_TEST

/*
 * excl_other_shard - a name PREFIX<n>SUFFIX whose file would land on a
 * control shard other than NOT (found by creating and unlinking probes).
 */
static void excl_other_shard(const struct mnt *m, const char *dir, const char *prefix, int not, char *out,
			     size_t len)
{
	char rel[128];
	int i, b;

	for (i = 0; i < 200; i++) {
		mnt_fmt(out, len, "%sP%03d", prefix, i);
		place_touch(out);
		b = place_one(m, mnt_fmt(rel, sizeof(rel), "%s/%s", dir, out));
		MNT_OK(unlink(out));
		if (b != not )
			return;
	}
	ck_abort_msg("200 probe names all landed on %s", mnt_back_name[not ]);
}

START_TEST(test_excl_rename_cross_shard)
{
	char b_name[64], rel[128];
	struct stat sa, sb;
	int a, b, fd;

	mnt_enter(&excl_m, NULL);
	MNT_OK(mkdir("xr", 0755));
	MNT_OK(chdir("xr"));
	MNT_OK(mnt_put("qfXA", "AAA", 0600));
	a = place_one(&excl_m, "xr/qfXA");
	excl_other_shard(&excl_m, "xr", "qfXB", a, b_name, sizeof(b_name));
	MNT_OK(mnt_put(b_name, "BBB", 0600));
	b = place_one(&excl_m, mnt_fmt(rel, sizeof(rel), "xr/%s", b_name));
	ck_assert_msg(a != b, "qfXA and %s on the same shard %s", b_name, mnt_back_name[a]);
	MNT_OK(stat("qfXA", &sa));
	fd = MNT_OK(open(b_name, O_RDWR)); /* held open across the rename */

	MNT_OK(rename("qfXA", b_name));
	MNT_ERR(stat("qfXA", &sb), ENOENT);
	MNT_CONTENT(b_name, "AAA");
	MNT_OK(stat(b_name, &sb));
	ck_assert_msg(sa.st_ino == sb.st_ino, "%s: st_ino %llu, want the source's %llu", b_name,
		      (unsigned long long)sb.st_ino, (unsigned long long)sa.st_ino);
	ck_assert_msg(place_one(&excl_m, rel) == a, "%s: not on the source's shard %s", rel,
		      mnt_back_name[a]);
	ck_assert_int_eq(mnt_where(&excl_m, "xr/qfXA", NULL), 0);
	ck_assert_int_eq(write(fd, "+", 1), 1);
	MNT_OK(fsync(fd));
	MNT_OK(fstat(fd, &sb));
	ck_assert_msg(sb.st_nlink == 0, "replaced file: nlink %lu, want 0", (unsigned long)sb.st_nlink);
	MNT_OK(close(fd));
	MNT_CONTENT(b_name, "AAA");
}
END_TEST

START_TEST(test_excl_off_home)
{
	char name[64], rel[128];
	struct stat st;
	int a, fd;

	mnt_enter(&excl_m, NULL);
	MNT_OK(mkdir("oh", 0755));
	MNT_OK(chdir("oh"));
	MNT_OK(mnt_put("tfOA", "offhome", 0600));
	a = place_one(&excl_m, "oh/tfOA");
	excl_other_shard(&excl_m, "oh", "qfOB", a, name, sizeof(name));
	MNT_OK(rename("tfOA", name)); /* now NAME lives off its hash home */
	mnt_fmt(rel, sizeof(rel), "oh/%s", name);
	ck_assert_msg(place_one(&excl_m, rel) == a, "%s moved off %s", rel, mnt_back_name[a]);

	MNT_ERR(open(name, O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
	MNT_ERR(mkdir(name, 0755), EEXIST);
	MNT_ERR(mknod(name, S_IFIFO | 0600, 0), EEXIST);
	MNT_ERR(symlink("x", name), EEXIST);
	MNT_OK(mnt_put("qfLINKSRC", "l", 0600));
	MNT_ERR(link("qfLINKSRC", name), EEXIST);
	fd = MNT_OK(open(name, O_CREAT | O_WRONLY | O_APPEND, 0600));
	ck_assert_int_eq(write(fd, "+", 1), 1);
	MNT_OK(close(fd));
	MNT_CONTENT(name, "offhome+");
	place_one(&excl_m, rel);
	MNT_OK(stat(name, &st));
	MNT_OK(unlink(name));
	ck_assert_int_eq(mnt_where(&excl_m, rel, NULL), 0);
	MNT_ERR(stat(name, &st), ENOENT);
}
END_TEST

/*
 * strays: queuefs counts, per directory, the names that are not on their
 * hash home; while there are none, a name missing on its home is missing
 * (one backing asked, not all). Every way a name leaves its home is made
 * here - a rename to an id hashed elsewhere, a link, a df renamed to a
 * control name - and each must stay visible to lookups that reach the
 * daemon (zero kernel timeouts), also after the kernel forgot the
 * directory and queuefs counted it afresh. The daemon's search counters
 * (status json) show when it asked one backing and when all.
 */
static struct mnt stray_m;
static char stray_ctl[PATH_MAX];

/* One home per name (choices = 1): a name another shard's probe found is off home. */
static const char stray_conf[] = "preset = sendmail\n"
				 "ctl_dir = {B}/ctl\n"
				 "[class control]\n"
				 "shards = {B}/c1 {B}/c2 {B}/c3\n"
				 "choices = 1\n"
				 "[class data]\n"
				 "shards = {B}/d1\n"
				 "[class transcript]\n"
				 "shards = {B}/x1\n";

static void stray_up(void)
{
	mnt_fixture_up(&stray_m, "stray", stray_conf, "entry_timeout=0,attr_timeout=0,negative_timeout=0");
	mnt_fmt(stray_ctl, sizeof(stray_ctl), "%s/ctl", stray_m.root);
}

static void stray_down(void)
{
	mnt_fixture_down(&stray_m);
}

/* stray_searches - the daemon's counters of name searches: home only, every backing */
static void stray_searches(unsigned long long *home, unsigned long long *all)
{
	char out[16384];
	const char *p;

	ck_assert_int_eq(mnt_ask(stray_ctl, stray_m.dir, "status json", out, sizeof(out)), 0);
	p = strstr(out, "\"searches\":");
	ck_assert_msg(p && sscanf(p, "\"searches\":{\"home_only\":%llu,\"every_backing\":%llu", home, all) ==
				      2,
		      "status json has no search counters: %.300s", out);
}

/* stray_stat - stat NAME: how many searches asked one backing (*HOME) or all (*ALL) */
static int stray_stat(const char *name, int *home, int *all)
{
	unsigned long long h0, a0, h1, a1;
	struct stat st;
	int r, e;

	stray_searches(&h0, &a0);
	r = stat(name, &st);
	e = errno;
	stray_searches(&h1, &a1);
	errno = e;
	*home = (int)(h1 - h0);
	*all = (int)(a1 - a0);
	return r;
}

/* stray_visible - every name in NAMES is found, and O_EXCL refuses it */
static void stray_visible(const char *const *names, int n)
{
	int home, all;

	for (int i = 0; i < n; i++) {
		ck_assert_msg(stray_stat(names[i], &home, &all) == 0, "%s: %s", names[i], strerror(errno));
		MNT_ERR(open(names[i], O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
	}
}

/* stray_settled - MISS is missing, and asks its home alone again (no strays left) */
static void stray_settled(const char *miss)
{
	int home, all;

	ck_assert_int_eq(stray_stat(miss, &home, &all), -1);
	ck_assert_msg(home >= 1 && all == 0, "%s: %d home-only, %d full searches, want home only", miss, home,
		      all);
}

/* stray_counted - a miss asks every backing: strays are known to exist */
static void stray_counted(const char *miss)
{
	int home, all;

	ck_assert_int_eq(stray_stat(miss, &home, &all), -1);
	ck_assert_msg(all >= 1, "%s: %d home-only, %d full searches, want a full search", miss, home, all);
}

START_TEST(test_strays)
{
	char dir[PATH_MAX], xname[64], yname[64], rel[128];
	const char *names[3];
	int a;

	MNT_REQUIRE(&stray_m);
	mnt_enter(&stray_m, NULL);
	MNT_OK(mkdir("s", 0755));
	MNT_OK(chdir("s"));
	MNT_OK(mnt_put("qfS00", "zero", 0600));
	MNT_OK(mnt_put("qfS01", "one", 0600));
	MNT_OK(mnt_put("dfS02", "two", 0600));
	stray_settled("qfMISS1");

	/* Each kind alone: the stray is found while it lives, and the count returns to zero. */
	a = place_one(&stray_m, "s/qfS00");
	excl_other_shard(&stray_m, "s", "qfX", a, xname, sizeof(xname));
	MNT_OK(rename("qfS00", xname));
	ck_assert_int_eq(place_one(&stray_m, mnt_fmt(rel, sizeof(rel), "s/%s", xname)), a);
	names[0] = xname;
	stray_visible(names, 1);
	stray_counted("qfMISS2");
	MNT_OK(rename(xname, "qfS00"));
	stray_settled("qfMISS3");

	a = place_one(&stray_m, "s/qfS01");
	excl_other_shard(&stray_m, "s", "qfY", a, yname, sizeof(yname));
	MNT_OK(link("qfS01", yname));
	names[0] = yname;
	stray_visible(names, 1);
	stray_counted("qfMISS4");
	MNT_OK(unlink(yname));
	stray_settled("qfMISS5");

	MNT_OK(rename("dfS02", "qfS02"));
	ck_assert_int_eq(place_one(&stray_m, "s/qfS02"), MNT_D1);
	names[0] = "qfS02";
	stray_visible(names, 1);
	stray_counted("qfMISS6");
	MNT_OK(rename("qfS02", "dfS02"));
	stray_settled("qfMISS7");

	/* All three, then the kernel forgets the directory: queuefs counts it afresh. */
	MNT_OK(rename("qfS00", xname));
	MNT_OK(link("qfS01", yname));
	MNT_OK(rename("dfS02", "qfS02"));
	place_forget();
	mnt_fmt(dir, sizeof(dir), "%s/s", stray_m.dir);
	MNT_OK(chdir(dir));
	names[0] = xname, names[1] = yname, names[2] = "qfS02";
	stray_visible(names, 3);
	MNT_CONTENT(xname, "zero");
	MNT_CONTENT(yname, "one");
	MNT_CONTENT("qfS02", "two");
	MNT_OK(unlink(xname));
	MNT_OK(unlink(yname));
	MNT_OK(unlink("qfS02"));
	stray_settled("qfMISS8");
	MNT_CONTENT("qfS01", "one");
}
END_TEST

/*
 * floor: control shard c1 is a 256 KiB tmpfs and the class keeps a 128 KiB
 * free-space floor. Far more control data than c1 can hold is written; every
 * write must succeed (the MTA sees no error while a shard has room) and c1
 * must stop taking new files before it fills.
 */
static struct mnt floor_m;
static bool floor_tmpfs;

static const char floor_conf[] = "preset = sendmail\n"
				 "[class control]\n"
				 "shards = {B}/c1 {B}/c2 {B}/c3\n"
				 "min_free = 128K\n"
				 "[class data]\n"
				 "shards = {B}/d1\n"
				 "[class transcript]\n"
				 "shards = {B}/x1\n";

static void floor_up(void)
{
	char why[256];

	if (!mnt_init(why, sizeof(why)) || mnt_layout(&floor_m, "floor", floor_conf) < 0)
		return;
	if (mount("qfs-floor", floor_m.back[MNT_C1], "tmpfs", 0, "size=256k,mode=0755") < 0) {
		mnt_fmt(floor_m.why, sizeof(floor_m.why), "mount tmpfs on %s: %s", floor_m.back[MNT_C1],
			strerror(errno));
		return;
	}
	floor_tmpfs = true;
	floor_m.up = mnt_start(&floor_m, NULL) == 0;
}

static void floor_down(void)
{
	mnt_fixture_down(&floor_m);
	if (floor_tmpfs && umount2(floor_m.back[MNT_C1], 0) < 0)
		umount2(floor_m.back[MNT_C1], MNT_DETACH);
	floor_tmpfs = false;
}

START_TEST(test_floor_fallback)
{
	static char block[8192];
	char name[64], rel[128];
	int per[MNT_NBACK] = { 0 };
	struct statvfs sv;
	const int nfiles = 120; /* about 320 KiB of them hash to c1 alone */

	MNT_REQUIRE(&floor_m);
	memset(block, 'q', sizeof(block));
	mnt_enter(&floor_m, NULL);
	for (int i = 0; i < nfiles; i++) {
		ssize_t n;
		int fd, b;

		snprintf(name, sizeof(name), "qfFLOOR%05d", i);
		fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0600);
		ck_assert_msg(fd >= 0, "create %s: %s", name, strerror(errno));
		errno = 0;
		n = write(fd, block, sizeof(block));
		ck_assert_msg(n == (ssize_t)sizeof(block), "write %s: got %zd (%s), want %zu", name, n,
			      strerror(errno), sizeof(block));
		ck_assert_msg(fsync(fd) == 0, "fsync %s: %s", name, strerror(errno));
		MNT_OK(close(fd));
		snprintf(rel, sizeof(rel), "%s", name);
		ck_assert_msg(mnt_where(&floor_m, rel, &b) == 1, "%s: in %d backings, want 1", rel,
			      mnt_where(&floor_m, rel, NULL));
		per[b]++;
	}
	MNT_OK(statvfs(floor_m.back[MNT_C1], &sv));
	ck_assert_msg((unsigned long long)sv.f_bavail * sv.f_frsize >= 64 * 1024,
		      "c1 has %llu bytes free, want the floor to keep it from filling",
		      (unsigned long long)sv.f_bavail * sv.f_frsize);
	ck_assert_msg(per[MNT_C1] > 0 && per[MNT_C1] < nfiles / 6,
		      "c1 holds %d of %d files, want some but far fewer than its share", per[MNT_C1], nfiles);
	ck_assert_msg(per[MNT_C1] + per[MNT_C2] + per[MNT_C3] == nfiles,
		      "control shards hold %d files, want %d", per[MNT_C1] + per[MNT_C2] + per[MNT_C3],
		      nfiles);

	/* Files that fell back live off their hash home: found once the kernel forgot them too. */
	place_forget();
	mnt_enter(&floor_m, NULL);
	for (int i = 0; i < nfiles; i++) {
		struct stat st;

		snprintf(name, sizeof(name), "qfFLOOR%05d", i);
		ck_assert_msg(stat(name, &st) == 0 && st.st_size == (off_t)sizeof(block),
			      "%s after drop_caches: %s", name, strerror(errno));
	}
}
END_TEST

Suite *place_suite(void)
{
	Suite *s = suite_create("place");
	TCase *tc;

	tc = tcase_create("route");
	tcase_add_unchecked_fixture(tc, route_up, route_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_route_sendmail);
	suite_add_tcase(s, tc);

	tc = tcase_create("seed");
	tcase_add_unchecked_fixture(tc, seed_up, seed_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_route_seed_layout);
	suite_add_tcase(s, tc);

	tc = tcase_create("excl");
	tcase_add_unchecked_fixture(tc, excl_up, excl_down);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_excl_race);
	tcase_add_test(tc, test_excl_rename_cross_shard);
	tcase_add_test(tc, test_excl_off_home);
	suite_add_tcase(s, tc);

	tc = tcase_create("strays");
	tcase_add_unchecked_fixture(tc, stray_up, stray_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_strays);
	suite_add_tcase(s, tc);

	tc = tcase_create("floor");
	tcase_add_unchecked_fixture(tc, floor_up, floor_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_floor_fallback);
	suite_add_tcase(s, tc);
	return s;
}
