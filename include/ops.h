/*
 * ops.h - the FUSE low-level operations table of queuefs
 */
#ifndef QFS_OPS_H
#define QFS_OPS_H

#include "queuefs.h"

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops qfs_ops;

/* ops_proc_init - open /proc/self/fd once: files are reopened through it */
int ops_proc_init(void);

#endif
