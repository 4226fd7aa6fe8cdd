/*
 * conf.h - the queuefs configuration: file, presets and -o overrides
 *
 * One table of typed keys (name, type, default, min, max) serves the
 * configuration file and the -o options of the command line. A file is
 * parsed completely before it is judged: every error is reported as
 * "file:line: message", not just the first one.
 */
#ifndef QFS_CONF_H
#define QFS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "queuefs.h"

/* How a routing key is derived from a file's base name. */
enum key_op_kind {
	KEY_WHOLE,	  /* "whole": the name as it is */
	KEY_STRIP_PREFIX, /* "strip-prefix:N": drop the first N bytes */
	KEY_STRIP_SUFFIX, /* "strip-suffix:N": drop the last N bytes */
	KEY_STRIP_LEAD,	  /* "strip-lead:A,B": drop the first listed leading literal present */
	KEY_STRIP_TRAIL,  /* "strip-trail:A,B": drop the first listed trailing literal present */
};

struct key_op {
	enum key_op_kind kind;
	unsigned n;		  /* STRIP_PREFIX, STRIP_SUFFIX */
	char *alts[QFS_MAX_ALTS]; /* STRIP_LEAD, STRIP_TRAIL */
	int nalts;
};

/* "pin = GLOB N": paths matching GLOB prefer shard N (1-based) of the class. */
struct pin {
	char *glob;
	int shard; /* 0-based index into qclass.shards */
};

struct qclass {
	char name[32];
	char *shards[QFS_MAX_SHARDS]; /* backing root paths, in config order */
	int nshards;
	char *match[QFS_MAX_GLOBS]; /* globs; with a '/' they match the path */
	int nmatch;
	struct key_op key[QFS_MAX_KEYOPS]; /* applied in order to the base name */
	int nkey;
	struct pin pins[QFS_MAX_PINS];
	int npins;
	bool is_volatile;	  /* "volatile = yes": tmpfs; contents may vanish at reboot */
	bool is_default;	  /* "default = yes": receives names no rule matches */
	uint64_t min_free_bytes;  /* 0 = inherit the global value */
	uint64_t min_free_inodes; /* 0 = inherit the global value */
	int line;		  /* line of the [class] header, for messages */
	int coherence;		  /* 0: from nfs_index/nfs_storage, else CONF_COHERENCE_* */
	int role;		  /* 0: by name ("data" is storage), else CONF_ROLE_* */
	double entry_timeout;	  /* -1: the global value */
	double attr_timeout;
	double negative_timeout;
	unsigned choices; /* "choices = K": a new file goes to the least busy of its first K shards; 0: 2 */
};

#define CONF_CHOICES_DEFAULT 2

enum { CONF_COHERENCE_LOCAL = 1, CONF_COHERENCE_FLUSH = 2 };
enum { CONF_ROLE_INDEX = 1, CONF_ROLE_STORAGE = 2 };
enum { CONF_LOCKS_LOCAL = 0, CONF_LOCKS_BACKING = 1 };

struct conf {
	char *path;	 /* config file, for messages */
	char preset[16]; /* "", "sendmail", "postfix", "exim" */
	struct qclass classes[QFS_MAX_CLASSES];
	int nclasses;
	int default_class;	 /* index into classes */
	double entry_timeout;	 /* seconds the kernel may cache a name */
	double attr_timeout;	 /* seconds the kernel may cache attributes */
	double negative_timeout; /* seconds the kernel may cache a miss */
	uint64_t min_free_bytes; /* a shard below this takes no new files */
	uint64_t min_free_inodes;
	bool allow_other; /* let the MTA's users into the mount */
	bool migrate;	  /* accept a layout change (shard added/removed) */
	unsigned max_threads;
	char fsname[64];
	char ctl_dir[80];   /* directory of the control sockets */
	char ctl_group[32]; /* group (besides root) allowed on the control socket */
	bool nfs_index;	    /* Dovecot's mail_nfs_index: flush mode for index (control) classes */
	bool nfs_storage;   /* Dovecot's mail_nfs_storage: flush mode for storage (data) classes */
	int locks;	    /* CONF_LOCKS_*: kernel-local, or forwarded to the backing files */
	bool watch;	    /* inotify on the backings: outside changes become invalidations */
	bool readdirplus;   /* listings carry the attributes of names the kernel lacks */
};

/*
 * conf_init - fill in the defaults of every key, no classes.
 * conf_load - read PATH into C (after conf_init); apply the preset; check
 *	the result. Every problem is written to ERRS as "PATH:LINE: message"
 *	(LINE 0 for problems of the whole file). Returns 0 or -EINVAL (any
 *	error), -errno when the file cannot be read.
 * conf_set - set one global key from a -o option ("key=value" or "key"
 *	for booleans). Returns 0, or -EINVAL / -ENOENT (unknown key) with a
 *	one-line reason in ERR.
 * conf_free - release what conf_load allocated.
 * conf_class_by_name - index of the class, or -1.
 */
void conf_init(struct conf *c);
int conf_load(struct conf *c, const char *path, FILE *errs);
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen);
void conf_free(struct conf *c);
int conf_class_by_name(const struct conf *c, const char *name);

/*
 * conf_class_flush - does class CLS revalidate every access? Its own
 *	"coherence", else nfs_storage for storage classes and nfs_index for
 *	index classes ("role", by default "data" is storage, others index).
 * conf_class_timeouts - the kernel cache timeouts of CLS (all 0 in flush mode).
 */
bool conf_class_flush(const struct conf *c, int cls);
int conf_class_role(const struct conf *c, int cls);
void conf_class_timeouts(const struct conf *c, int cls, double *entry, double *attr, double *negative);

/* conf_parse_size - "64M", "1G", "4096", "0" -> bytes; -EINVAL if malformed. */
int conf_parse_size(const char *s, uint64_t *out);

#endif
