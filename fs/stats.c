/*
 * NAME
 *	stats - operation counters and latency histograms since mount
 * DESCRIPTION
 *	One slot per FUSE operation: a count and a histogram of latencies in
 *	power-of-two microsecond buckets, all relaxed atomics. queuefsctl
 *	status reads a snapshot through the control channel.
 * DIAGNOSTICS
 *	None: recording cannot fail.
 */
#include <stdatomic.h>

#include "stats.h"

static const char *const op_names[QOP_NOPS] = {
	[QOP_LOOKUP] = "lookup",
	[QOP_FORGET] = "forget",
	[QOP_GETATTR] = "getattr",
	[QOP_SETATTR] = "setattr",
	[QOP_READLINK] = "readlink",
	[QOP_MKNOD] = "mknod",
	[QOP_MKDIR] = "mkdir",
	[QOP_UNLINK] = "unlink",
	[QOP_RMDIR] = "rmdir",
	[QOP_SYMLINK] = "symlink",
	[QOP_RENAME] = "rename",
	[QOP_LINK] = "link",
	[QOP_CREATE] = "create",
	[QOP_OPEN] = "open",
	[QOP_READ] = "read",
	[QOP_WRITE] = "write",
	[QOP_FLUSH] = "flush",
	[QOP_RELEASE] = "release",
	[QOP_FSYNC] = "fsync",
	[QOP_OPENDIR] = "opendir",
	[QOP_READDIR] = "readdir",
	[QOP_READDIRPLUS] = "readdirplus",
	[QOP_RELEASEDIR] = "releasedir",
	[QOP_FSYNCDIR] = "fsyncdir",
	[QOP_STATFS] = "statfs",
	[QOP_FALLOCATE] = "fallocate",
	[QOP_LOCK] = "lock",
};

static atomic_uint_fast64_t counts[QOP_NOPS];
static atomic_uint_fast64_t hist[QOP_NOPS][STATS_BUCKETS];
static uint64_t started;

/* stats_start - the mount time that rates are computed from */
void stats_start(void)
{
	started = stats_now();
}

/* stats_uptime - seconds since stats_start */
double stats_uptime(void)
{
	return (double)(stats_now() - started) / 1e9;
}

/* stats_record - one operation of kind OP that began at STARTED_NS */
void stats_record(enum stat_op op, uint64_t started_ns)
{
	uint64_t us = (stats_now() - started_ns) / 1000;
	int b = 0;

	while (b < STATS_BUCKETS - 1 && (UINT64_C(1) << b) <= us)
		b++;
	atomic_fetch_add_explicit(&counts[op], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist[op][b], 1, memory_order_relaxed);
}

static atomic_uint_fast64_t searches[2];

/* stats_search - count one name search, home only or over the backings */
void stats_search(int home_only)
{
	atomic_fetch_add_explicit(&searches[home_only ? 1 : 0], 1, memory_order_relaxed);
}

/* stats_searches - the two search counters */
void stats_searches(uint64_t *home_only, uint64_t *all)
{
	*home_only = atomic_load_explicit(&searches[1], memory_order_relaxed);
	*all = atomic_load_explicit(&searches[0], memory_order_relaxed);
}

/* stats_snapshot - a copy of one operation's counters */
void stats_snapshot(enum stat_op op, struct stats_op_snapshot *out)
{
	out->count = atomic_load_explicit(&counts[op], memory_order_relaxed);
	for (int b = 0; b < STATS_BUCKETS; b++)
		out->buckets[b] = atomic_load_explicit(&hist[op][b], memory_order_relaxed);
}

/* stats_op_name - the operation's name as status prints it */
const char *stats_op_name(enum stat_op op)
{
	return op_names[op];
}

/* stats_percentile - upper bound in microseconds of the P-th percentile */
uint64_t stats_percentile(const struct stats_op_snapshot *s, double p)
{
	uint64_t total = 0, seen = 0;

	for (int b = 0; b < STATS_BUCKETS; b++)
		total += s->buckets[b];
	if (!total)
		return 0;
	for (int b = 0; b < STATS_BUCKETS; b++) {
		seen += s->buckets[b];
		if ((double)seen >= p / 100.0 * (double)total)
			return UINT64_C(1) << b;
	}
	return UINT64_C(1) << (STATS_BUCKETS - 1);
}
