/*
 * ctl.h - the control channel: a Unix socket per mount for queuefsctl
 *
 * The socket lives in the config's ctl_dir, named after a hash of the
 * mountpoint's real path, so that "queuefsctl status /queues" finds it
 * from the mountpoint alone. A request is one line; the answer is text
 * and the connection closes. Only root and members of ctl_group are served.
 */
#ifndef QFS_CTL_H
#define QFS_CTL_H

#include <stddef.h>
#include <stdio.h>

#define CTL_DEFAULT_DIR "/run/queuefs"
#define CTL_REQUEST_MAX 4096

struct fs;
struct fuse_session;

/* ctl_socket_path - the socket of MOUNTPOINT under DIR into BUF; -errno */
int ctl_socket_path(const char *dir, const char *mountpoint, char *buf, size_t len);

/* ctl_request - send REQUEST to the daemon of MOUNTPOINT, copy the answer to OUT */
int ctl_request(const char *dir, const char *mountpoint, const char *request, FILE *out);

/* ctl_start - listen and serve in a thread of its own; ctl_stop ends it */
int ctl_start(struct fs *fs, struct fuse_session *se, const char *mountpoint);
void ctl_stop(void);

#endif
