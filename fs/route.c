/*
 * NAME
 *	route - place a name: class, key and shard order
 * SYNOPSIS
 *	#include "route.h"
 * DESCRIPTION
 *	route_path() matches a path relative to the mount root against the
 *	classes of the configuration, in configuration order, and derives the
 *	routing key from the base name with the class's key transforms, so
 *	that the files of one message (sendmail qfID, dfID, xfID; Exim ID-H,
 *	ID-D, msglog/ID) share one key and therefore one home shard.
 *
 *	route_order() ranks a class's shards by rendezvous hashing: each
 *	shard scores XXH3(key, seed = shard id) and the highest score wins.
 *	Adding a shard moves only the keys the new shard now wins, about 1/N
 *	of them, and none between the old shards. The ids come from the
 *	shard manifests, not from the shard's position in the configuration,
 *	so reordering the "shards =" line moves nothing.
 *
 *	Everything here is pure: no I/O, no allocation, no shared state; any
 *	thread may call any function at any time.
 * DIAGNOSTICS
 *	None. route_path() never fails: a name no class matches belongs to
 *	the default class, and a key is never empty unless the name is.
 */
#include <fnmatch.h>
#include <stdbool.h>
#include <string.h>

#include <xxhash.h>

#include "route.h"

/* route_glob_ok - one glob against the path (with a '/') or the base name */
static bool route_glob_ok(const char *glob, const char *relpath, const char *base)
{
	const char *subject = strchr(glob, '/') ? relpath : base;

	/*
	 * No FNM_PATHNAME: a '*' after "q.3/" is meant to take everything
	 * below q.3, however deep, as in the sendmail qf/df/xf subdirectories.
	 */
	return fnmatch(glob, subject, 0) == 0;
}

/* route_class_ok - does any glob of the class match? */
static bool route_class_ok(const struct qclass *cl, const char *relpath, const char *base)
{
	for (int i = 0; i < cl->nmatch; i++)
		if (route_glob_ok(cl->match[i], relpath, base))
			return true;
	return false;
}

/* route_path - classify a relative path: class, key, pin */
void route_path(const struct conf *c, const char *relpath, struct route *r)
{
	const char *slash = strrchr(relpath, '/');
	const char *base = slash ? slash + 1 : relpath;
	const struct qclass *cl;

	r->cls = c->default_class;
	for (int i = 0; i < c->nclasses; i++) {
		if (route_class_ok(&c->classes[i], relpath, base)) {
			r->cls = i;
			break;
		}
	}
	cl = &c->classes[r->cls];
	route_key(cl, base, &r->key, &r->keylen);

	r->pin = -1;
	for (int i = 0; i < cl->npins; i++) {
		if (route_glob_ok(cl->pins[i].glob, relpath, base)) {
			r->pin = cl->pins[i].shard;
			break;
		}
	}
}

/* route_strip_lead - the first alternative that starts the window, or 0 */
static size_t route_strip_lead(const struct key_op *op, const char *p, size_t len)
{
	for (int i = 0; i < op->nalts; i++) {
		size_t alen = strlen(op->alts[i]);

		if (alen <= len && memcmp(p, op->alts[i], alen) == 0)
			return alen;
	}
	return 0;
}

/* route_strip_trail - the first alternative that ends the window, or 0 */
static size_t route_strip_trail(const struct key_op *op, const char *p, size_t len)
{
	for (int i = 0; i < op->nalts; i++) {
		size_t alen = strlen(op->alts[i]);

		if (alen <= len && memcmp(p + len - alen, op->alts[i], alen) == 0)
			return alen;
	}
	return 0;
}

/* route_key - narrow the base name to its key with the class's transforms */
void route_key(const struct qclass *cl, const char *base, const char **key, size_t *keylen)
{
	const char *p = base;
	size_t len = strlen(base);
	size_t cut;

	/*
	 * Every transform leaves the window alone rather than empty it: an
	 * empty key would send every short odd name ("qf", "-H") to one
	 * shard, and a name is a better key than nothing.
	 */
	for (int i = 0; i < cl->nkey; i++) {
		const struct key_op *op = &cl->key[i];

		switch (op->kind) {
		case KEY_WHOLE:
			break;
		case KEY_STRIP_PREFIX:
			if (len > op->n) {
				p += op->n;
				len -= op->n;
			}
			break;
		case KEY_STRIP_SUFFIX:
			if (len > op->n)
				len -= op->n;
			break;
		case KEY_STRIP_LEAD:
			cut = route_strip_lead(op, p, len);
			if (cut < len) {
				p += cut;
				len -= cut;
			}
			break;
		case KEY_STRIP_TRAIL:
			cut = route_strip_trail(op, p, len);
			if (cut < len)
				len -= cut;
			break;
		}
	}
	*key = p;
	*keylen = len;
}

/* route_score - rendezvous weight of a key on one shard */
uint64_t route_score(const char *key, size_t keylen, uint32_t shard_id)
{
	return XXH3_64bits_withSeed(key, keylen, shard_id);
}

/* route_order - all shards of a class, best first */
void route_order(const uint32_t *shard_ids, int n, const char *key, size_t keylen, int pin, int *order)
{
	uint64_t score[QFS_MAX_SHARDS];
	int first = 0;
	int m;

	/* A class never has more; the clamp only keeps score[] in bounds. */
	if (n > QFS_MAX_SHARDS)
		n = QFS_MAX_SHARDS;
	if (pin >= 0 && pin < n)
		order[first++] = pin;

	/*
	 * Insertion sort: n is small, and inserting in index order with a
	 * strict comparison keeps equal scores in index order, as promised.
	 */
	m = first;
	for (int i = 0; i < n; i++) {
		int j;

		if (i == pin)
			continue;
		score[i] = route_score(key, keylen, shard_ids[i]);
		for (j = m; j > first && score[i] > score[order[j - 1]]; j--)
			order[j] = order[j - 1];
		order[j] = i;
		m++;
	}
}

/* route_choices - the size of a name's home set */
int route_choices(const struct qclass *cl, int pin, int n)
{
	int k = cl->choices ? (int)cl->choices : CONF_CHOICES_DEFAULT;

	if (pin >= 0)
		return 1;
	return k < n ? k : n;
}

/* route_least - the least loaded of K candidates, the earlier on a tie */
int route_least(const int *load, int k)
{
	int best = 0;

	for (int i = 1; i < k; i++)
		if (load[i] < load[best])
			best = i;
	return best;
}

/* route_home - the first shard of route_order, without ranking the rest */
int route_home(const uint32_t *shard_ids, int n, const char *key, size_t keylen, int pin)
{
	uint64_t best_score = 0;
	int best = -1;

	if (n > QFS_MAX_SHARDS)
		n = QFS_MAX_SHARDS;
	if (pin >= 0 && pin < n)
		return pin;
	for (int i = 0; i < n; i++) {
		uint64_t s = route_score(key, keylen, shard_ids[i]);

		if (best < 0 || s > best_score) {
			best = i;
			best_score = s;
		}
	}
	return best;
}
