/*
 * NAME
 *	ctl_client - find and talk to a mount's control socket
 * DESCRIPTION
 *	Shared by the daemon (where to listen) and queuefsctl (where to
 *	connect): the socket is DIR/<16 hex digits of XXH3 of the
 *	mountpoint's real path>.sock. Short names keep within sun_path.
 * DIAGNOSTICS
 *	Functions return 0 or -errno; ctl_request returns -ECONNREFUSED or
 *	-ENOENT when no daemon serves the mountpoint.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include "ctl.h"

/* ctl_socket_path - the socket of MOUNTPOINT under DIR */
int ctl_socket_path(const char *dir, const char *mountpoint, char *buf, size_t len)
{
	char real[PATH_MAX];
	int n;

	if (!realpath(mountpoint, real))
		return -errno;
	n = snprintf(buf, len, "%s/%016llx.sock", dir, (unsigned long long)XXH3_64bits(real, strlen(real)));
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* ctl_request - send one request line, copy the whole answer to OUT */
int ctl_request(const char *dir, const char *mountpoint, const char *request, FILE *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n;
	int fd, err;

	err = ctl_socket_path(dir, mountpoint, sa.sun_path, sizeof(sa.sun_path));
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, out);
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}
