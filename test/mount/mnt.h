/*
 * NAME
 *	mnt.h - harness for the queuefs tests through a real mount
 *
 * DESCRIPTION
 *	A layout is a private directory under $QFS_TEST_DIR holding the
 *	backing roots c1 c2 c3 d1 x1 (and c4, made on demand), a mountpoint
 *	and a config file. The daemon ($QUEUEFS, prefixed by the words of
 *	$QUEUEFS_WRAPPER) runs in the foreground in its own process group;
 *	its PID goes into ROOT/daemon.pid, which is all that test/mount/run
 *	needs to clean up after a crashed test binary.
 *
 *	Whoever starts a daemon stops it: a Check unchecked fixture (the
 *	parent process) for the shared mount of a TCase, the test itself for
 *	mounts it makes on its own. mnt_fixture_down() reaps what a failed
 *	test left behind, so no mount survives a TCase.
 *
 * DIAGNOSTICS
 *	Nothing here aborts. Functions return 0 or -1 and put the reason in
 *	m->why; tests turn that into a Check failure.
 */
#ifndef QFS_TEST_MNT_H
#define QFS_TEST_MNT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>

/* Backing roots of a layout, in the order of the default config. */
enum mnt_back { MNT_C1, MNT_C2, MNT_C3, MNT_D1, MNT_X1, MNT_C4, MNT_NBACK };

/* The backings of the default layout (c4 exists only when a test makes it). */
#define MNT_NDEFAULT MNT_C4

extern const char *const mnt_back_name[MNT_NBACK];

/* The class sections of the default layout: control c1 c2 c3, data d1, transcript x1. */
#define MNT_SENDMAIL_CLASSES                                                                                 \
	"[class control]\n"                                                                                  \
	"shards = {B}/c1 {B}/c2 {B}/c3\n"                                                                    \
	"[class data]\n"                                                                                     \
	"shards = {B}/d1\n"                                                                                  \
	"[class transcript]\n"                                                                               \
	"shards = {B}/x1\n"

/* Default config: the sendmail preset over c1 c2 c3 / d1 / x1. */
extern const char mnt_conf_sendmail[];
/* The same with the control socket in ROOT/ctl (for mnt_ask). */
extern const char mnt_conf_sendmail_ctl[];

struct mnt {
	char root[PATH_MAX];		/* private directory of this layout */
	char dir[PATH_MAX];		/* the mountpoint, ROOT/mnt */
	char conf[PATH_MAX];		/* ROOT/queuefs.conf */
	char pidfile[PATH_MAX];		/* ROOT/daemon.pid while a daemon runs */
	char errfile[PATH_MAX];		/* stderr of the last daemon started */
	char back[MNT_NBACK][PATH_MAX]; /* ROOT/c1 ... */
	pid_t pid;			/* the daemon, 0 when none */
	int starts;			/* daemons started, names the errfiles */
	bool up;			/* mounted and served */
	char why[2048];			/* why the last step failed */
};

/* mnt_init - check the environment once; false with a reason if unusable */
bool mnt_init(char *why, size_t len);

/* mnt_test_dir - the canonical $QFS_TEST_DIR */
const char *mnt_test_dir(void);

/*
 * mnt_layout - make a fresh layout named after TAG. CONF is the config
 *	text with every "{B}" replaced by the layout root; NULL means
 *	mnt_conf_sendmail.
 * mnt_write_conf - replace the config file of an existing layout.
 */
int mnt_layout(struct mnt *m, const char *tag, const char *conf);
int mnt_write_conf(struct mnt *m, const char *conf);

/*
 * mnt_start - start the daemon with -o OPTS (NULL: none) and wait up to
 *	10 s for the mount. On failure the daemon is gone, nothing is
 *	mounted and m->why holds the daemon's stderr.
 * mnt_refused - start the daemon expecting a refusal: wait for it to exit.
 *	Returns its exit status (128+signal if killed), or -1 if it mounted
 *	(then it is stopped again) or hung. m->why holds its stderr.
 * mnt_stop - unmount (umount2, retried on EBUSY) and wait up to 10 s for
 *	the daemon; on timeout SIGKILL and a lazy unmount. Returns the exit
 *	status, 128+signal, or -1 when it had to be killed.
 * mnt_crash - SIGKILL the daemon, reap it, lazily unmount the dead mount.
 */
int mnt_start(struct mnt *m, const char *opts);
int mnt_refused(struct mnt *m, const char *opts);
int mnt_stop(struct mnt *m);
int mnt_crash(struct mnt *m);

/* mnt_mounted - is PATH (canonical) a mount point right now? */
bool mnt_mounted(const char *path);

/*
 * mnt_reap - unmount everything mounted under DIR and end the daemons
 *	recorded in daemon.pid files under it (only if their command line
 *	names DIR).
 */
void mnt_reap(const char *dir);

/*
 * Fixtures: mnt_fixture_up makes a layout and mounts it, never failing
 * (tests call MNT_REQUIRE); mnt_fixture_down stops it and reaps leftovers.
 */
void mnt_fixture_up(struct mnt *m, const char *tag, const char *conf, const char *opts);
void mnt_fixture_down(struct mnt *m);

#define MNT_REQUIRE(m) ck_assert_msg((m)->up, "mount %s is not up: %s", (m)->dir, (m)->why)

/* mnt_enter - chdir into REL inside the mount (tests are forked: harmless) */
void mnt_enter(const struct mnt *m, const char *rel);

/*
 * Backing inspection. REL is a path relative to the mount root.
 * mnt_where - how many backings hold REL (lstat); WHICH gets the first.
 * mnt_where_list - the same, writing "c1 c3" style text to BUF.
 * mnt_bpath - BUF = backing B + "/" + REL.
 * mnt_leftovers - non-directories under REL in all backings (skipping
 *	the root's .queuefs); the first one found goes to FIRST.
 * mnt_snapshot - malloc'd sorted listing (path, type, mode, size) of all
 *	backings, to compare before and after a refused mount.
 * mnt_manifest - value of KEY in backing B's manifest, or -1.
 */
int mnt_where(const struct mnt *m, const char *rel, int *which);
const char *mnt_where_list(const struct mnt *m, const char *rel, char *buf, size_t len);
const char *mnt_bpath(const struct mnt *m, int b, const char *rel, char *buf, size_t len);
int mnt_leftovers(const struct mnt *m, const char *rel, char *first, size_t len);
char *mnt_snapshot(const struct mnt *m);
int mnt_manifest(const struct mnt *m, int b, const char *key, char *val, size_t len);

/*
 * File helpers: 0 or -errno.
 * mnt_put - create/replace PATH with DATA (flags O_CREAT|O_TRUNC added).
 * mnt_get - read PATH into BUF (NUL-terminated); returns bytes or -errno.
 * mnt_rm_rf - remove a tree outside any mount.
 */
int mnt_put(const char *path, const char *data, mode_t mode);
ssize_t mnt_get(const char *path, char *buf, size_t len);
int mnt_rm_rf(const char *path);

/*
 * Workers: mnt_workers forks N processes running FN(i, ARG, err, len);
 * a nonzero return is a failure whose message travels back. Returns the
 * number of failed workers; the first message goes to ERR.
 * mnt_shared - zeroed memory shared with forked children (never freed).
 */
int mnt_workers(int n, int (*fn)(int i, void *arg, char *err, size_t len), void *arg, char *err, size_t len);
void *mnt_shared(size_t len);

/* mnt_fail - format a worker failure with strerror(errno); returns -1 */
int mnt_fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * mnt_readdir - the entries of DIR except "." and ".." (malloc'd array,
 *	count returned, -errno on failure). DOTS (if not NULL) gets 1 per
 *	"." and 16 per ".." seen: 17 for a normal directory.
 */
struct mnt_dent {
	char name[256];
	ino_t ino;
	unsigned char type;
};
int mnt_readdir(const char *dir, struct mnt_dent **out, int *dots);

/* mnt_fmt - snprintf into BUF, returning BUF (for paths built inline) */
const char *mnt_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * mnt_ask - send REQ over the control socket in DIR to the daemon of MNT;
 *	the answer, NUL-terminated, in BUF. ctl_request's result, or -errno.
 */
int mnt_ask(const char *dir, const char *mnt, const char *req, char *buf, size_t len);

/* mnt_scale - deadline multiplier (CK_TIMEOUT_MULTIPLIER, default 1) */
double mnt_scale(void);

/*
 * Assertions on system calls. MNT_OK(expr): expr must not be negative;
 * its value is returned. MNT_ERR(expr, E): expr must fail with errno E.
 * MNT_CONTENT(path, want): the file must hold exactly WANT.
 */
#define MNT_OK(expr)                                                                                         \
	({                                                                                                   \
		long mnt_r_ = (long)(expr);                                                                  \
		ck_assert_msg(mnt_r_ >= 0, "%s: got -1 (%s), want success", #expr, strerror(errno));         \
		mnt_r_;                                                                                      \
	})
#define MNT_ERR(expr, want)                                                                                  \
	do {                                                                                                 \
		long mnt_r_;                                                                                 \
		int mnt_e_;                                                                                  \
		errno = 0;                                                                                   \
		mnt_r_ = (long)(expr);                                                                       \
		mnt_e_ = errno;                                                                              \
		ck_assert_msg(mnt_r_ < 0 && mnt_e_ == (want), "%s: got %ld (%s), want -1 (%s)", #expr,       \
			      mnt_r_, mnt_r_ < 0 ? strerror(mnt_e_) : "success", strerror(want));            \
	} while (0)
#define MNT_CONTENT(path, want)                                                                              \
	do {                                                                                                 \
		char mnt_b_[8192];                                                                           \
		ssize_t mnt_n_ = mnt_get((path), mnt_b_, sizeof(mnt_b_));                                    \
		ck_assert_msg(mnt_n_ >= 0, "read %s: %s", (path), strerror((int)-mnt_n_));                   \
		ck_assert_msg(strcmp(mnt_b_, (want)) == 0, "%s: got \"%s\", want \"%s\"", (path), mnt_b_,    \
			      (want));                                                                       \
	} while (0)

/* The suites, one per area (check_*.c). */
Suite *ops_suite(void);
Suite *place_suite(void);
Suite *mta_suite(void);
Suite *inode_suite(void);
Suite *manifest_suite(void);
Suite *ctl_suite(void);
Suite *coherence_suite(void);
Suite *faults_suite(void);

#endif
