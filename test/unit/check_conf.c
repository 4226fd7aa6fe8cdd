/*
 * NAME
 *	check_conf - unit tests of the configuration: file, presets, -o
 * DESCRIPTION
 *	Configuration files are written into a private mkdtemp directory
 *	and loaded with the error stream captured, so that every error case
 *	is checked for its exact "file:line: message" text, and a file with
 *	several errors for the complete list. Also: defaults, the preset
 *	merge, conf_set with good and bad values, size parsing, hostile
 *	input (overlong lines, NUL bytes) and conf_free/conf_init reuse.
 * DIAGNOSTICS
 *	Failures read "got X, want Y".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "conf.h"

Suite *conf_suite(void);

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char test_dir[64];
static char test_path[128];

/*
 * setup - a private directory for the configuration files of the suite
 *
 * An unchecked fixture: its teardown runs in the runner, so the directory
 * goes away even when a test fails (a failing test skips checked teardowns).
 */
static void setup(void)
{
	strcpy(test_dir, "/tmp/check_conf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	snprintf(test_path, sizeof(test_path), "%s/queuefs.conf", test_dir);
}

/* teardown - remove the file and the directory */
static void teardown(void)
{
	unlink(test_path);
	rmdir(test_dir);
}

/* write_conf - LEN bytes of TEXT as the test's configuration file */
static void write_conf(const char *text, size_t len)
{
	FILE *fp = fopen(test_path, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

/* load_bytes - conf_init + conf_load of LEN bytes; *ERRS gets the messages */
static int load_bytes(struct conf *c, const char *text, size_t len, char **errs)
{
	size_t errlen = 0;
	FILE *fp;
	int rc;

	write_conf(text, len);
	*errs = NULL;
	fp = open_memstream(errs, &errlen);
	ck_assert_ptr_nonnull(fp);
	conf_init(c);
	rc = conf_load(c, test_path, fp);
	fclose(fp);
	return rc;
}

/* load_text - load_bytes of a C string */
static int load_text(struct conf *c, const char *text, char **errs)
{
	return load_bytes(c, text, strlen(text), errs);
}

/* load_ok - load TEXT, which must have no errors */
static void load_ok(struct conf *c, const char *text)
{
	char *errs;
	int rc = load_text(c, text, &errs);

	ck_assert_msg(rc == 0 && *errs == 0, "conf_load: got %d \"%s\", want 0 and no messages", rc, errs);
	free(errs);
}

/* with_path - "3: msg\n0: msg\n" -> "PATH:3: msg\nPATH:0: msg\n" */
static char *with_path(const char *want)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);

	ck_assert_ptr_nonnull(fp);
	for (const char *s = want; *s;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s + 1) : strlen(s);

		fprintf(fp, "%s:%.*s", test_path, (int)len, s);
		s += len;
	}
	fclose(fp);
	return out;
}

/* expect_errors - load TEXT, want -EINVAL and exactly the messages WANT */
static void expect_errors(const char *name, const char *text, size_t len, const char *want)
{
	struct conf c;
	char *errs;
	char *full = with_path(want);
	int rc = load_bytes(&c, text, len, &errs);

	ck_assert_msg(rc == -EINVAL, "%s: rc: got %d, want %d (-EINVAL)", name, rc, -EINVAL);
	ck_assert_msg(strcmp(errs, full) == 0, "%s: got\n%s\nwant\n%s", name, errs, full);
	free(errs);
	free(full);
	conf_free(&c);
}

/* test_defaults - conf_init values */
START_TEST(test_defaults)
{
	struct conf c;

	conf_init(&c);
	ck_assert_msg(c.entry_timeout == 60, "entry_timeout: got %g, want 60", c.entry_timeout);
	ck_assert_msg(c.attr_timeout == 60, "attr_timeout: got %g, want 60", c.attr_timeout);
	ck_assert_msg(c.negative_timeout == 0, "negative_timeout: got %g, want 0", c.negative_timeout);
	ck_assert_msg(c.min_free_bytes == 0, "min_free: got %llu, want 0",
		      (unsigned long long)c.min_free_bytes);
	ck_assert_msg(c.min_free_inodes == 0, "min_free_inodes: got %llu, want 0",
		      (unsigned long long)c.min_free_inodes);
	ck_assert_msg(c.allow_other, "allow_other: got no, want yes");
	ck_assert_msg(!c.migrate, "migrate: got yes, want no");
	ck_assert_msg(c.readdirplus, "readdirplus: got no, want yes");
	ck_assert_msg(c.max_threads == 16, "max_threads: got %u, want 16", c.max_threads);
	ck_assert_msg(strcmp(c.fsname, "queuefs") == 0, "fsname: got %s, want queuefs", c.fsname);
	ck_assert_msg(c.preset[0] == 0, "preset: got %s, want none", c.preset);
	ck_assert_msg(c.nclasses == 0 && c.path == NULL, "classes: got %d, want 0", c.nclasses);
	/* never loaded: conf_free must cope, and the conf stays usable */
	conf_free(&c);
	conf_free(&c);
	conf_init(&c);
	ck_assert_msg(c.max_threads == 16, "after conf_free: got %u, want 16", c.max_threads);
}
END_TEST

/* test_globals - every global key from a file; comments; appending lists */
START_TEST(test_globals)
{
	struct conf c;
	const struct qclass *cl;

	load_ok(&c, "# queuefs test\n"
		    "entry_timeout = 1.5   # comment after a value\n"
		    "\tattr_timeout=0\r\n"
		    "negative_timeout = 86400\n"
		    "min_free = 64M\n"
		    "min_free_inodes = 100\n"
		    "allow_other = off\n"
		    "migrate = TRUE\n"
		    "readdirplus = no\n"
		    "max_threads = 1024\n"
		    "fsname = q#1\n"
		    "\n"
		    "[class control]   # the only class\n"
		    "shards = /q/1/ /q/2\n"
		    "shards = /q/3\n"
		    "match = qf*\n"
		    "match = tf*  q.3/*\n"
		    "key = strip-prefix:2\n"
		    "key = strip-trail:-x,-y\n"
		    "pin = q.3/* 3\n"
		    "pin = tfA* 1\n"
		    "volatile = yes\n"
		    "min_free = 1G\n"
		    "min_free_inodes = 1000\n"
		    "choices = 3\n");
	ck_assert_msg(c.entry_timeout == 1.5, "entry_timeout: got %g, want 1.5", c.entry_timeout);
	ck_assert_msg(c.attr_timeout == 0, "attr_timeout: got %g, want 0", c.attr_timeout);
	ck_assert_msg(c.negative_timeout == 86400, "negative_timeout: got %g, want 86400",
		      c.negative_timeout);
	ck_assert_msg(c.min_free_bytes == 64ULL << 20, "min_free: got %llu, want %llu",
		      (unsigned long long)c.min_free_bytes, 64ULL << 20);
	ck_assert_msg(c.min_free_inodes == 100, "min_free_inodes: got %llu, want 100",
		      (unsigned long long)c.min_free_inodes);
	ck_assert_msg(!c.allow_other, "allow_other: got yes, want no");
	ck_assert_msg(c.migrate, "migrate: got no, want yes");
	ck_assert_msg(!c.readdirplus, "readdirplus: got yes, want no");
	ck_assert_msg(c.max_threads == 1024, "max_threads: got %u, want 1024", c.max_threads);
	ck_assert_msg(strcmp(c.fsname, "q#1") == 0, "fsname: got %s, want q#1", c.fsname);
	ck_assert_msg(strcmp(c.path, test_path) == 0, "path: got %s, want %s", c.path, test_path);

	ck_assert_msg(c.nclasses == 1, "classes: got %d, want 1", c.nclasses);
	cl = &c.classes[0];
	ck_assert_msg(strcmp(cl->name, "control") == 0, "name: got %s, want control", cl->name);
	ck_assert_msg(cl->line == 13, "line: got %d, want 13", cl->line);
	ck_assert_msg(cl->choices == 3, "choices: got %u, want 3", cl->choices);
	ck_assert_msg(cl->nshards == 3, "shards: got %d, want 3", cl->nshards);
	ck_assert_msg(strcmp(cl->shards[0], "/q/1") == 0, "shard 0: got %s, want /q/1", cl->shards[0]);
	ck_assert_msg(strcmp(cl->shards[2], "/q/3") == 0, "shard 2: got %s, want /q/3", cl->shards[2]);
	ck_assert_msg(cl->nmatch == 3, "match: got %d, want 3", cl->nmatch);
	ck_assert_msg(strcmp(cl->match[2], "q.3/*") == 0, "match 2: got %s, want q.3/*", cl->match[2]);
	ck_assert_msg(cl->nkey == 2, "key ops: got %d, want 2", cl->nkey);
	ck_assert_msg(cl->key[0].kind == KEY_STRIP_PREFIX && cl->key[0].n == 2, "key 0: got %d:%u, want %d:2",
		      cl->key[0].kind, cl->key[0].n, KEY_STRIP_PREFIX);
	ck_assert_msg(cl->key[1].kind == KEY_STRIP_TRAIL && cl->key[1].nalts == 2, "key 1: got %d/%d alts",
		      cl->key[1].kind, cl->key[1].nalts);
	ck_assert_msg(strcmp(cl->key[1].alts[1], "-y") == 0, "key 1 alt 1: got %s, want -y",
		      cl->key[1].alts[1]);
	ck_assert_msg(cl->npins == 2, "pins: got %d, want 2", cl->npins);
	ck_assert_msg(cl->pins[0].shard == 2 && strcmp(cl->pins[0].glob, "q.3/*") == 0,
		      "pin 0: got %s %d, want q.3/* 2", cl->pins[0].glob, cl->pins[0].shard);
	ck_assert_msg(cl->pins[1].shard == 0, "pin 1: got %d, want 0", cl->pins[1].shard);
	ck_assert_msg(cl->is_volatile, "volatile: got no, want yes");
	ck_assert_msg(cl->is_default && c.default_class == 0, "default: got %d, want 0", c.default_class);
	ck_assert_msg(cl->min_free_bytes == 1ULL << 30, "class min_free: got %llu, want %llu",
		      (unsigned long long)cl->min_free_bytes, 1ULL << 30);
	ck_assert_msg(cl->min_free_inodes == 1000, "class min_free_inodes: got %llu, want 1000",
		      (unsigned long long)cl->min_free_inodes);
	ck_assert_msg(conf_class_by_name(&c, "control") == 0, "class_by_name(control): got %d, want 0",
		      conf_class_by_name(&c, "control"));
	ck_assert_msg(conf_class_by_name(&c, "data") == -1, "class_by_name(data): got %d, want -1",
		      conf_class_by_name(&c, "data"));

	/* conf_free, conf_init, load again: nothing left over */
	conf_free(&c);
	load_ok(&c, "[class a]\nshards = /a\n");
	ck_assert_msg(c.nclasses == 1 && c.entry_timeout == 60, "reload: got %d classes, entry_timeout %g",
		      c.nclasses, c.entry_timeout);
	conf_free(&c);
}
END_TEST

/* test_preset_sendmail - templates fill in what the file left unsaid */
START_TEST(test_preset_sendmail)
{
	struct conf c;
	const struct qclass *data;
	const struct qclass *control;
	const struct qclass *transcript;
	const struct qclass *extra;

	load_ok(&c, "preset = sendmail\n"
		    "[class data]\n"
		    "shards = /d1\n"
		    "default = yes\n"
		    "[class control]\n"
		    "shards = /c1 /c2\n"
		    "match = qf* tf*\n"
		    "[class transcript]\n"
		    "shards = /t1\n"
		    "volatile = no\n"
		    "[class extra]\n"
		    "shards = /x1\n"
		    "match = foo*\n");
	ck_assert_msg(c.nclasses == 4, "classes: got %d, want 4", c.nclasses);
	data = &c.classes[conf_class_by_name(&c, "data")];
	control = &c.classes[conf_class_by_name(&c, "control")];
	transcript = &c.classes[conf_class_by_name(&c, "transcript")];
	extra = &c.classes[conf_class_by_name(&c, "extra")];

	ck_assert_msg(c.default_class == 0, "default class: got %d, want 0 (data)", c.default_class);
	ck_assert_msg(data->is_default && !control->is_default, "default: got data %d control %d, want 1 0",
		      data->is_default, control->is_default);
	ck_assert_msg(data->nmatch == 1 && strcmp(data->match[0], "df*") == 0,
		      "data match: got %d %s, want df*", data->nmatch, data->match[0]);
	ck_assert_msg(control->nmatch == 2, "control match: got %d, want 2 (its own)", control->nmatch);
	ck_assert_msg(control->nkey == 1 && control->key[0].kind == KEY_STRIP_PREFIX &&
			      control->key[0].n == 2,
		      "control key: got %d ops, want strip-prefix:2", control->nkey);
	ck_assert_msg(!transcript->is_volatile, "transcript volatile: got yes, want no (its own)");
	ck_assert_msg(transcript->nmatch == 1 && strcmp(transcript->match[0], "xf*") == 0,
		      "transcript match: got %d, want xf*", transcript->nmatch);
	ck_assert_msg(extra->nkey == 0 && !extra->is_volatile && !extra->is_default,
		      "extra: got %d key ops, want none", extra->nkey);
	conf_free(&c);

	/* the template default, and volatile; unnamed templates not added */
	load_ok(&c, "preset = sendmail\n"
		    "[class transcript]\n"
		    "shards = /t1\n"
		    "[class control]\n"
		    "shards = /c1\n");
	ck_assert_msg(c.nclasses == 2, "classes: got %d, want 2", c.nclasses);
	ck_assert_msg(c.default_class == 1, "default class: got %d, want 1 (control)", c.default_class);
	ck_assert_msg(c.classes[0].is_volatile, "transcript volatile: got no, want yes");
	ck_assert_msg(conf_class_by_name(&c, "data") == -1, "data: got %d, want -1 (not added)",
		      conf_class_by_name(&c, "data"));
	conf_free(&c);

	/* no template named: the first class is the default */
	load_ok(&c, "preset = sendmail\n[class mine]\nshards = /m\n");
	ck_assert_msg(c.nclasses == 1 && c.default_class == 0 && c.classes[0].is_default,
		      "mine: got %d classes, default %d", c.nclasses, c.default_class);
	ck_assert_msg(c.classes[0].nmatch == 0 && c.classes[0].nkey == 0,
		      "mine: got %d globs %d ops, want 0 0", c.classes[0].nmatch, c.classes[0].nkey);
	conf_free(&c);
}
END_TEST

/* test_preset_others - postfix and exim templates */
START_TEST(test_preset_others)
{
	struct conf c;
	const struct qclass *cl;

	load_ok(&c, "preset = postfix\n[class logs]\nshards = /l\n[class control]\nshards = /c\n");
	ck_assert_msg(c.default_class == 1, "postfix default: got %d, want 1", c.default_class);
	cl = &c.classes[1];
	ck_assert_msg(cl->nmatch == 7 && strcmp(cl->match[0], "incoming/*") == 0,
		      "postfix control match: got %d %s, want 7 incoming/*", cl->nmatch, cl->match[0]);
	ck_assert_msg(cl->nkey == 1 && cl->key[0].kind == KEY_WHOLE, "postfix key: got %d ops, want whole",
		      cl->nkey);
	ck_assert_msg(c.classes[0].nmatch == 4, "postfix logs match: got %d, want 4", c.classes[0].nmatch);
	conf_free(&c);

	load_ok(&c, "preset = exim\n[class control]\nshards = /c\n[class data]\nshards = /d\n");
	cl = &c.classes[1];
	ck_assert_msg(cl->nmatch == 1 && strcmp(cl->match[0], "*-D") == 0,
		      "exim data match: got %d %s, want *-D", cl->nmatch, cl->match[0]);
	ck_assert_msg(cl->nkey == 2 && cl->key[0].kind == KEY_STRIP_LEAD &&
			      cl->key[1].kind == KEY_STRIP_TRAIL,
		      "exim key: got %d ops, want strip-lead strip-trail", cl->nkey);
	ck_assert_msg(cl->key[1].nalts == 3 && strcmp(cl->key[1].alts[2], "-J") == 0,
		      "exim strip-trail: got %d alts, want -H,-D,-J", cl->key[1].nalts);
	ck_assert_msg(c.classes[0].nmatch == 5, "exim control match: got %d, want 5", c.classes[0].nmatch);
	conf_free(&c);
}
END_TEST

#define ONE "[class c]\nshards = /q/1\n"

/* One file, one error: what the message and its line must be. */
static const struct {
	const char *name;
	const char *text;
	const char *want;
} error_cases[] = {
	{ "unknown global", "entrytimeout = 5\n" ONE, "1: unknown key 'entrytimeout'\n" },
	{ "unknown class key", "[class c]\nshrads = /q/1\nshards = /q/1\n", "2: unknown key 'shrads'\n" },
	{ "no equals", "foo\n" ONE, "1: expected 'key = value'\n" },
	{ "no key", " = 5\n" ONE, "1: expected 'key = value'\n" },
	{ "no value", "entry_timeout =   # nothing\n" ONE, "1: missing value for 'entry_timeout'\n" },
	{ "bad number", "entry_timeout = abc\n" ONE, "1: bad number 'abc' for entry_timeout\n" },
	{ "number junk", "attr_timeout = 5s\n" ONE, "1: bad number '5s' for attr_timeout\n" },
	{ "nan", "attr_timeout = nan\n" ONE, "1: attr_timeout must be between 0 and 86400\n" },
	{ "too large", "entry_timeout = 86401\n" ONE, "1: entry_timeout must be between 0 and 86400\n" },
	{ "negative", "negative_timeout = -1\n" ONE, "1: negative_timeout must be between 0 and 86400\n" },
	{ "threads 0", "max_threads = 0\n" ONE, "1: max_threads must be between 1 and 1024\n" },
	{ "choices 0", ONE "choices = 0\n", "3: choices must be between 1 and 64\n" },
	{ "choices junk", ONE "choices = two\n", "3: bad number 'two' for choices\n" },
	{ "threads junk", "max_threads = 1x\n" ONE, "1: bad number '1x' for max_threads\n" },
	{ "threads huge", "max_threads = 99999999999999999999999\n" ONE,
	  "1: bad number '99999999999999999999999' for max_threads\n" },
	{ "bad size", "min_free = 12Q\n" ONE, "1: bad size '12Q' for min_free\n" },
	{ "bad inodes", "min_free_inodes = 1k\n" ONE, "1: bad number '1k' for min_free_inodes\n" },
	{ "bad bool", "allow_other = maybe\n" ONE, "1: bad boolean 'maybe' for allow_other\n" },
	{ "fsname long", "fsname = 0123456789012345678901234567890123456789012345678901234567890123\n" ONE,
	  "1: fsname must have 1 to 63 characters\n" },
	{ "fsname comma", "fsname = a,b\n" ONE, "1: bad character in fsname 'a,b'\n" },
	{ "unknown preset", "preset = qmail\n" ONE, "1: unknown preset 'qmail'\n" },
	{ "global in class", ONE "max_threads = 5\n",
	  "3: global key 'max_threads' must come before the first [class]\n" },
	{ "bad coherence", ONE "coherence = sometimes\n",
	  "3: bad value 'sometimes' for coherence (one of: local flush)\n" },
	{ "bad locks", "locks = maybe\n" ONE, "1: bad value 'maybe' for locks (one of: local backing)\n" },
	{ "class timeout range", ONE "attr_timeout = -1\n", "3: attr_timeout must be between 0 and 86400\n" },
	{ "class key outside", "shards = /q/0\n" ONE,
	  "1: key 'shards' is only valid in a [class] section\n" },
	{ "duplicate class", ONE "[class c]\nshards = /q/2\n", "3: duplicate class 'c'\n" },
	{ "bad header", "[klass c]\n" ONE, "1: expected '[class NAME]'\n" },
	{ "unclosed header", ONE "[class d\nshards = /q/2\n", "3: expected '[class NAME]'\n" },
	{ "two names", ONE "[class d e]\n", "3: expected '[class NAME]'\n" },
	{ "bad class name", ONE "[class a.b]\n",
	  "3: bad class name 'a.b' (use 1 to 31 of A-Z a-z 0-9 _ -)\n" },
	{ "long class name", ONE "[class abcdefghijklmnopqrstuvwxyz012345]\n",
	  "3: bad class name 'abcdefghijklmnopqrstuvwxyz012345' (use 1 to 31 of A-Z a-z 0-9 _ -)\n" },
	{ "relative shard", "[class c]\nshards = foo /q/1\n", "2: shard path must be absolute: 'foo'\n" },
	{ "duplicate shard", ONE "[class d]\nshards = /q/2 /q/1/\nmatch = d*\n",
	  "4: shard path '/q/1' is used twice (class 'c')\n" },
	{ "duplicate shard in class", "[class c]\nshards = /q/1 /q/2\nshards = /q/1\n",
	  "3: shard path '/q/1' is used twice (class 'c')\n" },
	{ "bad key prefix", ONE "key = strip-prefix:x\n", "3: bad key transform 'strip-prefix:x'\n" },
	{ "bad key suffix", ONE "key = strip-suffix\n", "3: bad key transform 'strip-suffix'\n" },
	{ "bad key lead", ONE "key = strip-lead:\n", "3: bad key transform 'strip-lead:'\n" },
	{ "bad key trail", ONE "key = whole strip-trail:a,,b\n",
	  "3: bad key transform 'strip-trail:a,,b'\n" },
	{ "bad key whole", ONE "key = whole:1\n", "3: bad key transform 'whole:1'\n" },
	{ "bad key name", ONE "key = strip-everything\n", "3: bad key transform 'strip-everything'\n" },
	{ "too many alts", ONE "key = strip-lead:a,b,c,d,e,f,g,h,i\n",
	  "3: bad key transform 'strip-lead:a,b,c,d,e,f,g,h,i'\n" },
	{ "pin range", "[class c]\nshards = /q/1 /q/2 /q/3\npin = q.3/* 5\n",
	  "3: pin shard 5 out of range (class has 3 shards)\n" },
	{ "pin before shards",
	  "[class c]\npin = x* 4\nshards = /q/1 /q/2 /q/3\n[class d]\nshards = /q/4\nmatch = d*\n",
	  "2: pin shard 4 out of range (class has 3 shards)\n" },
	{ "pin syntax", ONE "pin = q.3/*\n", "3: bad pin 'q.3/*': expected 'GLOB SHARD'\n" },
	{ "pin junk", ONE "pin = a 1 2\n", "3: bad pin 'a 1 2': expected 'GLOB SHARD'\n" },
	{ "pin zero", ONE "pin = a 0\n", "3: pin shard 0 out of range (shards count from 1 to 64)\n" },
	{ "bad volatile", ONE "volatile = perhaps\n", "3: bad boolean 'perhaps' for volatile\n" },
	{ "bad class size", ONE "min_free = 1X\n", "3: bad size '1X' for min_free\n" },
	{ "no class", "entry_timeout = 5\n", "0: no [class] section\n" },
	{ "empty file", "", "0: no [class] section\n" },
	{ "no shards", "[class c]\nmatch = x\n", "1: class 'c' has no shards\n" },
	{ "two defaults",
	  "[class a]\nshards = /a\ndefault = yes\n[class b]\nshards = /b\nmatch = b*\ndefault = on\n",
	  "4: class 'b' is a second default class (first: 'a')\n" },
	{ "no match", "[class a]\nshards = /a\n[class b]\nshards = /b\n",
	  "3: class 'b' has no match globs and is not the default class\n" },
	{ "no match, default elsewhere", "[class a]\nshards = /a\n[class b]\nshards = /b\ndefault = yes\n",
	  "1: class 'a' has no match globs and is not the default class\n" },
	{ "bad section body", "[klass]\nshrads = x\n" ONE,
	  "1: expected '[class NAME]'\n2: unknown key 'shrads'\n" },
};

/* test_error - one error case of the table */
/* The coherence switches: which classes flush, and their kernel cache timeouts. */
static const struct {
	const char *name;
	const char *globals;
	const char *control; /* extra lines of [class control] */
	int control_flush, data_flush;
	double control_entry, data_attr;
} coherence_cases[] = {
	{ "default", "", "", 0, 0, 60, 60 },
	{ "nfs_index", "nfs_index = yes\n", "", 1, 0, 0, 60 },
	{ "nfs_storage", "nfs_storage = yes\n", "", 0, 1, 60, 0 },
	{ "both", "nfs_index = yes\nnfs_storage = yes\n", "", 1, 1, 0, 0 },
	{ "class local wins", "nfs_index = yes\n", "coherence = local\n", 0, 0, 60, 60 },
	{ "class flush", "", "coherence = flush\nentry_timeout = 5\n", 1, 0, 0, 60 },
	{ "class timeout", "attr_timeout = 7\n", "entry_timeout = 5\n", 0, 0, 5, 7 },
	{ "role storage", "nfs_storage = yes\n", "role = storage\n", 1, 1, 0, 0 },
};

START_TEST(test_coherence)
{
	char text[512];
	struct conf c;
	double e, a, n;
	int ci, di;

	snprintf(text, sizeof(text),
		 "preset = sendmail\n%s[class control]\nshards = /q/c\n%s[class data]\nshards = /q/d\n",
		 coherence_cases[_i].globals, coherence_cases[_i].control);
	load_ok(&c, text);
	ci = conf_class_by_name(&c, "control");
	di = conf_class_by_name(&c, "data");
	ck_assert_msg(conf_class_flush(&c, ci) == coherence_cases[_i].control_flush,
		      "%s: control flush: got %d", coherence_cases[_i].name, conf_class_flush(&c, ci));
	ck_assert_msg(conf_class_flush(&c, di) == coherence_cases[_i].data_flush, "%s: data flush: got %d",
		      coherence_cases[_i].name, conf_class_flush(&c, di));
	conf_class_timeouts(&c, ci, &e, &a, &n);
	ck_assert_msg(e == coherence_cases[_i].control_entry, "%s: control entry_timeout: got %g, want %g",
		      coherence_cases[_i].name, e, coherence_cases[_i].control_entry);
	conf_class_timeouts(&c, di, &e, &a, &n);
	ck_assert_msg(a == coherence_cases[_i].data_attr, "%s: data attr_timeout: got %g, want %g",
		      coherence_cases[_i].name, a, coherence_cases[_i].data_attr);
	conf_free(&c);
}
END_TEST

START_TEST(test_error)
{
	expect_errors(error_cases[_i].name, error_cases[_i].text, strlen(error_cases[_i].text),
		      error_cases[_i].want);
}
END_TEST

/* test_all_errors - a file with many errors reports every one, in order */
START_TEST(test_all_errors)
{
	static const char text[] = "preset = qmail\n"	      /* 1 */
				   "entry_timeout = abc\n"    /* 2 */
				   "max_threads = 2000\n"     /* 3 */
				   "[class control]\n"	      /* 4 */
				   "shrads = /q/1\n"	      /* 5 */
				   "shards = foo /q/1 /q/2\n" /* 6 */
				   "pin = q.3/* 5\n"	      /* 7 */
				   "key = strip-prefix:x\n"   /* 8 */
				   "default = yes\n"	      /* 9 */
				   "[class control]\n"	      /* 10 */
				   "shards = /q/3\n"	      /* 11 */
				   "[class data]\n"	      /* 12 */
				   "shards = /q/1\n"	      /* 13 */
				   "default = yes\n"	      /* 14 */
				   "[class empty]\n"	      /* 15 */
				   "match = e*\n"	      /* 16 */
				   "migrate\n";		      /* 17 */
	static const char want[] = "1: unknown preset 'qmail'\n"
				   "2: bad number 'abc' for entry_timeout\n"
				   "3: max_threads must be between 1 and 1024\n"
				   "5: unknown key 'shrads'\n"
				   "6: shard path must be absolute: 'foo'\n"
				   "8: bad key transform 'strip-prefix:x'\n"
				   "7: pin shard 5 out of range (class has 2 shards)\n"
				   "10: duplicate class 'control'\n"
				   "13: shard path '/q/1' is used twice (class 'control')\n"
				   "17: expected 'key = value'\n"
				   "12: class 'data' is a second default class (first: 'control')\n"
				   "12: class 'data' has no shards\n"
				   "12: class 'data' has no match globs and is not the default class\n"
				   "15: class 'empty' has no shards\n";

	expect_errors("many errors", text, strlen(text), want);
}
END_TEST

/* test_hostile - overlong lines, NUL bytes: errors at their lines */
START_TEST(test_hostile)
{
	static const char nul[] = "entry_timeout = 5\0junk\n" ONE "match = a\0b\n";
	size_t longlen = 3 * 4096;
	char *text = malloc(longlen + 64);
	char *p = text;

	ck_assert_ptr_nonnull(text);
	expect_errors("nul", nul, sizeof(nul) - 1, "1: NUL byte in line\n4: NUL byte in line\n");

	/* 4096 bytes are fine, 4097 are not, and the rest of the line is skipped */
	p += sprintf(p, "# ");
	memset(p, 'x', 4094);
	p += 4094;
	p += sprintf(p, "\n");
	p += sprintf(p, "#");
	memset(p, 'y', 4096);
	p += 4096;
	p += sprintf(p, " = 5\n" ONE);
	expect_errors("long", text, strlen(text), "2: line longer than 4096 bytes\n");

	/* an overlong last line without a newline, and a huge number */
	p = text + sprintf(text, ONE "fsname = ");
	memset(p, 'z', 5000);
	p[5000] = 0;
	expect_errors("long tail", text, strlen(text), "3: line longer than 4096 bytes\n");
	free(text);
}
END_TEST

/* test_too_many - class and shard limits */
START_TEST(test_too_many)
{
	char *text = malloc(16384);
	char *p;

	ck_assert_ptr_nonnull(text);
	p = text;
	for (int i = 0; i <= QFS_MAX_CLASSES; i++)
		p += sprintf(p, "[class c%d]\nshards = /q/%d\nmatch = c%d*\n", i, i, i);
	expect_errors("classes", text, strlen(text), "49: too many classes (at most 16)\n");

	p = text + sprintf(text, "[class c]\nshards =");
	for (int i = 0; i <= QFS_MAX_SHARDS; i++)
		p += sprintf(p, " /q/%d", i);
	sprintf(p, "\n");
	expect_errors("shards", text, strlen(text), "2: too many shards (at most 64 in a class)\n");

	p = text + sprintf(text, "[class c]\nshards =");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, " /c/%d", i);
	p += sprintf(p, "\n[class d]\nmatch = d*\nshards =");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, " /d/%d", i);
	sprintf(p, "\n");
	expect_errors("backings", text, strlen(text), "0: too many shards in all: 80 (at most 64)\n");

	p = text + sprintf(text, ONE "match =");
	for (int i = 0; i <= QFS_MAX_GLOBS; i++)
		p += sprintf(p, " g%d*", i);
	sprintf(p, "\n");
	expect_errors("globs", text, strlen(text), "3: too many match globs (at most 32 in a class)\n");
	free(text);
}
END_TEST

/* test_missing_file - -errno and "PATH: reason" */
START_TEST(test_missing_file)
{
	struct conf c;
	char *errs = NULL;
	size_t errlen = 0;
	char want[256];
	FILE *fp = open_memstream(&errs, &errlen);
	int rc;

	ck_assert_ptr_nonnull(fp);
	unlink(test_path);
	conf_init(&c);
	rc = conf_load(&c, test_path, fp);
	fclose(fp);
	snprintf(want, sizeof(want), "%s: %s\n", test_path, strerror(ENOENT));
	ck_assert_msg(rc == -ENOENT, "rc: got %d, want %d", rc, -ENOENT);
	ck_assert_msg(strcmp(errs, want) == 0, "got \"%s\", want \"%s\"", errs, want);
	free(errs);
	conf_free(&c);
}
END_TEST

static const struct {
	const char *key;
	const char *value;
	int rc;
	const char *err;
} set_cases[] = {
	{ "entry_timeout", "2.5", 0, "" },
	{ "entry_timeout", "86400", 0, "" },
	{ "entry_timeout", "-0.1", -EINVAL, "entry_timeout must be between 0 and 86400" },
	{ "entry_timeout", "x", -EINVAL, "bad number 'x' for entry_timeout" },
	{ "entry_timeout", " 1", -EINVAL, "bad number ' 1' for entry_timeout" },
	{ "entry_timeout", NULL, -EINVAL, "option 'entry_timeout' needs a value" },
	{ "attr_timeout", "0", 0, "" },
	{ "negative_timeout", "1e9", -EINVAL, "negative_timeout must be between 0 and 86400" },
	{ "min_free", "1T", 0, "" },
	{ "min_free", "-1", -EINVAL, "bad size '-1' for min_free" },
	{ "min_free_inodes", "18446744073709551615", 0, "" },
	{ "min_free_inodes", "18446744073709551616", -EINVAL,
	  "bad number '18446744073709551616' for min_free_inodes" },
	{ "allow_other", "no", 0, "" },
	{ "allow_other", NULL, 0, "" },
	{ "migrate", NULL, 0, "" },
	{ "migrate", "Off", 0, "" },
	{ "migrate", "", -EINVAL, "bad boolean '' for migrate" },
	{ "max_threads", "1", 0, "" },
	{ "max_threads", "1025", -EINVAL, "max_threads must be between 1 and 1024" },
	{ "max_threads", "", -EINVAL, "bad number '' for max_threads" },
	{ "fsname", "mailq", 0, "" },
	{ "fsname", "", -EINVAL, "fsname must have 1 to 63 characters" },
	{ "fsname", "a b", -EINVAL, "bad character in fsname 'a b'" },
	{ "preset", "sendmail", -EINVAL, "option 'preset' is only valid in the configuration file" },
	{ "shrads", "1", -ENOENT, "unknown option 'shrads'" },
	{ "shards", "/q/1", -ENOENT, "unknown option 'shards'" },
};

/* test_set - conf_set return codes and reasons */
START_TEST(test_set)
{
	struct conf c;
	char err[256] = "";
	int rc;

	conf_init(&c);
	rc = conf_set(&c, set_cases[_i].key, set_cases[_i].value, err, sizeof(err));
	ck_assert_msg(rc == set_cases[_i].rc, "conf_set(%s, %s): got %d, want %d", set_cases[_i].key,
		      set_cases[_i].value ? set_cases[_i].value : "NULL", rc, set_cases[_i].rc);
	if (rc < 0)
		ck_assert_msg(strcmp(err, set_cases[_i].err) == 0, "conf_set(%s): got \"%s\", want \"%s\"",
			      set_cases[_i].key, err, set_cases[_i].err);
}
END_TEST

/* test_set_values - what conf_set stores; a failed set changes nothing */
START_TEST(test_set_values)
{
	struct conf c;
	char err[256];

	conf_init(&c);
	ck_assert_int_eq(conf_set(&c, "entry_timeout", "0.25", err, sizeof(err)), 0);
	ck_assert_msg(c.entry_timeout == 0.25, "entry_timeout: got %g, want 0.25", c.entry_timeout);
	ck_assert_int_eq(conf_set(&c, "entry_timeout", "99999", err, sizeof(err)), -EINVAL);
	ck_assert_msg(c.entry_timeout == 0.25, "after a bad value: got %g, want 0.25", c.entry_timeout);
	ck_assert_int_eq(conf_set(&c, "migrate", NULL, err, sizeof(err)), 0);
	ck_assert_msg(c.migrate, "migrate: got no, want yes");
	ck_assert_int_eq(conf_set(&c, "allow_other", "0", err, sizeof(err)), 0);
	ck_assert_msg(!c.allow_other, "allow_other: got yes, want no");
	ck_assert_int_eq(conf_set(&c, "min_free", "2g", err, sizeof(err)), 0);
	ck_assert_msg(c.min_free_bytes == 2ULL << 30, "min_free: got %llu, want %llu",
		      (unsigned long long)c.min_free_bytes, 2ULL << 30);
	ck_assert_int_eq(conf_set(&c, "max_threads", "3", err, sizeof(err)), 0);
	ck_assert_msg(c.max_threads == 3, "max_threads: got %u, want 3", c.max_threads);
	ck_assert_int_eq(conf_set(&c, "fsname", "mailq", err, sizeof(err)), 0);
	ck_assert_msg(strcmp(c.fsname, "mailq") == 0, "fsname: got %s, want mailq", c.fsname);
	conf_free(&c);
}
END_TEST

static const struct {
	const char *s;
	int rc;
	uint64_t want;
} size_cases[] = {
	{ "0", 0, 0 },
	{ "4096", 0, 4096 },
	{ "1K", 0, 1024 },
	{ "1k", 0, 1024 },
	{ "64M", 0, 64ULL << 20 },
	{ "1G", 0, 1ULL << 30 },
	{ "3t", 0, 3ULL << 40 },
	{ "16777215T", 0, 16777215ULL << 40 },
	{ "16777216T", -EINVAL, 0 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551616", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "K", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "1MB", -EINVAL, 0 },
	{ "1P", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
};

/* test_size - conf_parse_size table */
START_TEST(test_size)
{
	uint64_t got = 12345;
	int rc = conf_parse_size(size_cases[_i].s, &got);

	ck_assert_msg(rc == size_cases[_i].rc, "conf_parse_size(\"%s\"): got rc %d, want %d",
		      size_cases[_i].s, rc, size_cases[_i].rc);
	if (rc == 0)
		ck_assert_msg(got == size_cases[_i].want, "conf_parse_size(\"%s\"): got %llu, want %llu",
			      size_cases[_i].s, (unsigned long long)got,
			      (unsigned long long)size_cases[_i].want);
}
END_TEST

/* conf_suite - all of the above */
Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_globals);
	tcase_add_test(tc, test_preset_sendmail);
	tcase_add_test(tc, test_preset_others);
	tcase_add_loop_test(tc, test_coherence, 0,
			    (int)(sizeof(coherence_cases) / sizeof(coherence_cases[0])));
	tcase_add_loop_test(tc, test_error, 0, NELEM(error_cases));
	tcase_add_test(tc, test_all_errors);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_too_many);
	tcase_add_test(tc, test_missing_file);
	tcase_add_loop_test(tc, test_set, 0, NELEM(set_cases));
	tcase_add_test(tc, test_set_values);
	tcase_add_loop_test(tc, test_size, 0, NELEM(size_cases));
	suite_add_tcase(s, tc);
	return s;
}
