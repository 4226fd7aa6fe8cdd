/*
 * NAME
 *	queuefsctl_mta - what an MTA leaves behind when it crashes
 * DESCRIPTION
 *	While the queue is unmounted no MTA is writing, so a temporary file
 *	that is old enough was abandoned, and a data file whose control file
 *	is gone will never be delivered. Per MTA:
 *
 *	sendmail: tfID older than --age (a control file being rewritten);
 *	dfID with no qfID, QfID or hfID next to it, nor in ../qf/ when it
 *	lives in a df/ directory of the QUEUE_DIR=q.* layout.
 *	Exim: hdr.PID older than --age (a header file being written); ID-D
 *	with no ID-H next to it.
 *	Postfix: a file under incoming/ or maildrop/ without the owner-execute
 *	bit, older than --age (Postfix sets that bit when a queue file is
 *	complete; an incomplete one is never picked up).
 * DIAGNOSTICS
 *	None: these are predicates; the walk reports and acts.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "queuefsctl.h"

/* mta_old_ok - is ST older than --age? its age in *SECS */
static bool mta_old_ok(const struct ctl *x, const struct stat *st, long long *secs)
{
	*secs = (long long)(x->now - st->st_mtime);
	return *secs >= (long long)x->age;
}

/* ctl_mta_leftover - an abandoned temporary file of the MTA? */
bool ctl_mta_leftover(const struct ctl *x, const char *rel, const char *name, const struct stat *st,
		      char *why, size_t len)
{
	long long secs;

	switch (x->mta) {
	case CTL_MTA_SENDMAIL:
		if (strncmp(name, "tf", 2) != 0 || !name[2] || !mta_old_ok(x, st, &secs))
			return false;
		snprintf(why, len, "sendmail temporary control file, %lld s old", secs);
		return true;
	case CTL_MTA_EXIM:
		if (strncmp(name, "hdr.", 4) != 0 || !mta_old_ok(x, st, &secs))
			return false;
		snprintf(why, len, "Exim temporary header file, %lld s old", secs);
		return true;
	case CTL_MTA_POSTFIX:
		if ((strncmp(rel, "incoming/", 9) != 0 && strncmp(rel, "maildrop/", 9) != 0) ||
		    (st->st_mode & S_IXUSR) || !mta_old_ok(x, st, &secs))
			return false;
		snprintf(why, len, "Postfix queue file never completed (no owner-execute bit), %lld s old",
			 secs);
		return true;
	}
	return false;
}

/* mta_exists_ok - does NAME (relative to the directory copies FDS) exist on any backing? */
static bool mta_exists_ok(const struct ctl *x, const int *fds, const char *name)
{
	struct stat st;

	for (int b = 0; b < x->nb; b++)
		if (fds[b] >= 0 && fstatat(fds[b], name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return true;
	return false;
}

/* mta_in_df_dir_ok - does REL live in a directory called df? */
static bool mta_in_df_dir_ok(const char *rel)
{
	const char *slash = strrchr(rel, '/');

	return slash && slash - rel >= 2 && strncmp(slash - 2, "df", 2) == 0 &&
	       (slash - rel == 2 || slash[-3] == '/');
}

/* ctl_mta_orphan - a data file whose control file is gone? */
bool ctl_mta_orphan(const struct ctl *x, const char *rel, const int *fds, const char *name, char *why,
		    size_t len)
{
	static const char *const ctl_pfx[] = { "qf", "Qf", "hf" };
	char cand[NAME_MAX + 8];
	size_t n = strlen(name);

	switch (x->mta) {
	case CTL_MTA_SENDMAIL:
		if (strncmp(name, "df", 2) != 0 || !name[2])
			return false;
		for (size_t i = 0; i < sizeof(ctl_pfx) / sizeof(ctl_pfx[0]); i++) {
			snprintf(cand, sizeof(cand), "%s%s", ctl_pfx[i], name + 2);
			if (mta_exists_ok(x, fds, cand))
				return false;
			snprintf(cand, sizeof(cand), "../qf/%s%s", ctl_pfx[i], name + 2);
			if (mta_in_df_dir_ok(rel) && mta_exists_ok(x, fds, cand))
				return false;
		}
		snprintf(why, len, "sendmail data file without qf%s", name + 2);
		return true;
	case CTL_MTA_EXIM:
		if (n < 3 || strcmp(name + n - 2, "-D") != 0)
			return false;
		snprintf(cand, sizeof(cand), "%.*s-H", (int)(n - 2), name);
		if (mta_exists_ok(x, fds, cand))
			return false;
		snprintf(why, len, "Exim data file without %s", cand);
		return true;
	case CTL_MTA_POSTFIX:
		return false; /* one file per message */
	}
	return false;
}
