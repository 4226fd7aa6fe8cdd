/*
 * NAME
 *	conf - the queuefs configuration: file, presets and -o options
 * SYNOPSIS
 *	#include "conf.h"
 * DESCRIPTION
 *	One table of typed global keys (name, type, default, min, max,
 *	field) sets the defaults (conf_init), reads the configuration file
 *	(conf_load) and takes -o options (conf_set), so the three can never
 *	disagree. A second table of the same shape holds the keys of a
 *	[class] section.
 *
 *	The file is line oriented. '#' starts a comment at the start of a
 *	line or after white space. Global keys come first, then one or more
 *	class sections:
 *
 *	    preset = sendmail          # sendmail, postfix or exim
 *	    entry_timeout = 60         # seconds, 0..86400 (default 60)
 *	    attr_timeout = 60          # seconds, 0..86400 (default 60)
 *	    negative_timeout = 0       # seconds, 0..86400 (default 0)
 *	    min_free = 64M             # bytes, K/M/G/T = powers of 1024 (0)
 *	    min_free_inodes = 100      # (default 0)
 *	    allow_other = yes          # yes/no/true/false/on/off/1/0 (yes)
 *	    migrate = no               # (default no)
 *	    max_threads = 16           # 1..1024 (default 16)
 *	    readdirplus = yes          # listings carry attributes (yes)
 *	    fsname = queuefs           # 1..63 printable characters, no ','
 *	    ctl_dir = /run/queuefs     # where the control socket lives
 *	    ctl_group = root           # group allowed to use it (and root)
 *
 *	    [class control]            # name: [A-Za-z0-9_-]{1,31}
 *	    shards = /disks/q1/queue /disks/q2/queue
 *	    match = qf* tf*            # globs; with a '/' they match the path
 *	    key = strip-prefix:2       # whole | strip-prefix:N | strip-suffix:N
 *	                               # | strip-lead:A,B | strip-trail:A,B
 *	    pin = q.3/qf* 3            # GLOB and 1-based shard number
 *	    volatile = no
 *	    default = yes
 *	    min_free = 1G              # per-class overrides of the globals
 *	    min_free_inodes = 1000
 *
 *	"shards", "match", "key" and "pin" append when given again; the
 *	other keys take the last value. Shard paths must be absolute;
 *	trailing slashes are dropped so that "/q/" and "/q" are one path.
 *
 *	A preset supplies class templates. A configured class whose name is
 *	a template takes from it every property it did not set itself:
 *	match globs, key transforms, volatile, default. Templates the file
 *	does not name are not added: they would have no shards, and their
 *	names fall to the default class. An explicit "default = yes"
 *	overrides a template's default; without any, the first class is the
 *	default class.
 * DIAGNOSTICS
 *	conf_load() reads the whole file before it judges it and reports
 *	every problem, one "PATH:LINE: message" line each on the given
 *	stream; problems of the whole configuration carry the line of the
 *	class header, or line 0. It returns -EINVAL when there was any,
 *	-ENOMEM when memory ran out, -errno when the file cannot be read.
 *	Lines longer than CONF_LINE_MAX bytes and lines with NUL bytes are
 *	errors, not crashes. conf_set() returns -ENOENT for an unknown key
 *	and -EINVAL for a bad value, with a one-line reason.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define CONF_LINE_MAX 4096

/* What a key's value is, and so how it is parsed and stored. */
enum conf_type {
	CONF_DOUBLE, /* seconds: double within [min, max] */
	CONF_UINT,   /* unsigned within [min, max] */
	CONF_COUNT,  /* uint64_t, digits only */
	CONF_SIZE,   /* uint64_t, digits with K/M/G/T */
	CONF_BOOL,   /* bool */
	CONF_STRING, /* char[size], printable, no ',' (it ends up in -o fsname=) */
	CONF_PRESET, /* char[size], a preset name or "" */
	CONF_CHOICE, /* int: index of the value in choices (empty entries never match) */
	CONF_SHARDS, /* [class] only: the list types below append */
	CONF_GLOBS,
	CONF_KEYOPS,
	CONF_PINS,
};

struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def; /* global keys: the default, parsed like any value */
	double min;
	double max;
	size_t off;		    /* of the field in struct conf or struct qclass */
	size_t size;		    /* of the field, for strings */
	bool file_only;		    /* not a -o option */
	const char *const *choices; /* CONF_CHOICE: the values, NULL-terminated */
};

#define GLOBAL(name, type, def, min, max, field, file_only)                                                  \
	{                                                                                                    \
		name, type, def, min, max, offsetof(struct conf, field), sizeof(((struct conf *)0)->field),  \
			file_only, NULL                                                                      \
	}

#define GLOBAL_CHOICE(name, def, list, field)                                                                \
	{                                                                                                    \
		name, CONF_CHOICE, def, 0, 0, offsetof(struct conf, field), sizeof(int), false, list         \
	}

static const char *const conf_locks_names[] = { "local", "backing", NULL };
static const char *const conf_coherence_names[] = { "", "local", "flush", NULL };
static const char *const conf_role_names[] = { "", "index", "storage", NULL };

static const struct conf_key conf_globals[] = {
	/* preset acts at conf_load: as a -o option it could only mislead */
	GLOBAL("preset", CONF_PRESET, "", 0, 0, preset, true),
	GLOBAL("entry_timeout", CONF_DOUBLE, "60", 0, 86400, entry_timeout, false),
	GLOBAL("attr_timeout", CONF_DOUBLE, "60", 0, 86400, attr_timeout, false),
	GLOBAL("negative_timeout", CONF_DOUBLE, "0", 0, 86400, negative_timeout, false),
	GLOBAL("min_free", CONF_SIZE, "0", 0, 0, min_free_bytes, false),
	GLOBAL("min_free_inodes", CONF_COUNT, "0", 0, 0, min_free_inodes, false),
	GLOBAL("allow_other", CONF_BOOL, "yes", 0, 0, allow_other, false),
	GLOBAL("migrate", CONF_BOOL, "no", 0, 0, migrate, false),
	GLOBAL("max_threads", CONF_UINT, "16", 1, 1024, max_threads, false),
	GLOBAL("fsname", CONF_STRING, "queuefs", 0, 0, fsname, false),
	GLOBAL("ctl_dir", CONF_STRING, "/run/queuefs", 0, 0, ctl_dir, false),
	GLOBAL("ctl_group", CONF_STRING, "root", 0, 0, ctl_group, false),
	GLOBAL("nfs_index", CONF_BOOL, "no", 0, 0, nfs_index, false),
	GLOBAL("nfs_storage", CONF_BOOL, "no", 0, 0, nfs_storage, false),
	GLOBAL_CHOICE("locks", "local", conf_locks_names, locks),
	GLOBAL("watch", CONF_BOOL, "no", 0, 0, watch, false),
	GLOBAL("readdirplus", CONF_BOOL, "yes", 0, 0, readdirplus, false),
};

/* Indices into conf_class_keys, also for "which did this section set". */
enum {
	CK_SHARDS,
	CK_MATCH,
	CK_KEY,
	CK_PIN,
	CK_VOLATILE,
	CK_DEFAULT,
	CK_MIN_FREE,
	CK_MIN_FREE_INODES,
	CK_COHERENCE,
	CK_ROLE,
	CK_ENTRY_TIMEOUT,
	CK_ATTR_TIMEOUT,
	CK_NEGATIVE_TIMEOUT,
	CK_CHOICES,
	CK_COUNT
};

#define CLASS(name, type, field)                                                                             \
	{                                                                                                    \
		name, type, NULL, 0, 0, offsetof(struct qclass, field), sizeof(((struct qclass *)0)->field), \
			true, NULL                                                                           \
	}

#define CLASS_RANGE(name, type, min, max, field)                                                             \
	{                                                                                                    \
		name, type, NULL, min, max, offsetof(struct qclass, field),                                  \
			sizeof(((struct qclass *)0)->field), true, NULL                                      \
	}
#define CLASS_CHOICE(name, list, field)                                                                      \
	{                                                                                                    \
		name, CONF_CHOICE, NULL, 0, 0, offsetof(struct qclass, field), sizeof(int), true, list       \
	}

static const struct conf_key conf_class_keys[CK_COUNT] = {
	[CK_SHARDS] = CLASS("shards", CONF_SHARDS, shards),
	[CK_MATCH] = CLASS("match", CONF_GLOBS, match),
	[CK_KEY] = CLASS("key", CONF_KEYOPS, key),
	[CK_PIN] = CLASS("pin", CONF_PINS, pins),
	[CK_VOLATILE] = CLASS("volatile", CONF_BOOL, is_volatile),
	[CK_DEFAULT] = CLASS("default", CONF_BOOL, is_default),
	[CK_MIN_FREE] = CLASS("min_free", CONF_SIZE, min_free_bytes),
	[CK_MIN_FREE_INODES] = CLASS("min_free_inodes", CONF_COUNT, min_free_inodes),
	[CK_COHERENCE] = CLASS_CHOICE("coherence", conf_coherence_names, coherence),
	[CK_ROLE] = CLASS_CHOICE("role", conf_role_names, role),
	[CK_ENTRY_TIMEOUT] = CLASS_RANGE("entry_timeout", CONF_DOUBLE, 0, 86400, entry_timeout),
	[CK_ATTR_TIMEOUT] = CLASS_RANGE("attr_timeout", CONF_DOUBLE, 0, 86400, attr_timeout),
	[CK_NEGATIVE_TIMEOUT] = CLASS_RANGE("negative_timeout", CONF_DOUBLE, 0, 86400, negative_timeout),
	[CK_CHOICES] = CLASS_RANGE("choices", CONF_UINT, 1, QFS_MAX_SHARDS, choices),
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Class templates of the presets. */
struct preset_class {
	const char *name;
	const char *match;
	const char *key;
	bool is_volatile;
	bool is_default;
};

struct preset {
	const char *name;
	struct preset_class classes[4];
};

#define EXIM_KEY "strip-lead:hdr. strip-trail:-H,-D,-J"

static const struct preset conf_presets[] = {
	{ "sendmail",
	  { { "control", "qf* tf* Tf* Qf* hf*", "strip-prefix:2", false, true },
	    { "data", "df*", "strip-prefix:2", false, false },
	    { "transcript", "xf*", "strip-prefix:2", true, false } } },
	{ "postfix",
	  { { "control", "incoming/* active/* deferred/* hold/* maildrop/* corrupt/* saved/*", "whole", false,
	      true },
	    { "logs", "defer/* bounce/* trace/* flush/*", "whole", false, false } } },
	{ "exim",
	  { { "control", "*-H hdr.* *-J msglog/* db/*", EXIM_KEY, false, true },
	    { "data", "*-D", EXIM_KEY, false, false } } },
};

/* One [class] section while it is read. */
struct conf_section {
	struct qclass *cl;
	bool set[CK_COUNT];	    /* keys the file gave, for the preset merge */
	int pin_line[QFS_MAX_PINS]; /* to report a pin's range at its line */
};

/* The state of one conf_load. */
struct conf_parser {
	struct conf *c;
	FILE *errs;
	const char *path;
	int line;
	int nerr;
	bool nomem;
	struct conf_section *cur; /* NULL before the first [class] */
	struct conf_section sect[QFS_MAX_CLASSES];
	struct conf_section scratch; /* a rejected section, read for its errors */
	struct qclass scratch_class;
};

/* conf_error - report one problem at LINE */
static void __attribute__((format(printf, 3, 4)))
conf_error(struct conf_parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nerr++;
	if (p->errs == NULL)
		return;
	fprintf(p->errs, "%s:%d: ", p->path, line);
	va_start(ap, fmt);
	vfprintf(p->errs, fmt, ap);
	va_end(ap);
	fputc('\n', p->errs);
}

/* conf_strndup - copy a token, noting a failure */
static char *conf_strndup(struct conf_parser *p, const char *s, size_t len)
{
	char *copy = strndup(s, len);

	if (copy == NULL && !p->nomem) {
		p->nomem = true;
		conf_error(p, p->line, "out of memory");
	}
	return copy;
}

/* conf_next_token - the next white-space separated token of *S, or NULL */
static const char *conf_next_token(const char **s, size_t *len)
{
	const char *start = *s;
	const char *end;

	while (isspace((unsigned char)*start))
		start++;
	if (*start == 0)
		return NULL;
	for (end = start; *end && !isspace((unsigned char)*end); end++)
		;
	*s = end;
	*len = end - start;
	return start;
}

/* conf_parse_u64 - digits only, no sign, no white space, no overflow */
static int conf_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* conf_parse_size - bytes, with an optional K/M/G/T suffix (powers of 1024) */
int conf_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	size_t len = strlen(s);
	const char *unit;
	unsigned shift = 0;
	uint64_t v;

	if (len > 1 && (unit = strchr(units, tolower((unsigned char)s[len - 1]))) != NULL && *unit != 0) {
		shift = 10 * (unsigned)(unit - units + 1);
		len--;
	}
	if (conf_parse_u64(s, len, &v) < 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* conf_parse_bool - yes/no and its usual spellings */
static int conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* conf_find_preset - the preset called NAME, or NULL */
static const struct preset *conf_find_preset(const char *name)
{
	for (size_t i = 0; i < NELEM(conf_presets); i++)
		if (strcmp(conf_presets[i].name, name) == 0)
			return &conf_presets[i];
	return NULL;
}

/* conf_find_key - a key of TABLE by name, or NULL */
static const struct conf_key *conf_find_key(const struct conf_key *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

/* conf_set_scalar - parse VALUE into the field of K in BASE */
static int conf_set_scalar(void *base, const struct conf_key *k, const char *value, char *err, size_t errlen)
{
	void *field = (char *)base + k->off;
	char *end;
	uint64_t u;
	double d;
	bool b;

	switch (k->type) {
	case CONF_DOUBLE:
		errno = 0;
		d = strtod(value, &end);
		if (end == value || *end != 0 || errno != 0 || isspace((unsigned char)*value)) {
			snprintf(err, errlen, "bad number '%s' for %s", value, k->name);
			return -EINVAL;
		}
		/* written so that NaN fails too */
		if (!(d >= k->min && d <= k->max)) {
			snprintf(err, errlen, "%s must be between %g and %g", k->name, k->min, k->max);
			return -EINVAL;
		}
		*(double *)field = d;
		return 0;
	case CONF_UINT:
		if (conf_parse_u64(value, strlen(value), &u) < 0) {
			snprintf(err, errlen, "bad number '%s' for %s", value, k->name);
			return -EINVAL;
		}
		if (u < k->min || u > k->max) {
			snprintf(err, errlen, "%s must be between %g and %g", k->name, k->min, k->max);
			return -EINVAL;
		}
		*(unsigned *)field = (unsigned)u;
		return 0;
	case CONF_COUNT:
		if (conf_parse_u64(value, strlen(value), &u) < 0) {
			snprintf(err, errlen, "bad number '%s' for %s", value, k->name);
			return -EINVAL;
		}
		*(uint64_t *)field = u;
		return 0;
	case CONF_SIZE:
		if (conf_parse_size(value, &u) < 0) {
			snprintf(err, errlen, "bad size '%s' for %s", value, k->name);
			return -EINVAL;
		}
		*(uint64_t *)field = u;
		return 0;
	case CONF_BOOL:
		if (conf_parse_bool(value, &b) < 0) {
			snprintf(err, errlen, "bad boolean '%s' for %s", value, k->name);
			return -EINVAL;
		}
		*(bool *)field = b;
		return 0;
	case CONF_STRING:
		if (*value == 0 || strlen(value) >= k->size) {
			snprintf(err, errlen, "%s must have 1 to %zu characters", k->name, k->size - 1);
			return -EINVAL;
		}
		for (const char *s = value; *s; s++) {
			if (!isgraph((unsigned char)*s) || *s == ',') {
				snprintf(err, errlen, "bad character in %s '%s'", k->name, value);
				return -EINVAL;
			}
		}
		strcpy(field, value);
		return 0;
	case CONF_CHOICE:
		for (int i = 0; k->choices[i]; i++) {
			if (k->choices[i][0] && strcmp(k->choices[i], value) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		snprintf(err, errlen, "bad value '%s' for %s (one of:", value, k->name);
		for (int i = 0; k->choices[i]; i++)
			if (k->choices[i][0] && strlen(err) + strlen(k->choices[i]) + 3 < errlen)
				snprintf(err + strlen(err), errlen - strlen(err), " %s", k->choices[i]);
		if (strlen(err) + 2 < errlen)
			strcat(err, ")");
		return -EINVAL;
	case CONF_PRESET:
		if (*value != 0 && conf_find_preset(value) == NULL) {
			snprintf(err, errlen, "unknown preset '%s'", value);
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	default:
		snprintf(err, errlen, "%s is not a scalar key", k->name);
		return -EINVAL;
	}
}

/* conf_init - the defaults of every global key, no classes */
void conf_init(struct conf *c)
{
	char err[128];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NELEM(conf_globals); i++)
		(void)conf_set_scalar(c, &conf_globals[i], conf_globals[i].def, err, sizeof(err));
}

/* conf_set - one global key from a -o option */
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct conf_key *k = conf_find_key(conf_globals, NELEM(conf_globals), key);

	if (k == NULL) {
		snprintf(err, errlen, "unknown option '%s'", key);
		return -ENOENT;
	}
	if (k->file_only) {
		snprintf(err, errlen, "option '%s' is only valid in the configuration file", key);
		return -EINVAL;
	}
	if (value == NULL) {
		if (k->type != CONF_BOOL) {
			snprintf(err, errlen, "option '%s' needs a value", key);
			return -EINVAL;
		}
		value = "yes";
	}
	return conf_set_scalar(c, k, value, err, errlen);
}

/* conf_free_class - release the strings of one class and empty it */
static void conf_free_class(struct qclass *cl)
{
	for (int i = 0; i < cl->nshards; i++)
		free(cl->shards[i]);
	for (int i = 0; i < cl->nmatch; i++)
		free(cl->match[i]);
	for (int i = 0; i < cl->nkey; i++)
		for (int j = 0; j < cl->key[i].nalts; j++)
			free(cl->key[i].alts[j]);
	for (int i = 0; i < cl->npins; i++)
		free(cl->pins[i].glob);
	memset(cl, 0, sizeof(*cl));
}

/* conf_free - release what conf_load allocated; the defaults stay */
void conf_free(struct conf *c)
{
	for (int i = 0; i < c->nclasses; i++)
		conf_free_class(&c->classes[i]);
	c->nclasses = 0;
	c->default_class = 0;
	free(c->path);
	c->path = NULL;
}

/* conf_class_by_name - index of a class, or -1 */
int conf_class_by_name(const struct conf *c, const char *name)
{
	for (int i = 0; i < c->nclasses; i++)
		if (strcmp(c->classes[i].name, name) == 0)
			return i;
	return -1;
}

/* conf_find_shard - the class that already has PATH as a shard, or NULL */
static const struct qclass *conf_find_shard(const struct conf_parser *p, const char *path, size_t len)
{
	const struct conf *c = p->c;

	for (int i = 0; i < c->nclasses; i++)
		for (int j = 0; j < c->classes[i].nshards; j++)
			if (strlen(c->classes[i].shards[j]) == len &&
			    memcmp(c->classes[i].shards[j], path, len) == 0)
				return &c->classes[i];
	return NULL;
}

/* conf_add_shards - append the shard paths of one "shards =" line */
static void conf_add_shards(struct conf_parser *p, struct qclass *cl, const char *value)
{
	const struct qclass *other;
	const char *tok;
	size_t len;

	while ((tok = conf_next_token(&value, &len)) != NULL) {
		if (*tok != '/') {
			conf_error(p, p->line, "shard path must be absolute: '%.*s'", (int)len, tok);
			continue;
		}
		if (len >= PATH_MAX) {
			conf_error(p, p->line, "shard path too long: '%.20s...'", tok);
			continue;
		}
		while (len > 1 && tok[len - 1] == '/')
			len--;
		if ((other = conf_find_shard(p, tok, len)) != NULL) {
			conf_error(p, p->line, "shard path '%.*s' is used twice (class '%s')", (int)len, tok,
				   other->name);
			continue;
		}
		if (cl->nshards >= QFS_MAX_SHARDS) {
			conf_error(p, p->line, "too many shards (at most %d in a class)", QFS_MAX_SHARDS);
			return;
		}
		if ((cl->shards[cl->nshards] = conf_strndup(p, tok, len)) == NULL)
			return;
		cl->nshards++;
	}
}

/* conf_add_globs - append the globs of one "match =" line */
static void conf_add_globs(struct conf_parser *p, struct qclass *cl, const char *value)
{
	const char *tok;
	size_t len;

	while ((tok = conf_next_token(&value, &len)) != NULL) {
		if (cl->nmatch >= QFS_MAX_GLOBS) {
			conf_error(p, p->line, "too many match globs (at most %d in a class)", QFS_MAX_GLOBS);
			return;
		}
		if ((cl->match[cl->nmatch] = conf_strndup(p, tok, len)) == NULL)
			return;
		cl->nmatch++;
	}
}

/* conf_parse_alts - "A,B,C" into OP; 0 or -EINVAL (empty or too many) */
static int conf_parse_alts(struct conf_parser *p, const char *s, size_t len, struct key_op *op)
{
	const char *end = s + len;

	for (;;) {
		const char *comma = memchr(s, ',', end - s);
		const char *stop = comma ? comma : end;

		if (stop == s || op->nalts >= QFS_MAX_ALTS)
			return -EINVAL;
		if ((op->alts[op->nalts] = conf_strndup(p, s, stop - s)) == NULL)
			return -ENOMEM;
		op->nalts++;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

/* conf_parse_keyop - one key transform token into OP */
static int conf_parse_keyop(struct conf_parser *p, const char *tok, size_t len, struct key_op *op)
{
	static const struct {
		const char *name;
		enum key_op_kind kind;
	} ops[] = {
		{ "whole", KEY_WHOLE },
		{ "strip-prefix", KEY_STRIP_PREFIX },
		{ "strip-suffix", KEY_STRIP_SUFFIX },
		{ "strip-lead", KEY_STRIP_LEAD },
		{ "strip-trail", KEY_STRIP_TRAIL },
	};
	const char *colon = memchr(tok, ':', len);
	size_t nlen = colon ? (size_t)(colon - tok) : len;
	const char *arg = colon ? colon + 1 : NULL;
	size_t alen = colon ? len - nlen - 1 : 0;
	uint64_t n;

	memset(op, 0, sizeof(*op));
	for (size_t i = 0; i < NELEM(ops); i++) {
		if (strlen(ops[i].name) != nlen || memcmp(ops[i].name, tok, nlen) != 0)
			continue;
		op->kind = ops[i].kind;
		switch (op->kind) {
		case KEY_WHOLE:
			return arg ? -EINVAL : 0;
		case KEY_STRIP_PREFIX:
		case KEY_STRIP_SUFFIX:
			if (arg == NULL || conf_parse_u64(arg, alen, &n) < 0 || n > UINT_MAX)
				return -EINVAL;
			op->n = (unsigned)n;
			return 0;
		case KEY_STRIP_LEAD:
		case KEY_STRIP_TRAIL:
			return arg ? conf_parse_alts(p, arg, alen, op) : -EINVAL;
		}
	}
	return -EINVAL;
}

/* conf_add_keyops - append the key transforms of one "key =" line */
static void conf_add_keyops(struct conf_parser *p, struct qclass *cl, const char *value)
{
	const char *tok;
	size_t len;

	while ((tok = conf_next_token(&value, &len)) != NULL) {
		struct key_op op;
		int err;

		if (cl->nkey >= QFS_MAX_KEYOPS) {
			conf_error(p, p->line, "too many key transforms (at most %d in a class)",
				   QFS_MAX_KEYOPS);
			return;
		}
		if ((err = conf_parse_keyop(p, tok, len, &op)) < 0) {
			for (int i = 0; i < op.nalts; i++)
				free(op.alts[i]);
			if (err == -EINVAL)
				conf_error(p, p->line, "bad key transform '%.*s'", (int)len, tok);
			continue;
		}
		cl->key[cl->nkey++] = op;
	}
}

/* conf_add_pin - one "pin = GLOB N" line */
static void conf_add_pin(struct conf_parser *p, struct conf_section *s, const char *value)
{
	struct qclass *cl = s->cl;
	const char *glob;
	const char *num;
	size_t glen;
	size_t nlen;
	uint64_t n;
	const char *rest = value;

	if ((glob = conf_next_token(&rest, &glen)) == NULL || (num = conf_next_token(&rest, &nlen)) == NULL ||
	    conf_next_token(&rest, &nlen) != NULL || conf_parse_u64(num, nlen, &n) < 0) {
		conf_error(p, p->line, "bad pin '%s': expected 'GLOB SHARD'", value);
		return;
	}
	if (n < 1 || n > QFS_MAX_SHARDS) {
		conf_error(p, p->line, "pin shard %llu out of range (shards count from 1 to %d)",
			   (unsigned long long)n, QFS_MAX_SHARDS);
		return;
	}
	if (cl->npins >= QFS_MAX_PINS) {
		conf_error(p, p->line, "too many pins (at most %d in a class)", QFS_MAX_PINS);
		return;
	}
	if ((cl->pins[cl->npins].glob = conf_strndup(p, glob, glen)) == NULL)
		return;
	cl->pins[cl->npins].shard = (int)n - 1;
	s->pin_line[cl->npins++] = p->line;
}

/* conf_class_name_ok - [A-Za-z0-9_-]{1,31} */
static bool conf_class_name_ok(const char *name, size_t len)
{
	if (len == 0 || len >= sizeof(((struct qclass *)0)->name))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
			return false;
	return true;
}

/* conf_close_section - judge what needs the whole section: pin ranges */
static void conf_close_section(struct conf_parser *p)
{
	struct conf_section *s = p->cur;

	if (s == NULL)
		return;
	/* With no shards at all, "no shards" says it better. */
	for (int i = 0; s->cl->nshards > 0 && i < s->cl->npins; i++)
		if (s->cl->pins[i].shard >= s->cl->nshards)
			conf_error(p, s->pin_line[i], "pin shard %d out of range (class has %d shards)",
				   s->cl->pins[i].shard + 1, s->cl->nshards);
	if (s == &p->scratch)
		conf_free_class(s->cl);
}

/* conf_open_section - a "[class NAME]" header */
static void conf_open_section(struct conf_parser *p, char *text)
{
	struct conf *c = p->c;
	size_t len = strlen(text);
	const char *name;
	size_t nlen;
	const char *rest;

	conf_close_section(p);

	/*
	 * Whatever goes wrong, the lines below still belong to a section:
	 * read them into the scratch class, for their own errors, rather
	 * than as misplaced global keys.
	 */
	memset(&p->scratch, 0, sizeof(p->scratch));
	memset(&p->scratch_class, 0, sizeof(p->scratch_class));
	p->scratch.cl = &p->scratch_class;
	p->cur = &p->scratch;

	if (len < 2 || text[len - 1] != ']') {
		conf_error(p, p->line, "expected '[class NAME]'");
		return;
	}
	text[len - 1] = 0;
	rest = text + 1;
	if ((name = conf_next_token(&rest, &nlen)) == NULL || nlen != 5 || memcmp(name, "class", 5) != 0 ||
	    (name = conf_next_token(&rest, &nlen)) == NULL || conf_next_token(&rest, &len) != NULL) {
		conf_error(p, p->line, "expected '[class NAME]'");
		return;
	}
	if (!conf_class_name_ok(name, nlen)) {
		conf_error(p, p->line, "bad class name '%.*s' (use 1 to 31 of A-Z a-z 0-9 _ -)", (int)nlen,
			   name);
		return;
	}
	memcpy(p->scratch_class.name, name, nlen);
	p->scratch_class.line = p->line;
	if (conf_class_by_name(c, p->scratch_class.name) >= 0) {
		conf_error(p, p->line, "duplicate class '%s'", p->scratch_class.name);
		return;
	}
	if (c->nclasses >= QFS_MAX_CLASSES) {
		conf_error(p, p->line, "too many classes (at most %d)", QFS_MAX_CLASSES);
		return;
	}
	c->classes[c->nclasses] = p->scratch_class;
	/* Unset per-class timeouts follow the global ones (also -o overrides). */
	c->classes[c->nclasses].entry_timeout = -1;
	c->classes[c->nclasses].attr_timeout = -1;
	c->classes[c->nclasses].negative_timeout = -1;
	p->cur = &p->sect[c->nclasses];
	p->cur->cl = &c->classes[c->nclasses];
	c->nclasses++;
}

/* conf_set_class_key - one "key = value" line inside a [class] section */
static void conf_set_class_key(struct conf_parser *p, const char *key, const char *value)
{
	const struct conf_key *k = conf_find_key(conf_class_keys, CK_COUNT, key);
	struct conf_section *s = p->cur;
	char err[256];

	if (k == NULL) {
		if (conf_find_key(conf_globals, NELEM(conf_globals), key) != NULL)
			conf_error(p, p->line, "global key '%s' must come before the first [class]", key);
		else
			conf_error(p, p->line, "unknown key '%s'", key);
		return;
	}
	s->set[k - conf_class_keys] = true;
	switch (k->type) {
	case CONF_SHARDS:
		conf_add_shards(p, s->cl, value);
		break;
	case CONF_GLOBS:
		conf_add_globs(p, s->cl, value);
		break;
	case CONF_KEYOPS:
		conf_add_keyops(p, s->cl, value);
		break;
	case CONF_PINS:
		conf_add_pin(p, s, value);
		break;
	default:
		if (conf_set_scalar(s->cl, k, value, err, sizeof(err)) < 0)
			conf_error(p, p->line, "%s", err);
		break;
	}
}

/* conf_set_global_key - one "key = value" line before the first [class] */
static void conf_set_global_key(struct conf_parser *p, const char *key, const char *value)
{
	const struct conf_key *k = conf_find_key(conf_globals, NELEM(conf_globals), key);
	char err[256];

	if (k == NULL) {
		if (conf_find_key(conf_class_keys, CK_COUNT, key) != NULL)
			conf_error(p, p->line, "key '%s' is only valid in a [class] section", key);
		else
			conf_error(p, p->line, "unknown key '%s'", key);
		return;
	}
	if (conf_set_scalar(p->c, k, value, err, sizeof(err)) < 0)
		conf_error(p, p->line, "%s", err);
}

/* conf_trim - strip white space at both ends, in place */
static char *conf_trim(char *s)
{
	char *end = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = 0;
	return s;
}

/* conf_parse_line - one line of the file, comment and all */
static void conf_parse_line(struct conf_parser *p, char *line)
{
	char *key;
	char *value;
	char *eq;

	/* A '#' inside a word ("a#b") is part of it; one after a blank is not. */
	for (char *s = line; *s; s++) {
		if (*s == '#' && (s == line || isspace((unsigned char)s[-1]))) {
			*s = 0;
			break;
		}
	}
	line = conf_trim(line);
	if (*line == 0)
		return;
	if (*line == '[') {
		conf_open_section(p, line);
		return;
	}
	if ((eq = strchr(line, '=')) == NULL) {
		conf_error(p, p->line, "expected 'key = value'");
		return;
	}
	*eq = 0;
	key = conf_trim(line);
	value = conf_trim(eq + 1);
	if (*key == 0) {
		conf_error(p, p->line, "expected 'key = value'");
		return;
	}
	if (*value == 0) {
		conf_error(p, p->line, "missing value for '%s'", key);
		return;
	}
	if (p->cur)
		conf_set_class_key(p, key, value);
	else
		conf_set_global_key(p, key, value);
}

/* conf_read_line - the next line, without its newline; -1 at the end */
static int conf_read_line(FILE *fp, char *buf, size_t size, bool *too_long, bool *has_nul)
{
	size_t n = 0;
	bool any = false;
	int ch;

	/*
	 * By the character, unlike fgets, so that a NUL byte is seen and an
	 * overlong line is skipped to its end instead of read as two lines.
	 */
	*too_long = *has_nul = false;
	while ((ch = getc(fp)) != EOF) {
		any = true;
		if (ch == '\n')
			break;
		if (ch == 0)
			*has_nul = true;
		if (n + 1 < size)
			buf[n++] = (char)ch;
		else
			*too_long = true;
	}
	buf[n] = 0;
	return any ? 0 : -1;
}

/* conf_apply_preset - fill configured classes in from the preset's templates */
static void conf_apply_preset(struct conf_parser *p, const struct preset *ps)
{
	struct conf *c = p->c;

	for (int i = 0; i < c->nclasses; i++) {
		struct conf_section *s = &p->sect[i];
		const struct preset_class *t = NULL;

		for (size_t j = 0; j < NELEM(ps->classes) && ps->classes[j].name; j++)
			if (strcmp(ps->classes[j].name, s->cl->name) == 0)
				t = &ps->classes[j];
		if (t == NULL)
			continue;
		p->line = s->cl->line;
		if (!s->set[CK_MATCH])
			conf_add_globs(p, s->cl, t->match);
		if (!s->set[CK_KEY])
			conf_add_keyops(p, s->cl, t->key);
		if (!s->set[CK_VOLATILE])
			s->cl->is_volatile = t->is_volatile;
		if (!s->set[CK_DEFAULT])
			s->cl->is_default = t->is_default;
	}
}

/* conf_pick_default - exactly one default class, or an error */
static void conf_pick_default(struct conf_parser *p)
{
	struct conf *c = p->c;
	int explicit = -1;
	int inherited = -1;

	/* A "default = yes" of the file beats a preset's default. */
	for (int i = 0; i < c->nclasses; i++) {
		if (!c->classes[i].is_default)
			continue;
		if (!p->sect[i].set[CK_DEFAULT]) {
			if (inherited < 0)
				inherited = i;
		} else if (explicit < 0) {
			explicit = i;
		} else {
			conf_error(p, c->classes[i].line,
				   "class '%s' is a second default class (first: '%s')", c->classes[i].name,
				   c->classes[explicit].name);
		}
	}
	c->default_class = explicit >= 0 ? explicit : inherited >= 0 ? inherited : 0;
	for (int i = 0; i < c->nclasses; i++)
		if (i != c->default_class && !p->sect[i].set[CK_DEFAULT])
			c->classes[i].is_default = false;
	c->classes[c->default_class].is_default = true;
}

/* conf_check - what only the whole configuration can tell */
static void conf_check(struct conf_parser *p)
{
	struct conf *c = p->c;
	int total = 0;

	if (c->nclasses == 0) {
		conf_error(p, 0, "no [class] section");
		return;
	}
	conf_pick_default(p);
	for (int i = 0; i < c->nclasses; i++) {
		const struct qclass *cl = &c->classes[i];

		if (cl->nshards == 0)
			conf_error(p, cl->line, "class '%s' has no shards", cl->name);
		if (i != c->default_class && cl->nmatch == 0)
			conf_error(p, cl->line, "class '%s' has no match globs and is not the default class",
				   cl->name);
		total += cl->nshards;
	}
	if (total > QFS_MAX_BACKINGS)
		conf_error(p, 0, "too many shards in all: %d (at most %d)", total, QFS_MAX_BACKINGS);
}

/* conf_load - read, complete and check a configuration file */
int conf_load(struct conf *c, const char *path, FILE *errs)
{
	struct conf_parser *p;
	char line[CONF_LINE_MAX + 2];
	bool too_long;
	bool has_nul;
	FILE *fp;
	int err;

	if ((fp = fopen(path, "re")) == NULL) {
		err = errno;
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(err));
		return -err;
	}
	/* Some kilobytes of section state: not for the stack of a thread. */
	free(c->path);
	c->path = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL || (c->path = strdup(path)) == NULL) {
		free(p);
		fclose(fp);
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	p->c = c;
	p->errs = errs;
	p->path = path;

	while (conf_read_line(fp, line, sizeof(line), &too_long, &has_nul) == 0) {
		p->line++;
		if (too_long)
			conf_error(p, p->line, "line longer than %d bytes", CONF_LINE_MAX);
		else if (has_nul)
			conf_error(p, p->line, "NUL byte in line");
		else
			conf_parse_line(p, line);
	}
	if (ferror(fp)) {
		err = errno ? errno : EIO;
		conf_close_section(p);
		if (errs)
			fprintf(errs, "%s: read error: %s\n", path, strerror(err));
		fclose(fp);
		free(p);
		return -err;
	}
	fclose(fp);
	conf_close_section(p);

	if (c->preset[0])
		conf_apply_preset(p, conf_find_preset(c->preset));
	conf_check(p);

	err = p->nomem ? -ENOMEM : p->nerr ? -EINVAL : 0;
	free(p);
	return err;
}

/* conf_class_role - CONF_ROLE_INDEX or CONF_ROLE_STORAGE ("data" is storage unless set) */
int conf_class_role(const struct conf *c, int cls)
{
	const struct qclass *q = &c->classes[cls];

	if (q->role)
		return q->role;
	return strcmp(q->name, "data") == 0 ? CONF_ROLE_STORAGE : CONF_ROLE_INDEX;
}

/* conf_class_flush - does CLS revalidate every access (coherence = flush, or the nfs_* switch)? */
bool conf_class_flush(const struct conf *c, int cls)
{
	const struct qclass *q = &c->classes[cls];

	if (q->coherence)
		return q->coherence == CONF_COHERENCE_FLUSH;
	return conf_class_role(c, cls) == CONF_ROLE_STORAGE ? c->nfs_storage : c->nfs_index;
}

/* conf_class_timeouts - the kernel cache timeouts of CLS: 0 in flush mode */
void conf_class_timeouts(const struct conf *c, int cls, double *entry, double *attr, double *negative)
{
	const struct qclass *q = &c->classes[cls];

	if (conf_class_flush(c, cls)) {
		*entry = *attr = *negative = 0;
		return;
	}
	*entry = q->entry_timeout >= 0 ? q->entry_timeout : c->entry_timeout;
	*attr = q->attr_timeout >= 0 ? q->attr_timeout : c->attr_timeout;
	*negative = q->negative_timeout >= 0 ? q->negative_timeout : c->negative_timeout;
}
