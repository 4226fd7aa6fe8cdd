/*
 * NAME
 *	check_mount.c - queuefs tests through a real FUSE mount
 *
 * SYNOPSIS
 *	QUEUEFS=/abs/queuefs sh test/mount/run build/test/check_mount
 *
 * DESCRIPTION
 *	Runs every mount suite (check_ops.c, check_place.c, check_mta.c,
 *	check_inode.c, check_manifest.c, check_ctl.c,
 *	check_coherence.c, check_faults.c). test/mount/run provides the work
 *	directory and the last-resort cleanup; this process becomes a child
 *	subreaper so that daemons orphaned by a crashed test come back to it
 *	and are reaped by the fixtures. CK_RUN_SUITE / CK_RUN_CASE select
 *	tests as usual with Check.
 *
 * DIAGNOSTICS
 *	Exit 0 when all tests pass, 1 otherwise, 77 (skip) when this machine
 *	cannot mount (not root, no /dev/fuse).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "mnt.h"

int main(void)
{
	char why[512];
	SRunner *sr;
	int failed;

	if (!mnt_init(why, sizeof(why))) {
		fprintf(stderr, "check_mount: skipped: %s\n", why);
		return strstr(why, "QUEUEFS") || strstr(why, "QFS_TEST_DIR") ? 1 : 77;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "check_mount: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));

	sr = srunner_create(ops_suite());
	srunner_add_suite(sr, place_suite());
	srunner_add_suite(sr, mta_suite());
	srunner_add_suite(sr, inode_suite());
	srunner_add_suite(sr, manifest_suite());
	srunner_add_suite(sr, ctl_suite());
	srunner_add_suite(sr, coherence_suite());
	srunner_add_suite(sr, faults_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mnt_reap(mnt_test_dir());
	return failed ? 1 : 0;
}
