/*
 * NAME
 *	queuefs - one mail-queue directory spread over many disks and tmpfs
 * SYNOPSIS
 *	queuefs [-f] [-d] [-s] [-o option[,option...]] CONFIG MOUNTPOINT
 * DESCRIPTION
 *	Start-up: read the command line and CONFIG, open and check every
 *	backing root (manifests), walk the tree once (missing directory copies,
 *	duplicate names), mount, detach unless -f, and serve the kernel with a
 *	multi-threaded libfuse low-level session until unmounted or signalled.
 *
 *	-o options that name a config key (entry_timeout=5, migrate, ...)
 *	override the file; all others go to libfuse (allow_other, ...).
 *	When other users may enter the mount (allow_other, the default) the
 *	kernel checks permissions (default_permissions): the daemon runs as
 *	root. With allow_other = no only the user who mounted it (root) gets
 *	in at all, so there is nothing to check, and without the checks the
 *	kernel spares a GETATTR of the directory after every create, rename
 *	and unlink.
 * DIAGNOSTICS
 *	Every start-up problem is printed, one line each, before queuefs exits
 *	with status 1; nothing is mounted then. At run time problems go to
 *	syslog (stderr with -f).
 */
#include "queuefs.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backing.h"
#include "conf.h"
#include "ctl.h"
#include "inval.h"
#include "log.h"
#include "node.h"
#include "ops.h"
#include "place.h"
#include "stats.h"
#include "sync.h"
#include "watch.h"

struct cmdline {
	const char *config;
	const char *mountpoint;
	int foreground;
	int debug;
	int single;
	int help;
	int version;
	int bad;
	char *opts[64]; /* -o options, applied after the config file */
	int nopts;
};

enum { KEY_FG, KEY_DEBUG, KEY_SINGLE, KEY_HELP, KEY_VERSION };

static const struct fuse_opt cmd_spec[] = { FUSE_OPT_KEY("-f", KEY_FG),
					    FUSE_OPT_KEY("-d", KEY_DEBUG),
					    FUSE_OPT_KEY("debug", KEY_DEBUG),
					    FUSE_OPT_KEY("-s", KEY_SINGLE),
					    FUSE_OPT_KEY("-h", KEY_HELP),
					    FUSE_OPT_KEY("--help", KEY_HELP),
					    FUSE_OPT_KEY("-V", KEY_VERSION),
					    FUSE_OPT_KEY("--version", KEY_VERSION),
					    FUSE_OPT_END };

/* cmd_proc - sort each argument into our fields; nothing goes to libfuse here */
static int cmd_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cmdline *cl = data;

	(void)outargs;
	switch (key) {
	case KEY_FG:
		cl->foreground = 1;
		return 0;
	case KEY_DEBUG:
		cl->debug = cl->foreground = 1;
		return 0;
	case KEY_SINGLE:
		cl->single = 1;
		return 0;
	case KEY_HELP:
		cl->help = 1;
		return 0;
	case KEY_VERSION:
		cl->version = 1;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			fprintf(stderr, "queuefs: unknown option %s\n", arg);
			cl->bad = 1;
		} else if (cl->nopts < (int)(sizeof(cl->opts) / sizeof(cl->opts[0]))) {
			cl->opts[cl->nopts++] = strdup(arg);
		}
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!cl->config)
			cl->config = arg;
		else if (!cl->mountpoint)
			cl->mountpoint = arg;
		else {
			fprintf(stderr, "queuefs: unexpected argument %s\n", arg);
			cl->bad = 1;
		}
		return 0;
	}
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: queuefs [-f] [-d] [-s] [-o option[,option...]] CONFIG MOUNTPOINT\n"
		   "  -f         stay in the foreground, log to stderr\n"
		   "  -d         debug: foreground, libfuse and queuefs debug output\n"
		   "  -s         single-threaded\n"
		   "  -o KEY=VAL override a global config key (entry_timeout, migrate, ...)\n"
		   "  -o OPT     any other option goes to libfuse (allow_other is on by default)\n"
		   "see queuefs(8) and the README for the config file format\n");
}

/*
 * mountpoint_check - refuse loops; detach a dead mount left by a killed
 *	daemon; REAL gets the mountpoint's absolute path (the daemon leaves
 *	its working directory when it detaches).
 */
static int mountpoint_check(const char *mnt, const struct conf *c, char *real)
{
	char breal[PATH_MAX];
	struct stat st;
	size_t ml;
	int bad = 0;

	if (stat(mnt, &st) < 0 && errno == ENOTCONN) {
		if (umount2(mnt, MNT_DETACH) == 0)
			log_warnx("mountpoint %s held a dead FUSE mount (daemon killed?): detached it", mnt);
	}
	if (!realpath(mnt, real)) {
		fprintf(stderr, "queuefs: mountpoint %s: %s\n", mnt, strerror(errno));
		return -1;
	}
	ml = strlen(real);
	for (int ci = 0; ci < c->nclasses; ci++) {
		for (int s = 0; s < c->classes[ci].nshards; s++) {
			if (!realpath(c->classes[ci].shards[s], breal))
				continue; /* reported with more context by the backing checks */
			if (strcmp(breal, real) == 0 || (strncmp(breal, real, ml) == 0 && breal[ml] == '/') ||
			    strcmp(real, "/") == 0) {
				fprintf(stderr, "queuefs: backing %s lies inside the mountpoint %s\n",
					c->classes[ci].shards[s], mnt);
				bad = 1;
			}
		}
	}
	return bad ? -1 : 0;
}

/* raise_nofile - every cached inode holds an fd: allow as many as the hard limit */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn(errno, "setrlimit NOFILE");
	}
}

/* fuse_args_build - what libfuse gets: our fixed options plus the unknown -o ones */
static int fuse_args_build(struct fuse_args *fa, const struct cmdline *cl, const struct conf *c,
			   char **passthru, int npass)
{
	char opt[256];
	bool others = c->allow_other;

	for (int i = 0; i < npass; i++)
		others |= strncmp(passthru[i], "allow_", 6) == 0;
	if (fuse_opt_add_arg(fa, "queuefs") < 0)
		return -1;
	snprintf(opt, sizeof(opt), "-o%sfsname=%s,subtype=queuefs%s", others ? "default_permissions," : "",
		 c->fsname, c->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(fa, opt) < 0)
		return -1;
	if (cl->debug && fuse_opt_add_arg(fa, "-odebug") < 0)
		return -1;
	for (int i = 0; i < npass; i++) {
		snprintf(opt, sizeof(opt), "-o%s", passthru[i]);
		if (fuse_opt_add_arg(fa, opt) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv), fa = FUSE_ARGS_INIT(0, NULL);
	struct cmdline cl = { 0 };
	static struct conf conf;
	static struct layout layout;
	static struct fs fs;
	static struct fuse_lowlevel_ops ops;
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	char *passthru[64];
	static char mnt_real[PATH_MAX], conf_real[PATH_MAX];
	int npass = 0, ret = 1, err;

	conf_init(&conf);
	if (fuse_opt_parse(&args, &cl, cmd_spec, cmd_proc) < 0 || cl.bad) {
		usage(stderr);
		goto out;
	}
	if (cl.help || cl.version) {
		if (cl.help)
			usage(stdout);
		else
			printf("queuefs %s (libfuse %s)\n", QFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (!cl.config || !cl.mountpoint) {
		usage(stderr);
		goto out;
	}
	log_init(true, cl.debug);

	if (realpath(cl.config, conf_real))
		cl.config = conf_real; /* status shows where the config is, wherever queuefs ran */
	if (conf_load(&conf, cl.config, stderr) < 0) {
		fprintf(stderr, "queuefs: %s: configuration refused\n", cl.config);
		goto out;
	}
	for (int i = 0; i < cl.nopts; i++) {
		char key[128], reason[256], *eq = strchr(cl.opts[i], '=');

		snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - cl.opts[i]) : (int)strlen(cl.opts[i]),
			 cl.opts[i]);
		err = conf_set(&conf, key, eq ? eq + 1 : NULL, reason, sizeof(reason));
		if (err == -ENOENT)
			passthru[npass++] = cl.opts[i];
		else if (err < 0) {
			fprintf(stderr, "queuefs: -o %s: %s\n", cl.opts[i], reason);
			goto out;
		}
	}
	if (mountpoint_check(cl.mountpoint, &conf, mnt_real) < 0)
		goto out;
	cl.mountpoint = mnt_real;
	umask(0);
	raise_nofile();
	if (backing_layout_open(&layout, &conf, stderr) < 0) {
		fprintf(stderr, "queuefs: mount of %s refused\n", cl.mountpoint);
		goto out;
	}
	if ((err = node_fs_init(&fs, &conf, &layout)) < 0)
		fatal(err, "init");
	if ((err = place_scan(&fs)) < 0) {
		fprintf(stderr, "queuefs: checking the backings failed: %s\n", strerror(-err));
		goto out;
	}
	/* Duplicates are settled: count which names are off their hash home (struct dirinfo). */
	fs.census = place_census;
	atomic_store(&fs.root_dir.strays, place_census(&fs, &fs.root));
	if (fuse_args_build(&fa, &cl, &conf, passthru, npass) < 0)
		fatalx("out of memory");

	ops_build(&ops, &conf);
	se = fuse_session_new(&fa, &ops, sizeof(ops), &fs);
	if (!se) {
		fprintf(stderr, "queuefs: cannot start a FUSE session (bad -o option?)\n");
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cl.mountpoint) != 0) {
		fprintf(stderr, "queuefs: cannot mount %s\n", cl.mountpoint);
		goto out_signals;
	}
	log_info("mounted %s on %s: %d backings, %d classes, layout generation %u", cl.config, cl.mountpoint,
		 layout.n, conf.nclasses, layout.generation);
	if (fuse_daemonize(cl.foreground) != 0)
		goto out_unmount;
	if (!cl.foreground)
		log_to_syslog();
	/*
	 * fuse_daemonize forks: threads do not survive it, and /proc/self
	 * opened before it is the parent's, gone when the parent exits. Both
	 * are set up only now.
	 */
	if ((err = ops_proc_init()) < 0) {
		log_warn(err, "open /proc/self/fd");
		goto out_unmount;
	}
	if (sync_start(&fs) < 0)
		goto out_sync;
	stats_start();
	/* Each of these logs its own failure; the mount works without them. */
	inval_start(se);
	ctl_start(&fs, se, cl.mountpoint);
	if (conf.watch)
		watch_start(&fs);

	if (cl.single) {
		ret = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_max_threads(lc, conf.max_threads);
		fuse_loop_cfg_set_idle_threads(lc, conf.max_threads / 2 ? conf.max_threads / 2 : 1);
		ret = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	/*
	 * The loop returns the number of the signal that ended it: SIGTERM,
	 * SIGINT or SIGHUP is an orderly stop (systemd's ExecStop, an admin's
	 * kill), not a failure.
	 */
	ret = !(ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP);
	log_info("unmounting %s", cl.mountpoint);
out_sync:
	watch_stop();
	ctl_stop();
	inval_stop();
	sync_stop();
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	ops_dir_cleanup();
	node_fs_destroy(&fs);
	backing_layout_close(&layout);
	conf_free(&conf);
	fuse_opt_free_args(&fa);
	fuse_opt_free_args(&args);
	for (int i = 0; i < cl.nopts; i++)
		free(cl.opts[i]);
	return ret;
}
