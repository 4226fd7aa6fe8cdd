/*
 * route.h - pure placement: path inside the mount -> class, key, shard order
 *
 * No I/O happens here. Given a relative path (no leading '/', e.g.
 * "q.3/qf/qfABC123" or "qfABC123"), route_path picks the class (first class
 * whose globs match; globs with a '/' match the whole relative path, others
 * the base name; fnmatch(3) without FNM_PATHNAME), derives the key from the
 * base name with the class's key transforms and finds a pin. route_order
 * ranks the class's shards by rendezvous (highest random weight) hashing:
 * score = XXH3_64bits_withSeed(key, keylen, shard_id); the pinned shard, if
 * any, goes first, then the others by descending score.
 */
#ifndef QFS_ROUTE_H
#define QFS_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct route {
	int cls;	 /* index into conf.classes */
	const char *key; /* points into the path given to route_path */
	size_t keylen;
	int pin; /* 0-based shard index in the class, or -1 */
};

/* route_path - classify RELPATH; never fails (falls back to the default class) */
void route_path(const struct conf *c, const char *relpath, struct route *r);

/* route_key - apply the key transforms of CL to BASENAME (pointer into it) */
void route_key(const struct qclass *cl, const char *base, const char **key, size_t *keylen);

/* route_score - the rendezvous weight of KEY on the shard with SHARD_ID */
uint64_t route_score(const char *key, size_t keylen, uint32_t shard_id);

/*
 * route_order - fill ORDER[0..n-1] with the shard indices 0..n-1 ranked for
 * KEY; SHARD_IDS[i] is the stable id of shard i (from its manifest). PIN is
 * -1 or the index that must come first. Ties break on the lower index.
 */
void route_order(const uint32_t *shard_ids, int n, const char *key, size_t keylen, int pin, int *order);

/*
 * route_choices - how many shards at the front of the order are a name's
 *	home: a new file goes to the least busy of them, and a file on any of
 *	them is in place. One for a pinned name; at most N.
 */
int route_choices(const struct qclass *cl, int pin, int n);

/* route_least - index of the smallest of LOAD[0..k-1], ties to the lower index */
int route_least(const int *load, int k);

/* route_home - ORDER[0] alone, without sorting the rest */
int route_home(const uint32_t *shard_ids, int n, const char *key, size_t keylen, int pin);

#endif
