/*
 * backing.h - backing roots: fds, manifests, free space
 *
 * A layout is the set of backing roots of one mount, each opened once as an
 * O_PATH directory fd. Each root carries a hidden manifest that ties it to
 * one queuefs (fsid), one class and one shard; backing_layout_open refuses a
 * root that is missing, foreign, or empty where a disk should be mounted.
 */
#ifndef QFS_BACKING_H
#define QFS_BACKING_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "conf.h"

struct backing {
	char *path;	   /* root directory, as configured */
	int cls;	   /* class index in conf */
	int shard;	   /* index of this shard within its class (config order) */
	uint32_t shard_id; /* stable id within the class: the rendezvous seed */
	uint32_t id;	   /* stable id across the mount: high bits of st_ino */
	bool is_volatile;
	bool remote; /* a network or FUSE filesystem: close(2) may report errors */
	int rootfd;  /* O_PATH | O_DIRECTORY */
	int metafd;  /* O_PATH of ROOT/.queuefs */
	int quarfd;  /* O_PATH of ROOT/.queuefs/quarantine */
	dev_t dev;
	uint64_t min_free_bytes;
	uint64_t min_free_inodes;
	atomic_int busy;	 /* fsyncs and directory fsyncs running on it now */
	atomic_int health;	 /* backing_health's last answer */
	atomic_long health_when; /* ... and when (CLOCK_MONOTONIC_COARSE seconds) */
};

struct layout {
	struct backing b[QFS_MAX_BACKINGS];
	int n;
	/* per class: backing indices in shard order, and their shard ids */
	int cls_backing[QFS_MAX_CLASSES][QFS_MAX_SHARDS];
	uint32_t cls_shard_id[QFS_MAX_CLASSES][QFS_MAX_SHARDS];
	int cls_n[QFS_MAX_CLASSES];
	char fsid[33];
	unsigned generation;
};

/* backing_opendir - a directory stream on the directory of O_PATH fd PATHFD; NULL with errno */
DIR *backing_opendir(int pathfd);

/*
 * backing_layout_open - open every configured root, read or create the
 *	manifests and check them against C. Problems are written to ERRS one
 *	line each; returns 0, or -EINVAL/-errno with nothing left open.
 */
int backing_layout_open(struct layout *l, const struct conf *c, FILE *errs);
void backing_layout_close(struct layout *l);

/* backing_statvfs - statvfs of B's root; 0 or -errno (logged) */
int backing_statvfs(struct backing *b, struct statvfs *sv);

/* backing_health - 0, -ENODEV (vanished), -EROFS or a statvfs error; cached a second */
int backing_health(struct backing *b);

/* backing_room_ok - is B healthy, with room above its free-space floor for new files? */
bool backing_room_ok(struct backing *b);

/* backing_ino - st_ino seen through the mount for inode INO on B */
uint64_t backing_ino(const struct backing *b, uint64_t ino);

/* backing_manifest_read - parse ROOTFD/.queuefs/manifest (exported for tests) */
struct manifest {
	char fsid[33];
	char cls[32];
	uint32_t shard_id;
	uint32_t id;
	unsigned generation;
	char layout[1024];
};
int backing_manifest_read(int rootfd, struct manifest *m);
int backing_manifest_write(int rootfd, const struct manifest *m);

#endif
