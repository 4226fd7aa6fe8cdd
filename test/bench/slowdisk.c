/*
 * NAME
 *	slowdisk - a FUSE passthrough that behaves like one slow disk
 *
 * SYNOPSIS
 *	slowdisk -f -o source=DIR[,latency_us=8000][,nslat][,stats=FILE]
 *		 [,threads=64][,timeout=86400] MOUNTPOINT
 *
 * DESCRIPTION
 *	Mirrors DIR on MOUNTPOINT (libfuse3 low-level API, O_PATH fds and
 *	*at() calls, as libfuse's passthrough_ll example) and makes every
 *	fsync and fsyncdir occupy the simulated disk for latency_us: the disk
 *	serves one operation at a time, in arrival order, so it does
 *	1e6 / latency_us operations a second (8000 us: ~120 IOPS, one
 *	spindle). With nslat, namespace operations (create, mknod, mkdir,
 *	link, rename, unlink, rmdir) take a disk slot too, as on a filesystem
 *	mounted with -o dirsync.
 *
 *	The requests waiting for the disk do not hold a lock: each takes the
 *	next free slot under a mutex and sleeps until the slot ends, so the
 *	simulation costs no CPU and any number of callers can queue.
 *
 *	Counters of what reached the disk (fsync, fsyncdir, create, ...,
 *	and the simulated busy time) are written to the stats file as
 *	"name value" lines when SIGUSR1 arrives and at unmount, each time
 *	atomically (written aside, then renamed), so a benchmark can prove
 *	that the fsyncs it asked for arrived.
 *
 * DIAGNOSTICS
 *	Errors of the backing directory are returned to the caller as they
 *	are. Bad options: a message on stderr and exit status 1.
 */
#include "queuefs.h" /* pins FUSE_USE_VERSION */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t), "fuse_ino_t must hold a pointer");

#define SD_BUCKETS 65536

/* What is counted, in stats-file order. */
enum sd_count {
	C_FSYNC,
	C_FSYNCDIR,
	C_CREATE,
	C_MKNOD,
	C_MKDIR,
	C_LINK,
	C_RENAME,
	C_UNLINK,
	C_RMDIR,
	C_LOOKUP,
	C_OPEN,
	C_READ,
	C_WRITE,
	C_DISK_OPS,
	C_BUSY_US,
	C_WAIT_US,
	C_COUNT
};

static const char *const sd_count_names[C_COUNT] = {
	"fsync", "fsyncdir", "create", "mknod", "mkdir", "link",     "rename",	"unlink",
	"rmdir", "lookup",   "open",   "read",	"write", "disk_ops", "busy_us", "wait_us",
};

/* A backing object the kernel knows: an O_PATH fd and its lookup count. */
struct sd_inode {
	struct sd_inode *next; /* hash chain, under sd.lock */
	int fd;
	ino_t ino;
	dev_t dev;
	uint64_t nlookup; /* under sd.lock */
};

struct sd_dir {
	DIR *dp;
	off_t offset;
	struct dirent *entry; /* read but not yet sent */
};

struct sd_opts {
	char *source;
	char *stats;
	unsigned long latency_us;
	int nslat;
	unsigned threads;
	double timeout;
};

static struct {
	struct sd_opts o;
	pthread_mutex_t lock;
	struct sd_inode root;
	struct sd_inode *bucket[SD_BUCKETS];
	pthread_mutex_t disk_lock;
	uint64_t disk_free_at; /* ns, CLOCK_MONOTONIC; under disk_lock */
	atomic_ullong count[C_COUNT];
	atomic_int quit;
} sd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.disk_lock = PTHREAD_MUTEX_INITIALIZER,
};

#define SD_OPT(t, p)                                                                                         \
	{                                                                                                    \
		t, offsetof(struct sd_opts, p), 1                                                            \
	}
static const struct fuse_opt sd_optspec[] = {
	SD_OPT("source=%s", source),
	SD_OPT("stats=%s", stats),
	SD_OPT("latency_us=%lu", latency_us),
	SD_OPT("nslat", nslat),
	SD_OPT("threads=%u", threads),
	SD_OPT("timeout=%lf", timeout),
	FUSE_OPT_END,
};

/* now_ns - monotonic clock in nanoseconds */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* count - bump counter C */
static void count(enum sd_count c)
{
	atomic_fetch_add_explicit(&sd.count[c], 1, memory_order_relaxed);
}

/* disk_use - occupy the simulated disk for one operation, FIFO */
static void disk_use(void)
{
	uint64_t now, start, end;
	struct timespec ts;

	count(C_DISK_OPS);
	if (!sd.o.latency_us)
		return;
	pthread_mutex_lock(&sd.disk_lock);
	now = now_ns();
	start = sd.disk_free_at > now ? sd.disk_free_at : now;
	end = start + sd.o.latency_us * 1000u;
	sd.disk_free_at = end;
	pthread_mutex_unlock(&sd.disk_lock);
	atomic_fetch_add_explicit(&sd.count[C_BUSY_US], sd.o.latency_us, memory_order_relaxed);
	atomic_fetch_add_explicit(&sd.count[C_WAIT_US], (start - now) / 1000u, memory_order_relaxed);
	ts.tv_sec = (time_t)(end / 1000000000u);
	ts.tv_nsec = (long)(end % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ns_op - a namespace operation: counted, and a disk slot with nslat */
static void ns_op(enum sd_count c)
{
	count(c);
	if (sd.o.nslat)
		disk_use();
}

/* stats_write - the counters to the stats file, atomically */
static void stats_write(void)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (!sd.o.stats)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", sd.o.stats);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "slowdisk: stats_write: open %s: %s\n", tmp, strerror(errno));
		return;
	}
	fprintf(f, "latency_us %lu\nnslat %d\n", sd.o.latency_us, sd.o.nslat);
	for (int i = 0; i < C_COUNT; i++)
		fprintf(f, "%s %llu\n", sd_count_names[i], (unsigned long long)atomic_load(&sd.count[i]));
	if (fclose(f) != 0 || rename(tmp, sd.o.stats) < 0)
		fprintf(stderr, "slowdisk: stats_write: %s: %s\n", sd.o.stats, strerror(errno));
}

/* stats_thread - write the stats file at every SIGUSR1 */
static void *stats_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) == 0 && !atomic_load(&sd.quit))
		stats_write();
	return NULL;
}

/* inode_of - our inode behind a node id */
static struct sd_inode *inode_of(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &sd.root : (struct sd_inode *)(uintptr_t)ino;
}

/* fd_of - the O_PATH fd behind a node id */
static int fd_of(fuse_ino_t ino)
{
	return inode_of(ino)->fd;
}

/* proc_path - /proc/self/fd/N: reopen an O_PATH fd with real access */
static void proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* bucket_of - hash chain of a (dev, ino) pair */
static struct sd_inode **bucket_of(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ull;

	return &sd.bucket[h >> 48];
}

/* entry_make - look NAME up in PARENT, fill E, take a lookup reference */
static int entry_make(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	struct sd_inode *in, **b;
	int fd, err;

	memset(e, 0, sizeof *e);
	e->attr_timeout = sd.o.timeout;
	e->entry_timeout = sd.o.timeout;
	fd = openat(fd_of(parent), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	pthread_mutex_lock(&sd.lock);
	b = bucket_of(e->attr.st_dev, e->attr.st_ino);
	for (in = *b; in; in = in->next)
		if (in->ino == e->attr.st_ino && in->dev == e->attr.st_dev)
			break;
	if (in) {
		in->nlookup++;
		pthread_mutex_unlock(&sd.lock);
		close(fd);
	} else {
		in = calloc(1, sizeof *in);
		if (!in) {
			pthread_mutex_unlock(&sd.lock);
			close(fd);
			return ENOMEM;
		}
		in->fd = fd;
		in->ino = e->attr.st_ino;
		in->dev = e->attr.st_dev;
		in->nlookup = 1;
		in->next = *b;
		*b = in;
		pthread_mutex_unlock(&sd.lock);
	}
	e->ino = (fuse_ino_t)(uintptr_t)in;
	return 0;
}

/* inode_forget - drop N lookups; free the inode at zero */
static void inode_forget(fuse_ino_t ino, uint64_t n)
{
	struct sd_inode *in = inode_of(ino), **p;

	if (in == &sd.root)
		return;
	pthread_mutex_lock(&sd.lock);
	if (in->nlookup > n) {
		in->nlookup -= n;
		pthread_mutex_unlock(&sd.lock);
		return;
	}
	for (p = bucket_of(in->dev, in->ino); *p; p = &(*p)->next)
		if (*p == in) {
			*p = in->next;
			break;
		}
	pthread_mutex_unlock(&sd.lock);
	close(in->fd);
	free(in);
}

/* reply_entry - answer an entry-creating request by looking the name up */
static void reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = entry_make(parent, name, &e);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* sd_init - no writeback cache: every write reaches the backing at once */
static void sd_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

/* sd_destroy - unmount: final counters */
static void sd_destroy(void *userdata)
{
	(void)userdata;
	stats_write();
}

/* sd_lookup - the kernel looks up a name */
static void sd_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	count(C_LOOKUP);
	reply_entry(req, parent, name);
}

/* sd_forget - the kernel drops references */
static void sd_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(ino, nlookup);
	fuse_reply_none(req);
}

/* sd_forget_multi - batched forget */
static void sd_forget_multi(fuse_req_t req, size_t n, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < n; i++)
		inode_forget(f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

/* sd_getattr - stat the backing object */
static void sd_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (fstatat(fd_of(ino), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, sd.o.timeout);
}

/* sd_setattr - chmod, chown, truncate, utimens */
static void sd_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int set, struct fuse_file_info *fi)
{
	int fd = fd_of(ino), r = 0;
	char p[64];

	proc_path(p, sizeof p, fd);
	if (set & FUSE_SET_ATTR_MODE)
		r = fi ? fchmod((int)fi->fh, a->st_mode) : chmod(p, a->st_mode);
	if (!r && (set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = fchownat(fd, "", (set & FUSE_SET_ATTR_UID) ? a->st_uid : (uid_t)-1,
			     (set & FUSE_SET_ATTR_GID) ? a->st_gid : (gid_t)-1,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (!r && (set & FUSE_SET_ATTR_SIZE))
		r = fi ? ftruncate((int)fi->fh, a->st_size) : truncate(p, a->st_size);
	if (!r && (set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (set & FUSE_SET_ATTR_ATIME)
			tv[0] = a->st_atim;
		if (set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (set & FUSE_SET_ATTR_MTIME)
			tv[1] = a->st_mtim;
		r = fi ? futimens((int)fi->fh, tv) : utimensat(AT_FDCWD, p, tv, 0);
	}
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		sd_getattr(req, ino, fi);
}

/* sd_readlink - read a symlink */
static void sd_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(fd_of(ino), "", buf, sizeof buf);

	if (n < 0)
		fuse_reply_err(req, errno);
	else if ((size_t)n >= sizeof buf)
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* sd_mknod - device nodes, FIFOs, sockets */
static void sd_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	ns_op(C_MKNOD);
	if (mknodat(fd_of(parent), name, mode, rdev) < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, parent, name);
}

/* sd_mkdir - make a directory */
static void sd_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	ns_op(C_MKDIR);
	if (mkdirat(fd_of(parent), name, mode) < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, parent, name);
}

/* sd_symlink - make a symlink */
static void sd_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	ns_op(C_MKNOD);
	if (symlinkat(link, fd_of(parent), name) < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, parent, name);
}

/* sd_link - hard link (via /proc: linkat AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH) */
static void sd_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	char p[64];

	ns_op(C_LINK);
	proc_path(p, sizeof p, fd_of(ino));
	if (linkat(AT_FDCWD, p, fd_of(parent), name, AT_SYMLINK_FOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, parent, name);
}

/* sd_unlink - remove a name */
static void sd_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ns_op(C_UNLINK);
	fuse_reply_err(req, unlinkat(fd_of(parent), name, 0) < 0 ? errno : 0);
}

/* sd_rmdir - remove a directory */
static void sd_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ns_op(C_RMDIR);
	fuse_reply_err(req, unlinkat(fd_of(parent), name, AT_REMOVEDIR) < 0 ? errno : 0);
}

/* sd_rename - rename, with the caller's flags */
static void sd_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	ns_op(C_RENAME);
	fuse_reply_err(req, renameat2(fd_of(parent), name, fd_of(newparent), newname, flags) < 0 ? errno : 0);
}

/* sd_create - create and open a file */
static void sd_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int fd, err;

	ns_op(C_CREATE);
	fd = openat(fd_of(parent), name, (fi->flags | O_CREAT | O_CLOEXEC) & ~O_NOFOLLOW, mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	err = entry_make(parent, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		close(fd);
		inode_forget(e.ino, 1);
	}
}

/* sd_open - open through /proc, as the O_PATH fd cannot do I/O */
static void sd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char p[64];
	int fd;

	count(C_OPEN);
	proc_path(p, sizeof p, fd_of(ino));
	fd = open(p, (fi->flags | O_CLOEXEC) & ~(O_NOFOLLOW | O_CREAT | O_EXCL));
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		close(fd);
}

/* sd_read - splice-friendly read from the backing fd */
static void sd_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	count(C_READ);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* sd_write_buf - write to the backing fd */
static void sd_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	(void)ino;
	count(C_WRITE);
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* sd_flush - close(2) of one descriptor: close a duplicate */
static void sd_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, close(dup((int)fi->fh)) < 0 ? errno : 0);
}

/* sd_release - last close */
static void sd_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

/* sd_fsync - the operation the disk is slow at */
static void sd_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int r;

	(void)ino;
	count(C_FSYNC);
	disk_use();
	r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

/* sd_opendir - open a directory stream */
static void sd_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sd_dir *d = calloc(1, sizeof *d);
	int fd, err;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(fd_of(ino), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		err = errno;
		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0) {
		closedir(d->dp);
		free(d);
	}
}

/* sd_readdir - plain readdir: names, inode numbers, types */
static void sd_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sd_dir *d = (struct sd_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t rem = size;
	int err = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct stat st;
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		memset(&st, 0, sizeof st);
		st.st_ino = d->entry->d_ino;
		st.st_mode = (mode_t)d->entry->d_type << 12;
		n = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, d->entry->d_off);
		if (n > rem)
			break;
		p += n;
		rem -= n;
		d->offset = d->entry->d_off;
		d->entry = NULL;
	}
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

/* sd_releasedir - close a directory stream */
static void sd_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sd_dir *d = (struct sd_dir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

/* sd_fsyncdir - a directory fsync costs a disk operation too */
static void sd_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct sd_dir *d = (struct sd_dir *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp), r;

	(void)ino;
	count(C_FSYNCDIR);
	disk_use();
	r = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

/* sd_statfs - the backing filesystem's numbers */
static void sd_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(fd_of(ino), &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops sd_ops = {
	.init = sd_init,
	.destroy = sd_destroy,
	.lookup = sd_lookup,
	.forget = sd_forget,
	.forget_multi = sd_forget_multi,
	.getattr = sd_getattr,
	.setattr = sd_setattr,
	.readlink = sd_readlink,
	.mknod = sd_mknod,
	.mkdir = sd_mkdir,
	.symlink = sd_symlink,
	.link = sd_link,
	.unlink = sd_unlink,
	.rmdir = sd_rmdir,
	.rename = sd_rename,
	.create = sd_create,
	.open = sd_open,
	.read = sd_read,
	.write_buf = sd_write_buf,
	.flush = sd_flush,
	.release = sd_release,
	.fsync = sd_fsync,
	.opendir = sd_opendir,
	.readdir = sd_readdir,
	.releasedir = sd_releasedir,
	.fsyncdir = sd_fsyncdir,
	.statfs = sd_statfs,
};

/* usage - options of slowdisk on top of libfuse's */
static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "    -o source=DIR        backing directory (required)\n"
	       "    -o latency_us=N      disk time of one operation (default 8000; 0: none)\n"
	       "    -o nslat             namespace operations take a disk slot too\n"
	       "    -o stats=FILE        counters, at SIGUSR1 and at unmount\n"
	       "    -o threads=N         libfuse worker threads (default 64)\n"
	       "    -o timeout=SECS      kernel entry/attr cache (default 86400)\n",
	       prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* main - parse, mount, serve, unmount */
int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co;
	struct fuse_loop_config *lc = NULL;
	struct fuse_session *se = NULL;
	pthread_t st;
	sigset_t set;
	struct stat rs;
	int ret = 1;

	sd.o.latency_us = 8000;
	sd.o.threads = 64;
	sd.o.timeout = 86400;
	if (fuse_parse_cmdline(&args, &co) != 0)
		return 1;
	if (co.show_help || co.show_version) {
		if (co.show_help)
			usage(argv[0]);
		else
			printf("slowdisk for queuefs, libfuse %s\n", fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (fuse_opt_parse(&args, &sd.o, sd_optspec, NULL) == -1)
		goto out_args;
	if (!co.mountpoint || !sd.o.source) {
		fprintf(stderr, "slowdisk: need -o source=DIR and a mountpoint (see --help)\n");
		goto out_args;
	}
	sd.root.fd = open(sd.o.source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sd.root.fd < 0 || fstat(sd.root.fd, &rs) < 0) {
		fprintf(stderr, "slowdisk: open %s: %s\n", sd.o.source, strerror(errno));
		goto out_args;
	}
	sd.root.ino = rs.st_ino;
	sd.root.dev = rs.st_dev;
	sd.root.nlookup = 2;

	/* SIGUSR1 goes to the stats thread only: block it before any thread starts */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&st, NULL, stats_thread, &set) != 0) {
		fprintf(stderr, "slowdisk: cannot start the stats thread\n");
		goto out_args;
	}

	se = fuse_session_new(&args, &sd_ops, sizeof sd_ops, NULL);
	if (!se)
		goto out_thread;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, co.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(co.foreground);
	if (co.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_max_threads(lc, sd.o.threads);
		fuse_loop_cfg_set_idle_threads(lc, sd.o.threads);
		ret = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_thread:
	atomic_store(&sd.quit, 1);
	pthread_kill(st, SIGUSR1);
	pthread_join(st, NULL);
out_args:
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
