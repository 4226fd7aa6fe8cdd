/*
 * NAME
 *	ctl - the control channel of a running queuefs
 * DESCRIPTION
 *	One thread accepts connections on the mount's Unix socket and serves
 *	them one at a time, so a request never runs on a FUSE thread and a
 *	hanging client delays only other clients, never the filesystem (every
 *	socket has a 2 s send/receive timeout). Requests:
 *
 *	    status        per class and shard: backing, files, bytes, free
 *	                  space and inodes, files off their hash home; name
 *	                  searches; inodes the kernel holds; per
 *	                  operation: count, rate, latency percentiles
 *	    status json   the same as one JSON object
 *	    flush all|index|storage [PATH...]
 *	                  the kernel forgets cached names, attributes and
 *	                  pages of the files of those classes (all of them,
 *	                  or only PATHs, relative to the mount or absolute
 *	                  under it), through the invalidation thread
 *
 *	The peer's credentials (SO_PEERCRED) must be root or a member of the
 *	config's ctl_group; the socket itself is mode 0660, group ctl_group.
 * DIAGNOSTICS
 *	Refusals are answered "error: ..." and logged; a failure to listen is
 *	logged at start and the mount goes on without a control channel.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "inval.h"
#include "log.h"
#include "place.h"
#include "stats.h"

static struct {
	struct fs *fs;
	const char *mountpoint;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid;
	int lfd;
	int stop[2];
	pthread_t thread;
	int running;
} ctl = { .lfd = -1, .stop = { -1, -1 } };

struct shard_count {
	unsigned long long files, bytes, offhome;
};

/* count_tree - files, bytes and off-home files below one backing directory */
static void count_tree(struct fs *fs, int b, int pathfd, char *rel, size_t rlen, int depth,
		       struct shard_count *sc)
{
	struct dirent *de;
	DIR *dir = backing_opendir(pathfd);

	if (!dir)
		return;
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		size_t n;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (depth == 0 && (!strcmp(de->d_name, QFS_META_NAME) || !strcmp(de->d_name, "lost+found")))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		n = strlen(rel);
		if (n + strlen(de->d_name) + 2 > rlen)
			continue;
		snprintf(rel + n, rlen - n, "%s%s", n ? "/" : "", de->d_name);
		if (S_ISDIR(st.st_mode)) {
			int cfd =
				openat(dirfd(dir), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd >= 0 && depth < 64)
				count_tree(fs, b, cfd, rel, rlen, depth + 1, sc);
			if (cfd >= 0)
				close(cfd);
		} else {
			sc->files++;
			sc->bytes += (unsigned long long)st.st_size;
			if (!place_is_home(fs, rel, b))
				sc->offhome++;
		}
		rel[n] = 0;
	}
	closedir(dir);
}

/* health_note - the status column of a shard that is not well */
static const char *health_note(int health, int ok)
{
	if (health == -ENODEV)
		return "  FAILED: vanished";
	if (health == -EROFS)
		return "  FAILED: read-only";
	return ok ? "" : "  FAILED";
}

/* status_write - the status report, as text or JSON */
static void status_write(FILE *out, int json)
{
	struct fs *fs = ctl.fs;
	struct layout *l = fs->layout;
	double up = stats_uptime();
	uint64_t home_only, all;
	size_t nodes;

	if (json)
		fprintf(out,
			"{\"mountpoint\":\"%s\",\"config\":\"%s\",\"fsid\":\"%s\",\"generation\":%u,"
			"\"uptime\":%.1f,\"shards\":[",
			ctl.mountpoint, fs->conf->path ? fs->conf->path : "", l->fsid, l->generation, up);
	else
		fprintf(out,
			"queuefs on %s: config %s, fsid %s, layout generation %u, up %.0f s\n\n"
			"%-12s %5s %-32s %9s %12s %14s %12s %9s\n",
			ctl.mountpoint, fs->conf->path ? fs->conf->path : "-", l->fsid, l->generation, up,
			"class", "shard", "backing", "files", "bytes", "free-bytes", "free-inodes",
			"off-home");
	for (int i = 0; i < l->n; i++) {
		struct backing *b = &l->b[i];
		struct shard_count sc = { 0 };
		struct statvfs sv = { 0 };
		char rel[PATH_MAX] = "";
		int health = backing_health(b), ok = backing_statvfs(b, &sv) == 0 && health == 0;

		count_tree(fs, i, b->rootfd, rel, sizeof(rel), 0, &sc);
		if (json)
			fprintf(out,
				"%s{\"class\":\"%s\",\"shard\":%u,\"backing\":\"%s\",\"id\":%u,\"files\":%"
				"llu,"
				"\"bytes\":%llu,\"free_bytes\":%llu,\"free_inodes\":%llu,\"off_home\":%llu,"
				"\"ok\":%s}",
				i ? "," : "", fs->conf->classes[b->cls].name, b->shard_id, b->path, b->id,
				sc.files, sc.bytes, (unsigned long long)sv.f_bavail * sv.f_frsize,
				(unsigned long long)sv.f_favail, sc.offhome, ok ? "true" : "false");
		else
			fprintf(out, "%-12s %5u %-32s %9llu %12llu %14llu %12llu %9llu%s\n",
				fs->conf->classes[b->cls].name, b->shard_id, b->path, sc.files, sc.bytes,
				(unsigned long long)sv.f_bavail * sv.f_frsize,
				(unsigned long long)sv.f_favail, sc.offhome, health_note(health, ok));
	}
	stats_searches(&home_only, &all);
	pthread_mutex_lock(&fs->table_lock);
	nodes = fs->table_count;
	pthread_mutex_unlock(&fs->table_lock);
	if (json)
		fprintf(out,
			"],\"searches\":{\"home_only\":%llu,\"every_backing\":%llu},\"nodes\":%llu,"
			"\"ops\":[",
			(unsigned long long)home_only, (unsigned long long)all, (unsigned long long)nodes);
	else
		fprintf(out,
			"\nname searches: %llu answered by the homes alone, %llu asked every backing\n"
			"inodes the kernel holds: %llu\n"
			"\n%-12s %10s %10s %9s %9s %9s\n",
			(unsigned long long)home_only, (unsigned long long)all, (unsigned long long)nodes,
			"op", "count", "rate/s", "p50-us", "p90-us", "p99-us");
	for (int op = 0, first = 1; op < QOP_NOPS; op++) {
		struct stats_op_snapshot s;

		stats_snapshot(op, &s);
		if (!s.count)
			continue;
		if (json)
			fprintf(out,
				"%s{\"op\":\"%s\",\"count\":%llu,\"rate\":%.2f,\"p50_us\":%llu,\"p90_us\":%"
				"llu,"
				"\"p99_us\":%llu}",
				first ? "" : ",", stats_op_name(op), (unsigned long long)s.count,
				up > 0 ? (double)s.count / up : 0.0,
				(unsigned long long)stats_percentile(&s, 50),
				(unsigned long long)stats_percentile(&s, 90),
				(unsigned long long)stats_percentile(&s, 99));
		else
			fprintf(out, "%-12s %10llu %10.2f %9llu %9llu %9llu\n", stats_op_name(op),
				(unsigned long long)s.count, up > 0 ? (double)s.count / up : 0.0,
				(unsigned long long)stats_percentile(&s, 50),
				(unsigned long long)stats_percentile(&s, 90),
				(unsigned long long)stats_percentile(&s, 99));
		first = 0;
	}
	if (json)
		fprintf(out, "]}\n");
}

struct flush_arg {
	int role; /* 0: every class */
	uint64_t parent;
	const char *name; /* only the file known by this name in PARENT */
	unsigned long entries, inodes;
};

/* flush_node - node_walk callback: queue the invalidations one node needs */
static void flush_node(struct fs *fs, struct node *n, void *arg)
{
	struct flush_arg *fa = arg;

	if (fa->name) {
		if (!n->dir && n->name && n->parent == fa->parent && strcmp(n->name, fa->name) == 0) {
			inval_inode(node_id(fs, n));
			fa->inodes++;
		}
		return;
	}
	if (n->dir) {
		/* A directory's attributes (and mtime-keyed caches) matter to every class. */
		inval_inode(node_id(fs, n));
		fa->inodes++;
		return;
	}
	if (fa->role && conf_class_role(fs->conf, fs->layout->b[n->bidx].cls) != fa->role)
		return;
	if (n->name) {
		inval_entry(n->parent, n->name);
		fa->entries++;
	}
	inval_inode(node_id(fs, n));
	fa->inodes++;
}

/* flush_path - invalidate one path inside the mount; -ENOENT if the kernel cannot know it */
static int flush_path(struct fs *fs, const char *path, struct flush_arg *fa)
{
	size_t ml = strlen(ctl.mountpoint);
	char rel[PATH_MAX], *slash;
	const char *base;

	if (path[0] == '/') {
		if (strncmp(path, ctl.mountpoint, ml) != 0 || (path[ml] != '/' && path[ml] != 0))
			return -EXDEV;
		path += ml;
	}
	while (*path == '/')
		path++;
	if (snprintf(rel, sizeof(rel), "%s", path) >= (int)sizeof(rel))
		return -ENAMETOOLONG;
	while (strlen(rel) && rel[strlen(rel) - 1] == '/')
		rel[strlen(rel) - 1] = 0;
	if (!rel[0]) {
		inval_inode(node_id(fs, &fs->root));
		fa->inodes++;
		return 0;
	}
	slash = strrchr(rel, '/');
	if (slash) {
		*slash = 0;
		base = slash + 1;
	} else {
		base = rel;
	}
	fa->parent = node_dir_by_path(fs, slash ? rel : "");
	if (!fa->parent)
		return -ENOENT; /* the kernel never looked into that directory: nothing cached */
	inval_entry(fa->parent, base);
	fa->entries++;
	fa->name = base;
	node_walk(fs, flush_node, fa);
	fa->name = NULL;
	return 0;
}

/* flush_request - "flush WHAT [PATH...]" */
static void flush_request(FILE *out, char *args)
{
	struct flush_arg fa = { 0 };
	char *save, *what = strtok_r(args, " ", &save), *path;
	int npaths = 0;

	if (!what || strcmp(what, "all") == 0)
		fa.role = 0;
	else if (strcmp(what, "index") == 0)
		fa.role = CONF_ROLE_INDEX;
	else if (strcmp(what, "storage") == 0)
		fa.role = CONF_ROLE_STORAGE;
	else {
		fprintf(out, "error: flush what? '%.32s' (all, index, storage)\n", what);
		return;
	}
	while ((path = strtok_r(NULL, " ", &save)) != NULL) {
		int err = flush_path(ctl.fs, path, &fa);

		npaths++;
		if (err == -EXDEV)
			fprintf(out, "error: %.200s is not inside %s\n", path, ctl.mountpoint);
		else if (err && err != -ENOENT)
			fprintf(out, "error: %.200s: %s\n", path, strerror(-err));
	}
	if (!npaths)
		node_walk(ctl.fs, flush_node, &fa);
	fprintf(out, "flushed: %lu names, %lu inodes queued for invalidation\n", fa.entries, fa.inodes);
}

/* peer_ok - root, or a member of ctl_group */
static int peer_ok(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct passwd pw, *pwp;
	gid_t groups[256];
	int ngroups = 256;
	char buf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return 0;
	if (cr.uid == 0 || cr.gid == ctl.gid)
		return 1;
	if (getpwuid_r(cr.uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
		return 0;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) < 0)
		return 0;
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == ctl.gid)
			return 1;
	return 0;
}

/* read_request - one line of at most CTL_REQUEST_MAX bytes; -E2BIG if longer */
static int read_request(int fd, char *buf, size_t len)
{
	size_t used = 0;

	while (used < len - 1) {
		ssize_t n = read(fd, buf + used, len - 1 - used);

		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		used += (size_t)n;
		if (memchr(buf, '\n', used))
			break;
	}
	buf[used] = 0;
	if (!strchr(buf, '\n') && used == len - 1)
		return -E2BIG;
	buf[strcspn(buf, "\r\n")] = 0;
	return 0;
}

/* serve - answer one client */
static void serve(int fd)
{
	struct timeval tv = { .tv_sec = 2 };
	char req[CTL_REQUEST_MAX + 1];
	char *ans = NULL;
	size_t anslen = 0;
	FILE *out;
	int err;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	out = open_memstream(&ans, &anslen);
	if (!out)
		return;
	if (!peer_ok(fd)) {
		fprintf(out, "error: permission denied (root or group %s only)\n", ctl.fs->conf->ctl_group);
		log_warnx("ctl: refused a client that is neither root nor in group %s",
			  ctl.fs->conf->ctl_group);
	} else if ((err = read_request(fd, req, sizeof(req))) < 0) {
		fprintf(out, "error: %s\n", err == -E2BIG ? "request too long" : strerror(-err));
	} else if (strcmp(req, "status") == 0 || strcmp(req, "status text") == 0) {
		status_write(out, 0);
	} else if (strncmp(req, "flush", 5) == 0 && (req[5] == 0 || req[5] == ' ')) {
		flush_request(out, req + 5);
	} else if (strcmp(req, "status json") == 0) {
		status_write(out, 1);
	} else {
		fprintf(out, "error: unknown request '%.64s'\n", req);
	}
	fclose(out);
	for (size_t off = 0; off < anslen;) {
		ssize_t n = send(fd, ans + off, anslen - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(ans);
}

/* ctl_main - accept until told to stop */
static void *ctl_main(void *arg)
{
	struct pollfd p[2] = { { .fd = ctl.lfd, .events = POLLIN }, { .fd = ctl.stop[0], .events = POLLIN } };

	(void)arg;
	for (;;) {
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn(errno, "ctl: poll");
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(ctl.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
	return NULL;
}

/* ctl_start - listen on the mount's socket and serve in a thread */
int ctl_start(struct fs *fs, struct fuse_session *se, const char *mountpoint)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct group gr, *grp;
	char buf[4096];
	int err;

	(void)se;
	ctl.fs = fs;
	ctl.mountpoint = mountpoint;
	ctl.gid = 0;
	if (getgrnam_r(fs->conf->ctl_group, &gr, buf, sizeof(buf), &grp) == 0 && grp)
		ctl.gid = grp->gr_gid;
	else
		log_warnx("ctl: group %s not found: root only", fs->conf->ctl_group);
	err = ctl_socket_path(fs->conf->ctl_dir, mountpoint, ctl.path, sizeof(ctl.path));
	if (err)
		goto fail;
	if (mkdir(fs->conf->ctl_dir, 0755) < 0 && errno != EEXIST) {
		err = -errno;
		goto fail;
	}
	memcpy(sa.sun_path, ctl.path, sizeof(sa.sun_path));
	ctl.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl.lfd < 0) {
		err = -errno;
		goto fail;
	}
	/* A socket left by a killed daemon of this mountpoint: nobody answers on it. */
	unlink(ctl.path);
	if (bind(ctl.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chown(ctl.path, 0, ctl.gid) < 0 ||
	    chmod(ctl.path, 0660) < 0 || listen(ctl.lfd, 8) < 0 || pipe2(ctl.stop, O_CLOEXEC) < 0) {
		err = -errno;
		goto fail;
	}
	err = -pthread_create(&ctl.thread, NULL, ctl_main, NULL);
	if (err)
		goto fail;
	ctl.running = 1;
	return 0;
fail:
	log_warn(-err, "ctl: control socket %s for %s (queuefsctl status will not reach this mount)",
		 ctl.path[0] ? ctl.path : fs->conf->ctl_dir, mountpoint);
	ctl_stop();
	return err;
}

/* ctl_stop - end the thread, remove the socket */
void ctl_stop(void)
{
	if (ctl.running) {
		if (write(ctl.stop[1], "x", 1) < 0)
			log_warn(errno, "ctl: stop");
		pthread_join(ctl.thread, NULL);
		ctl.running = 0;
	}
	if (ctl.lfd >= 0) {
		close(ctl.lfd);
		unlink(ctl.path);
	}
	for (int i = 0; i < 2; i++)
		if (ctl.stop[i] >= 0)
			close(ctl.stop[i]);
	ctl.lfd = ctl.stop[0] = ctl.stop[1] = -1;
}
