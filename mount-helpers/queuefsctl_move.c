/*
 * NAME
 *	queuefsctl_move - move a queue file to another backing, crash-safely
 * DESCRIPTION
 *	A move copies the file into ROOT/.queuefs/ctl-move.* of the target
 *	backing (same filesystem as the destination), restores owner, mode
 *	and times (Postfix keeps retry times in the mtime), fsyncs it, gives
 *	it its name with renameat2(RENAME_NOREPLACE), fsyncs the directory,
 *	and only then unlinks the source and fsyncs that directory.
 *
 *	A crash at any point loses nothing: before the rename the temporary
 *	copy is garbage (ctl_tmp_sweep removes it at the next run, the source
 *	is intact); after it, the name exists twice with identical contents,
 *	which the next run recognises and settles by unlinking the copy that
 *	is not at the hash home. A plain duplicate with different contents is
 *	quarantined (renamed into ROOT/.queuefs/quarantine), never deleted.
 *
 *	QUEUEFSCTL_CRASH_AFTER=N (tests only) kills the process with SIGKILL
 *	right after the Nth move has placed its copy, before the source is
 *	unlinked: the worst moment to crash.
 * DIAGNOSTICS
 *	Functions return 0 or -errno; ctl_move_all reports each failure and
 *	goes on with the next file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "queuefsctl.h"

/* ctl_dir_open - RELDIR below root B, refusing symlinks and escapes */
int ctl_dir_open(struct ctl *x, int b, const char *reldir, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_DIRECTORY | O_CLOEXEC),
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	long fd;

	if (!reldir[0])
		reldir = ".";
	fd = syscall(SYS_openat2, x->rootfd[b], reldir, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(x->rootfd[b], reldir, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

/* same_bytes_ok - do two open files hold the same bytes? */
static bool same_bytes_ok(int a, int b)
{
	char ba[65536], bb[65536];
	ssize_t na, nb;

	do {
		na = read(a, ba, sizeof(ba));
		nb = read(b, bb, sizeof(bb));
		if (na != nb || na < 0 || memcmp(ba, bb, (size_t)na) != 0)
			return false;
	} while (na > 0);
	return true;
}

/* ctl_copies_same_ok - are NAME in DFD1 and in DFD2 the same file, twice? */
int ctl_copies_same_ok(int dfd1, int dfd2, const char *name)
{
	struct stat s1, s2;
	int f1, f2;
	bool same;

	if (fstatat(dfd1, name, &s1, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fstatat(dfd2, name, &s2, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!S_ISREG(s1.st_mode) || !S_ISREG(s2.st_mode) || s1.st_size != s2.st_size ||
	    s1.st_mode != s2.st_mode || s1.st_uid != s2.st_uid || s1.st_gid != s2.st_gid ||
	    s1.st_mtim.tv_sec != s2.st_mtim.tv_sec || s1.st_mtim.tv_nsec != s2.st_mtim.tv_nsec)
		return 0;
	f1 = openat(dfd1, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	f2 = openat(dfd2, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	same = f1 >= 0 && f2 >= 0 && same_bytes_ok(f1, f2);
	if (f1 >= 0)
		close(f1);
	if (f2 >= 0)
		close(f2);
	return same;
}

/* ctl_quarantine - move NAME (in DIRFD on backing B) into B's quarantine */
int ctl_quarantine(struct ctl *x, int dirfd, int b, const char *rel, const char *name, const char *why)
{
	char qname[NAME_MAX + 1];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	/* The daemon's naming: time first, so that quarantine lists in order. */
	snprintf(qname, sizeof(qname), "%lld.%09ld.%.200s", (long long)now.tv_sec, now.tv_nsec, name);
	if (x->apply && renameat(dirfd, name, x->quarfd[b], qname) < 0) {
		ctl_warn(x, errno, "quarantine %s on %s", rel, x->path[b]);
		return -errno;
	}
	ctl_action(x, "quarantine %s: %s -> %s/%s/quarantine/%s (%s)", rel, x->path[b], x->path[b],
		   QFS_META_NAME, qname, why);
	return 0;
}

/* copy_data - SRC into DST from the start; 0 or -errno */
static int copy_data(int src, int dst)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		break; /* no in-kernel copy between these filesystems: read and write */
	}
	while ((n = read(src, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0, w; off < n; off += w)
			if ((w = write(dst, buf + off, (size_t)(n - off))) < 0)
				return -errno;
	return n < 0 ? -errno : 0;
}

/* tmp_make - the copy of the open source SFD (stat ST) as TMP in the target's .queuefs */
static int tmp_make(struct ctl *x, int to, int sdir, const char *name, int sfd, const struct stat *st,
		    const char *tmp)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	char target[PATH_MAX];
	ssize_t len;
	int fd, err = 0;

	if (S_ISLNK(st->st_mode)) {
		len = readlinkat(sdir, name, target, sizeof(target) - 1);
		if (len < 0)
			return -errno;
		target[len] = 0;
		if (symlinkat(target, x->metafd[to], tmp) < 0 ||
		    fchownat(x->metafd[to], tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    utimensat(x->metafd[to], tmp, times, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		return 0;
	}
	fd = openat(x->metafd[to], tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = copy_data(sfd, fd);
	/* chown first: it clears set-id bits that fchmod then restores */
	if (!err && (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0 ||
		     futimens(fd, times) < 0 || fsync(fd) < 0))
		err = -errno;
	close(fd);
	return err;
}

/* ctl_move_file - move one file, crash-safely (see DESCRIPTION) */
int ctl_move_file(struct ctl *x, const struct ctl_move *mv)
{
	static unsigned long seq, placed, crash_after;
	const char *slash = strrchr(mv->rel, '/'), *name = slash ? slash + 1 : mv->rel;
	char reldir[PATH_MAX], tmp[64];
	int sdir = -1, ddir = -1, sfd = -1, err;
	struct stat st;

	if (seq == 0 && getenv("QUEUEFSCTL_CRASH_AFTER"))
		crash_after = strtoul(getenv("QUEUEFSCTL_CRASH_AFTER"), NULL, 10);
	snprintf(reldir, sizeof(reldir), "%.*s", slash ? (int)(slash - mv->rel) : 0, mv->rel);
	snprintf(tmp, sizeof(tmp), CTL_TMP_PFX "%ld.%lu", (long)getpid(), ++seq);
	if ((sdir = ctl_dir_open(x, mv->from, reldir, O_RDONLY)) < 0 ||
	    (ddir = ctl_dir_open(x, mv->to, reldir, O_RDONLY)) < 0) {
		err = sdir < 0 ? sdir : ddir;
		goto out;
	}
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		err = -errno;
		goto out;
	}
	if ((err = tmp_make(x, mv->to, sdir, name, sfd, &st, tmp)) < 0) {
		unlinkat(x->metafd[mv->to], tmp, 0);
		goto out;
	}
	if (renameat2(x->metafd[mv->to], tmp, ddir, name, RENAME_NOREPLACE) < 0) {
		err = -errno;
		if (err == -EINVAL && linkat(x->metafd[mv->to], tmp, ddir, name, 0) == 0)
			err = 0; /* no RENAME_NOREPLACE here: link refuses to replace too */
		unlinkat(x->metafd[mv->to], tmp, 0);
		if (err < 0)
			goto out;
	}
	if (fsync(ddir) < 0) {
		err = -errno;
		goto out;
	}
	if (crash_after && ++placed == crash_after)
		kill(getpid(), SIGKILL);
	if (unlinkat(sdir, name, 0) < 0 || fsync(sdir) < 0)
		err = -errno;
out:
	if (sfd >= 0)
		close(sfd);
	if (sdir >= 0)
		close(sdir);
	if (ddir >= 0)
		close(ddir);
	return err;
}

/* progress - "moved N/M" on a terminal, at most every percent */
static void progress(struct ctl *x, size_t done, size_t total)
{
	if (!isatty(STDERR_FILENO) || !x->apply || total == 0)
		return;
	if (done != total && done % (total / 100 + 1) != 0)
		return;
	fprintf(stderr, "\rqueuefsctl: %s: moved %zu/%zu files (%zu%%)%s", x->cmd, done, total,
		done * 100 / total, done == total ? "\n" : "");
}

/* ctl_move_all - run the planned moves, reporting each */
int ctl_move_all(struct ctl *x)
{
	for (size_t i = 0; i < x->nmoves; i++) {
		const struct ctl_move *mv = &x->moves[i];
		int err;

		progress(x, i, x->nmoves);
		if (!x->apply) {
			ctl_action(x, "move %s: %s -> %s", mv->rel, x->path[mv->from], x->path[mv->to]);
			continue;
		}
		if (!backing_room_ok(&x->layout.b[mv->to])) {
			ctl_left(x, "%s: %s is below its free-space floor, not moved", mv->rel,
				 x->path[mv->to]);
			continue;
		}
		err = ctl_move_file(x, mv);
		if (err == -EEXIST)
			ctl_left(x, "%s: appeared on %s meanwhile, not moved", mv->rel, x->path[mv->to]);
		else if (err < 0)
			ctl_warn(x, err, "move %s: %s -> %s", mv->rel, x->path[mv->from], x->path[mv->to]);
		else
			ctl_action(x, "move %s: %s -> %s", mv->rel, x->path[mv->from], x->path[mv->to]);
	}
	progress(x, x->nmoves, x->nmoves);
	return 0;
}

/* ctl_tmp_sweep - remove the temporary copies of an interrupted run */
int ctl_tmp_sweep(struct ctl *x)
{
	for (int b = 0; b < x->nb; b++) {
		struct dirent *de;
		DIR *d;
		int fd;

		if (x->metafd[b] < 0)
			continue;
		if ((fd = openat(x->metafd[b], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    !(d = fdopendir(fd))) {
			ctl_warn(x, errno, "read %s/%s", x->path[b], QFS_META_NAME);
			if (fd >= 0)
				close(fd);
			return -errno;
		}
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, CTL_TMP_PFX, strlen(CTL_TMP_PFX)) != 0)
				continue;
			ctl_finding(x, "leftover-temp %s/%s/%s: a copy an interrupted move never placed",
				    x->path[b], QFS_META_NAME, de->d_name);
			if (x->mode == CTL_CHECK)
				continue;
			if (x->apply && unlinkat(dirfd(d), de->d_name, 0) < 0)
				ctl_warn(x, errno, "unlink %s/%s/%s", x->path[b], QFS_META_NAME, de->d_name);
			else
				ctl_action(x, "unlink %s/%s/%s", x->path[b], QFS_META_NAME, de->d_name);
		}
		closedir(d);
	}
	return 0;
}
