/*
 * NAME
 *	check_ctl.c - the control channel and the daemonized daemon
 *
 * DESCRIPTION
 *	status: "queuefsctl status" numbers (files per shard) match what the
 *	backings hold, the JSON form names the mount and counts operations.
 *	refuse: a non-root client, an oversized and an unknown request are
 *	refused. daemon: queuefs started without -f detaches, and its worker
 *	and control threads still run in the detached process (an fsyncdir
 *	over two backings returns; status answers), and files can be read
 *	(they are reopened through the detached process's /proc/self/fd).
 *	readdirplus: a cold listing of 2000 names, each stat'ed as it comes,
 *	costs (almost) no LOOKUP and leaves no inode held; with
 *	readdirplus = no it costs one LOOKUP per name.
 *
 * DIAGNOSTICS
 *	Failures read "got X, want Y".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "mnt.h"

static struct mnt ctl_m;
static char ctl_dir[PATH_MAX];

static void ctl_up(void)
{
	mnt_fixture_up(&ctl_m, "ctl", mnt_conf_sendmail_ctl, NULL);
	mnt_fmt(ctl_dir, sizeof(ctl_dir), "%s/ctl", ctl_m.root);
}

static void ctl_down(void)
{
	mnt_fixture_down(&ctl_m);
}

/* files_in - non-directories in backing root B (not below: the test uses the root only) */
static int files_in(const struct mnt *m, int b)
{
	struct dirent *de;
	DIR *d = opendir(m->back[b]);
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_type != DT_DIR)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_ctl_status)
{
	static char out[65536];
	char name[64], want[64];

	mnt_enter(&ctl_m, NULL);
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "qfST%04d", i);
		MNT_OK(mnt_put(name, "control", 0600));
		snprintf(name, sizeof(name), "dfST%04d", i);
		MNT_OK(mnt_put(name, "data", 0600));
	}
	ck_assert_int_eq(mnt_ask(ctl_dir, ctl_m.dir, "status", out, sizeof(out)), 0);
	for (int b = 0; b < MNT_NDEFAULT; b++) {
		const char *line = strstr(out, ctl_m.back[b]);
		unsigned long files;

		ck_assert_msg(line, "status does not list %s:\n%s", ctl_m.back[b], out);
		ck_assert_int_eq(sscanf(line + strlen(ctl_m.back[b]), "%lu", &files), 1);
		ck_assert_msg((int)files == files_in(&ctl_m, b), "status says %lu files on %s, got %d there",
			      files, mnt_back_name[b], files_in(&ctl_m, b));
	}
	ck_assert_int_eq(mnt_ask(ctl_dir, ctl_m.dir, "status json", out, sizeof(out)), 0);
	mnt_fmt(want, sizeof(want), "\"op\":\"create\",\"count\":");
	ck_assert_msg(strstr(out, want), "status json lacks %s:\n%s", want, out);
	ck_assert_msg(strstr(out, "\"mountpoint\":\"") && strstr(out, "\"off_home\":0"), "status json: %s",
		      out);
	/* Local backings, locks kept by the kernel: a close costs no FLUSH round trip. */
	ck_assert_msg(strstr(out, "\"op\":\"release\"") && !strstr(out, "\"op\":\"flush\""),
		      "60 files closed: want releases and no flush in %s", out);
}
END_TEST

START_TEST(test_ctl_refusals)
{
	char out[4096], big[6000];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid;
	int st, fd;
	ssize_t n;

	MNT_REQUIRE(&ctl_m);
	ck_assert_int_eq(mnt_ask(ctl_dir, ctl_m.dir, "frobnicate", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "error: unknown request 'frobnicate'"), "got \"%s\"", out);

	/* Oversized: no newline within the limit. */
	ck_assert_int_eq(ctl_socket_path(ctl_dir, ctl_m.dir, sa.sun_path, sizeof(sa.sun_path)), 0);
	fd = MNT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	MNT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	shutdown(fd, SHUT_WR);
	n = read(fd, out, sizeof(out) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	out[n] = 0;
	ck_assert_msg(strstr(out, "error: request too long"), "got \"%s\"", out);

	/* Neither root nor in ctl_group: no answer but a refusal. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int r;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		r = mnt_ask(ctl_dir, ctl_m.dir, "status", out, sizeof(out));
		_exit(r == -EACCES || strstr(out, "error: permission denied") ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534 was not refused (status %d)", st);
}
END_TEST

/* daemon_pid - the detached queuefs serving DIR (its command line names it) */
static pid_t daemon_pid(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	pid_t found = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL && !found) {
		char path[300], cmd[4096];
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n] = 0;
		if (strstr(cmd, "queuefs") && strstr(cmd, dir))
			found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* alive - is PID running (a zombie is not: the test runner is a subreaper) */
static int alive(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

START_TEST(test_daemon_mode)
{
	static struct mnt m;
	char out[8192], dctl[PATH_MAX];
	const char *qfs = getenv("QUEUEFS");
	pid_t pid, dpid;
	int st, dfd;

	ck_assert_int_eq(mnt_layout(&m, "detach", mnt_conf_sendmail_ctl), 0);
	mnt_fmt(dctl, sizeof(dctl), "%s/ctl", m.root);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(qfs, qfs, m.conf, m.dir, (char *)NULL);
		_exit(127);
	}
	/* The parent process of a detaching daemon exits once the mount is up. */
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "queuefs exited with status %d", st);
	ck_assert_msg(mnt_mounted(m.dir), "no mount at %s after queuefs returned", m.dir);
	dpid = daemon_pid(m.dir);
	ck_assert_msg(dpid > 0, "no detached daemon for %s", m.dir);

	/* qf on a control shard and df on d1: fsyncdir must sync two copies. */
	MNT_OK(chdir(m.dir));
	MNT_OK(mnt_put("qfDETACH", "q", 0600));
	MNT_OK(mnt_put("dfDETACH", "d", 0600));
	dfd = MNT_OK(open(".", O_RDONLY | O_DIRECTORY));
	alarm(20); /* a missing worker thread used to hang here forever */
	MNT_OK(fsync(dfd));
	alarm(0);
	MNT_OK(close(dfd));
	/* Reads reopen the backing file through /proc/self/fd of the daemon. */
	MNT_CONTENT("qfDETACH", "q");
	MNT_CONTENT("dfDETACH", "d");
	ck_assert_int_eq(mnt_ask(dctl, m.dir, "status", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "fsyncdir"), "status of the detached daemon lacks fsyncdir:\n%s", out);
	MNT_OK(chdir("/"));

	MNT_OK(umount2(m.dir, 0));
	for (int i = 0; i < 100 && alive(dpid); i++)
		usleep(100000);
	ck_assert_msg(!alive(dpid), "detached daemon %d still runs 10 s after the unmount", (int)dpid);
}
END_TEST

/* A client that connects and never speaks delays other clients a little, the filesystem not at all. */
START_TEST(test_ctl_hanging_client)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char out[8192], path[PATH_MAX];
	struct timespec t0, t1;
	double secs;
	int fd;

	MNT_REQUIRE(&ctl_m);
	ck_assert_int_eq(ctl_socket_path(ctl_dir, ctl_m.dir, sa.sun_path, sizeof(sa.sun_path)), 0);
	fd = MNT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	MNT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 50; i++) {
		mnt_fmt(path, sizeof(path), "%s/qfHANG%02d", ctl_m.dir, i);
		MNT_OK(mnt_put(path, "x", 0600));
		MNT_OK(unlink(path));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(secs < 1.5, "50 creates took %.2f s while a control client hung", secs);
	ck_assert_int_eq(mnt_ask(ctl_dir, ctl_m.dir, "status", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "queuefs on "), "status after a hanging client: \"%.200s\"", out);
	close(fd);
}
END_TEST

/* json_count - the number after KEY in the status json OUT, or -1 */
static long long json_count(const char *out, const char *key)
{
	const char *p = strstr(out, key);

	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

struct rdp_result {
	long long lookups; /* LOOKUPs the listing cost */
	long long plus;	   /* readdirplus requests so far */
	long long nodes0;  /* inodes the kernel held before the listing, caches dropped */
	long long nodes1;  /* the same after it */
	int listed;
};

/* rdp_nodes - inodes the kernel holds once its caches are dropped and its forgets arrived */
static long long rdp_nodes(const char *ctl, const char *mnt, char *out, size_t len)
{
	long long last = -1, now;
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY), still = 0;

	if (fd < 0 || write(fd, "2", 1) != 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	/* FORGETs travel asynchronously: wait until the count holds still for 150 ms. */
	for (int i = 0; i < 100; i++) {
		usleep(50000);
		if (mnt_ask(ctl, mnt, "status json", out, len) != 0)
			return -1;
		now = json_count(out, "\"nodes\":");
		still = now == last ? still + 1 : 0;
		if (still == 3)
			return now;
		last = now;
	}
	return last;
}

#define RDP_FILES 2000

/*
 * rdp_list - RDP_FILES control files of sizes 1..97 and a subdirectory in
 *	M/rp; with cold caches, list rp and stat every entry as it comes (as
 *	ls -l does). Entries must match their attributes. 0, or -1 and WHY.
 */
static int rdp_list(struct mnt *m, const char *ctl, struct rdp_result *r, char *why, size_t wlen)
{
	static char out[65536], path[PATH_MAX], body[128];
	struct dirent *de;
	long long l0;
	DIR *d;

	memset(r, 0, sizeof(*r));
	memset(body, 'x', sizeof(body));
	mnt_fmt(path, sizeof(path), "%s/rp", m->dir);
	if (mkdir(path, 0755) < 0 || mkdir(mnt_fmt(path, sizeof(path), "%s/rp/sub", m->dir), 0755) < 0)
		return mnt_fmt(why, wlen, "mkdir: %s", strerror(errno)), -1;
	for (int i = 0; i < RDP_FILES; i++) {
		body[i % 97 + 2] = '\0';
		mnt_fmt(path, sizeof(path), "%s/rp/qfRP%05d", m->dir, i);
		if (mnt_put(path, body + 1, 0600) != 0)
			return mnt_fmt(why, wlen, "create %s: %s", path, strerror(errno)), -1;
		body[i % 97 + 2] = 'x';
	}
	if (chdir("/") < 0 || (r->nodes0 = rdp_nodes(ctl, m->dir, out, sizeof(out))) < 0)
		return mnt_fmt(why, wlen, "dropping caches: %s", strerror(errno)), -1;
	l0 = json_count(out, "\"op\":\"lookup\",\"count\":");
	if (!(d = opendir(mnt_fmt(path, sizeof(path), "%s/rp", m->dir))))
		return mnt_fmt(why, wlen, "opendir %s: %s", path, strerror(errno)), -1;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int i;

		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			mnt_fmt(why, wlen, "stat %s: %s", de->d_name, strerror(errno));
			break;
		}
		r->listed++;
		if (st.st_ino != de->d_ino) {
			mnt_fmt(why, wlen, "%s: stat says inode %llu, readdir %llu", de->d_name,
				(unsigned long long)st.st_ino, (unsigned long long)de->d_ino);
			break;
		}
		if (sscanf(de->d_name, "qfRP%d", &i) == 1 && st.st_size != i % 97 + 1) {
			mnt_fmt(why, wlen, "%s: size %lld, want %d", de->d_name, (long long)st.st_size,
				i % 97 + 1);
			break;
		}
		if (strcmp(de->d_name, "sub") == 0 && !S_ISDIR(st.st_mode)) {
			mnt_fmt(why, wlen, "sub: mode %o, want a directory", (unsigned)st.st_mode);
			break;
		}
	}
	closedir(d);
	if (*why)
		return -1;
	if (mnt_ask(ctl, m->dir, "status json", out, sizeof(out)) != 0)
		return mnt_fmt(why, wlen, "status json failed"), -1;
	r->lookups = json_count(out, "\"op\":\"lookup\",\"count\":") - l0;
	r->plus = json_count(out, "\"op\":\"readdirplus\",\"count\":");
	r->nodes1 = rdp_nodes(ctl, m->dir, out, sizeof(out));
	return 0;
}

/*
 * A listing with cold caches brings the attributes of every name along
 * (readdirplus): stat after it costs no LOOKUP, the attributes are right,
 * and every lookup it took is given back (no inode stays held). With
 * readdirplus = no, each stat costs a LOOKUP.
 */
START_TEST(test_readdirplus)
{
	char why[1024] = "", rctl[PATH_MAX];
	struct rdp_result on, off;
	struct mnt m;
	int rc;

	ck_assert_int_eq(mnt_layout(&m, "rdplus", mnt_conf_sendmail_ctl), 0);
	mnt_fmt(rctl, sizeof(rctl), "%s/ctl", m.root);
	ck_assert_msg(mnt_start(&m, NULL) == 0, "mount: %s", m.why);
	rc = rdp_list(&m, rctl, &on, why, sizeof(why));
	mnt_stop(&m);
	ck_assert_msg(rc == 0, "readdirplus on: %s", why);
	ck_assert_int_eq(on.listed, RDP_FILES + 3);
	ck_assert_msg(on.plus > 0, "no readdirplus request reached the daemon");
	ck_assert_msg(on.lookups < RDP_FILES / 10,
		      "readdirplus on: %lld LOOKUPs for %d names listed and stat'ed", on.lookups,
		      RDP_FILES + 1);
	ck_assert_msg(on.nodes1 >= 0 && on.nodes1 <= on.nodes0,
		      "the kernel dropped its caches but %lld inodes stay held (%lld before the listing)",
		      on.nodes1, on.nodes0);

	mnt_rm_rf(m.root);
	ck_assert_int_eq(mnt_layout(&m, "rdplus", mnt_conf_sendmail_ctl), 0);
	mnt_fmt(rctl, sizeof(rctl), "%s/ctl", m.root);
	ck_assert_msg(mnt_start(&m, "readdirplus=no") == 0, "mount: %s", m.why);
	rc = rdp_list(&m, rctl, &off, why, sizeof(why));
	mnt_stop(&m);
	ck_assert_msg(rc == 0, "readdirplus off: %s", why);
	ck_assert_int_eq(off.listed, RDP_FILES + 3);
	ck_assert_msg(off.plus <= 0 && off.lookups >= RDP_FILES,
		      "readdirplus = no: %lld readdirplus requests, %lld LOOKUPs for %d names", off.plus,
		      off.lookups, RDP_FILES + 1);
}
END_TEST

Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("ctl");

	tcase_add_unchecked_fixture(tc, ctl_up, ctl_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ctl_status);
	tcase_add_test(tc, test_ctl_refusals);
	tcase_add_test(tc, test_daemon_mode);
	tcase_add_test(tc, test_ctl_hanging_client);
	suite_add_tcase(s, tc);

	tc = tcase_create("readdirplus");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_readdirplus);
	suite_add_tcase(s, tc);
	return s;
}
