/*
 * NAME
 *	mnt.c - layouts, daemon start/stop and backing inspection for the
 *	mount tests
 *
 * DESCRIPTION
 *	See mnt.h. The daemon is fork/exec'ed in the foreground (-f) into its
 *	own process group, so that Check killing a failed test's process
 *	group leaves it alone and the fixture can still unmount it cleanly.
 *	Mount readiness is read from /proc/self/mountinfo, never from a stat
 *	that a half-started daemon could block.
 *
 * DIAGNOSTICS
 *	Returns -1 with m->why set; never aborts. Deadlines (10 s) scale with
 *	CK_TIMEOUT_MULTIPLIER, as Check's own timeouts do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "mnt.h"

#define MNT_DEADLINE 10.0 /* seconds for a mount or an exit to happen */

const char *const mnt_back_name[MNT_NBACK] = { "c1", "c2", "c3", "d1", "x1", "c4" };

const char mnt_conf_sendmail[] = "preset = sendmail\n" MNT_SENDMAIL_CLASSES;

const char mnt_conf_sendmail_ctl[] = "preset = sendmail\n"
				     "ctl_dir = {B}/ctl\n" MNT_SENDMAIL_CLASSES;

static char mnt_testdir[PATH_MAX]; /* canonical $QFS_TEST_DIR */
static char mnt_daemon[PATH_MAX];  /* $QUEUEFS */

/* mnt_now - monotonic seconds */
static double mnt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* mnt_nap - sleep MS milliseconds */
static void mnt_nap(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* mnt_fmt - snprintf that returns BUF; truncation of test paths is harmless */
const char *mnt_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

/* mnt_scale - deadline multiplier, as Check scales its timeouts */
double mnt_scale(void)
{
	const char *s = getenv("CK_TIMEOUT_MULTIPLIER");
	double v = s ? strtod(s, NULL) : 1.0;

	return v >= 1.0 ? v : 1.0;
}

/* mnt_init - check root, /dev/fuse, $QFS_TEST_DIR and $QUEUEFS */
bool mnt_init(char *why, size_t len)
{
	const char *d = getenv("QFS_TEST_DIR");
	const char *q = getenv("QUEUEFS");
	int fd;

	if (geteuid() != 0) {
		mnt_fmt(why, len, "not root: mounting with allow_other needs root");
		return false;
	}
	if ((fd = open("/dev/fuse", O_RDWR)) < 0) {
		mnt_fmt(why, len, "open /dev/fuse: %s", strerror(errno));
		return false;
	}
	close(fd);
	if (!d || !realpath(d, mnt_testdir)) {
		mnt_fmt(why, len, "QFS_TEST_DIR %s: %s (run through test/mount/run)", d ? d : "unset",
			d ? strerror(errno) : "no work directory");
		return false;
	}
	if (!q || !*q) {
		mnt_fmt(why, len, "QUEUEFS is unset: the daemon to test");
		return false;
	}
	mnt_fmt(mnt_daemon, sizeof(mnt_daemon), "%s", q);
	return true;
}

/* mnt_test_dir - the canonical work directory */
const char *mnt_test_dir(void)
{
	return mnt_testdir;
}

/* mnt_fail - worker failure message with errno text */
int mnt_fail(char *err, size_t len, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	n = strlen(err);
	if (n < len)
		mnt_fmt(err + n, len - n, ": %s", strerror(saved));
	return -1;
}

/* mnt_put - write a whole file */
int mnt_put(const char *path, const char *data, mode_t mode)
{
	size_t n = strlen(data);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	int err;

	if (fd < 0)
		return -errno;
	if (write(fd, data, n) != (ssize_t)n) {
		err = errno ? -errno : -EIO;
		close(fd);
		return err;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

/* mnt_get - read a whole (small) file */
ssize_t mnt_get(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t n = 0;
	int err;

	if (fd < 0)
		return -errno;
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	if (n < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	buf[got] = 0;
	close(fd);
	return got;
}

/* mnt_rm_one - nftw callback of mnt_rm_rf */
static int mnt_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

/* mnt_rm_rf - remove a tree; refuses to cross into a mount (FTW_MOUNT) */
int mnt_rm_rf(const char *path)
{
	if (nftw(path, mnt_rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return -errno;
	return 0;
}

/* mnt_subst - expand "{B}" to ROOT */
static int mnt_subst(const char *in, const char *root, char *out, size_t len)
{
	size_t o = 0, rl = strlen(root);

	while (*in) {
		if (strncmp(in, "{B}", 3) == 0) {
			if (o + rl >= len)
				return -1;
			memcpy(out + o, root, rl);
			o += rl;
			in += 3;
		} else {
			if (o + 1 >= len)
				return -1;
			out[o++] = *in++;
		}
	}
	out[o] = 0;
	return 0;
}

/* mnt_write_conf - (re)write the layout's config file */
int mnt_write_conf(struct mnt *m, const char *conf)
{
	char text[16384];
	int err;

	if (mnt_subst(conf ? conf : mnt_conf_sendmail, m->root, text, sizeof(text)) < 0) {
		mnt_fmt(m->why, sizeof(m->why), "config text too long");
		return -1;
	}
	if ((err = mnt_put(m->conf, text, 0644)) < 0) {
		mnt_fmt(m->why, sizeof(m->why), "write %s: %s", m->conf, strerror(-err));
		return -1;
	}
	return 0;
}

/* mnt_layout - fresh backing roots, mountpoint and config */
int mnt_layout(struct mnt *m, const char *tag, const char *conf)
{
	static unsigned serial; /* per process; the pid keeps forks apart */
	int i;

	memset(m, 0, sizeof(*m));
	mnt_fmt(m->root, sizeof(m->root), "%s/%s.%d.%u", mnt_testdir, tag, (int)getpid(), ++serial);
	mnt_fmt(m->dir, sizeof(m->dir), "%s/mnt", m->root);
	mnt_fmt(m->conf, sizeof(m->conf), "%s/queuefs.conf", m->root);
	mnt_fmt(m->pidfile, sizeof(m->pidfile), "%s/daemon.pid", m->root);
	if (mkdir(m->root, 0755) < 0 || mkdir(m->dir, 0755) < 0) {
		mnt_fmt(m->why, sizeof(m->why), "mkdir %s: %s", m->root, strerror(errno));
		return -1;
	}
	for (i = 0; i < MNT_NBACK; i++) {
		mnt_fmt(m->back[i], sizeof(m->back[i]), "%s/%s", m->root, mnt_back_name[i]);
		if (i < MNT_NDEFAULT && mkdir(m->back[i], 0755) < 0) {
			mnt_fmt(m->why, sizeof(m->why), "mkdir %s: %s", m->back[i], strerror(errno));
			return -1;
		}
	}
	return mnt_write_conf(m, conf);
}

/* mnt_unescape - undo the octal escapes of /proc/self/mountinfo */
static void mnt_unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
}

/*
 * mnt_points - call FN for each mount point (unescaped) in mountinfo, last
 * mounted first, so that nested mounts go before their parents.
 */
static int mnt_points(int (*fn)(const char *mp, void *arg), void *arg)
{
	char line[8192], mp[PATH_MAX], *pts[512];
	int n = 0, i, r = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return 0;
	while (n < 512 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		mnt_unescape(mp);
		pts[n++] = strdup(mp);
	}
	fclose(f);
	for (i = n - 1; i >= 0; i--) {
		if (pts[i] && !r)
			r = fn(pts[i], arg);
		free(pts[i]);
	}
	return r;
}

/* mnt_is_path - mnt_points callback: stop when the point equals ARG */
static int mnt_is_path(const char *mp, void *arg)
{
	return strcmp(mp, arg) == 0;
}

/* mnt_mounted - is PATH a mount point now */
bool mnt_mounted(const char *path)
{
	return mnt_points(mnt_is_path, (void *)path) != 0;
}

/* mnt_read_err - the daemon's stderr into m->why (prefixed by CONTEXT) */
static void mnt_read_err(struct mnt *m, const char *context)
{
	char text[1800];
	ssize_t n = mnt_get(m->errfile, text, sizeof(text));

	if (n < 0)
		mnt_fmt(text, sizeof(text), "(no stderr: %s)", strerror((int)-n));
	mnt_fmt(m->why, sizeof(m->why), "%s; daemon stderr: %s", context, text);
}

/* mnt_status - wait status as an exit code, 128+signal for a signal */
static int mnt_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* mnt_spawn - fork/exec [WRAPPER...] QUEUEFS -f [-o OPTS] CONF DIR */
static int mnt_spawn(struct mnt *m, const char *opts)
{
	char wrap[1024], *argv[64], *save = NULL, *w, pidtext[32];
	const char *wenv = getenv("QUEUEFS_WRAPPER");
	int argc = 0, fd;
	pid_t pid;

	mnt_fmt(wrap, sizeof(wrap), "%s", wenv ? wenv : "");
	for (w = strtok_r(wrap, " \t", &save); w && argc < 48; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	argv[argc++] = mnt_daemon;
	argv[argc++] = "-f";
	if (opts && *opts) {
		argv[argc++] = "-o";
		argv[argc++] = (char *)opts;
	}
	argv[argc++] = m->conf;
	argv[argc++] = m->dir;
	argv[argc] = NULL;

	mnt_fmt(m->errfile, sizeof(m->errfile), "%s/daemon.%d.err", m->root, ++m->starts);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		mnt_fmt(m->why, sizeof(m->why), "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		fd = open(m->errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		closefrom(3);
		execvp(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	m->pid = pid;
	mnt_fmt(pidtext, sizeof(pidtext), "%d\n", (int)pid);
	mnt_put(m->pidfile, pidtext, 0644);
	return 0;
}

/* mnt_reaped - the daemon is gone: forget it */
static void mnt_reaped(struct mnt *m)
{
	m->pid = 0;
	m->up = false;
	unlink(m->pidfile);
}

/* mnt_wait_exit - waitpid with a deadline; -2 on timeout */
static int mnt_wait_exit(struct mnt *m, double secs)
{
	double end = mnt_now() + secs * mnt_scale();
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(m->pid, &st, WNOHANG);
		if (r == m->pid) {
			mnt_reaped(m);
			return mnt_status(st);
		}
		if (r < 0 && errno == ECHILD) { /* not ours: poll /proc */
			if (kill(m->pid, 0) < 0) {
				mnt_reaped(m);
				return -1;
			}
		}
		if (mnt_now() > end)
			return -2;
		mnt_nap(10);
	}
}

/* mnt_start - start the daemon and wait for its mount */
int mnt_start(struct mnt *m, const char *opts)
{
	double end = mnt_now() + MNT_DEADLINE * mnt_scale();
	int st;
	pid_t r;

	m->up = false;
	if (mnt_mounted(m->dir)) {
		mnt_fmt(m->why, sizeof(m->why), "%s is already a mount point", m->dir);
		return -1;
	}
	if (mnt_spawn(m, opts) < 0)
		return -1;
	for (;;) {
		if (mnt_mounted(m->dir)) {
			m->up = true;
			return 0;
		}
		r = waitpid(m->pid, &st, WNOHANG);
		if (r == m->pid) {
			char ctx[128];

			mnt_fmt(ctx, sizeof(ctx), "daemon exited with status %d before mounting",
				mnt_status(st));
			mnt_reaped(m);
			mnt_read_err(m, ctx);
			return -1;
		}
		if (mnt_now() > end)
			break;
		mnt_nap(10);
	}
	kill(m->pid, SIGKILL);
	waitpid(m->pid, &st, 0);
	mnt_reaped(m);
	if (mnt_mounted(m->dir))
		umount2(m->dir, MNT_DETACH);
	mnt_read_err(m, "no mount after 10 s, daemon killed");
	return -1;
}

/* mnt_refused - start expecting the daemon to refuse */
int mnt_refused(struct mnt *m, const char *opts)
{
	double end;
	int st = -2;

	m->up = false;
	if (mnt_spawn(m, opts) < 0)
		return -1;
	end = mnt_now() + MNT_DEADLINE * mnt_scale();
	while (st == -2 && mnt_now() < end) {
		if (mnt_mounted(m->dir)) {
			m->up = true;
			mnt_stop(m);
			mnt_read_err(m, "daemon mounted instead of refusing");
			return -1;
		}
		st = mnt_wait_exit(m, 0.05);
	}
	if (st == -2) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
		mnt_reaped(m);
		mnt_read_err(m, "daemon neither mounted nor exited in 10 s: killed");
		return -1;
	}
	mnt_read_err(m, "refused");
	return st;
}

/* mnt_stop - unmount, wait for the daemon's exit status */
int mnt_stop(struct mnt *m)
{
	int i, st;

	for (i = 0; i < 50 && mnt_mounted(m->dir); i++) {
		if (umount2(m->dir, 0) == 0)
			break;
		if (errno != EBUSY) {
			mnt_fmt(m->why, sizeof(m->why), "umount %s: %s", m->dir, strerror(errno));
			break;
		}
		mnt_nap(100);
	}
	if (mnt_mounted(m->dir))
		umount2(m->dir, MNT_DETACH);
	m->up = false;
	if (!m->pid)
		return -1;
	st = mnt_wait_exit(m, MNT_DEADLINE);
	if (st == -2) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
		mnt_reaped(m);
		mnt_fmt(m->why, sizeof(m->why), "daemon did not exit within 10 s of unmount: killed");
		return -1;
	}
	return st;
}

/* mnt_crash - kill -9 the daemon and lazily unmount what it leaves */
int mnt_crash(struct mnt *m)
{
	if (!m->pid) {
		mnt_fmt(m->why, sizeof(m->why), "no daemon to kill");
		return -1;
	}
	kill(m->pid, SIGKILL);
	mnt_wait_exit(m, MNT_DEADLINE);
	if (mnt_mounted(m->dir) && umount2(m->dir, MNT_DETACH) < 0) {
		mnt_fmt(m->why, sizeof(m->why), "umount -l %s: %s", m->dir, strerror(errno));
		return -1;
	}
	m->up = false;
	return 0;
}

/* mnt_under - mnt_points callback: unmount points below ARG */
static int mnt_under(const char *mp, void *arg)
{
	const char *dir = arg;
	size_t n = strlen(dir);
	int i;

	if (strncmp(mp, dir, n) != 0 || (mp[n] != '/' && mp[n] != 0))
		return 0;
	for (i = 0; i < 20; i++) {
		if (umount2(mp, 0) == 0 || errno != EBUSY)
			break;
		mnt_nap(100);
	}
	if (mnt_mounted(mp))
		umount2(mp, MNT_DETACH);
	return 0;
}

/* mnt_cmdline_has - does /proc/PID/cmdline mention DIR */
static bool mnt_cmdline_has(pid_t pid, const char *dir)
{
	char p[64], buf[8192];
	ssize_t n, i;
	int fd;

	mnt_fmt(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(p, O_RDONLY)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = 0;
	return strstr(buf, dir) != NULL;
}

/* mnt_reap_one - end one recorded daemon (nftw has no closure argument) */
static const char *mnt_reap_dir;

static int mnt_reap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char text[32];
	struct mnt tmp;
	pid_t pid;

	(void)st;
	if (type != FTW_F || strcmp(path + ftw->base, "daemon.pid") != 0)
		return 0;
	if (mnt_get(path, text, sizeof(text)) <= 0 || (pid = atoi(text)) <= 1)
		return 0;
	if (mnt_cmdline_has(pid, mnt_reap_dir)) {
		memset(&tmp, 0, sizeof(tmp));
		tmp.pid = pid;
		mnt_fmt(tmp.pidfile, sizeof(tmp.pidfile), "%s", path);
		if (mnt_wait_exit(&tmp, 2.0) == -2) {
			kill(pid, SIGKILL);
			mnt_wait_exit(&tmp, MNT_DEADLINE);
		}
	}
	waitpid(pid, NULL, WNOHANG);
	unlink(path);
	return 0;
}

/* mnt_reap - unmount and end everything left under DIR */
void mnt_reap(const char *dir)
{
	mnt_points(mnt_under, (void *)dir);
	mnt_reap_dir = dir;
	nftw(dir, mnt_reap_one, 32, FTW_PHYS | FTW_MOUNT);
	mnt_reap_dir = NULL;
	while (waitpid(-1, NULL, WNOHANG) > 0) /* orphans handed to us (subreaper) */
		;
}

/* mnt_fixture_up - layout + mount for a TCase; failure only noted */
void mnt_fixture_up(struct mnt *m, const char *tag, const char *conf, const char *opts)
{
	if (mnt_layout(m, tag, conf) < 0)
		return;
	mnt_start(m, opts);
}

/* mnt_fixture_down - stop the TCase's daemon, reap leftovers of its tests */
void mnt_fixture_down(struct mnt *m)
{
	if (m->pid)
		mnt_stop(m);
	mnt_reap(mnt_testdir);
}

/* mnt_enter - chdir into the mount */
void mnt_enter(const struct mnt *m, const char *rel)
{
	char p[PATH_MAX];

	MNT_REQUIRE(m);
	mnt_fmt(p, sizeof(p), "%s/%s", m->dir, rel ? rel : "");
	ck_assert_msg(chdir(p) == 0, "chdir %s: %s", p, strerror(errno));
}

/* mnt_bpath - path of REL in backing B */
const char *mnt_bpath(const struct mnt *m, int b, const char *rel, char *buf, size_t len)
{
	mnt_fmt(buf, len, "%s/%s", m->back[b], rel);
	return buf;
}

/* mnt_where - backings that hold REL */
int mnt_where(const struct mnt *m, const char *rel, int *which)
{
	char p[PATH_MAX];
	struct stat st;
	int b, n = 0;

	for (b = 0; b < MNT_NBACK; b++) {
		if (lstat(mnt_bpath(m, b, rel, p, sizeof(p)), &st) == 0) {
			if (n++ == 0 && which)
				*which = b;
		}
	}
	return n;
}

/* mnt_where_list - the same as text */
const char *mnt_where_list(const struct mnt *m, const char *rel, char *buf, size_t len)
{
	char p[PATH_MAX];
	struct stat st;
	size_t o = 0;
	int b;

	buf[0] = 0;
	for (b = 0; b < MNT_NBACK; b++)
		if (lstat(mnt_bpath(m, b, rel, p, sizeof(p)), &st) == 0 && o < len)
			o += snprintf(buf + o, len - o, "%s%s", o ? " " : "", mnt_back_name[b]);
	if (!o)
		mnt_fmt(buf, len, "(none)");
	return buf;
}

/* State of one mnt_leftovers walk (nftw has no closure argument). */
static struct {
	int count;
	size_t skip; /* length of the backing root, to find its .queuefs */
	char *first;
	size_t len;
} mnt_left;

static int mnt_left_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (strncmp(path + mnt_left.skip, "/.queuefs", 9) == 0 &&
	    (path[mnt_left.skip + 9] == 0 || path[mnt_left.skip + 9] == '/'))
		return 0;
	if (type != FTW_D && type != FTW_DP) {
		if (mnt_left.count++ == 0 && mnt_left.first)
			mnt_fmt(mnt_left.first, mnt_left.len, "%s", path);
	}
	return 0;
}

/* mnt_leftovers - non-directories below REL in any backing */
int mnt_leftovers(const struct mnt *m, const char *rel, char *first, size_t len)
{
	char p[PATH_MAX];
	int b;

	mnt_left.count = 0;
	mnt_left.first = first;
	mnt_left.len = len;
	if (first && len)
		first[0] = 0;
	for (b = 0; b < MNT_NBACK; b++) {
		mnt_left.skip = strlen(m->back[b]);
		mnt_bpath(m, b, rel ? rel : "", p, sizeof(p));
		if (access(p, F_OK) == 0)
			nftw(p, mnt_left_one, 32, FTW_PHYS);
	}
	return mnt_left.count;
}

/* State of one mnt_snapshot walk. */
static struct {
	char **lines;
	size_t n, cap;
} mnt_snap;

static int mnt_snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char line[PATH_MAX + 128];

	(void)type;
	(void)ftw;
	if (mnt_snap.n == mnt_snap.cap) {
		mnt_snap.cap = mnt_snap.cap ? 2 * mnt_snap.cap : 64;
		mnt_snap.lines = realloc(mnt_snap.lines, mnt_snap.cap * sizeof(char *));
	}
	/* a directory's mtime may move without its contents changing */
	mnt_fmt(line, sizeof(line), "%s %o %lld %lld.%09ld\n", path, (unsigned)st->st_mode,
		(long long)st->st_size, S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_mtim.tv_sec,
		S_ISDIR(st->st_mode) ? 0L : st->st_mtim.tv_nsec);
	mnt_snap.lines[mnt_snap.n++] = strdup(line);
	return 0;
}

static int mnt_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* mnt_snapshot - every entry of every backing, sorted */
char *mnt_snapshot(const struct mnt *m)
{
	size_t i, total = 1;
	char *out;
	int b;

	memset(&mnt_snap, 0, sizeof(mnt_snap));
	for (b = 0; b < MNT_NBACK; b++)
		if (access(m->back[b], F_OK) == 0)
			nftw(m->back[b], mnt_snap_one, 32, FTW_PHYS);
	qsort(mnt_snap.lines, mnt_snap.n, sizeof(char *), mnt_cmp_str);
	for (i = 0; i < mnt_snap.n; i++)
		total += strlen(mnt_snap.lines[i]);
	out = malloc(total);
	out[0] = 0;
	for (i = 0; i < mnt_snap.n; i++) {
		strcat(out, mnt_snap.lines[i]);
		free(mnt_snap.lines[i]);
	}
	free(mnt_snap.lines);
	return out;
}

/* mnt_manifest - one "key = value" of a backing's manifest */
int mnt_manifest(const struct mnt *m, int b, const char *key, char *val, size_t len)
{
	char p[PATH_MAX], line[1024], *k, *v, *e;
	FILE *f;
	int found = -1;

	mnt_fmt(p, sizeof(p), "%s/.queuefs/manifest", m->back[b]);
	if (!(f = fopen(p, "r")))
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		k = line + strspn(line, " \t");
		if (!(v = strchr(k, '=')))
			continue;
		for (e = v; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = 0;
		if (strcmp(k, key) != 0)
			continue;
		v += 1 + strspn(v + 1, " \t");
		v[strcspn(v, "\r\n")] = 0;
		mnt_fmt(val, len, "%s", v);
		found = 0;
	}
	fclose(f);
	return found;
}

/* mnt_readdir - all entries but the dots */
int mnt_readdir(const char *dir, struct mnt_dent **out, int *dots)
{
	struct mnt_dent *v = NULL;
	struct dirent *e;
	int n = 0, cap = 0;
	DIR *d = opendir(dir);

	if (dots)
		*dots = 0;
	if (!d)
		return -errno;
	errno = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			if (dots) /* one count per dot: 1 for ".", 16 for ".." */
				*dots += e->d_name[1] ? 16 : 1;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, cap * sizeof(*v));
		}
		mnt_fmt(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		v[n].ino = e->d_ino;
		v[n].type = e->d_type;
		n++;
	}
	closedir(d);
	*out = v;
	return n;
}

/* mnt_shared - anonymous shared memory for forked workers */
void *mnt_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert_msg(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
	return p;
}

/* mnt_workers - fork N workers, collect failures through a pipe */
int mnt_workers(int n, int (*fn)(int i, void *arg, char *err, size_t len), void *arg, char *err, size_t len)
{
	char msg[512];
	pid_t pids[64];
	int fds[2], i, st, failed = 0;
	ssize_t got;

	ck_assert_int_le(n, 64);
	ck_assert_msg(pipe(fds) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		ck_assert_msg(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			close(fds[0]);
			msg[0] = 0;
			if (fn(i, arg, msg, sizeof(msg)) != 0) {
				char line[600];
				int l = snprintf(line, sizeof(line), "worker %d: %s\n", i, msg);

				if (write(fds[1], line, l) < 0)
					_exit(2);
				_exit(1);
			}
			_exit(0);
		}
	}
	close(fds[1]);
	if (len)
		err[0] = 0;
	got = 0;
	while (got + 1 < (ssize_t)len) {
		ssize_t r = read(fds[0], err + got, len - 1 - got);

		if (r <= 0)
			break;
		got += r;
	}
	if (len)
		err[got] = 0;
	close(fds[0]);
	for (i = 0; i < n; i++) {
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			failed++;
			if (!got && len) {
				mnt_fmt(err, len, "worker %d: status %d", i, mnt_status(st));
				got = 1;
			}
		}
	}
	return failed;
}

/* mnt_ask - one control request, its answer in BUF */
int mnt_ask(const char *dir, const char *mnt, const char *req, char *buf, size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	int r;

	if (!f)
		return -errno;
	r = ctl_request(dir, mnt, req, f);
	fclose(f);
	buf[len - 1] = 0;
	return r;
}
