/*
 * ops_int.h - what the FUSE handler files (ops*.c) share, and nothing else
 */
#ifndef QFS_OPS_INT_H
#define QFS_OPS_INT_H

#include "ops.h"
#include "node.h"

#include <stdbool.h>
#include <sys/stat.h>

#define FS(req) ((struct fs *)fuse_req_userdata(req))

extern int ops_proc_fd; /* /proc/self/fd: open files are reopened through it */

void ops_reply_err(fuse_req_t req, int err);
void ops_proc_name(int fd, char *buf, size_t len);
int ops_node_stat(struct fs *fs, struct node *n, struct stat *st);
void ops_dir_times_reset(struct node *n);
bool ops_flush_node(struct fs *fs, struct node *n);
void ops_timeouts(struct fs *fs, struct node *n, double *entry, double *attr);
void ops_open_cache(struct fs *fs, struct node *n, struct fuse_file_info *fi);
void ops_entry_fill(struct fs *fs, struct node *n, const struct stat *st, struct fuse_entry_param *e);
void ops_trouble(struct fs *fs, int err, const char *op, const char *name, int b);
int ops_open_node(struct node *n, int flags);

/* ops_entry.c */
int ops_lookup_entry(struct fs *fs, struct node *d, const char *name, struct fuse_entry_param *e);
void qfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void qfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi);
void qfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void qfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void qfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void qfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void qfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void qfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void qfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
void qfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void qfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);

/* ops_file.c */
void qfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void qfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi);
void qfs_readlink(fuse_req_t req, fuse_ino_t ino);
void qfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void qfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void qfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void qfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void qfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void qfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		   struct fuse_file_info *fi);
void qfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi);

void qfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
void qfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void qfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock, int sleep);

/* ops_dir.c */
void qfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void qfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void qfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void qfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void qfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void qfs_statfs(fuse_req_t req, fuse_ino_t ino);

#endif
