/*
 * NAME
 *	watch - inotify on the backings, turned into kernel invalidations
 * DESCRIPTION
 *	At start every directory copy of every backing gets a watch (the
 *	hidden .queuefs directory excepted), each remembered with its mount
 *	path and an O_PATH fd; directories created later are added as their
 *	creation is seen. For an event on NAME in directory D: if the kernel
 *	knows D (a directory node exists), the entry D/NAME is invalidated,
 *	and if a file node exists for what now stands at NAME its attributes
 *	and pages are dropped too. Everything leaves through inval.c.
 *
 *	queuefs's own changes are seen as well and invalidate entries the
 *	kernel just learnt: the cost of watch mode, measured in the README.
 * DIAGNOSTICS
 *	A watch that cannot be added (inotify limits) is logged once with
 *	the limit to raise; the rest keeps working. IN_Q_OVERFLOW (events
 *	lost) makes the whole tree flush.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inval.h"
#include "log.h"
#include "node.h"
#include "watch.h"

#define WATCH_MASK                                                                                           \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB |      \
	 IN_ONLYDIR | IN_EXCL_UNLINK)

struct watch_dir {
	char *path; /* mount path of the directory ("" for the root) */
	int fd;	    /* O_PATH of this copy */
};

static struct {
	struct fs *fs;
	int ifd;
	int stop[2];
	pthread_t thread;
	int running;
	struct watch_dir *dirs; /* indexed by watch descriptor */
	int ndirs;
	int warned;
} w = { .ifd = -1, .stop = { -1, -1 } };

/* watch_add - watch one directory copy (an O_PATH FD, given away) at mount path PATH */
static void watch_add(int fd, const char *path)
{
	char pn[64];
	int wd;

	snprintf(pn, sizeof(pn), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(w.ifd, pn, WATCH_MASK);
	if (wd < 0) {
		if (!w.warned++)
			log_warn(errno, "watch: %s (raise fs.inotify.max_user_watches?)",
				 path[0] ? path : "/");
		close(fd);
		return;
	}
	if (wd >= w.ndirs) {
		int n = wd + 64;
		struct watch_dir *nd = realloc(w.dirs, (size_t)n * sizeof(*nd));

		if (!nd) {
			close(fd);
			return;
		}
		for (int i = w.ndirs; i < n; i++)
			nd[i] = (struct watch_dir){ .path = NULL, .fd = -1 };
		w.dirs = nd;
		w.ndirs = n;
	}
	if (w.dirs[wd].fd >= 0) {
		/* The same directory again (two paths, or re-added): keep the first. */
		close(fd);
		return;
	}
	w.dirs[wd].path = strdup(path);
	w.dirs[wd].fd = fd;
}

/* watch_tree - FD (O_PATH, given away) and every directory below it */
static void watch_tree(int fd, const char *path, int depth)
{
	struct dirent *de;
	DIR *d;
	int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	watch_add(fd, path);
	if (rfd < 0 || depth > 64 || !(d = fdopendir(rfd))) {
		if (rfd >= 0)
			close(rfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char child[QFS_PATH_MAX];
		int cfd;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!path[0] && (!strcmp(de->d_name, QFS_META_NAME) || !strcmp(de->d_name, "lost+found")))
			continue;
		if (snprintf(child, sizeof(child), "%s%s%s", path, path[0] ? "/" : "", de->d_name) >=
		    (int)sizeof(child))
			continue;
		cfd = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd >= 0)
			watch_tree(cfd, child, depth + 1);
	}
	closedir(d);
}

/* flush_all - node_walk callback after lost events: forget everything */
static void flush_all(struct fs *fs, struct node *n, void *arg)
{
	(void)arg;
	if (!n->dir && n->name)
		inval_entry(n->parent, n->name);
	inval_inode(node_id(fs, n));
}

/* watch_event - one inotify event */
static void watch_event(const struct inotify_event *ev)
{
	struct watch_dir *wd;
	struct stat st;
	uint64_t parent, ino;

	if (ev->mask & IN_Q_OVERFLOW) {
		log_warnx("watch: inotify queue overflowed: flushing every cached name");
		node_walk(w.fs, flush_all, NULL);
		return;
	}
	if (ev->wd < 0 || ev->wd >= w.ndirs || w.dirs[ev->wd].fd < 0)
		return;
	wd = &w.dirs[ev->wd];
	if (ev->mask & IN_IGNORED) {
		close(wd->fd);
		free(wd->path);
		*wd = (struct watch_dir){ .path = NULL, .fd = -1 };
		return;
	}
	if (!ev->len || (!wd->path[0] && !strcmp(ev->name, QFS_META_NAME)))
		return;
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
		char child[QFS_PATH_MAX];
		int cfd = openat(wd->fd, ev->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (cfd >= 0 && snprintf(child, sizeof(child), "%s%s%s", wd->path, wd->path[0] ? "/" : "",
					 ev->name) < (int)sizeof(child))
			watch_tree(cfd, child, 0);
		else if (cfd >= 0)
			close(cfd);
	}
	log_debug("watch: %s/%s mask %x", wd->path, ev->name, ev->mask);
	parent = node_dir_by_path(w.fs, wd->path);
	if (!parent)
		return; /* the kernel never looked into this directory: nothing to forget */
	inval_entry(parent, ev->name);
	if (fstatat(wd->fd, ev->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
	    (ino = node_find_id(w.fs, st.st_dev, st.st_ino)) != 0)
		inval_inode(ino);
}

/* watch_main - read events until told to stop */
static void *watch_main(void *arg)
{
	struct pollfd p[2] = { { .fd = w.ifd, .events = POLLIN }, { .fd = w.stop[0], .events = POLLIN } };
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)arg;
	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn(errno, "watch: poll");
			break;
		}
		if (p[1].revents)
			break;
		n = read(w.ifd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		for (char *q = buf; q < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)q;

			watch_event(ev);
			q += sizeof(*ev) + ev->len;
		}
	}
	return NULL;
}

/* watch_start - watch every backing tree, start the thread */
int watch_start(struct fs *fs)
{
	int err;

	w.fs = fs;
	w.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w.ifd < 0 || pipe2(w.stop, O_CLOEXEC) < 0) {
		err = -errno;
		log_warn(-err, "watch: inotify");
		watch_stop();
		return err;
	}
	for (int b = 0; b < fs->layout->n; b++) {
		int fd = dup(fs->layout->b[b].rootfd);

		if (fd >= 0)
			watch_tree(fd, "", 0);
	}
	err = -pthread_create(&w.thread, NULL, watch_main, NULL);
	if (err) {
		log_warn(-err, "watch: thread");
		watch_stop();
		return err;
	}
	w.running = 1;
	return 0;
}

/* watch_stop - end the thread, drop every watch */
void watch_stop(void)
{
	if (w.running) {
		if (write(w.stop[1], "x", 1) < 0)
			log_warn(errno, "watch: stop");
		pthread_join(w.thread, NULL);
		w.running = 0;
	}
	for (int i = 0; i < w.ndirs; i++) {
		if (w.dirs[i].fd >= 0)
			close(w.dirs[i].fd);
		free(w.dirs[i].path);
	}
	free(w.dirs);
	w.dirs = NULL;
	w.ndirs = 0;
	for (int i = 0; i < 2; i++)
		if (w.stop[i] >= 0)
			close(w.stop[i]);
	if (w.ifd >= 0)
		close(w.ifd);
	w.ifd = w.stop[0] = w.stop[1] = -1;
}
