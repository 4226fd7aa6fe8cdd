/*
 * NAME
 *	check_mta.c - sendmail's and Postfix's queue file life cycles,
 *	concurrently, through the mount
 *
 * DESCRIPTION
 *	sendmail: df/tf created O_EXCL and fsynced, tf renamed to qf, the
 *	directory fsynced, qf flock'ed, read back, xf created and removed,
 *	all unlinked; tf renamed over a qf another process holds open and
 *	locked while a queue runner keeps opening qf (it must never see
 *	ENOENT). Postfix: a file renamed to its queue id while open, moved
 *	incoming -> active -> deferred -> active, a one-byte pwrite, O_APPEND
 *	logs from two processes, a Unix socket in private/. Exim: -D locked
 *	with fcntl on bytes 0-18, hdr.ID renamed to ID-H (again at a header
 *	rewrite), O_APPEND msglog and -J on the id's shard, -MG by link and
 *	unlink, a whole-file hints lock. Each ends with no file left in the
 *	mount or any backing.
 *
 * DIAGNOSTICS
 *	Worker processes report "worker N: message id: call: error".
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
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mnt.h"

static struct mnt sm_m, pf_m;

static const char pf_conf[] = "preset = postfix\n"
			      "[class control]\n"
			      "shards = {B}/c1 {B}/c2 {B}/c3\n"
			      "[class logs]\n"
			      "shards = {B}/d1\n";

static const char ex_conf[] = "preset = exim\n"
			      "[class control]\n"
			      "shards = {B}/c1 {B}/c2 {B}/c3\n"
			      "[class data]\n"
			      "shards = {B}/d1\n";

static struct mnt ex_m;

static void ex_up(void)
{
	mnt_fixture_up(&ex_m, "exim", ex_conf, NULL);
}

static void ex_down(void)
{
	mnt_fixture_down(&ex_m);
}

static void sm_up(void)
{
	mnt_fixture_up(&sm_m, "sendmail", NULL, NULL);
}

static void sm_down(void)
{
	mnt_fixture_down(&sm_m);
}

static void pf_up(void)
{
	mnt_fixture_up(&pf_m, "postfix", pf_conf, NULL);
}

static void pf_down(void)
{
	mnt_fixture_down(&pf_m);
}

/* mta_write_file - create NAME O_EXCL, write TEXT, fsync; returns the fd */
static int mta_write_file(const char *name, const char *text, char *err, size_t len)
{
	size_t n = strlen(text);
	int fd = open(name, O_CREAT | O_EXCL | O_RDWR, 0600);

	if (fd < 0)
		return mnt_fail(err, len, "create %s", name);
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		return mnt_fail(err, len, "write %s", name);
	}
	if (fsync(fd) < 0) {
		close(fd);
		return mnt_fail(err, len, "fsync %s", name);
	}
	return fd;
}

/* mta_same - NAME must hold exactly TEXT */
static int mta_same(const char *name, const char *text, char *err, size_t len)
{
	char buf[8192];
	ssize_t n = mnt_get(name, buf, sizeof(buf));

	if (n < 0) {
		errno = (int)-n;
		return mnt_fail(err, len, "read %s", name);
	}
	if (strcmp(buf, text) != 0) {
		mnt_fmt(err, len, "%s: got %zd bytes \"%.40s\", want \"%.40s\"", name, n, buf, text);
		return -1;
	}
	return 0;
}

/* mta_fsync_dir - sendmail's SuperSafe directory fsync */
static int mta_fsync_dir(char *err, size_t len)
{
	int fd = open(".", O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return mnt_fail(err, len, "open .");
	if (fsync(fd) < 0) {
		close(fd);
		return mnt_fail(err, len, "fsync .");
	}
	close(fd);
	return 0;
}

#define SM_PROCS 4
#define SM_MSGS	 50

/* sm_message - one message through sendmail's steps */
static int sm_message(int me, int i, char *err, size_t len)
{
	char id[32], df[40], tf[40], qf[40], xf[40], body[4096], head[256];
	int fd, fq, fx, k;

	mnt_fmt(id, sizeof(id), "5P%dM%03dx%d", me, i, (int)getpid());
	mnt_fmt(df, sizeof(df), "df%s", id);
	mnt_fmt(tf, sizeof(tf), "tf%s", id);
	mnt_fmt(qf, sizeof(qf), "qf%s", id);
	mnt_fmt(xf, sizeof(xf), "xf%s", id);
	for (k = 0; k < (int)sizeof(body) - 1; k++)
		body[k] = 'a' + (k * 7 + i + me) % 26;
	body[(i * 97) % (sizeof(body) - 64) + 32] = 0;
	mnt_fmt(head, sizeof(head), "V8\nT%d\nK0\nN0\nP30000\nI%s\nMDeferred\n.\n", i, id);

	if ((fd = mta_write_file(df, body, err, len)) < 0)
		return -1;
	close(fd);
	if ((fd = mta_write_file(tf, head, err, len)) < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return mnt_fail(err, len, "%s: flock tf", id);
	if (rename(tf, qf) < 0)
		return mnt_fail(err, len, "%s: rename tf -> qf", id);
	if (mta_fsync_dir(err, len) < 0)
		return -1;
	/* another open file description must see the lock */
	if ((fq = open(qf, O_RDWR)) < 0)
		return mnt_fail(err, len, "%s: open qf", id);
	if (flock(fq, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		mnt_fmt(err, len, "%s: flock of a second qf open: got %s, want EWOULDBLOCK", id,
			errno == EWOULDBLOCK ? "?" : "success or other error");
		return -1;
	}
	close(fd); /* drops the tf lock */
	if (flock(fq, LOCK_EX | LOCK_NB) < 0)
		return mnt_fail(err, len, "%s: flock qf after the tf fd closed", id);
	if (mta_same(qf, head, err, len) < 0 || mta_same(df, body, err, len) < 0)
		return -1;
	if ((fx = mta_write_file(xf, "transcript\n", err, len)) < 0)
		return -1;
	close(fx);
	if (unlink(xf) < 0)
		return mnt_fail(err, len, "unlink %s", xf);
	if (unlink(qf) < 0)
		return mnt_fail(err, len, "unlink %s", qf);
	close(fq);
	if (unlink(df) < 0)
		return mnt_fail(err, len, "unlink %s", df);
	return mta_fsync_dir(err, len);
}

static int sm_worker(int me, void *arg, char *err, size_t len)
{
	int i;

	(void)arg;
	for (i = 0; i < SM_MSGS; i++)
		if (sm_message(me, i, err, len) < 0)
			return -1;
	return 0;
}

START_TEST(test_sendmail_lifecycle)
{
	struct mnt_dent *v;
	char err[1024], first[PATH_MAX];
	int n;

	mnt_enter(&sm_m, NULL);
	MNT_OK(mkdir("sm", 0700));
	MNT_OK(chdir("sm"));
	ck_assert_msg(mnt_workers(SM_PROCS, sm_worker, NULL, err, sizeof(err)) == 0, "%s", err);
	n = mnt_readdir(".", &v, NULL);
	ck_assert_msg(n == 0, "sm: %d entries left, first %s", n, n > 0 ? v[0].name : "");
	free(v);
	n = mnt_leftovers(&sm_m, "sm", first, sizeof(first));
	ck_assert_msg(n == 0, "%d files left in the backings, first %s", n, first);
}
END_TEST

#define OVR_ROUNDS 300

struct ovr_shared {
	int holder_ready;
	int writer_done;
	int reader_opens;
};

/* ovr_holder - holds the first qf open and locked, then checks its fd */
static int ovr_holder(struct ovr_shared *sh, char *err, size_t len)
{
	struct stat st;
	int fd = open("qfOVR", O_RDWR), fd2;

	if (fd < 0)
		return mnt_fail(err, len, "holder: open qfOVR");
	if (flock(fd, LOCK_EX) < 0)
		return mnt_fail(err, len, "holder: flock qfOVR");
	__atomic_store_n(&sh->holder_ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->writer_done, __ATOMIC_SEQ_CST))
		usleep(1000);
	if (fstat(fd, &st) < 0)
		return mnt_fail(err, len, "holder: fstat of the replaced qf");
	if (st.st_nlink != 0) {
		mnt_fmt(err, len, "holder: replaced qf has nlink %lu, want 0", (unsigned long)st.st_nlink);
		return -1;
	}
	if (write(fd, "holder\n", 7) != 7)
		return mnt_fail(err, len, "holder: write");
	if (fsync(fd) < 0)
		return mnt_fail(err, len, "holder: fsync");
	if (fchmod(fd, 0640) < 0)
		return mnt_fail(err, len, "holder: fchmod");
	/* the current qf is another file: its lock is free */
	if ((fd2 = open("qfOVR", O_RDWR)) < 0)
		return mnt_fail(err, len, "holder: open the new qfOVR");
	if (flock(fd2, LOCK_SH | LOCK_NB) < 0)
		return mnt_fail(err, len, "holder: flock LOCK_SH of the new qfOVR (writer closed it)");
	close(fd2);
	close(fd);
	return 0;
}

/* ovr_writer - sendmail rewriting a qf: tf, fsync, rename over the old qf */
static int ovr_writer(struct ovr_shared *sh, char *err, size_t len)
{
	char text[64];
	struct stat st;
	int r, old = -1, fd;

	while (!__atomic_load_n(&sh->holder_ready, __ATOMIC_SEQ_CST))
		usleep(1000);
	for (r = 1; r <= OVR_ROUNDS; r++) {
		mnt_fmt(text, sizeof(text), "gen %d\n", r);
		if ((fd = mta_write_file("tfOVR", text, err, len)) < 0)
			goto fail;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			mnt_fail(err, len, "writer round %d: flock tfOVR", r);
			goto fail;
		}
		if (rename("tfOVR", "qfOVR") < 0) {
			mnt_fail(err, len, "writer round %d: rename tfOVR -> qfOVR", r);
			goto fail;
		}
		if (old >= 0) { /* the qf this process held is replaced but usable */
			if (fstat(old, &st) < 0 || write(old, "x", 1) != 1 || fsync(old) < 0 ||
			    fchmod(old, 0600) < 0) {
				mnt_fail(err, len, "writer round %d: fstat/write/fsync/fchmod of the old qf",
					 r);
				goto fail;
			}
			close(old);
		}
		old = fd;
	}
	close(old);
	__atomic_store_n(&sh->writer_done, 1, __ATOMIC_SEQ_CST);
	return 0;
fail:
	__atomic_store_n(&sh->writer_done, 1, __ATOMIC_SEQ_CST);
	return -1;
}

/* ovr_reader - a queue runner: qf must always be there */
static int ovr_reader(struct ovr_shared *sh, char *err, size_t len)
{
	char buf[64];
	ssize_t n;
	int fd, opens = 0;

	while (!__atomic_load_n(&sh->writer_done, __ATOMIC_SEQ_CST)) {
		if ((fd = open("qfOVR", O_RDONLY)) < 0)
			return mnt_fail(err, len, "reader: open qfOVR after %d good opens", opens);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			return mnt_fail(err, len, "reader: read qfOVR");
		buf[n] = 0;
		if (strncmp(buf, "gen ", 4) != 0) {
			mnt_fmt(err, len, "reader: qfOVR holds \"%s\", want \"gen N\"", buf);
			return -1;
		}
		opens++;
	}
	sh->reader_opens = opens;
	return 0;
}

static int ovr_worker(int me, void *arg, char *err, size_t len)
{
	if (me == 0)
		return ovr_holder(arg, err, len);
	if (me == 1)
		return ovr_writer(arg, err, len);
	return ovr_reader(arg, err, len);
}

START_TEST(test_sendmail_tf_over_open_qf)
{
	struct ovr_shared *sh = mnt_shared(sizeof(*sh));
	char err[1024], want[32];

	mnt_enter(&sm_m, NULL);
	MNT_OK(mkdir("ovr", 0700));
	MNT_OK(chdir("ovr"));
	MNT_OK(mnt_put("qfOVR", "gen 0\n", 0600));
	ck_assert_msg(mnt_workers(3, ovr_worker, sh, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sh->reader_opens > 0, "the reader never opened qfOVR");
	mnt_fmt(want, sizeof(want), "gen %d\n", OVR_ROUNDS);
	MNT_CONTENT("qfOVR", want);
	ck_assert_int_eq(mnt_where(&sm_m, "ovr/tfOVR", NULL), 0);
	ck_assert_int_eq(mnt_where(&sm_m, "ovr/qfOVR", NULL), 1);
}
END_TEST

#define PF_PROCS   2
#define PF_MSGS	   25
#define PF_APPENDS 200
#define PF_LINE	   40

/* pf_message - one Postfix message: pickup to deferred and back to active */
static int pf_message(int me, int i, char *qid, size_t qlen, char *err, size_t len)
{
	char tmp[64], in[96], act[96], dfr[96], dsub[16], text[128], b;
	struct timeval tv;
	struct stat st;
	int fd;

	gettimeofday(&tv, NULL);
	mnt_fmt(tmp, sizeof(tmp), "incoming/%ld.%d", (long)tv.tv_usec, (int)getpid());
	if ((fd = open(tmp, O_CREAT | O_EXCL | O_RDWR, 0600)) < 0)
		return mnt_fail(err, len, "create %s", tmp);
	if (fstat(fd, &st) < 0)
		return mnt_fail(err, len, "fstat %s", tmp);
	/* queue id from the time and the inode number, as Postfix does */
	mnt_fmt(qid, qlen, "%05lX%llX", (long)tv.tv_usec, (unsigned long long)st.st_ino);
	mnt_fmt(in, sizeof(in), "incoming/%s", qid);
	if (rename(tmp, in) < 0)
		return mnt_fail(err, len, "rename %s -> %s while open", tmp, in);
	mnt_fmt(text, sizeof(text), "C worker %d message %d\nE\n", me, i);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return mnt_fail(err, len, "write %s", in);
	if (fchmod(fd, 0700) < 0 || fsync(fd) < 0)
		return mnt_fail(err, len, "fchmod/fsync %s", in);
	close(fd);
	if (stat(in, &st) < 0)
		return mnt_fail(err, len, "stat %s", in);
	if ((st.st_mode & 07777) != 0700 || st.st_size != (off_t)strlen(text)) {
		mnt_fmt(err, len, "%s: mode %o size %lld, want 700 %zu", in, st.st_mode & 07777,
			(long long)st.st_size, strlen(text));
		return -1;
	}
	mnt_fmt(act, sizeof(act), "active/%s", qid);
	mnt_fmt(dsub, sizeof(dsub), "deferred/%c", qid[0]);
	mnt_fmt(dfr, sizeof(dfr), "%s/%s", dsub, qid);
	if (mkdir(dsub, 0700) < 0 && errno != EEXIST)
		return mnt_fail(err, len, "mkdir %s", dsub);
	if (rename(in, act) < 0 || rename(act, dfr) < 0 || rename(dfr, act) < 0)
		return mnt_fail(err, len, "%s: rename incoming -> active -> deferred -> active", qid);
	/* delivery status: one byte rewritten in place */
	if ((fd = open(act, O_RDWR)) < 0)
		return mnt_fail(err, len, "open %s", act);
	if (pwrite(fd, "X", 1, 0) != 1 || pread(fd, &b, 1, 0) != 1 || b != 'X')
		return mnt_fail(err, len, "%s: pwrite of one byte", act);
	if (fstat(fd, &st) < 0 || st.st_size != (off_t)strlen(text)) {
		mnt_fmt(err, len, "%s: size %lld after pwrite, want %zu", act, (long long)st.st_size,
			strlen(text));
		return -1;
	}
	close(fd);
	return 0;
}

static int pf_worker(int me, void *arg, char *err, size_t len)
{
	char qid[64], p[96];
	int i;

	(void)arg;
	for (i = 0; i < PF_MSGS; i++) {
		if (pf_message(me, i, qid, sizeof(qid), err, len) < 0)
			return -1;
		if (unlink(mnt_fmt(p, sizeof(p), "active/%s", qid)) < 0)
			return mnt_fail(err, len, "unlink %s", p);
	}
	return 0;
}

/* pf_appender - PF_APPENDS fixed-size records to defer/<id>, O_APPEND */
static int pf_appender(int me, void *arg, char *err, size_t len)
{
	char line[PF_LINE + 1];
	int i, fd;

	for (i = 0; i < PF_APPENDS; i++) {
		if ((fd = open(arg, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0)
			return mnt_fail(err, len, "open %s O_APPEND", (char *)arg);
		/* "wN rNNNN " is 9 bytes, then padding to PF_LINE with the newline */
		mnt_fmt(line, sizeof(line), "w%d r%04d %-*s\n", me, i, PF_LINE - 10,
			"recipient=<u@example.org>");
		if (strlen(line) != PF_LINE) {
			mnt_fmt(err, len, "record length %zu, want %d", strlen(line), PF_LINE);
			return -1;
		}
		if (write(fd, line, PF_LINE) != PF_LINE)
			return mnt_fail(err, len, "append to %s", (char *)arg);
		close(fd);
	}
	return 0;
}

START_TEST(test_postfix_lifecycle)
{
	static const char *dirs[] = { "incoming", "active", "deferred", "defer", "private" };
	char err[1024], first[PATH_MAX], qid[64], log[96], rel[128], buf[PF_LINE + 1];
	struct stat st;
	int i, n, fd, seen[PF_PROCS] = { 0 }, who, rec, b;
	FILE *f;

	mnt_enter(&pf_m, NULL);
	for (i = 0; i < 5; i++)
		MNT_OK(mkdir(dirs[i], 0700));
	ck_assert_msg(mnt_workers(PF_PROCS, pf_worker, NULL, err, sizeof(err)) == 0, "%s", err);

	/* the defer log of one message, appended to by two processes */
	ck_assert_int_eq(pf_message(9, 0, qid, sizeof(qid), err, sizeof(err)), 0);
	n = mnt_where(&pf_m, mnt_fmt(rel, sizeof(rel), "active/%s", qid), &b);
	ck_assert_msg(n == 1 && b >= MNT_C1 && b <= MNT_C3, "%s: in %s, want one control shard", rel,
		      mnt_where_list(&pf_m, rel, first, sizeof(first)));
	mnt_fmt(log, sizeof(log), "defer/%s", qid);
	ck_assert_msg(mnt_workers(PF_PROCS, pf_appender, log, err, sizeof(err)) == 0, "%s", err);
	MNT_OK(stat(log, &st));
	ck_assert_msg(st.st_size == PF_PROCS * PF_APPENDS * PF_LINE, "%s: size %lld, want %d", log,
		      (long long)st.st_size, PF_PROCS * PF_APPENDS * PF_LINE);
	f = fopen(log, "r");
	ck_assert_msg(f != NULL, "open %s: %s", log, strerror(errno));
	while (fread(buf, 1, PF_LINE, f) == PF_LINE) {
		buf[PF_LINE] = 0;
		ck_assert_msg(sscanf(buf, "w%d r%d", &who, &rec) == 2 && who >= 0 && who < PF_PROCS &&
				      rec == seen[who] && buf[PF_LINE - 1] == '\n',
			      "%s: torn or lost record \"%s\" (worker %d expected record %d)", log, buf, who,
			      who >= 0 && who < PF_PROCS ? seen[who] : -1);
		seen[who]++;
	}
	fclose(f);
	ck_assert_msg(mnt_where(&pf_m, log, &b) == 1 && b == MNT_D1, "%s: not on d1 (logs class)", log);
	MNT_OK(unlink(log));
	MNT_OK(unlink(mnt_fmt(rel, sizeof(rel), "active/%s", qid)));

	/* a service socket in private/ */
	{
		struct sockaddr_un sa;
		char msg[8] = { 0 };
		int s, c, cst;
		pid_t pid;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		strcpy(sa.sun_path, "private/smtp");
		s = MNT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		MNT_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
		MNT_OK(listen(s, 4));
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			fd = socket(AF_UNIX, SOCK_STREAM, 0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			    write(fd, "EHLO", 4) != 4)
				_exit(1);
			_exit(0);
		}
		c = MNT_OK(accept(s, NULL, NULL));
		ck_assert_int_eq(read(c, msg, 4), 4);
		ck_assert_str_eq(msg, "EHLO");
		waitpid(pid, &cst, 0);
		ck_assert_msg(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "connect to private/smtp failed");
		close(c);
		close(s);
		MNT_OK(unlink("private/smtp"));
	}

	for (i = 0; i < 5; i++) {
		struct mnt_dent *v;
		int k, m = mnt_readdir(dirs[i], &v, NULL);

		for (k = 0; k < m; k++) { /* deferred/X hash directories may stay */
			mnt_fmt(rel, sizeof(rel), "%s/%s", dirs[i], v[k].name);
			ck_assert_msg(v[k].type == DT_DIR, "%s left in the mount", rel);
		}
		free(v);
		n = mnt_leftovers(&pf_m, dirs[i], first, sizeof(first));
		ck_assert_msg(n == 0, "%d files left in the backings under %s, first %s", n, dirs[i], first);
	}
}
END_TEST

#define EX_MSGS 30

/* ex_probe - another process: the -D lock and the hints lock are held */
static int ex_probe(int me, void *arg, char *err, size_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19 };
	const char *dfile = arg;
	int fd;

	(void)me;
	if ((fd = open(dfile, O_RDWR)) < 0)
		return mnt_fail(err, len, "open %s", dfile);
	errno = 0;
	if (fcntl(fd, F_SETLK, &fl) == 0 || (errno != EAGAIN && errno != EACCES)) {
		mnt_fmt(err, len, "F_SETLK of %s bytes 0-18: got %s, want EAGAIN", dfile,
			errno ? strerror(errno) : "success");
		return -1;
	}
	close(fd);
	if ((fd = open("db/retry.lockfile", O_RDWR)) < 0)
		return mnt_fail(err, len, "open db/retry.lockfile");
	fl.l_len = 0;
	errno = 0;
	if (fcntl(fd, F_SETLK, &fl) == 0 || (errno != EAGAIN && errno != EACCES)) {
		mnt_fmt(err, len, "F_SETLK of db/retry.lockfile: got %s, want EAGAIN",
			errno ? strerror(errno) : "success");
		return -1;
	}
	close(fd);
	return 0;
}

/* ex_rewrite_header - Exim writes input/hdr.ID and renames it to input/ID-H */
static void ex_rewrite_header(const char *id, int gen)
{
	char hdr[96], h[96], text[128];
	int fd;

	mnt_fmt(hdr, sizeof(hdr), "input/hdr.%s", id);
	mnt_fmt(h, sizeof(h), "input/%s-H", id);
	mnt_fmt(text, sizeof(text), "%s-H\nDebian-exim 101 101\n<sender@example.org>\ngen %d\n", id, gen);
	fd = MNT_OK(open(hdr, O_CREAT | O_EXCL | O_WRONLY, 0640));
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	MNT_OK(fsync(fd));
	MNT_OK(close(fd));
	MNT_OK(rename(hdr, h));
	fd = MNT_OK(open("input", O_RDONLY | O_DIRECTORY));
	MNT_OK(fsync(fd));
	MNT_OK(close(fd));
	MNT_CONTENT(h, text);
}

START_TEST(test_exim_lifecycle)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 19 };
	char id[32], d[96], h[96], j[96], ml[96], d2[96], rel[128], err[1024], first[PATH_MAX];
	int i, k, fd, fdl, fj, fm, home, b;

	mnt_enter(&ex_m, NULL);
	MNT_OK(mkdir("input", 0750));
	MNT_OK(mkdir("msglog", 0750));
	MNT_OK(mkdir("db", 0750));
	MNT_OK(mkdir("q2", 0750));
	MNT_OK(mkdir("q2/input", 0750));
	fdl = MNT_OK(open("db/retry.lockfile", O_CREAT | O_RDWR, 0640));
	fl.l_len = 0;
	MNT_OK(fcntl(fdl, F_SETLKW, &fl)); /* hints database lock, whole file */
	fl.l_len = 19;
	for (i = 0; i < EX_MSGS; i++) {
		mnt_fmt(id, sizeof(id), "1q%04dX-00%04d-%02X", i * 37, i, i);
		mnt_fmt(d, sizeof(d), "input/%s-D", id);
		mnt_fmt(h, sizeof(h), "input/%s-H", id);
		mnt_fmt(j, sizeof(j), "input/%s-J", id);
		mnt_fmt(ml, sizeof(ml), "msglog/%s", id);
		fd = MNT_OK(open(d, O_CREAT | O_EXCL | O_RDWR, 0640));
		MNT_OK(fcntl(fd, F_SETLK, &fl));
		mnt_fmt(err, sizeof(err), "%s-D\nbody of message %d\n", id, i);
		ck_assert_int_eq(write(fd, err, strlen(err)), (int)strlen(err));
		MNT_OK(fsync(fd));
		ex_rewrite_header(id, 0);
		fm = MNT_OK(open(ml, O_CREAT | O_WRONLY | O_APPEND, 0640));
		fj = MNT_OK(open(j, O_CREAT | O_WRONLY | O_APPEND, 0640));
		for (k = 0; k < 3; k++) {
			ck_assert_int_eq(write(fm, "=> delivered\n", 13), 13);
			ck_assert_int_eq(write(fj, "rcpt\n", 5), 5);
		}
		MNT_OK(close(fm));
		MNT_OK(close(fj));
		ex_rewrite_header(id, 1); /* a header rewrite renames over -H */
		if (i == 0)
			ck_assert_msg(mnt_workers(1, ex_probe, d, err, sizeof(err)) == 0, "%s", err);

		/* placement: -D on d1; -H, -J and msglog/ID share the id's shard */
		ck_assert_msg(mnt_where(&ex_m, d, &b) == 1 && b == MNT_D1, "%s: in %s, want d1", d,
			      mnt_where_list(&ex_m, d, rel, sizeof(rel)));
		ck_assert_msg(mnt_where(&ex_m, h, &home) == 1 && home >= MNT_C1 && home <= MNT_C3,
			      "%s: in %s, want one control shard", h,
			      mnt_where_list(&ex_m, h, rel, sizeof(rel)));
		ck_assert_msg(mnt_where(&ex_m, j, &b) == 1 && b == home, "%s: in %s, want %s like -H", j,
			      mnt_where_list(&ex_m, j, rel, sizeof(rel)), mnt_back_name[home]);
		ck_assert_msg(mnt_where(&ex_m, ml, &b) == 1 && b == home, "%s: in %s, want %s like -H", ml,
			      mnt_where_list(&ex_m, ml, rel, sizeof(rel)), mnt_back_name[home]);

		/* -MG: link into another queue, then unlink */
		mnt_fmt(d2, sizeof(d2), "q2/input/%s-D", id);
		MNT_OK(link(d, d2));
		MNT_OK(unlink(d));
		ck_assert_msg(mnt_where(&ex_m, d2, &b) == 1 && b == MNT_D1, "%s: in %s, want d1", d2,
			      mnt_where_list(&ex_m, d2, rel, sizeof(rel)));
		MNT_OK(close(fd));
		MNT_OK(unlink(d2));
		MNT_OK(unlink(h));
		MNT_OK(unlink(j));
		MNT_OK(unlink(ml));
	}
	MNT_OK(close(fdl));
	MNT_OK(unlink("db/retry.lockfile"));
	k = mnt_leftovers(&ex_m, NULL, first, sizeof(first));
	ck_assert_msg(k == 0, "%d files left in the backings, first %s", k, first);
}
END_TEST

Suite *mta_suite(void)
{
	Suite *s = suite_create("mta");
	TCase *tc;

	tc = tcase_create("sendmail");
	tcase_add_unchecked_fixture(tc, sm_up, sm_down);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_sendmail_lifecycle);
	tcase_add_test(tc, test_sendmail_tf_over_open_qf);
	suite_add_tcase(s, tc);

	tc = tcase_create("postfix");
	tcase_add_unchecked_fixture(tc, pf_up, pf_down);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_postfix_lifecycle);
	suite_add_tcase(s, tc);

	tc = tcase_create("exim");
	tcase_add_unchecked_fixture(tc, ex_up, ex_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_exim_lifecycle);
	suite_add_tcase(s, tc);
	return s;
}
