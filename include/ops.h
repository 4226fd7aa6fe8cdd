/*
 * ops.h - the FUSE low-level operations table of queuefs
 */
#ifndef QFS_OPS_H
#define QFS_OPS_H

#include "queuefs.h"

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops qfs_ops;

struct conf;

/* ops_build - the table for this config: qfs_ops, plus lock handlers with locks = backing */
void ops_build(struct fuse_lowlevel_ops *ops, const struct conf *c);

/* ops_dir_cleanup - free directory handles the kernel never released (at exit) */
void ops_dir_cleanup(void);

/* ops_proc_init - open /proc/self/fd once: files are reopened through it */
int ops_proc_init(void);

#endif
