/*
 * NAME
 *	queuefsctl_online - the commands that talk to a running queuefs
 * SYNOPSIS
 *	queuefsctl status [--json] [--ctl-dir DIR] MOUNT
 *	queuefsctl flush [--index|--storage|--all] [--ctl-dir DIR] MOUNT [PATH...]
 * DESCRIPTION
 *	Both send one request over the mount's control socket (see ctl.h)
 *	and print the answer. status: per class and shard the backing, files,
 *	bytes, free space and inodes, files off their hash home; per
 *	operation count, rate and latency percentiles. flush: make the
 *	kernel drop what it cached of the index (control) classes, the
 *	storage (data) classes, or all, for the given paths or everything.
 *	--ctl-dir names the config's ctl_dir when it is not /run/queuefs.
 * DIAGNOSTICS
 *	Exit 0 on success, 2 when the daemon cannot be reached or refuses
 *	(the refusal is printed as the daemon gave it).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "queuefsctl.h"

/* ctl_online - status and flush: argv as main got it */
int ctl_online(int argc, char *argv[])
{
	static const struct option longopts[] = { { "json", no_argument, NULL, 'j' },
						  { "ctl-dir", required_argument, NULL, 'd' },
						  { "index", no_argument, NULL, 'i' },
						  { "storage", no_argument, NULL, 's' },
						  { "all", no_argument, NULL, 'a' },
						  { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	const char *cmd = argv[1], *dir = getenv("QUEUEFS_CTL_DIR"), *what = "all";
	char req[CTL_REQUEST_MAX], *ans = NULL;
	size_t anslen = 0, used;
	int ch, json = 0, flush = strcmp(cmd, "flush") == 0, r;
	FILE *out;

	if (!dir)
		dir = CTL_DEFAULT_DIR;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'i':
		case 's':
		case 'a':
			if (!flush)
				errx(CTL_EXIT_ERROR, "%s: --%s belongs to flush", cmd,
				     ch == 'i'	 ? "index"
				     : ch == 's' ? "storage"
						 : "all");
			what = ch == 'i' ? "index" : ch == 's' ? "storage" : "all";
			break;
		default:
			fprintf(stderr,
				"usage: queuefsctl status [--json] [--ctl-dir DIR] MOUNT\n"
				"       queuefsctl flush [--index|--storage|--all] [--ctl-dir DIR] MOUNT "
				"[PATH...]\n");
			exit(CTL_EXIT_ERROR);
		}
	}
	if (optind >= argc || (!flush && optind != argc - 1))
		errx(CTL_EXIT_ERROR, "%s: expected a mountpoint%s", cmd, flush ? " and optional paths" : "");
	if (json && flush)
		errx(CTL_EXIT_ERROR, "flush: --json belongs to status");
	used = (size_t)snprintf(req, sizeof(req), "%s %s", cmd, flush ? what : json ? "json" : "text");
	for (int i = optind + 1; i < argc; i++) {
		if (strchr(argv[i], '\n') || used + strlen(argv[i]) + 2 >= sizeof(req))
			errx(CTL_EXIT_ERROR, "flush: path %s: too long or has a newline", argv[i]);
		used += (size_t)snprintf(req + used, sizeof(req) - used, " %s", argv[i]);
	}
	out = open_memstream(&ans, &anslen);
	if (!out)
		err(CTL_EXIT_ERROR, "%s", cmd);
	r = ctl_request(dir, argv[optind], req, out);
	fclose(out);
	if (r < 0) {
		free(ans);
		errx(CTL_EXIT_ERROR, "%s: %s: no queuefs answers on its control socket in %s: %s", cmd,
		     argv[optind], dir, strerror(-r));
	}
	fwrite(ans, 1, anslen, stdout);
	r = strncmp(ans ? ans : "", "error:", 6) == 0 ? CTL_EXIT_ERROR : CTL_EXIT_CLEAN;
	free(ans);
	return r;
}
