/*
 * NAME
 *	check_route - unit tests of placement: class, key, shard order
 * DESCRIPTION
 *	Proves what the design promises of route.c: an even spread of real
 *	queue ids over the shards, ~1/N of keys moving (and only to the new
 *	shard) when a shard is added, one key for all files of a message in
 *	the sendmail and Exim presets, routing tables through the presets,
 *	and a route_order that is a deterministic permutation with the pin
 *	first. Configurations come from conf_load on temporary files, so the
 *	presets are tested as they ship.
 * DIAGNOSTICS
 *	Failures read "got X, want Y".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "conf.h"
#include "route.h"

Suite *route_suite(void);

#define NKEYS 100000
#define IDLEN 14

/* next_rand - splitmix64: a fixed, portable sequence of test ids */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* make_sendmail_id - "qf" + a 14-character id such as 2BUKtH8d012345 */
static void make_sendmail_id(uint64_t *state, char *buf)
{
	static const char base60[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx";
	uint64_t r = next_rand(state);

	buf[0] = 'q';
	buf[1] = 'f';
	/* like sendmail: an encoded time stamp, then a pid-like decimal tail */
	for (int i = 0; i < 8; i++, r /= 60)
		buf[2 + i] = base60[r % 60];
	r = next_rand(state);
	for (int i = 8; i < IDLEN; i++, r /= 10)
		buf[2 + i] = (char)('0' + r % 10);
	buf[2 + IDLEN] = 0;
}

/* sendmail_class - the key transform of the sendmail preset, by hand */
static void sendmail_class(struct qclass *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->key[0].kind = KEY_STRIP_PREFIX;
	cl->key[0].n = 2;
	cl->nkey = 1;
}

static const struct {
	const char *name;
	int n;
	uint32_t ids[6];
} spread_cases[] = {
	{ "3 shards", 3, { 0, 1, 2 } },
	{ "6 shards", 6, { 0, 1, 2, 3, 4, 5 } },
	{ "3 manifest ids", 3, { 0x5eed0001, 0xdeadbeef, 7 } },
};

/* test_spread - 100 000 sendmail ids land within 3% of even */
START_TEST(test_spread)
{
	int count[6] = { 0 };
	struct qclass cl;
	uint64_t state = 42;
	char name[2 + IDLEN + 1];
	int n = spread_cases[_i].n;
	double want = (double)NKEYS / n;

	sendmail_class(&cl);
	for (int k = 0; k < NKEYS; k++) {
		const char *key;
		size_t keylen;

		make_sendmail_id(&state, name);
		route_key(&cl, name, &key, &keylen);
		count[route_home(spread_cases[_i].ids, n, key, keylen, -1)]++;
	}
	for (int s = 0; s < n; s++)
		ck_assert_msg(count[s] >= want * 0.97 && count[s] <= want * 1.03,
			      "%s: shard %d: got %d keys, want %.0f +-3%%", spread_cases[_i].name, s,
			      count[s], want);
}
END_TEST

/* test_add_shard - a 4th shard takes ~1/4 of keys, all from the old ones */
START_TEST(test_add_shard)
{
	static const uint32_t ids[] = { 0, 1, 2, 3 };
	struct qclass cl;
	uint64_t state = 7;
	char name[2 + IDLEN + 1];
	int moved = 0;
	double frac;

	sendmail_class(&cl);
	for (int k = 0; k < NKEYS; k++) {
		const char *key;
		size_t keylen;
		int before;
		int after;

		make_sendmail_id(&state, name);
		route_key(&cl, name, &key, &keylen);
		before = route_home(ids, 3, key, keylen, -1);
		after = route_home(ids, 4, key, keylen, -1);
		if (before != after) {
			ck_assert_msg(after == 3, "%s moved from shard %d: got shard %d, want 3", name,
				      before, after);
			moved++;
		}
	}
	frac = (double)moved / NKEYS;
	ck_assert_msg(frac >= 0.22 && frac <= 0.28, "moved: got %.2f%%, want 22%%..28%%", frac * 100);
}
END_TEST

/* A class with key transforms given as text, as in the config file. */
struct keyop_spec {
	enum key_op_kind kind;
	unsigned n;
	const char *alts[3];
};

static const struct {
	const char *name;
	struct keyop_spec ops[3];
	int nops;
	const char *base;
	const char *want;
} key_cases[] = {
	{ "no ops", { { 0 } }, 0, "qfABC", "qfABC" },
	{ "whole", { { KEY_WHOLE, 0, { 0 } } }, 1, "qfABC", "qfABC" },
	{ "strip-prefix", { { KEY_STRIP_PREFIX, 2, { 0 } } }, 1, "qfABC", "ABC" },
	{ "strip-prefix short", { { KEY_STRIP_PREFIX, 2, { 0 } } }, 1, "qf", "qf" },
	{ "strip-prefix shorter", { { KEY_STRIP_PREFIX, 5, { 0 } } }, 1, "qf", "qf" },
	{ "strip-suffix", { { KEY_STRIP_SUFFIX, 2, { 0 } } }, 1, "ABC-H", "ABC" },
	{ "strip-suffix short", { { KEY_STRIP_SUFFIX, 2, { 0 } } }, 1, "-H", "-H" },
	{ "strip-lead", { { KEY_STRIP_LEAD, 0, { "hdr.", 0 } } }, 1, "hdr.ABC", "ABC" },
	{ "strip-lead once", { { KEY_STRIP_LEAD, 0, { "hdr.", 0 } } }, 1, "hdr.hdr.ABC", "hdr.ABC" },
	{ "strip-lead absent", { { KEY_STRIP_LEAD, 0, { "hdr.", 0 } } }, 1, "ABC-H", "ABC-H" },
	{ "strip-lead all", { { KEY_STRIP_LEAD, 0, { "hdr.", 0 } } }, 1, "hdr.", "hdr." },
	{ "strip-lead first alt", { { KEY_STRIP_LEAD, 0, { "a", "ab", 0 } } }, 1, "abc", "bc" },
	{ "strip-trail", { { KEY_STRIP_TRAIL, 0, { "-H", "-D", "-J" } } }, 1, "ABC-D", "ABC" },
	{ "strip-trail once", { { KEY_STRIP_TRAIL, 0, { "-H", "-D", "-J" } } }, 1, "ABC-D-D", "ABC-D" },
	{ "strip-trail all", { { KEY_STRIP_TRAIL, 0, { "-H", 0 } } }, 1, "-H", "-H" },
	{ "strip-trail first alt", { { KEY_STRIP_TRAIL, 0, { "c", "bc", 0 } } }, 1, "abc", "ab" },
	{ "in order",
	  { { KEY_STRIP_LEAD, 0, { "hdr.", 0 } }, { KEY_STRIP_TRAIL, 0, { "-H", 0 } } },
	  2,
	  "hdr.ABC-H",
	  "ABC" },
	{ "empty stays empty", { { KEY_STRIP_PREFIX, 2, { 0 } } }, 1, "", "" },
	{ "each op guarded",
	  { { KEY_STRIP_PREFIX, 2, { 0 } }, { KEY_STRIP_SUFFIX, 1, { 0 } } },
	  2,
	  "qfA",
	  "A" },
};

/* test_key - route_key table */
START_TEST(test_key)
{
	struct qclass cl;
	const char *key;
	size_t keylen;

	memset(&cl, 0, sizeof(cl));
	for (int i = 0; i < key_cases[_i].nops; i++) {
		const struct keyop_spec *spec = &key_cases[_i].ops[i];

		cl.key[i].kind = spec->kind;
		cl.key[i].n = spec->n;
		for (int j = 0; j < 3 && spec->alts[j]; j++)
			cl.key[i].alts[cl.key[i].nalts++] = (char *)spec->alts[j];
	}
	cl.nkey = key_cases[_i].nops;
	route_key(&cl, key_cases[_i].base, &key, &keylen);
	ck_assert_msg(keylen == strlen(key_cases[_i].want) && memcmp(key, key_cases[_i].want, keylen) == 0,
		      "%s: route_key(%s): got '%.*s', want '%s'", key_cases[_i].name, key_cases[_i].base,
		      (int)keylen, key, key_cases[_i].want);
	ck_assert_msg(key >= key_cases[_i].base &&
			      key + keylen <= key_cases[_i].base + strlen(key_cases[_i].base),
		      "%s: key does not point into the name", key_cases[_i].name);
}
END_TEST

/* load_conf - a configuration from TEXT, through a temporary file */
static void load_conf(struct conf *c, const char *text)
{
	char path[] = "/tmp/check_route.XXXXXX";
	char *errs = NULL;
	size_t errlen = 0;
	FILE *fp;
	int fd;
	int rc;

	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp failed");
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	fp = open_memstream(&errs, &errlen);
	ck_assert_ptr_nonnull(fp);
	conf_init(c);
	rc = conf_load(c, path, fp);
	fclose(fp);
	unlink(path);
	ck_assert_msg(rc == 0, "conf_load: got %d (%s), want 0", rc, errs);
	free(errs);
}

struct route_case {
	const char *path;
	const char *cls;
	const char *key;
	int pin;
};

static const char sendmail_conf[] = "preset = sendmail\n"
				    "[class split]\n"
				    "shards = /s/x1\n"
				    "match = q.9/qf/*\n"
				    "[class control]\n"
				    "shards = /s/c1 /s/c2 /s/c3\n"
				    "pin = q.3/* 3\n"
				    "[class data]\n"
				    "shards = /s/d1 /s/d2\n"
				    "[class transcript]\n"
				    "shards = /s/t1\n";

static const struct route_case sendmail_routes[] = {
	{ "qfX", "control", "X", -1 },
	{ "tfX", "control", "X", -1 },
	{ "Tf2BUKtH8d012345", "control", "2BUKtH8d012345", -1 },
	{ "Qf2BUKtH8d012345", "control", "2BUKtH8d012345", -1 },
	{ "hf2BUKtH8d012345", "control", "2BUKtH8d012345", -1 },
	{ "dfX", "data", "X", -1 },
	{ "xfX", "transcript", "X", -1 },
	{ "q.3/qfX", "control", "X", 2 },
	{ "q.3/dfX", "data", "X", -1 },
	{ "q.9/qf/qfX", "split", "qfX", -1 },
	{ "q.9/df/dfX", "data", "X", -1 },
	{ "sendmail.pid", "control", "ndmail.pid", -1 },
	{ "qf", "control", "qf", -1 },
	{ "", "control", "", -1 },
};

/* Template classes the file does not name fall to the default class. */
static const char sendmail_control_only_conf[] = "preset = sendmail\n"
						 "[class control]\n"
						 "shards = /s/c1 /s/c2\n";

static const struct route_case sendmail_control_only_routes[] = {
	{ "qfX", "control", "X", -1 },
	{ "dfX", "control", "X", -1 },
	{ "xfX", "control", "X", -1 },
};

static const char postfix_conf[] = "preset = postfix\n"
				   "[class control]\n"
				   "shards = /p/c1 /p/c2\n"
				   "[class logs]\n"
				   "shards = /p/l1\n";

static const struct route_case postfix_routes[] = {
	{ "incoming/4F1A2B3C4D", "control", "4F1A2B3C4D", -1 },
	{ "deferred/4/4F1A2B3C4D", "control", "4F1A2B3C4D", -1 },
	{ "defer/4/4F1A2B3C4D", "logs", "4F1A2B3C4D", -1 },
	{ "bounce/4F1A2B3C4D", "logs", "4F1A2B3C4D", -1 },
	{ "pid/master.pid", "control", "master.pid", -1 },
};

static const char exim_conf[] = "preset = exim\n"
				"[class control]\n"
				"shards = /e/c1 /e/c2 /e/c3\n"
				"[class data]\n"
				"shards = /e/d1 /e/d2 /e/d3\n";

static const struct route_case exim_routes[] = {
	{ "input/1abcDE-000123-AB-H", "control", "1abcDE-000123-AB", -1 },
	{ "input/1abcDE-000123-AB-J", "control", "1abcDE-000123-AB", -1 },
	{ "input/hdr.1abcDE-000123-AB", "control", "1abcDE-000123-AB", -1 },
	{ "msglog/1abcDE-000123-AB", "control", "1abcDE-000123-AB", -1 },
	{ "input/1abcDE-000123-AB-D", "data", "1abcDE-000123-AB", -1 },
	{ "db/retry", "control", "retry", -1 },
};

static const struct {
	const char *name;
	const char *conf;
	const struct route_case *routes;
	int nroutes;
} route_tables[] = {
	{ "sendmail", sendmail_conf, sendmail_routes, sizeof(sendmail_routes) / sizeof(sendmail_routes[0]) },
	{ "sendmail control only", sendmail_control_only_conf, sendmail_control_only_routes,
	  sizeof(sendmail_control_only_routes) / sizeof(sendmail_control_only_routes[0]) },
	{ "postfix", postfix_conf, postfix_routes, sizeof(postfix_routes) / sizeof(postfix_routes[0]) },
	{ "exim", exim_conf, exim_routes, sizeof(exim_routes) / sizeof(exim_routes[0]) },
};

/* test_route_table - route_path through the presets */
START_TEST(test_route_table)
{
	struct conf c;

	load_conf(&c, route_tables[_i].conf);
	for (int i = 0; i < route_tables[_i].nroutes; i++) {
		const struct route_case *rc = &route_tables[_i].routes[i];
		struct route r;

		route_path(&c, rc->path, &r);
		ck_assert_msg(r.cls >= 0 && r.cls < c.nclasses, "%s: %s: class index %d out of range",
			      route_tables[_i].name, rc->path, r.cls);
		ck_assert_msg(strcmp(c.classes[r.cls].name, rc->cls) == 0, "%s: %s: got class %s, want %s",
			      route_tables[_i].name, rc->path, c.classes[r.cls].name, rc->cls);
		ck_assert_msg(r.keylen == strlen(rc->key) && memcmp(r.key, rc->key, r.keylen) == 0,
			      "%s: %s: got key '%.*s', want '%s'", route_tables[_i].name, rc->path,
			      (int)r.keylen, r.key, rc->key);
		ck_assert_msg(r.pin == rc->pin, "%s: %s: got pin %d, want %d", route_tables[_i].name,
			      rc->path, r.pin, rc->pin);
	}
	conf_free(&c);
}
END_TEST

/* Files of one message, all of which must share a key and a home. */
static const struct {
	const char *conf;
	const char *paths[8];
	const char *key;
} message_cases[] = {
	{ sendmail_conf,
	  { "tf2BUKtH8d012345", "qf2BUKtH8d012345", "df2BUKtH8d012345", "xf2BUKtH8d012345",
	    "Qf2BUKtH8d012345", "hf2BUKtH8d012345", "Tf2BUKtH8d012345", NULL },
	  "2BUKtH8d012345" },
	{ exim_conf,
	  { "1abcDE-000123-AB-H", "1abcDE-000123-AB-D", "1abcDE-000123-AB-J", "hdr.1abcDE-000123-AB",
	    "msglog/1abcDE-000123-AB", "input/1abcDE-000123-AB-D", NULL },
	  "1abcDE-000123-AB" },
};

/* test_message_key - one key and one home for all files of a message */
START_TEST(test_message_key)
{
	static const uint32_t ids[] = { 11, 22, 33 };
	struct conf c;
	int home = -1;

	load_conf(&c, message_cases[_i].conf);
	for (int i = 0; message_cases[_i].paths[i]; i++) {
		const char *path = message_cases[_i].paths[i];
		struct route r;
		int h;

		route_path(&c, path, &r);
		ck_assert_msg(r.keylen == strlen(message_cases[_i].key) &&
				      memcmp(r.key, message_cases[_i].key, r.keylen) == 0,
			      "%s: got key '%.*s', want '%s'", path, (int)r.keylen, r.key,
			      message_cases[_i].key);
		h = route_home(ids, 3, r.key, r.keylen, r.pin);
		if (home < 0)
			home = h;
		ck_assert_msg(h == home, "%s: got home %d, want %d", path, h, home);
	}
	conf_free(&c);
}
END_TEST

static const struct {
	const char *key;
	uint32_t ids[8];
	int n;
	int pin;
} order_cases[] = {
	{ "2BUKtH8d012345", { 0, 1, 2, 3, 4, 5, 6, 7 }, 8, -1 },
	{ "2BUKtH8d012345", { 0, 1, 2, 3, 4, 5, 6, 7 }, 8, 5 },
	{ "1abcDE-000123-AB", { 9, 8, 7 }, 3, 0 },
	{ "x", { 3 }, 1, -1 },
	{ "x", { 3 }, 1, 0 },
	{ "pin out of range", { 1, 2 }, 2, 2 },
};

/* test_order - a deterministic permutation: pin first, then by score */
START_TEST(test_order)
{
	const char *key = order_cases[_i].key;
	size_t keylen = strlen(key);
	const uint32_t *ids = order_cases[_i].ids;
	int n = order_cases[_i].n;
	int pin = order_cases[_i].pin;
	int order[QFS_MAX_SHARDS];
	int again[QFS_MAX_SHARDS];
	int seen[QFS_MAX_SHARDS] = { 0 };
	int first = 0;

	route_order(ids, n, key, keylen, pin, order);
	route_order(ids, n, key, keylen, pin, again);
	for (int i = 0; i < n; i++) {
		ck_assert_msg(order[i] >= 0 && order[i] < n, "%s: order[%d]: got %d, want 0..%d", key, i,
			      order[i], n - 1);
		seen[order[i]]++;
		ck_assert_msg(order[i] == again[i], "%s: second call order[%d]: got %d, want %d", key, i,
			      again[i], order[i]);
	}
	for (int i = 0; i < n; i++)
		ck_assert_msg(seen[i] == 1, "%s: shard %d appears %d times, want once", key, i, seen[i]);
	if (pin >= 0 && pin < n) {
		ck_assert_msg(order[0] == pin, "%s: order[0]: got %d, want pin %d", key, order[0], pin);
		first = 1;
	}
	for (int i = first + 1; i < n; i++)
		ck_assert_msg(route_score(key, keylen, ids[order[i - 1]]) >=
				      route_score(key, keylen, ids[order[i]]),
			      "%s: order[%d] scores above order[%d]", key, i, i - 1);
	ck_assert_msg(route_home(ids, n, key, keylen, pin) == order[0], "%s: route_home: got %d, want %d",
		      key, route_home(ids, n, key, keylen, pin), order[0]);
}
END_TEST

/* test_order_ties - equal scores keep index order, after the pin */
START_TEST(test_order_ties)
{
	static const uint32_t ids[] = { 5, 5, 5, 5 };
	static const struct {
		int pin;
		int want[4];
	} cases[] = {
		{ -1, { 0, 1, 2, 3 } },
		{ 2, { 2, 0, 1, 3 } },
		{ 3, { 3, 0, 1, 2 } },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int order[4];

		route_order(ids, 4, "k", 1, cases[c].pin, order);
		for (int i = 0; i < 4; i++)
			ck_assert_msg(order[i] == cases[c].want[i], "pin %d: order[%d]: got %d, want %d",
				      cases[c].pin, i, order[i], cases[c].want[i]);
		ck_assert_msg(route_home(ids, 4, "k", 1, cases[c].pin) == cases[c].want[0],
			      "pin %d: route_home: got %d, want %d", cases[c].pin,
			      route_home(ids, 4, "k", 1, cases[c].pin), cases[c].want[0]);
	}
}
END_TEST

/* test_choices - the home set: 2 by default, as configured, never more than the shards, 1 when pinned */
START_TEST(test_choices)
{
	struct qclass cl;

	memset(&cl, 0, sizeof(cl));
	ck_assert_int_eq(route_choices(&cl, -1, 6), 2);
	ck_assert_int_eq(route_choices(&cl, -1, 1), 1);
	ck_assert_int_eq(route_choices(&cl, 2, 6), 1);
	cl.choices = 1;
	ck_assert_int_eq(route_choices(&cl, -1, 6), 1);
	cl.choices = 4;
	ck_assert_int_eq(route_choices(&cl, -1, 6), 4);
	ck_assert_int_eq(route_choices(&cl, -1, 3), 3);
	ck_assert_int_eq(route_choices(&cl, 0, 3), 1);
}
END_TEST

/* test_least - the least loaded candidate, the earlier one on a tie */
START_TEST(test_least)
{
	static const struct {
		int load[4], k, want;
	} cases[] = {
		{ { 0, 0, 0, 0 }, 4, 0 }, { { 3, 1, 2, 0 }, 4, 3 }, { { 3, 1, 2, 0 }, 3, 1 },
		{ { 2, 1, 1, 5 }, 4, 1 }, { { 7, 0, 0, 0 }, 1, 0 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		ck_assert_msg(route_least(cases[c].load, cases[c].k) == cases[c].want,
			      "case %zu: got %d, want %d", c, route_least(cases[c].load, cases[c].k),
			      cases[c].want);
}
END_TEST

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* route_suite - all of the above */
Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("route");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_spread, 0, NELEM(spread_cases));
	tcase_add_test(tc, test_add_shard);
	tcase_add_loop_test(tc, test_key, 0, NELEM(key_cases));
	tcase_add_loop_test(tc, test_route_table, 0, NELEM(route_tables));
	tcase_add_loop_test(tc, test_message_key, 0, NELEM(message_cases));
	tcase_add_loop_test(tc, test_order, 0, NELEM(order_cases));
	tcase_add_test(tc, test_order_ties);
	tcase_add_test(tc, test_choices);
	tcase_add_test(tc, test_least);
	suite_add_tcase(s, tc);
	return s;
}
