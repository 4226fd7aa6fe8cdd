/*
 * NAME
 *	node - the inode table of queuefs
 * DESCRIPTION
 *	Maps the kernel's nodeids to backing objects, as libfuse's
 *	passthrough_ll does: a nodeid is the address of a struct node, which
 *	holds O_PATH fds, never path strings of files. Nodes are keyed by the
 *	(st_dev, st_ino) of the backing object so that hard links and repeated
 *	lookups land on one node. Directory nodes also keep their path inside
 *	the mount (routing needs it) and an fd per backing copy; a copy that
 *	is missing on a backing (a tmpfs after reboot, a new shard) is created
 *	on demand with the owner and mode of an existing copy.
 * DIAGNOSTICS
 *	Functions return 0 or -errno. Creating a missing directory copy logs
 *	the backing and path when it fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "node.h"

#define FUSE_ROOT_NODEID 1

/* slot_of - hash bucket of a backing object */
static size_t slot_of(const struct fs *fs, dev_t dev, ino_t ino)
{
	uint64_t k[2] = { (uint64_t)dev, (uint64_t)ino };

	return (size_t)XXH3_64bits(k, sizeof(k)) & (fs->table_size - 1);
}

/* table_grow - double the bucket array when it gets crowded (table locked) */
static void table_grow(struct fs *fs)
{
	size_t nsize = fs->table_size * 2;
	struct node **nt = calloc(nsize, sizeof(*nt));
	struct node **old = fs->table;
	size_t osize = fs->table_size;

	if (!nt)
		return; /* keep the longer chains; still correct */
	fs->table = nt;
	fs->table_size = nsize;
	for (size_t i = 0; i < osize; i++) {
		for (struct node *n = old[i], *next; n; n = next) {
			size_t s = slot_of(fs, n->dev, n->ino);

			next = n->next;
			n->next = nt[s];
			nt[s] = n;
		}
	}
	free(old);
}

/* table_find - the node of (DEV, INO), or NULL (table locked) */
static struct node *table_find(struct fs *fs, dev_t dev, ino_t ino)
{
	for (struct node *n = fs->table[slot_of(fs, dev, ino)]; n; n = n->next)
		if (n->dev == dev && n->ino == ino)
			return n;
	return NULL;
}

/* table_add - insert N (table locked) */
static void table_add(struct fs *fs, struct node *n)
{
	size_t s;

	if (fs->table_count >= fs->table_size)
		table_grow(fs);
	s = slot_of(fs, n->dev, n->ino);
	n->next = fs->table[s];
	fs->table[s] = n;
	fs->table_count++;
}

/* table_del - unlink N from its chain (table locked) */
static void table_del(struct fs *fs, struct node *n)
{
	struct node **pp = &fs->table[slot_of(fs, n->dev, n->ino)];

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		fs->table_count--;
	}
}

/* node_fs_init - the table and the root node over the layout's roots */
int node_fs_init(struct fs *fs, struct conf *c, struct layout *l)
{
	struct stat st;

	memset(fs, 0, sizeof(*fs));
	fs->conf = c;
	fs->layout = l;
	/* Worked out once: entry and attribute replies need them at every request. */
	for (int i = 0; i < c->nclasses; i++) {
		fs->cls_flush[i] = conf_class_flush(c, i);
		conf_class_timeouts(c, i, &fs->cls_entry[i], &fs->cls_attr[i], &fs->cls_negative[i]);
		fs->dir_flush |= fs->cls_flush[i];
	}
	fs->absent_memo = !fs->dir_flush && !c->watch && c->locks != CONF_LOCKS_BACKING;
	fs->table_size = 1024;
	fs->table = calloc(fs->table_size, sizeof(*fs->table));
	if (!fs->table)
		return -ENOMEM;
	pthread_mutex_init(&fs->table_lock, NULL);
	for (size_t i = 0; i < sizeof(fs->name_locks) / sizeof(fs->name_locks[0]); i++)
		pthread_mutex_init(&fs->name_locks[i], NULL);
	pthread_mutex_init(&fs->root_dir.lock, NULL);
	fs->root_dir.restat = ~UINT64_C(0);
	atomic_init(&fs->root_dir.strays, NODE_STRAYS_UNKNOWN); /* counted after the mount-time scan */
	fs->root_dir.path = strdup("");
	if (!fs->root_dir.path)
		return -ENOMEM;
	for (int i = 0; i < QFS_MAX_BACKINGS; i++)
		fs->root_dir.fds[i] = i < l->n ? l->b[i].rootfd : -1;
	if (fstat(l->b[0].rootfd, &st) < 0)
		return -errno;
	fs->root.dev = st.st_dev;
	fs->root.ino = st.st_ino;
	fs->root.st_ino = backing_ino(&l->b[0], st.st_ino);
	fs->root.nlookup = 1;
	fs->root.bidx = 0;
	fs->root.fd = -1;
	fs->root.dir = &fs->root_dir;
	return 0;
}

/* node_free - close what a node holds and free it */
static void node_free(struct fs *fs, struct node *n)
{
	free(n->name);
	if (n->fd >= 0)
		close(n->fd);
	if (n->dir) {
		for (int i = 0; i < fs->layout->n; i++)
			if (n->dir->fds[i] >= 0)
				close(n->dir->fds[i]);
		pthread_mutex_destroy(&n->dir->lock);
		free(n->dir->path);
		free(n->dir);
	}
	free(n);
}

/* node_fs_destroy - free every node; the roots belong to the layout */
void node_fs_destroy(struct fs *fs)
{
	for (size_t i = 0; i < fs->table_size; i++) {
		for (struct node *n = fs->table[i], *next; n; n = next) {
			next = n->next;
			node_free(fs, n);
		}
	}
	free(fs->table);
	free(fs->root_dir.path);
	fs->table = NULL;
}

/* node_get - the node for a nodeid the kernel gave us */
struct node *node_get(struct fs *fs, uint64_t nodeid)
{
	if (nodeid == FUSE_ROOT_NODEID)
		return &fs->root;
	return (struct node *)(uintptr_t)nodeid;
}

/* node_id - the nodeid the kernel knows N by */
uint64_t node_id(struct fs *fs, struct node *n)
{
	if (n == &fs->root)
		return FUSE_ROOT_NODEID;
	return (uint64_t)(uintptr_t)n;
}

/* node_name_set - remember the name the kernel knows N by (table locked) */
static void node_name_set(struct node *n, uint64_t parent, const char *name)
{
	char *nm;

	if (n->parent == parent && n->name && strcmp(n->name, name) == 0)
		return;
	nm = strdup(name);
	if (!nm)
		return; /* keep the old name: only invalidations use it */
	free(n->name);
	n->name = nm;
	n->parent = parent;
}

/* node_find_or_add_file - the node of a backing file; takes one lookup */
int node_find_or_add_file(struct fs *fs, struct node *parent, int bidx, const char *name,
			  const struct stat *st, struct node **out)
{
	uint64_t pid = node_id(fs, parent);
	int dirfd = node_dir_fd(parent, bidx);
	struct node *n;
	struct stat fst;
	char *nm;
	int fd;

	pthread_mutex_lock(&fs->table_lock);
	n = table_find(fs, st->st_dev, st->st_ino);
	if (n) {
		n->nlookup++;
		node_name_set(n, pid, name);
		pthread_mutex_unlock(&fs->table_lock);
		*out = n;
		return 0;
	}
	pthread_mutex_unlock(&fs->table_lock);

	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &fst) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	n->dev = fst.st_dev;
	n->ino = fst.st_ino;
	n->st_ino = backing_ino(&fs->layout->b[bidx], (uint64_t)fst.st_ino);
	n->nlookup = 1;
	n->bidx = bidx;
	n->fd = fd;
	nm = strdup(name);
	if (!nm) {
		close(fd);
		free(n);
		return -ENOMEM;
	}
	n->parent = pid;
	n->name = nm;

	pthread_mutex_lock(&fs->table_lock);
	*out = table_find(fs, fst.st_dev, fst.st_ino);
	if (*out) {
		/* Another thread added it meanwhile: use that one. */
		(*out)->nlookup++;
		node_name_set(*out, pid, name);
		pthread_mutex_unlock(&fs->table_lock);
		close(fd);
		free(n->name);
		free(n);
		return 0;
	}
	table_add(fs, n);
	pthread_mutex_unlock(&fs->table_lock);
	*out = n;
	return 0;
}

/* node_find_or_add_dir - the node of directory NAME in PARENT; takes one lookup */
int node_find_or_add_dir(struct fs *fs, struct node *parent, const char *name, const char *path,
			 struct node **out)
{
	struct layout *l = fs->layout;
	struct dirinfo *di;
	struct node *n;
	struct stat st;
	int primary = -1, err;

	/* The primary copy is the first backing that has one: its inode is the key. */
	for (int b = 0; b < l->n && primary < 0; b++) {
		int pfd = node_dir_fd(parent, b);

		if (pfd >= 0 && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			primary = b;
	}
	if (primary < 0)
		return -ENOENT;
	pthread_mutex_lock(&fs->table_lock);
	n = table_find(fs, st.st_dev, st.st_ino);
	if (n) {
		n->nlookup++;
		pthread_mutex_unlock(&fs->table_lock);
		*out = n;
		return 0;
	}
	pthread_mutex_unlock(&fs->table_lock);

	n = calloc(1, sizeof(*n));
	di = calloc(1, sizeof(*di));
	if (!n || !di || !(di->path = strdup(path))) {
		err = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&di->lock, NULL);
	di->restat = ~UINT64_C(0); /* every copy's times are still to be read */
	for (int b = 0; b < QFS_MAX_BACKINGS; b++) {
		int pfd = b < l->n ? node_dir_fd(parent, b) : -1;

		di->fds[b] = pfd < 0 ? -1 : openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (di->fds[primary] < 0) {
		err = -ENOENT; /* removed under us */
		goto fail;
	}
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	n->st_ino = backing_ino(&l->b[primary], (uint64_t)st.st_ino);
	n->nlookup = 1;
	n->bidx = primary;
	n->fd = -1;
	n->dir = di;
	/* Nobody can change it before the kernel learns its nodeid from our reply. */
	atomic_init(&di->strays, fs->census ? fs->census(fs, n) : NODE_STRAYS_UNKNOWN);

	pthread_mutex_lock(&fs->table_lock);
	*out = table_find(fs, st.st_dev, st.st_ino);
	if (*out) {
		(*out)->nlookup++;
		pthread_mutex_unlock(&fs->table_lock);
		node_free(fs, n);
		return 0;
	}
	table_add(fs, n);
	n->dnext = fs->dirs;
	fs->dirs = n;
	pthread_mutex_unlock(&fs->table_lock);
	*out = n;
	return 0;

fail:
	if (di) {
		for (int b = 0; b < QFS_MAX_BACKINGS && di->path; b++)
			if (di->fds[b] >= 0)
				close(di->fds[b]);
		free(di->path);
		free(di);
	}
	free(n);
	return err;
}

/* node_renamed - the file (DEV, INO) is now NAME in PARENT */
void node_renamed(struct fs *fs, dev_t dev, ino_t ino, struct node *parent, const char *name)
{
	struct node *n;

	pthread_mutex_lock(&fs->table_lock);
	n = table_find(fs, dev, ino);
	if (n && !n->dir)
		node_name_set(n, node_id(fs, parent), name);
	pthread_mutex_unlock(&fs->table_lock);
}

/* node_walk - FN for every node, the root included, table locked */
void node_walk(struct fs *fs, void (*fn)(struct fs *fs, struct node *n, void *arg), void *arg)
{
	pthread_mutex_lock(&fs->table_lock);
	fn(fs, &fs->root, arg);
	for (size_t i = 0; i < fs->table_size; i++)
		for (struct node *n = fs->table[i]; n; n = n->next)
			fn(fs, n, arg);
	pthread_mutex_unlock(&fs->table_lock);
}

/* node_dir_by_path - nodeid of the directory with mount path PATH, or 0 */
uint64_t node_dir_by_path(struct fs *fs, const char *path)
{
	uint64_t id = 0;

	if (path[0] == 0)
		return node_id(fs, &fs->root);
	pthread_mutex_lock(&fs->table_lock);
	for (struct node *n = fs->dirs; n && !id; n = n->dnext) {
		pthread_mutex_lock(&n->dir->lock);
		if (strcmp(n->dir->path, path) == 0)
			id = node_id(fs, n);
		pthread_mutex_unlock(&n->dir->lock);
	}
	pthread_mutex_unlock(&fs->table_lock);
	return id;
}

/* node_find_id - nodeid of the node of backing object (DEV, INO), or 0 */
uint64_t node_find_id(struct fs *fs, dev_t dev, ino_t ino)
{
	struct node *n;
	uint64_t id;

	pthread_mutex_lock(&fs->table_lock);
	n = table_find(fs, dev, ino);
	id = n ? node_id(fs, n) : 0;
	pthread_mutex_unlock(&fs->table_lock);
	return id;
}

/* node_forget - drop NLOOKUP lookups; frees the node at zero */
void node_forget(struct fs *fs, struct node *n, uint64_t nlookup)
{
	if (n == &fs->root)
		return;
	pthread_mutex_lock(&fs->table_lock);
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
	if (n->nlookup) {
		pthread_mutex_unlock(&fs->table_lock);
		return;
	}
	table_del(fs, n);
	if (n->dir) {
		struct node **pp = &fs->dirs;

		while (*pp && *pp != n)
			pp = &(*pp)->dnext;
		if (*pp)
			*pp = n->dnext;
	}
	pthread_mutex_unlock(&fs->table_lock);
	node_free(fs, n);
}

/* node_dir_path_copy - copy a directory's mount path into BUF */
void node_dir_path_copy(struct node *d, char *buf, size_t len)
{
	pthread_mutex_lock(&d->dir->lock);
	snprintf(buf, len, "%s", d->dir->path);
	pthread_mutex_unlock(&d->dir->lock);
}

/* node_dir_fd - the O_PATH fd of D's copy on backing B, or -1 */
int node_dir_fd(struct node *d, int b)
{
	int fd;

	pthread_mutex_lock(&d->dir->lock);
	fd = d->dir->fds[b];
	pthread_mutex_unlock(&d->dir->lock);
	return fd;
}

/* open_beneath - open a relative PATH under ROOTFD without following symlinks */
static int open_beneath(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* dir_template - owner and mode of PATH on the first backing that has it */
static int dir_template(struct fs *fs, const char *path, struct stat *st)
{
	for (int b = 0; b < fs->layout->n; b++) {
		int fd = open_beneath(fs->layout->b[b].rootfd, path, O_PATH | O_DIRECTORY);

		if (fd >= 0) {
			int r = fstat(fd, st);

			close(fd);
			if (r == 0)
				return 0;
		}
	}
	return -ENOENT;
}

/* dir_make_copy - open PATH on backing B, creating missing components */
static int dir_make_copy(struct fs *fs, const char *path, int b)
{
	char prefix[QFS_PATH_MAX];
	const char *p = path;
	int cur = fs->layout->b[b].rootfd, fd;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		char comp[NAME_MAX + 1];
		struct stat st;

		if (clen > NAME_MAX || (size_t)(p - path) + clen >= sizeof(prefix)) {
			fd = -ENAMETOOLONG;
			goto out;
		}
		memcpy(comp, p, clen);
		comp[clen] = 0;
		memcpy(prefix, path, (size_t)(p - path) + clen);
		prefix[(size_t)(p - path) + clen] = 0;
		fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			if (dir_template(fs, prefix, &st) < 0)
				st.st_mode = 0755, st.st_uid = 0, st.st_gid = 0;
			if (mkdirat(cur, comp, st.st_mode & 07777) < 0 && errno != EEXIST) {
				fd = -errno;
				log_warn(errno, "node_dir_copy: mkdir %s on %s", prefix,
					 fs->layout->b[b].path);
				goto out;
			}
			if (fchownat(cur, comp, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
				log_warn(errno, "node_dir_copy: chown %s on %s", prefix,
					 fs->layout->b[b].path);
			/* Make the new entry durable: files placed below it will be fsynced. */
			{
				int pfd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

				if (pfd >= 0) {
					if (fsync(pfd) < 0)
						log_warn(errno, "node_dir_copy: fsync parent of %s on %s",
							 prefix, fs->layout->b[b].path);
					close(pfd);
				}
			}
			fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			fd = -errno;
			goto out;
		}
		if (cur != fs->layout->b[b].rootfd)
			close(cur);
		cur = fd;
		p += clen;
		while (*p == '/')
			p++;
	}
	if (cur == fs->layout->b[b].rootfd)
		return -EINVAL; /* the root always exists: callers never ask for it */
	return cur;
out:
	if (cur != fs->layout->b[b].rootfd)
		close(cur);
	return fd;
}

/* node_dir_copy - D's copy on backing B, created if missing */
int node_dir_copy(struct fs *fs, struct node *d, int b)
{
	int fd;

	pthread_mutex_lock(&d->dir->lock);
	fd = d->dir->fds[b];
	if (fd < 0) {
		fd = dir_make_copy(fs, d->dir->path, b);
		if (fd >= 0)
			d->dir->fds[b] = fd;
	}
	pthread_mutex_unlock(&d->dir->lock);
	return fd;
}

/* path_replace - OLD (or OLD/...) becomes NEW (or NEW/...) in *P; was it below OLD? */
static bool path_replace(char **p, const char *oldpath, const char *newpath)
{
	size_t ol = strlen(oldpath);
	char *np;

	if (strncmp(*p, oldpath, ol) != 0 || ((*p)[ol] != 0 && (*p)[ol] != '/'))
		return false;
	if (asprintf(&np, "%s%s", newpath, *p + ol) < 0) {
		log_warnx("node: out of memory renaming %s to %s", oldpath, newpath);
		return true;
	}
	free(*p);
	*p = np;
	return true;
}

/* node_dir_rename_paths - a directory moved: fix the paths of it and all below */
void node_dir_rename_paths(struct fs *fs, const char *oldpath, const char *newpath)
{
	pthread_mutex_lock(&fs->table_lock);
	for (struct node *n = fs->dirs; n; n = n->dnext) {
		pthread_mutex_lock(&n->dir->lock);
		/* New paths, new hash homes: what was counted no longer holds. */
		if (path_replace(&n->dir->path, oldpath, newpath))
			atomic_store(&n->dir->strays, NODE_STRAYS_UNKNOWN);
		pthread_mutex_unlock(&n->dir->lock);
	}
	pthread_mutex_unlock(&fs->table_lock);
}

/* node_name_slot - which per-name lock guards NAME in PARENT */
unsigned node_name_slot(const struct node *parent, const char *name)
{
	return (unsigned)(XXH3_64bits_withSeed(name, strlen(name), (uint64_t)(uintptr_t)parent) % 1024);
}

/* node_name_lock2 - take one or two name locks in a fixed order (no deadlock) */
void node_name_lock2(struct fs *fs, unsigned a, unsigned b)
{
	if (a > b) {
		unsigned t = a;
		a = b;
		b = t;
	}
	pthread_mutex_lock(&fs->name_locks[a]);
	if (b != a)
		pthread_mutex_lock(&fs->name_locks[b]);
}

void node_name_unlock2(struct fs *fs, unsigned a, unsigned b)
{
	pthread_mutex_unlock(&fs->name_locks[a]);
	if (b != a)
		pthread_mutex_unlock(&fs->name_locks[b]);
}
