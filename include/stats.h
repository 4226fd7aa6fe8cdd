/*
 * stats.h - operation counters and latency histograms since mount
 *
 * Every FUSE handler is timed from its entry to its return (it replies
 * before returning). Counters are atomics in fixed arrays: no lock and no
 * allocation on the request path. Latencies fall in power-of-two
 * microsecond buckets, so percentiles are upper bounds within a factor 2.
 */
#ifndef QFS_STATS_H
#define QFS_STATS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum stat_op {
	QOP_LOOKUP,
	QOP_FORGET,
	QOP_GETATTR,
	QOP_SETATTR,
	QOP_READLINK,
	QOP_MKNOD,
	QOP_MKDIR,
	QOP_UNLINK,
	QOP_RMDIR,
	QOP_SYMLINK,
	QOP_RENAME,
	QOP_LINK,
	QOP_CREATE,
	QOP_OPEN,
	QOP_READ,
	QOP_WRITE,
	QOP_FLUSH,
	QOP_RELEASE,
	QOP_FSYNC,
	QOP_OPENDIR,
	QOP_READDIR,
	QOP_READDIRPLUS,
	QOP_RELEASEDIR,
	QOP_FSYNCDIR,
	QOP_STATFS,
	QOP_FALLOCATE,
	QOP_LOCK,
	QOP_NOPS
};

#define STATS_BUCKETS 32 /* bucket i: latency below 2^i microseconds */

struct stats_op_snapshot {
	uint64_t count;
	uint64_t buckets[STATS_BUCKETS];
};

/* stats_now - a monotonic timestamp in nanoseconds */
static inline uint64_t stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void stats_start(void);
void stats_record(enum stat_op op, uint64_t started_ns);
void stats_snapshot(enum stat_op op, struct stats_op_snapshot *out);
double stats_uptime(void);
const char *stats_op_name(enum stat_op op);
/*
 * stats_search - one search for a name: answered by its hash home alone
 *	(HOME_ONLY) or by asking the backings in turn; stats_searches reads both.
 */
void stats_search(int home_only);
void stats_searches(uint64_t *home_only, uint64_t *all);
/* stats_percentile - upper bound in microseconds of the P-th percentile (0 if no samples) */
uint64_t stats_percentile(const struct stats_op_snapshot *s, double p);

#endif
