/*
 * inval.h - the one way out for kernel cache invalidations
 *
 * libfuse's notify calls "must not be called in the execution path of a
 * related filesystem operation": they may wait for the very inode lock
 * that operation holds. So every invalidation is queued here and sent by
 * a thread of its own; callers never block on the kernel.
 */
#ifndef QFS_INVAL_H
#define QFS_INVAL_H

#include <stdint.h>

struct fuse_session;

int inval_start(struct fuse_session *se);
void inval_stop(void);

/* inval_entry - the kernel forgets NAME in directory PARENT (a nodeid) */
void inval_entry(uint64_t parent, const char *name);
/* inval_inode - the kernel drops cached attributes and pages of nodeid INO */
void inval_inode(uint64_t ino);
/* inval_sent - invalidations sent since start (for status and tests) */
uint64_t inval_sent(void);

#endif
