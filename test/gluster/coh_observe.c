/*
 * NAME
 *	coh_observe - coherence, locks, O_EXCL races and cost across two mounts
 *
 * SYNOPSIS
 *	coh_observe seq A B SETTLE_MS TAG
 *	coh_observe locks A B TAG
 *	coh_observe excl A B ROUNDS TAG
 *	coh_observe reuse A B ROUNDS TAG
 *	coh_observe cost DIR MESSAGES TAG
 *	coh_observe scan DIR FILES PASSES TAG
 *
 * DESCRIPTION
 *	A and B are two mounts of one shared queue (two queuefs daemons over
 *	two GlusterFS client mounts of one volume, as test/gluster/run sets
 *	them up). TAG keeps the names of one run apart from another's.
 *
 *	seq: the scripted sequence of test/mount/check_coherence.c. Mount B
 *	makes the changes (create, rewrite via tf->qf rename, append,
 *	same-size rewrite in place, chmod, unlink, recreate, a new name in
 *	readdir); after each, mount A must show what B shows within
 *	SETTLE_MS, else the observation is stale. Ends with "stale N of M".
 *
 *	locks: a write lock taken on A (fcntl F_SETLK, then flock) makes the
 *	non-blocking lock on B fail and a blocking one on B wait until A
 *	lets go; a flock dropped by close(2) on A frees B. Also reports, for
 *	information, whether an fcntl lock on A conflicts with a flock on B.
 *
 *	excl: ROUNDS rounds of two O_CREAT|O_EXCL creates of one new name,
 *	one per mount, released together. Ends with "excl rounds=R one=N
 *	none=N two=N errors=N".
 *
 *	reuse: ROUNDS times, a name created and stat'ed on A, unlinked on
 *	B, then created again on A with O_CREAT|O_EXCL at once: a cache
 *	below queuefs that still holds the name answers EEXIST (or ENOENT,
 *	ESTALE). Ends with "reuse rounds=R ok=N eexist=N other=N"; the
 *	caller judges.
 *
 *	cost: MESSAGES sendmail-shaped messages in DIR, one after the other:
 *	dfID and tfID created, written and fsync'ed, tfID renamed to qfID,
 *	then both unlinked. Ends with "cost N messages in S s: R messages/s".
 *
 *	scan: a queue run's reads, where caches matter most: FILES qf files
 *	made in DIR, then PASSES passes of readdir, stat and reading each.
 *	Ends with "scan N reads in S s: R files/s".
 *
 * DIAGNOSTICS
 *	Exit 0 when the subcommand saw what it wants (seq: always, the
 *	caller judges the count), 1 on a failed expectation or an error,
 *	2 on bad usage. Messages name the step and what each mount showed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a blocked waiter on B may take to wake after A unlocks. */
#define WAKE_DEADLINE_MS 5000
/* How long B waits to see that it is blocked. */
#define BLOCKED_MS 300

static int failures;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* path_fmt - DIR/NAME into BUF; exits on overflow (a test bug) */
static char *path_fmt(char *buf, const char *dir, const char *fmt, ...)
{
	char name[NAME_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
		fprintf(stderr, "coh_observe: path too long: %s/%s\n", dir, name);
		exit(2);
	}
	return buf;
}

/* check - count and print one expectation */
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("  %s: ", ok ? "ok" : "FAILED");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failures += !ok;
}

/* put - write DATA to a new or truncated PATH, like test/mount's mnt_put */
static int put(const char *path, const char *data, mode_t mode)
{
	size_t n = strlen(data);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode), err;

	if (fd < 0)
		return -errno;
	if (write(fd, data, n) != (ssize_t)n) {
		err = errno ? -errno : -EIO;
		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* get - read a small file into BUF; bytes read or -errno */
static ssize_t get(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY), err;
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	err = n < 0 ? -errno : 0;
	close(fd);
	buf[got] = 0;
	return err ? err : (ssize_t)got;
}

/* must - exit with a message when a step of the script itself fails */
static void must(int rc, const char *what)
{
	if (rc < 0) {
		printf("  FAILED: %s: %s\n", what, strerror(rc == -1 ? errno : -rc));
		exit(1);
	}
}

/* ---------------------------------------------------------------- seq */

static int odd_errors; /* errors other than ENOENT seen on A (ESTALE leaks) */

/* seen - what PATH shows: content (or the error) plus the mode */
static void seen(const char *path, char *buf, size_t len, int count_odd)
{
	struct stat st;
	char data[256];
	ssize_t n;

	if (stat(path, &st) < 0) {
		odd_errors += count_odd && errno != ENOENT;
		snprintf(buf, len, "%s", strerror(errno));
		return;
	}
	n = get(path, data, sizeof(data));
	odd_errors += count_odd && n < 0;
	snprintf(buf, len, "%s mode %o", n < 0 ? strerror((int)-n) : data, (unsigned)(st.st_mode & 07777));
}

/* listed - does DIR list NAME? */
static void listed(const char *dir, const char *name, char *buf, size_t len, int count_odd)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d) {
		odd_errors += count_odd;
		snprintf(buf, len, "opendir: %s", strerror(errno));
		return;
	}
	while ((e = readdir(d)))
		found |= strcmp(e->d_name, name) == 0;
	closedir(d);
	snprintf(buf, len, "%s", found ? "listed" : "not listed");
}

/* observe - 1 if A's view of NAME does not match B's within SETTLE_MS */
static int observe(const char *a, const char *b, const char *name, int as_dir, const char *step,
		   int settle_ms)
{
	char pa[PATH_MAX], pb[PATH_MAX], va[512], vb[512];
	double start = now_ms();

	if (as_dir)
		listed(b, name, vb, sizeof(vb), 0);
	else
		seen(path_fmt(pb, b, "%s", name), vb, sizeof(vb), 0);
	path_fmt(pa, a, "%s", name);
	for (;;) {
		if (as_dir)
			listed(a, name, va, sizeof(va), 1);
		else
			seen(pa, va, sizeof(va), 1);
		if (strcmp(va, vb) == 0) {
			printf("  %-22s fresh after %4.0f ms: \"%s\"\n", step, now_ms() - start, va);
			return 0;
		}
		if (now_ms() - start > settle_ms) {
			printf("  %-22s STALE after %d ms: A shows \"%s\", B \"%s\"\n", step, settle_ms, va,
			       vb);
			return 1;
		}
		usleep(5000);
	}
}

/* cmd_seq - the scripted changes on B, each observed on A */
static int cmd_seq(const char *a, const char *b, int settle_ms, const char *tag)
{
	char qf[NAME_MAX], nw[NAME_MAX], pq[PATH_MAX], pt[PATH_MAX], pn[PATH_MAX];
	int stale = 0, total = 0, fd;

	snprintf(qf, sizeof(qf), "qfCOH%s", tag);
	snprintf(nw, sizeof(nw), "qfNEW%s", tag);
	path_fmt(pq, b, "%s", qf);
	path_fmt(pt, b, "tfCOH%s", tag);
	path_fmt(pn, b, "%s", nw);
#define OBS(name, dir, step) (stale += observe(a, b, name, dir, step, settle_ms), total++)
	OBS(qf, 0, "nothing yet"); /* A caches the miss */
	must(put(pq, "v1", 0600), "create on B");
	OBS(qf, 0, "create");
	must(put(pt, "v2-rewritten", 0600), "tf on B");
	must(rename(pt, pq), "tf->qf rename on B");
	OBS(qf, 0, "tf->qf rename");
	must(fd = open(pq, O_WRONLY | O_APPEND), "open for append on B");
	must(write(fd, "+append", 7) == 7 ? 0 : -1, "append on B");
	must(close(fd), "close on B");
	OBS(qf, 0, "append");
	must(fd = open(pq, O_WRONLY), "open for rewrite on B");
	must(pwrite(fd, "V", 1, 0) == 1 ? 0 : -1, "same-size rewrite on B"); /* Postfix flips flag bytes */
	must(close(fd), "close on B");
	OBS(qf, 0, "same-size rewrite");
	must(chmod(pq, 0700), "chmod on B");
	OBS(qf, 0, "chmod");
	must(unlink(pq), "unlink on B");
	OBS(qf, 0, "unlink");
	must(put(pq, "v3", 0600), "recreate on B");
	OBS(qf, 0, "recreate");
	OBS(nw, 1, "readdir before");
	must(put(pn, "n", 0600), "new name on B");
	OBS(nw, 1, "readdir after create");
#undef OBS
	unlink(pq);
	unlink(pn);
	printf("  errors other than ENOENT seen on A while polling: %d\n", odd_errors);
	printf("stale %d of %d\n", stale, total);
	return 0;
}

/* -------------------------------------------------------------- locks */

enum lock_kind { LK_FCNTL, LK_FLOCK };

/* lock_take - take (or with UNLOCK drop) the whole-file write lock of KIND on FD */
static int lock_take(int fd, enum lock_kind kind, int wait, int unlock)
{
	struct flock fl = {
		.l_type = unlock ? F_UNLCK : F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19
	};

	if (kind == LK_FLOCK)
		return flock(fd, (unlock ? LOCK_UN : LOCK_EX) | (wait ? 0 : LOCK_NB));
	return fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl); /* Exim's bytes 0-18 */
}

/* open_retry - open PATH, retrying ENOENT/ESTALE for up to 2 s (a name made on the other mount) */
static int open_retry(const char *path, int flags)
{
	double end = now_ms() + 2000;
	int fd;

	while ((fd = open(path, flags)) < 0 && (errno == ENOENT || errno == ESTALE) && now_ms() < end)
		usleep(10000);
	return fd;
}

/* waiter - child: open PB, take a blocking lock, report on WFD */
static void waiter(const char *pb, enum lock_kind kind, int wfd)
{
	int fd = open_retry(pb, O_RDWR);
	char c;

	if (fd < 0)
		_exit(3);
	c = lock_take(fd, kind, 1, 0) == 0 ? 'L' : 'E';
	if (write(wfd, &c, 1) != 1)
		_exit(4);
	/* hold it briefly so A's probe after the wake sees the conflict end cleanly */
	usleep(50000);
	_exit(c == 'L' ? 0 : 5);
}

/* blocking_wait - B's blocking lock waits while A holds FA and wakes after A unlocks */
static void blocking_wait(int fa, const char *pb, enum lock_kind kind, const char *what)
{
	struct pollfd pf;
	int p[2], st;
	pid_t pid;
	char c = 0;
	double t;

	must(pipe(p), "pipe");
	must(lock_take(fa, kind, 0, 0), "lock on A");
	pid = fork();
	must(pid, "fork");
	if (pid == 0) {
		close(p[0]);
		waiter(pb, kind, p[1]);
	}
	close(p[1]);
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	check(poll(&pf, 1, BLOCKED_MS) == 0, "%s: a blocking lock on B waits while A holds it (%d ms)", what,
	      BLOCKED_MS);
	t = now_ms();
	must(lock_take(fa, kind, 0, 1), "unlock on A");
	if (poll(&pf, 1, WAKE_DEADLINE_MS) == 1 && read(p[0], &c, 1) == 1)
		check(c == 'L', "%s: B's blocked lock granted %.0f ms after A unlocked", what, now_ms() - t);
	else
		check(0, "%s: B's blocked lock not granted within %d ms of A's unlock", what,
		      WAKE_DEADLINE_MS);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(p[0]);
}

/* cmd_locks - locks taken on A exclude B */
static int cmd_locks(const char *a, const char *b, const char *tag)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	int fa, fb, rc, i;

	path_fmt(pa, a, "qfLOCK%s", tag);
	path_fmt(pb, b, "qfLOCK%s", tag);
	must(fa = open(pa, O_CREAT | O_RDWR, 0600), "create on A");
	must(fb = open_retry(pb, O_RDWR), "open on B");

	must(lock_take(fa, LK_FCNTL, 0, 0), "fcntl F_SETLK on A");
	rc = lock_take(fb, LK_FCNTL, 0, 0);
	check(rc < 0 && (errno == EAGAIN || errno == EACCES),
	      "fcntl: B's F_SETLK fails while A holds it (%s)", rc < 0 ? strerror(errno) : "granted");
	must(lock_take(fa, LK_FCNTL, 0, 1), "fcntl unlock on A");
	rc = lock_take(fb, LK_FCNTL, 0, 0);
	check(rc == 0, "fcntl: B's F_SETLK granted after A's unlock (%s)",
	      rc < 0 ? strerror(errno) : "granted");
	lock_take(fb, LK_FCNTL, 0, 1);
	blocking_wait(fa, pb, LK_FCNTL, "fcntl");

	must(lock_take(fa, LK_FLOCK, 0, 0), "flock on A");
	rc = lock_take(fb, LK_FLOCK, 0, 0);
	check(rc < 0 && errno == EWOULDBLOCK, "flock: B's LOCK_NB fails while A holds it (%s)",
	      rc < 0 ? strerror(errno) : "granted");
	must(lock_take(fa, LK_FLOCK, 0, 1), "flock unlock on A");
	blocking_wait(fa, pb, LK_FLOCK, "flock");

	/* information: local Linux keeps the two kinds apart; GlusterFS may not */
	must(lock_take(fa, LK_FCNTL, 0, 0), "fcntl on A");
	rc = lock_take(fb, LK_FLOCK, 0, 0);
	printf("  info: fcntl lock on A vs flock on B: %s\n", rc == 0 ? "independent (flock granted)"
							      : errno == EWOULDBLOCK ? "conflict"
										     : strerror(errno));
	if (rc == 0)
		lock_take(fb, LK_FLOCK, 0, 1);
	must(lock_take(fa, LK_FCNTL, 0, 1), "fcntl unlock on A");

	/* The last close drops a flock; FUSE sends that release after close(2) returned. */
	must(lock_take(fa, LK_FLOCK, 0, 0), "flock on A");
	must(close(fa), "close on A");
	for (i = 0; i < 200 && (rc = lock_take(fb, LK_FLOCK, 0, 0)) < 0; i++)
		usleep(10000);
	check(rc == 0, "flock: A's close releases it for B (after %d ms)", i * 10);
	close(fb);
	unlink(pa);
	return failures ? 1 : 0;
}

/* --------------------------------------------------------------- excl */

/* cmd_excl - ROUNDS races of two O_EXCL creates of one name, one per mount */
static int cmd_excl(const char *a, const char *b, int rounds, const char *tag)
{
	int one = 0, none = 0, two = 0, errors = 0, left = 0, awins = 0;

	for (int r = 0; r < rounds; r++) {
		char pa[PATH_MAX], pb[PATH_MAX];
		int go[2], st, fa, ea, wa, wb;
		struct stat sa;
		pid_t pid;
		char c;

		path_fmt(pa, a, "qfEX%s%04d", tag, r);
		path_fmt(pb, b, "qfEX%s%04d", tag, r);
		must(pipe(go), "pipe");
		pid = fork();
		must(pid, "fork");
		if (pid == 0) {
			int fd;

			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(9);
			fd = open(pb, O_CREAT | O_EXCL | O_WRONLY, 0600);
			_exit(fd >= 0 ? 0 : errno == EEXIST ? 1 : 10 + (errno & 0x7f) % 100);
		}
		close(go[0]);
		c = 'g';
		must(write(go[1], &c, 1) == 1 ? 0 : -1, "release");
		fa = open(pa, O_CREAT | O_EXCL | O_WRONLY, 0600);
		ea = errno;
		if (fa >= 0)
			close(fa);
		close(go[1]);
		waitpid(pid, &st, 0);
		wa = fa >= 0;
		wb = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if ((!wa && ea != EEXIST) || !WIFEXITED(st) || WEXITSTATUS(st) > 1) {
			if (errors++ < 5)
				printf("  round %d: A %s, B exit %d (errno %d)\n", r,
				       wa ? "won" : strerror(ea), WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				       WIFEXITED(st) && WEXITSTATUS(st) >= 10 ? WEXITSTATUS(st) - 10 : 0);
			continue;
		}
		awins += wa;
		if (wa + wb == 1)
			one++;
		else if (wa + wb == 2) {
			two++;
			printf("  round %d: BOTH creates succeeded\n", r);
		} else {
			none++;
			left += stat(pa, &sa) == 0;
			printf("  round %d: both got EEXIST; the name %s on A\n", r,
			       stat(pa, &sa) == 0 ? "exists" : "does not exist");
		}
	}
	for (int r = 0; r < rounds; r++) {
		char pa[PATH_MAX];

		unlink(path_fmt(pa, a, "qfEX%s%04d", tag, r));
	}
	printf("  A won %d of the one-winner rounds\n", awins);
	printf("excl rounds=%d one=%d none=%d none_no_file=%d two=%d errors=%d\n", rounds, one, none,
	       none - left, two, errors);
	return two || errors ? 1 : 0;
}

/* cmd_reuse - O_EXCL create on A right after B unlinked the name */
static int cmd_reuse(const char *a, const char *b, int rounds, const char *tag)
{
	int ok = 0, eexist = 0, other = 0, fd;
	double worst = 0;

	for (int r = 0; r < rounds; r++) {
		char pa[PATH_MAX], pb[PATH_MAX];
		struct stat st;
		double t;

		path_fmt(pa, a, "qfRU%s%04d", tag, r);
		path_fmt(pb, b, "qfRU%s%04d", tag, r);
		must(fd = open(pa, O_CREAT | O_EXCL | O_WRONLY, 0600), "create on A");
		close(fd);
		must(stat(pa, &st), "stat on A");
		must(fd = open_retry(pb, O_RDONLY), "open on B"); /* B knows the name */
		close(fd);
		must(unlink(pb), "unlink on B");
		t = now_ms();
		fd = open(pa, O_CREAT | O_EXCL | O_WRONLY, 0600);
		if (fd < 0 && errno == EEXIST) {
			/* how long does the name linger? */
			eexist++;
			while ((fd = open(pa, O_CREAT | O_EXCL | O_WRONLY, 0600)) < 0 && errno == EEXIST &&
			       now_ms() - t < 5000)
				usleep(1000);
			if (now_ms() - t > worst)
				worst = now_ms() - t;
		} else if (fd >= 0) {
			ok++;
		}
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST && other++ < 5)
			printf("  round %d: A's create after B's unlink: %s\n", r, strerror(errno));
		unlink(pa);
	}
	printf("reuse rounds=%d ok=%d eexist=%d other=%d worst_ms=%.0f\n", rounds, ok, eexist, other, worst);
	return 0;
}

/* --------------------------------------------------------------- cost */

/* write_file - create NAME exclusively, write LEN bytes of BODY, fsync, close */
static int write_file(const char *path, const char *body, size_t len)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, body, len) != (ssize_t)len || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/* cmd_cost - messages per second of a create/fsync/rename/unlink loop in DIR */
static int cmd_cost(const char *dir, int n, const char *tag)
{
	static char df[4096], qf[600];
	char pd[PATH_MAX], pt[PATH_MAX], pq[PATH_MAX];
	double t0 = now_ms(), s;

	memset(df, 'd', sizeof(df));
	memset(qf, 'q', sizeof(qf));
	for (int i = 0; i < n; i++) {
		path_fmt(pd, dir, "dfCO%s%05d", tag, i);
		path_fmt(pt, dir, "tfCO%s%05d", tag, i);
		path_fmt(pq, dir, "qfCO%s%05d", tag, i);
		must(write_file(pd, df, sizeof(df)), "df create/write/fsync");
		must(write_file(pt, qf, sizeof(qf)), "tf create/write/fsync");
		must(rename(pt, pq), "tf->qf rename");
		must(unlink(pq), "unlink qf");
		must(unlink(pd), "unlink df");
	}
	s = (now_ms() - t0) / 1e3;
	printf("cost %d messages in %.2f s: %.0f messages/s\n", n, s, n / s);
	return 0;
}

/* cmd_scan - files per second of readdir + stat + read passes over FILES qf files in DIR */
static int cmd_scan(const char *dir, int files, int passes, const char *tag)
{
	static char qf[600];
	char p[PATH_MAX], prefix[NAME_MAX], buf[4096];
	double t0, s;
	long reads = 0;

	memset(qf, 'q', sizeof(qf));
	snprintf(prefix, sizeof(prefix), "qfSC%s", tag);
	for (int i = 0; i < files; i++)
		must(write_file(path_fmt(p, dir, "%s%05d", prefix, i), qf, sizeof(qf)),
		     "qf create/write/fsync");
	t0 = now_ms();
	for (int r = 0; r < passes; r++) {
		DIR *d = opendir(dir);
		struct dirent *e;

		must(d ? 0 : -1, "opendir");
		while ((e = readdir(d))) {
			struct stat st;

			if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
				continue;
			must(stat(path_fmt(p, dir, "%s", e->d_name), &st), "stat");
			must(get(p, buf, sizeof(buf)) == (ssize_t)sizeof(qf) ? 0 : -EIO, "read qf");
			reads++;
		}
		closedir(d);
	}
	s = (now_ms() - t0) / 1e3;
	for (int i = 0; i < files; i++)
		unlink(path_fmt(p, dir, "%s%05d", prefix, i));
	if (reads != (long)files * passes) {
		printf("  FAILED: scan read %ld files, want %ld\n", reads, (long)files * passes);
		return 1;
	}
	printf("scan %ld reads in %.2f s: %.0f files/s\n", reads, s, reads / s);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: coh_observe seq A B SETTLE_MS TAG | locks A B TAG | excl A B ROUNDS TAG | "
			"reuse A B ROUNDS TAG |"
			" cost DIR MESSAGES TAG | scan DIR FILES PASSES TAG\n");
	exit(2);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "seq") == 0)
		return cmd_seq(argv[2], argv[3], atoi(argv[4]), argv[5]);
	if (argc == 5 && strcmp(argv[1], "locks") == 0)
		return cmd_locks(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "excl") == 0)
		return cmd_excl(argv[2], argv[3], atoi(argv[4]), argv[5]);
	if (argc == 6 && strcmp(argv[1], "reuse") == 0)
		return cmd_reuse(argv[2], argv[3], atoi(argv[4]), argv[5]);
	if (argc == 5 && strcmp(argv[1], "cost") == 0)
		return cmd_cost(argv[2], atoi(argv[3]), argv[4]);
	if (argc == 6 && strcmp(argv[1], "scan") == 0)
		return cmd_scan(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
	usage();
	return 2;
}
