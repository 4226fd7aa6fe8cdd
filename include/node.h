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
	atomic_uint_fast64_t dirty; /* bit i: copy on backing i changed since its last fsync */
};

struct node {
	struct node *next; /* hash chain */
	dev_t dev;	   /* key: the backing object (primary copy for dirs) */
	ino_t ino;
	uint64_t st_ino; /* as the mount shows it */
	uint64_t nlookup;
	int bidx; /* files: the backing that holds it; dirs: the primary copy */
	int fd;	  /* files: O_PATH fd; dirs: -1 */
	struct dirinfo *dir;
};

struct fs {
	struct conf *conf;
	struct layout *layout;
	struct node root;
	struct dirinfo root_dir;
	pthread_mutex_t table_lock;
	struct node **table;
	size_t table_size;
	size_t table_count;
	pthread_mutex_t name_locks[1024];
};

int node_fs_init(struct fs *fs, struct conf *c, struct layout *l);
void node_fs_destroy(struct fs *fs);

/* node_get - the node for a nodeid the kernel gave us */
struct node *node_get(struct fs *fs, uint64_t nodeid);
uint64_t node_id(struct fs *fs, struct node *n);

/*
 * node_find_or_add_file - the node of a backing file found under DIRFD/NAME
 *	on backing BIDX (ST from fstatat); takes one lookup. Returns 0 or -errno.
 * node_find_or_add_dir - the same for a directory; PATH is its mount path.
 */
int node_find_or_add_file(struct fs *fs, int bidx, int dirfd, const char *name, const struct stat *st,
			  struct node **out);
int node_find_or_add_dir(struct fs *fs, struct node *parent, const char *name, const char *path,
			 struct node **out);

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
