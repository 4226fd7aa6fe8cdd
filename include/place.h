/*
 * place.h - where a name lives: route, locate, duplicates, mount-time scan
 *
 * The glue between the pure router and the backings: place_route turns a
 * directory and a name into the backings of its class in preference order;
 * place_locate finds the one backing copy of a name, asking the hash home
 * first; place_resolve settles a name found on more than one backing.
 */
#ifndef QFS_PLACE_H
#define QFS_PLACE_H

#include <sys/stat.h>

#include "node.h"

struct placement {
	int cls;
	int n;			   /* backings of the class */
	int home_n;		   /* ORDER[0..home_n-1] are the name's home (route_choices) */
	int order[QFS_MAX_SHARDS]; /* backing indices, preferred first */
};

/* place_at_home - is backing B one of P's homes? */
static inline int place_at_home(const struct placement *p, int b)
{
	for (int i = 0; i < p->home_n; i++)
		if (p->order[i] == b)
			return 1;
	return 0;
}

/*
 * place_pick - for a new file: the least busy of P's homes moves to the
 *	front (ties keep the rendezvous order), so that fsyncs spread over
 *	the disks instead of queueing where the hash happened to send them.
 */
void place_pick(struct fs *fs, struct placement *p);

/* place_relpath - "DIRPATH/NAME" (or NAME in the root) into BUF; -ENAMETOOLONG */
int place_relpath(struct node *d, const char *name, char *buf, size_t len);

/* place_is_home - is backing B a home of the path REL (relative to the mount root)? */
int place_is_home(struct fs *fs, const char *rel, int b);

/* place_route - the backings NAME in D may be created on, best first */
void place_route(struct fs *fs, struct node *d, const char *name, struct placement *p);

/*
 * place_locate - the backing that holds NAME in directory D: the hash home
 *	first, then the other shards of the class, then every other backing.
 *	Returns 0 with *BIDX and *ST, or -ENOENT, or another -errno.
 */
int place_locate(struct fs *fs, struct node *d, const char *name, int *bidx, struct stat *st);

/*
 * place_census - how many names in D's copies are not on their hash home,
 *	or NODE_STRAYS_UNKNOWN (see struct dirinfo); D must not be in use yet.
 * place_stray - NAME was just added to (DELTA 1) or removed from (-1) D's
 *	copy on backing B: keep D's count of strays. The caller holds NAME's lock.
 */
long place_census(struct fs *fs, struct node *d);
void place_stray(struct fs *fs, struct node *d, const char *name, int b, int delta);

/*
 * place_resolve - NAME in D is a non-directory on every backing in MASK:
 *	keep the copy with the newest ctime (a rename onto a name on another
 *	backing that crashed before removing the old copy leaves exactly
 *	this: the new copy is the renamed one), ties to the preferred
 *	backing; move the others to their backing's .queuefs/quarantine.
 *	Returns the winner's backing index or -errno.
 */
int place_resolve(struct fs *fs, struct node *d, const char *name, uint64_t mask);

/* place_scan - walk the whole tree at mount: create missing directory copies, resolve duplicates */
int place_scan(struct fs *fs);

/* place_hidden - names of the root that belong to queuefs or the disk, not to the MTA */
int place_hidden(struct fs *fs, struct node *d, const char *name);

#endif
