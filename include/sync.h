/*
 * sync.h - dirty tracking and the fsyncdir fan-out
 *
 * A namespace change on a directory copy marks that copy dirty. fsyncdir
 * syncs only the dirty copies, in parallel (one worker thread per backing),
 * and returns when all of them are durable: sendmail fsyncs its queue
 * directory after every rename, and syncing every copy every time would
 * multiply the disk operations queuefs exists to spread.
 */
#ifndef QFS_SYNC_H
#define QFS_SYNC_H

#include "node.h"

int sync_start(struct fs *fs);
void sync_stop(void);

/* sync_mark - copy B of directory D changed */
static inline void sync_mark(struct node *d, int b)
{
	atomic_fetch_or(&d->dir->dirty, UINT64_C(1) << b);
	atomic_fetch_or(&d->dir->restat, UINT64_C(1) << b); /* its times moved too */
}

/* sync_dir - make every dirty copy of D durable; 0 or -errno */
int sync_dir(struct fs *fs, struct node *d, int datasync);

#endif
