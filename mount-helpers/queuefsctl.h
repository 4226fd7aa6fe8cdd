/*
 * queuefsctl.h - the offline maintenance tool: shared state of one run
 *
 * One run works on the backings of one configuration while queuefs is
 * not mounted on them. The configured roots come first (indices 0 ..
 * layout.n - 1, exactly as in the daemon's layout, so routing results
 * can be used as they are), then the retired roots named with --from.
 */
#ifndef QFS_QUEUEFSCTL_H
#define QFS_QUEUEFSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "backing.h"
#include "conf.h"

#define CTL_MAX_FROM 16
#define CTL_MAX_B    (QFS_MAX_BACKINGS + CTL_MAX_FROM)
#define CTL_TMP_PFX  "ctl-move." /* temporary copies in ROOT/.queuefs */

/* Exit statuses, as in queuefsctl(8). */
enum { CTL_EXIT_CLEAN = 0, CTL_EXIT_FINDINGS = 1, CTL_EXIT_ERROR = 2 };

enum ctl_mode { CTL_CHECK, CTL_REPAIR, CTL_REBALANCE };

/* Whose leftovers the MTA rules look for. */
enum ctl_mta { CTL_MTA_SENDMAIL, CTL_MTA_POSTFIX, CTL_MTA_EXIM };

struct ctl_move {
	char *rel; /* path inside the queue */
	int from;  /* backing index */
	int to;
};

struct ctl {
	const char *cmd; /* "check", "repair", "rebalance": message prefix */
	enum ctl_mode mode;
	bool apply;	     /* repair, rebalance without -n */
	bool force;	     /* quarantine leftovers; abandon a dropped shard */
	bool ignore_mounted; /* run although a queuefs daemon holds a root */
	time_t age;	     /* --age: older temporary files are leftovers */
	time_t now;
	enum ctl_mta mta;
	struct conf conf;
	struct layout layout;
	bool layout_open; /* layout holds fds that backing_layout_close frees */
	int nb;		  /* configured roots + --from roots */
	const char *path[CTL_MAX_B];
	int rootfd[CTL_MAX_B]; /* O_PATH directory fds */
	int metafd[CTL_MAX_B]; /* ROOT/.queuefs, -1 in a dry run without one */
	int quarfd[CTL_MAX_B]; /* ROOT/.queuefs/quarantine, likewise */
	struct ctl_move *moves;
	size_t nmoves, capmoves;
	unsigned long findings; /* check: problems seen */
	unsigned long actions;	/* repair, rebalance: fixes done (or planned in a dry run) */
	unsigned long left;	/* problems not fixed */
	unsigned long errors;	/* operations that failed */
};

/* queuefsctl_layout.c */
int ctl_layout_open(struct ctl *x, bool migrate);
int ctl_layout_plan(struct ctl *x);
int ctl_from_open(struct ctl *x, const char *path);
int ctl_layout_dropped_ok(struct ctl *x, const char *const *from, int nfrom);
int ctl_busy_check(struct ctl *x);
int ctl_lock_backings(struct ctl *x);
void ctl_layout_close(struct ctl *x);

/* queuefsctl_walk.c */
int ctl_walk(struct ctl *x);

/* queuefsctl_mta.c */
bool ctl_mta_leftover(const struct ctl *x, const char *rel, const char *name, const struct stat *st,
		      char *why, size_t len);
bool ctl_mta_orphan(const struct ctl *x, const char *rel, const int *fds, const char *name, char *why,
		    size_t len);

/* queuefsctl_move.c */
int ctl_move_file(struct ctl *x, const struct ctl_move *mv);
int ctl_move_all(struct ctl *x);
int ctl_quarantine(struct ctl *x, int dirfd, int b, const char *rel, const char *name, const char *why);
int ctl_tmp_sweep(struct ctl *x);
int ctl_dir_open(struct ctl *x, int b, const char *reldir, int flags);
int ctl_copies_same_ok(int dfd1, int dfd2, const char *name);

/* queuefsctl.c */
void ctl_action(struct ctl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_left(struct ctl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_finding(struct ctl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_warn(struct ctl *x, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* queuefsctl_online.c: status and flush, through a running daemon's control socket */
int ctl_online(int argc, char *argv[]);

#endif
