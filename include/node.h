/*
 * node.h - the inode table: nodeid <-> backing object(s)
 *
 * A node is what the kernel knows as a nodeid. A file node holds one O_PATH
 * fd on the one backing that stores it; a directory node holds an O_PATH fd
 * for its copy on every backing (-1 where a copy is missing) and its path
 * inside the mount, which routing needs. Nodes are found by the (dev, ino)
 * of the backing object, so hard links share one node, and live while the
 * kernel holds lookups on them. Per-name locks keep "one name, one file"
 * true between concurrent create, link, rename, unlink and lookup.
 */
#ifndef QFS_NODE_H
#define QFS_NODE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "backing.h"
#include "conf.h"
#include "queuefs.h"

struct dirinfo {
	pthread_mutex_t lock; /* guards path and fds */
	char *path;	      /* relative to the mount root: "" or "q.1/qf" */
	int fds[QFS_MAX_BACKINGS];
	atomic_uint_fast64_t dirty;  /* bit i: copy on backing i changed since its last fsync */
	atomic_uint_fast64_t restat; /* bit i: copy i changed since its times were last read */
	struct timespec tmax[3];     /* latest atime, mtime, ctime of the non-primary copies (lock) */
	/*
	 * Names in this directory's copies that are not on their hash home
	 * (a fallback create, a rename or link that kept the file where it
	 * was), counted when the node is made and kept up to date by every
	 * change, while queuefs is the only writer (fs->absent_memo). At 0 a
	 * name missing on its home is missing everywhere: a lookup asks one
	 * backing instead of all. Negative: not known (a directory with
	 * subdirectories, one renamed, flush mode); every backing is asked.
	 */
	atomic_long strays;
};

#define NODE_STRAYS_UNKNOWN (LONG_MIN / 2)

struct node {
	struct node *next; /* hash chain */
	dev_t dev;	   /* key: the backing object (primary copy for dirs) */
	ino_t ino;
	uint64_t st_ino; /* as the mount shows it */
	uint64_t nlookup;
	int bidx; /* files: the backing that holds it; dirs: the primary copy */
	int fd;	  /* files: O_PATH fd; dirs: -1 */
	struct dirinfo *dir;
	struct node *dnext; /* dirs: the list of directory nodes (table lock) */
	uint64_t parent;    /* files: nodeid of the directory of NAME (table lock) */
	char *name;	    /* files: the last name the kernel learnt it by (table lock) */
};

struct fs {
	struct conf *conf;
	struct layout *layout;
	bool dir_flush; /* some class is in flush mode: directories are revalidated too */
	/* per class, from the config once: flush mode and kernel cache timeouts */
	bool cls_flush[QFS_MAX_CLASSES];
	double cls_entry[QFS_MAX_CLASSES], cls_attr[QFS_MAX_CLASSES], cls_negative[QFS_MAX_CLASSES];
	struct node root;
	struct dirinfo root_dir;
	pthread_mutex_t table_lock;
	struct node **table;
	size_t table_size;
	size_t table_count;
	struct node *dirs; /* every directory node but the root, for path lookups */
	pthread_mutex_t name_locks[1024];
	/*
	 * absent[slot]: the last name found on no backing under name lock
	 * SLOT, as (directory st_ino, XXH3 of the name); cleared by whatever
	 * adds a name under that lock. Only while queuefs is the only writer
	 * (no flush mode, no watcher, local locks): it spares a create the second search
	 * of every shard right after the kernel's LOOKUP missed.
	 */
	struct {
		uint64_t dir, hash;
	} absent[1024];
	bool absent_memo;
	/* census - the strays of a new directory node (place_census), set by the caller */
	long (*census)(struct fs *fs, struct node *d);
};

int node_fs_init(struct fs *fs, struct conf *c, struct layout *l);
void node_fs_destroy(struct fs *fs);

/* node_get - the node for a nodeid the kernel gave us */
struct node *node_get(struct fs *fs, uint64_t nodeid);
uint64_t node_id(struct fs *fs, struct node *n);

/*
 * node_find_or_add_file - the node of a backing file found as NAME in the
 *	copy of PARENT on backing BIDX (ST from fstatat); takes one lookup.
 *	Returns 0 or -errno.
 * node_find_or_add_dir - the same for a directory; PATH is its mount path.
 */
int node_find_or_add_file(struct fs *fs, struct node *parent, int bidx, const char *name,
			  const struct stat *st, struct node **out);
int node_find_or_add_dir(struct fs *fs, struct node *parent, const char *name, const char *path,
			 struct node **out);

/* node_renamed - the file (DEV, INO) is now NAME in PARENT (if the table has it) */
void node_renamed(struct fs *fs, dev_t dev, ino_t ino, struct node *parent, const char *name);

/*
 * node_walk - call FN for every node, table locked (FN must not call back
 *	into the table); node_dir_by_path - nodeid of the directory with
 *	mount path PATH, or 0 if the kernel does not know it.
 */
void node_walk(struct fs *fs, void (*fn)(struct fs *fs, struct node *n, void *arg), void *arg);
uint64_t node_dir_by_path(struct fs *fs, const char *path);
/* node_find_id - nodeid of the node of backing object (DEV, INO), or 0 */
uint64_t node_find_id(struct fs *fs, dev_t dev, ino_t ino);

/* node_forget - drop NLOOKUP lookups; frees the node at zero */
void node_forget(struct fs *fs, struct node *n, uint64_t nlookup);

/* node_dir_path_copy - copy a directory's mount path into BUF */
void node_dir_path_copy(struct node *d, char *buf, size_t len);
/* node_dir_fd - the O_PATH fd of D's copy on backing B, or -1 */
int node_dir_fd(struct node *d, int b);
/* node_dir_copy - D's copy on backing B, created if missing (mode/owner of the primary) */
int node_dir_copy(struct fs *fs, struct node *d, int b);
/* node_dir_rename_paths - a directory moved: fix the paths of it and all below */
void node_dir_rename_paths(struct fs *fs, const char *oldpath, const char *newpath);

/* node_name_lock/unlock - per-name mutex over (parent, name) */
unsigned node_name_slot(const struct node *parent, const char *name);
void node_name_lock2(struct fs *fs, unsigned a, unsigned b);
void node_name_unlock2(struct fs *fs, unsigned a, unsigned b);

#endif
