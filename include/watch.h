/*
 * watch.h - the backing watcher: outside changes become kernel invalidations
 *
 * With "watch = yes", every directory copy on every backing is watched with
 * inotify. A name created, removed, renamed, written or changed behind
 * queuefs's back (an admin, a maintenance tool, a second queuefs daemon on
 * the same backings) makes the kernel forget that name and that file, so
 * the next access asks the daemon. inotify sees local changes only: for
 * NFS or cluster backings use flush mode (nfs_index / nfs_storage).
 */
#ifndef QFS_WATCH_H
#define QFS_WATCH_H

struct fs;

int watch_start(struct fs *fs);
void watch_stop(void);

#endif
