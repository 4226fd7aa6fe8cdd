/*
 * NAME
 *	queuefsctl - offline maintenance of the backings of a queuefs queue
 * SYNOPSIS
 *	queuefsctl check [--age SECONDS] [--mta NAME] [--ignore-mounted] CONFIG
 *	queuefsctl repair [-n] [--force] [--age SECONDS] [--mta NAME] CONFIG
 *	queuefsctl rebalance [-n] [--force] [--from OLD_ROOT]... CONFIG
 *	queuefsctl status | flush ... MOUNT   (queuefsctl_online.c)
 * DESCRIPTION
 *	Works directly on the backing roots of CONFIG while the queue is
 *	unmounted: check reports what is out of place, repair fixes what is
 *	safe to fix, rebalance records a changed set of shards and moves
 *	exactly the files whose hash home changed. Findings and actions go to
 *	stdout, one line each; messages to stderr as "queuefsctl: CMD: ...".
 *
 *	This file holds the command line, the reporting verbs and the order
 *	of the steps; the walk, the moves, the MTA rules and the layout live
 *	in the other queuefsctl_*.c files.
 * DIAGNOSTICS
 *	Exit status 0: clean (check), nothing left to do (repair, rebalance);
 *	1: findings, or problems left unfixed, or a dry run that would act;
 *	2: an error (bad usage, unreadable config, refused layout, a queuefs
 *	daemon still using the backings, a failed operation).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queuefsctl.h"

/* ctl_vprint - one line to stdout, flushed so that a crash loses none */
static void ctl_vprint(const char *pfx, const char *fmt, va_list ap)
{
	fputs(pfx, stdout);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

/* ctl_finding - report one problem of the backings */
void ctl_finding(struct ctl *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vprint("", fmt, ap);
	va_end(ap);
	x->findings++;
}

/* ctl_action - report one fix, done or (dry run) planned */
void ctl_action(struct ctl *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vprint(x->apply ? "  " : "  would ", fmt, ap);
	va_end(ap);
	x->actions++;
}

/* ctl_left - report a problem this run leaves alone, and why */
void ctl_left(struct ctl *x, const char *fmt, ...)
{
	va_list ap;

	if (x->mode == CTL_CHECK)
		return;
	va_start(ap, fmt);
	ctl_vprint("  left: ", fmt, ap);
	va_end(ap);
	x->left++;
}

/* ctl_warn - an operation failed: stderr, and the run ends with status 2 */
void ctl_warn(struct ctl *x, int err, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "queuefsctl: %s: ", x->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
	x->errors++;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: queuefsctl check [--age SECONDS] [--mta sendmail|postfix|exim] CONFIG\n"
			"       queuefsctl repair [-n] [--force] [--age SECONDS] [--mta NAME] CONFIG\n"
			"       queuefsctl rebalance [-n] [--force] [--from OLD_ROOT]... CONFIG\n"
			"       (each also takes --ignore-mounted)\n"
			"       queuefsctl status [--json] [--ctl-dir DIR] MOUNT\n"
			"       queuefsctl flush [--index|--storage|--all] [--ctl-dir DIR] MOUNT [PATH...]\n"
			"see queuefsctl(8)\n");
	exit(CTL_EXIT_ERROR);
}

/* parse_age - "3600", "90m", "2h", "1d" -> seconds */
static time_t parse_age(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || n < 0)
		errx(CTL_EXIT_ERROR, "--age %s: not a number of seconds", s);
	switch (*end) {
	case 0:
	case 's':
		break;
	case 'm':
		n *= 60;
		break;
	case 'h':
		n *= 3600;
		break;
	case 'd':
		n *= 86400;
		break;
	default:
		errx(CTL_EXIT_ERROR, "--age %s: unknown unit (s, m, h, d)", s);
	}
	if (*end && end[1])
		errx(CTL_EXIT_ERROR, "--age %s: trailing characters", s);
	return (time_t)n;
}

/* mta_default - which MTA's leftovers to look for, from the preset */
static enum ctl_mta mta_parse(const char *s)
{
	if (strcmp(s, "sendmail") == 0 || strcmp(s, "") == 0)
		return CTL_MTA_SENDMAIL;
	if (strcmp(s, "postfix") == 0)
		return CTL_MTA_POSTFIX;
	if (strcmp(s, "exim") == 0)
		return CTL_MTA_EXIM;
	errx(CTL_EXIT_ERROR, "--mta %s: expected sendmail, postfix or exim", s);
}

/* ctl_status - the exit status a finished run deserves */
static int ctl_status(const struct ctl *x)
{
	if (x->errors)
		return CTL_EXIT_ERROR;
	if (x->mode == CTL_CHECK)
		return x->findings ? CTL_EXIT_FINDINGS : CTL_EXIT_CLEAN;
	if (x->left || (!x->apply && x->actions))
		return CTL_EXIT_FINDINGS;
	return CTL_EXIT_CLEAN;
}

/* ctl_run - the steps of one command, in the order that keeps them crash-safe */
static int ctl_run(struct ctl *x, const char *const *from, int nfrom)
{
	int err;

	if (ctl_busy_check(x) < 0)
		return CTL_EXIT_ERROR;
	if (x->mode == CTL_REBALANCE) {
		/*
		 * Record the new layout first, then move: an interrupted
		 * run leaves files off their new home, which the daemon
		 * finds anyway and a second run moves. Refuse to forget a
		 * shard whose files nobody said where to find.
		 */
		if (ctl_layout_dropped_ok(x, from, nfrom) < 0)
			return CTL_EXIT_ERROR;
		err = x->apply ? ctl_layout_open(x, true) : ctl_layout_plan(x);
	} else {
		err = ctl_layout_open(x, false);
	}
	if (err == -ENODATA)
		return CTL_EXIT_CLEAN; /* never mounted: nothing to look at */
	if (err < 0)
		return x->mode == CTL_CHECK && x->findings ? CTL_EXIT_FINDINGS : CTL_EXIT_ERROR;
	for (int i = 0; i < nfrom; i++)
		if (ctl_from_open(x, from[i]) < 0)
			return CTL_EXIT_ERROR;
	if ((x->apply && ctl_lock_backings(x) < 0) || ctl_tmp_sweep(x) < 0)
		return CTL_EXIT_ERROR;
	if (ctl_walk(x) < 0)
		return CTL_EXIT_ERROR;
	ctl_move_all(x);
	if (nfrom && x->apply && !x->left && !x->errors)
		for (int i = 0; i < nfrom; i++)
			fprintf(stderr, "queuefsctl: %s: %s holds no more queue files: it may be retired\n",
				x->cmd, from[i]);
	return ctl_status(x);
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "age", required_argument, NULL, 'a' },      { "mta", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'F' },	      { "from", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },	      { "help", no_argument, NULL, 'h' },
		{ "ignore-mounted", no_argument, NULL, 'I' }, { NULL, 0, NULL, 0 }
	};
	static struct ctl x;
	const char *from[CTL_MAX_FROM], *mta = NULL;
	int nfrom = 0, ch, status;

	if (argc < 2)
		usage();
	x.cmd = argv[1];
	if (strcmp(x.cmd, "check") == 0)
		x.mode = CTL_CHECK;
	else if (strcmp(x.cmd, "repair") == 0)
		x.mode = CTL_REPAIR;
	else if (strcmp(x.cmd, "rebalance") == 0)
		x.mode = CTL_REBALANCE;
	else if (strcmp(x.cmd, "status") == 0 || strcmp(x.cmd, "flush") == 0)
		return ctl_online(argc, argv);
	else if (strcmp(x.cmd, "-h") == 0 || strcmp(x.cmd, "--help") == 0)
		usage();
	else
		errx(CTL_EXIT_ERROR, "unknown command %s (check, repair, rebalance, status, flush)", x.cmd);
	x.apply = x.mode != CTL_CHECK;
	x.age = 3600;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			x.age = parse_age(optarg);
			break;
		case 'm':
			mta = optarg;
			break;
		case 'F':
			x.force = true;
			break;
		case 'I':
			x.ignore_mounted = true;
			break;
		case 'r':
			if (x.mode != CTL_REBALANCE)
				errx(CTL_EXIT_ERROR, "%s: --from belongs to rebalance", x.cmd);
			if (nfrom == CTL_MAX_FROM)
				errx(CTL_EXIT_ERROR, "%s: at most %d --from roots", x.cmd, CTL_MAX_FROM);
			from[nfrom++] = optarg;
			break;
		case 'n':
			if (x.mode == CTL_CHECK)
				errx(CTL_EXIT_ERROR, "check: -n: check never changes anything");
			x.apply = false;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();

	/* The library's few log lines (layout migrated, ...) go to stderr. */
	log_init(true, false);
	conf_init(&x.conf);
	if (conf_load(&x.conf, argv[optind], stderr) < 0)
		errx(CTL_EXIT_ERROR, "%s: %s: configuration refused", x.cmd, argv[optind]);
	x.mta = mta_parse(mta ? mta : x.conf.preset);
	x.now = time(NULL);
	status = ctl_run(&x, from, nfrom);
	ctl_layout_close(&x);
	for (size_t i = 0; i < x.nmoves; i++)
		free(x.moves[i].rel);
	free(x.moves);
	conf_free(&x.conf);
	return status;
}
