/*
 * NAME
 *	check_coherence.c - two queuefs daemons over the same backings
 *
 * DESCRIPTION
 *	Mount A observes, mount B changes, both over the same backing roots,
 *	with long kernel cache timeouts (30 s). A scripted sequence on B
 *	(create, rewrite via tf->qf rename, append, same-size rewrite in
 *	place, chmod, unlink, recreate, a new name in readdir) is observed
 *	on A after each step; an observation is stale when A does not show
 *	the truth within 100 ms. The table is printed for three modes of A:
 *	local (no watcher), local with the watcher, and flush (nfs_index and
 *	nfs_storage). local must show staleness (else the test proves
 *	nothing); watcher and flush must show none.
 *
 *	locks: with locks = backing on both mounts, a write lock (fcntl and
 *	flock) on A makes the same non-blocking lock on B fail, and a
 *	blocking one wait until a signal interrupts it with EINTR; of two concurrent O_EXCL creates of one
 *name, one per mount, exactly one wins, over many rounds.
 *
 * DIAGNOSTICS
 *	Failures name the step and what A showed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mnt.h"

#define SETTLE_MS 100

static const char coh_conf[] = "preset = sendmail\n"
			       "entry_timeout = 30\n"
			       "attr_timeout = 30\n"
			       "negative_timeout = 30\n"
			       "ctl_dir = {B}/ctl\n" MNT_SENDMAIL_CLASSES;

/* pair_up - A over fresh backings with OPTS_A, B over the same backings */
static void pair_up(struct mnt *a, struct mnt *b, const char *tag, const char *opts_a, const char *opts_b)
{
	static char conf[8 * PATH_MAX];
	const char *r;

	ck_assert_msg(mnt_layout(a, tag, coh_conf) == 0, "%s", a->why);
	/* B's config names A's roots. */
	r = a->root;
	snprintf(conf, sizeof(conf),
		 "preset = sendmail\nentry_timeout = 30\nattr_timeout = 30\nnegative_timeout = 30\n"
		 "ctl_dir = %s/ctl\n[class control]\nshards = %s/c1 %s/c2 %s/c3\n[class data]\nshards = "
		 "%s/d1\n"
		 "[class transcript]\nshards = %s/x1\n",
		 r, r, r, r, r, r);
	ck_assert_msg(mnt_layout(b, tag, conf) == 0, "%s", b->why);
	ck_assert_msg(mnt_start(a, opts_a) == 0, "mount A: %s", a->why);
	ck_assert_msg(mnt_start(b, opts_b) == 0, "mount B: %s", b->why);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* seen - what PATH shows: content (or "ENOENT") plus the mode */
static void seen(const char *path, char *buf, size_t len)
{
	struct stat st;
	char data[256];
	ssize_t n;

	if (stat(path, &st) < 0) {
		snprintf(buf, len, "%s", strerror(errno));
		return;
	}
	n = mnt_get(path, data, sizeof(data));
	snprintf(buf, len, "%s mode %o", n < 0 ? strerror((int)-n) : data, (unsigned)(st.st_mode & 07777));
}

/* listed - does directory DIR list NAME? */
static void listed(const char *dir, const char *name, char *buf, size_t len)
{
	struct mnt_dent *d;
	int n = mnt_readdir(dir, &d, NULL), found = 0;

	for (int i = 0; i < n; i++)
		found |= strcmp(d[i].name, name) == 0;
	if (n >= 0)
		free(d);
	snprintf(buf, len, "%s", found ? "listed" : "not listed");
}

/* observe - 1 if A's view of REL does not match B's within SETTLE_MS */
static int observe(const struct mnt *a, const struct mnt *b, const char *rel, int as_dir, const char *step)
{
	char pa[PATH_MAX], pb[PATH_MAX], va[512], vb[512];
	double end = now_ms() + SETTLE_MS;

	if (as_dir) {
		mnt_fmt(pb, sizeof(pb), "%s", b->dir);
		listed(pb, rel, vb, sizeof(vb));
	} else {
		mnt_fmt(pb, sizeof(pb), "%s/%s", b->dir, rel);
		seen(pb, vb, sizeof(vb));
	}
	for (;;) {
		if (as_dir)
			listed(a->dir, rel, va, sizeof(va));
		else
			seen(mnt_fmt(pa, sizeof(pa), "%s/%s", a->dir, rel), va, sizeof(va));
		if (strcmp(va, vb) == 0)
			return 0;
		if (now_ms() > end) {
			printf("coherence:   stale after %s: A shows \"%s\", B \"%s\"\n", step, va, vb);
			return 1;
		}
		usleep(5000);
	}
}

/* sequence - the scripted changes on B, each observed on A; returns the stale count */
static int sequence(const struct mnt *a, const struct mnt *b, int *total)
{
	char pb[PATH_MAX], pt[PATH_MAX];
	int stale = 0, fd;

	mnt_fmt(pb, sizeof(pb), "%s/qfCOH", b->dir);
	mnt_fmt(pt, sizeof(pt), "%s/tfCOH", b->dir);
	*total = 0;
#define OBS(rel, dir, step) (stale += observe(a, b, rel, dir, step), (*total)++)
	OBS("qfCOH", 0, "nothing yet"); /* A caches the miss */
	MNT_OK(mnt_put(pb, "v1", 0600));
	OBS("qfCOH", 0, "create");
	MNT_OK(mnt_put(pt, "v2-rewritten", 0600));
	MNT_OK(rename(pt, pb));
	OBS("qfCOH", 0, "tf->qf rename");
	fd = MNT_OK(open(pb, O_WRONLY | O_APPEND));
	ck_assert_int_eq(write(fd, "+append", 7), 7);
	MNT_OK(close(fd));
	OBS("qfCOH", 0, "append");
	fd = MNT_OK(open(pb, O_WRONLY));
	ck_assert_int_eq(pwrite(fd, "V", 1, 0), 1); /* Postfix flips flag bytes in place */
	MNT_OK(close(fd));
	OBS("qfCOH", 0, "same-size rewrite");
	MNT_OK(chmod(pb, 0700));
	OBS("qfCOH", 0, "chmod");
	MNT_OK(unlink(pb));
	OBS("qfCOH", 0, "unlink");
	MNT_OK(mnt_put(pb, "v3", 0600));
	OBS("qfCOH", 0, "recreate");
	OBS("qfNEW", 1, "readdir before");
	MNT_OK(mnt_put(mnt_fmt(pt, sizeof(pt), "%s/qfNEW", b->dir), "n", 0600));
	OBS("qfNEW", 1, "readdir after create");
#undef OBS
	return stale;
}

START_TEST(test_coherence_table)
{
	static const struct {
		const char *mode, *opts;
		int want_fresh;
	} modes[] = {
		{ "local", NULL, 0 },
		{ "local + watcher", "watch=yes", 1 },
		{ "flush (nfs_index, nfs_storage)", "nfs_index=yes,nfs_storage=yes", 1 },
	};
	int stale[3], total[3];

	for (int i = 0; i < 3; i++) {
		static struct mnt a, b;

		printf("coherence: mode %s\n", modes[i].mode);
		pair_up(&a, &b, "coh", modes[i].opts, NULL);
		stale[i] = sequence(&a, &b, &total[i]);
		mnt_stop(&a);
		mnt_stop(&b);
	}
	printf("coherence: stale observations on mount A (changes made on mount B, same local backings,\n"
	       "coherence: kernel timeouts 30 s, %d ms allowed to settle):\n",
	       SETTLE_MS);
	for (int i = 0; i < 3; i++)
		printf("coherence:   %-32s %d of %d stale\n", modes[i].mode, stale[i], total[i]);
	ck_assert_msg(stale[0] > 0, "local mode showed no staleness: the sequence tests nothing");
	for (int i = 1; i < 3; i++)
		ck_assert_msg(stale[i] == 0, "%s: %d of %d observations stale, want 0", modes[i].mode,
			      stale[i], total[i]);
}
END_TEST

static void on_alarm(int sig)
{
	(void)sig;
}

START_TEST(test_coherence_locks)
{
	static struct mnt a, b;
	struct flock wl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19 };
	char pa[PATH_MAX], pb[PATH_MAX];
	int fa, fb, wins = 0;
	const int rounds = 100;

	pair_up(&a, &b, "cohlk", "locks=backing", "locks=backing");
	fa = MNT_OK(open(mnt_fmt(pa, sizeof(pa), "%s/qfLOCK", a.dir), O_CREAT | O_RDWR, 0600));
	fb = MNT_OK(open(mnt_fmt(pb, sizeof(pb), "%s/qfLOCK", b.dir), O_RDWR));
	/* Exim's F_SETLK on bytes 0-18 */
	MNT_OK(fcntl(fa, F_SETLK, &wl));
	MNT_ERR(fcntl(fb, F_SETLK, &wl), EAGAIN);
	wl.l_type = F_UNLCK;
	MNT_OK(fcntl(fa, F_SETLK, &wl));
	wl.l_type = F_WRLCK;
	MNT_OK(fcntl(fb, F_SETLK, &wl));
	wl.l_type = F_UNLCK;
	MNT_OK(fcntl(fb, F_SETLK, &wl));
	/* sendmail's and Postfix's flock */
	MNT_OK(flock(fa, LOCK_EX));
	MNT_ERR(flock(fb, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	/* A blocking wait is interrupted by a signal: EINTR, as POSIX says. */
	{
		pid_t pid = fork();
		int st;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */

			sigaction(SIGALRM, &sa, NULL);
			alarm(1);
			_exit(flock(fb, LOCK_EX) < 0 && errno == EINTR ? 0 : 1);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "a blocking flock was not interrupted with EINTR");
	}
	MNT_OK(close(fa));
	/*
	 * The last close releases the flock, but FUSE sends that release
	 * asynchronously, after close(2) returned: allow it a moment.
	 */
	for (int i = 0; i < 200 && flock(fb, LOCK_EX | LOCK_NB) < 0; i++)
		usleep(10000);
	MNT_OK(flock(fb, LOCK_EX | LOCK_NB));
	MNT_OK(close(fb));

	/* One O_EXCL winner per round, one create from each mount. */
	for (int r = 0; r < rounds; r++) {
		char name[64];
		pid_t pid;
		int st, mine;

		snprintf(name, sizeof(name), "qfEX%03d", r);
		mnt_fmt(pa, sizeof(pa), "%s/%s", a.dir, name);
		mnt_fmt(pb, sizeof(pb), "%s/%s", b.dir, name);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int fd = open(pb, O_CREAT | O_EXCL | O_WRONLY, 0600);

			_exit(fd >= 0 ? 0 : errno == EEXIST ? 1 : 2);
		}
		fa = open(pa, O_CREAT | O_EXCL | O_WRONLY, 0600);
		mine = fa >= 0;
		ck_assert_msg(mine || errno == EEXIST, "round %d: A: %s", r, strerror(errno));
		if (mine)
			close(fa);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) <= 1, "round %d: B failed oddly", r);
		ck_assert_msg(mine + (WEXITSTATUS(st) == 0) == 1, "round %d: %d winners, want 1", r,
			      mine + (WEXITSTATUS(st) == 0));
		wins += mine;
	}
	printf("coherence: O_EXCL across two mounts: %d rounds, one winner each (A won %d)\n", rounds, wins);
	mnt_stop(&a);
	mnt_stop(&b);
}
END_TEST

Suite *coherence_suite(void)
{
	Suite *s = suite_create("coherence");
	TCase *tc = tcase_create("coherence");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_coherence_table);
	tcase_add_test(tc, test_coherence_locks);
	suite_add_tcase(s, tc);
	return s;
}
