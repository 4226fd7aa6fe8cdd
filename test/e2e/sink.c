/*
 * NAME
 *	e2e-sink - SMTP sink on 127.0.0.1 that records every message it takes
 *
 * SYNOPSIS
 *	e2e-sink -p PORT -l LOG [-r READY] [-t FLAG] [-d MS] [-n NAME] [-T SECS]
 *
 * DESCRIPTION
 *	Listens on 127.0.0.1:PORT (never any other address) and speaks just
 *	enough SMTP for an MTA relaying to it. For each message it takes it
 *	appends one line to LOG, in one write(2) on an O_APPEND descriptor so
 *	that concurrent sessions never interleave:
 *
 *		ID STATUS rcpts=N bytes=B
 *
 *	ID is the X-E2E-Id header ("-" if absent); STATUS is "ok" when the
 *	X-E2E-Sum header equals the FNV-1a sum of the body received, "badsum"
 *	when it does not, "nosum" without that header. The line is written
 *	before the 250 reply, so a message the MTA saw accepted is in LOG.
 *
 *	-r READY  file created once the socket listens (the harness waits on it)
 *	-t FLAG   while the file FLAG exists, MAIL and end of DATA get 451: a
 *	          temporary failure on demand, without closing the port
 *	-d MS     wait MS milliseconds before answering end of DATA (keeps
 *	          the MTA's delivery, and its transcript file, open a while)
 *	-n NAME   the greeting name (default sink.e2e.test; never the MTA's
 *	          own, or sendmail says "mail loops back to me")
 *	-T SECS   exit after SECS seconds whatever happens (default 1800)
 *
 *	One process per session (fork); a session that is silent for 120 s
 *	is dropped. SIGTERM ends the listener and every session: "sink down"
 *	means no connection at all, not even one an MTA cached.
 *
 * DIAGNOSTICS
 *	Exits 2 on a usage error, 1 if it cannot listen or open LOG, 0 on
 *	SIGTERM or at the end of its lifetime.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"

#define SINK_LINE_MAX  65536
#define SINK_IDLE_SECS 120

struct sink_conf {
	int port;
	const char *log;
	const char *ready;
	const char *flag;
	int delay_ms;
	const char *name;
	int lifetime;
};

struct sink_reader {
	int fd;
	char buf[SINK_LINE_MAX];
	size_t len; /* bytes in buf */
	size_t off; /* first unread byte */
};

static int sink_logfd = -1;

/* sink_usage - print the synopsis and exit 2 */
static void sink_usage(void)
{
	fprintf(stderr, "usage: e2e-sink -p PORT -l LOG [-r READY] [-t FLAG] [-d MS] [-n NAME] [-T SECS]\n");
	exit(2);
}

/* sink_reply - send one reply line (CRLF added) */
static int sink_reply(int fd, const char *text)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s\r\n", text);

	return e2e_write_all(fd, line, (size_t)n);
}

/*
 * sink_getline - the next line without its CRLF (or LF), NUL-terminated,
 * in LINE of size SIZE; an over-long line is cut to SIZE-1 bytes and the
 * rest of it is discarded. Returns its length, or -1 at EOF or error.
 */
static ssize_t sink_getline(struct sink_reader *r, char *line, size_t size)
{
	size_t used = 0;

	for (;;) {
		while (r->off < r->len) {
			char c = r->buf[r->off++];

			if (c == '\n') {
				if (used > 0 && line[used - 1] == '\r')
					used--;
				line[used] = '\0';
				return (ssize_t)used;
			}
			if (used + 1 < size)
				line[used++] = c;
		}
		ssize_t n = read(r->fd, r->buf, sizeof(r->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		r->len = (size_t)n;
		r->off = 0;
	}
}

/* sink_flag_up - is the temporary-failure flag file there? */
static int sink_flag_up(const struct sink_conf *c)
{
	return c->flag != NULL && access(c->flag, F_OK) == 0;
}

/* sink_header_value - VALUE of LINE if it is header NAME (case-blind), else NULL */
static const char *sink_header_value(const char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) != 0)
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/*
 * sink_data - read one message up to the lone dot and record it. Returns
 * 0 when the session may go on, -1 when the peer went away mid-message.
 */
static int sink_data(const struct sink_conf *c, struct sink_reader *r, char *line, int rcpts)
{
	char id[256] = "-", sum[64] = "";
	uint64_t h = E2E_FNV_INIT;
	unsigned long long bytes = 0;
	int in_body = 0;

	for (;;) {
		ssize_t n = sink_getline(r, line, SINK_LINE_MAX);
		const char *v, *p = line;

		if (n < 0)
			return -1;
		if (strcmp(line, ".") == 0)
			break;
		if (*p == '.') { /* undo dot-stuffing */
			p++;
			n--;
		}
		bytes += (unsigned long long)n + 1;
		if (in_body) {
			h = e2e_fnv(h, p, (size_t)n);
			h = e2e_fnv(h, "\n", 1);
		} else if (n == 0) {
			in_body = 1;
		} else if ((v = sink_header_value(p, E2E_HDR_ID)) != NULL) {
			snprintf(id, sizeof(id), "%.*s", (int)strcspn(v, " \t"), v);
		} else if ((v = sink_header_value(p, E2E_HDR_SUM)) != NULL) {
			snprintf(sum, sizeof(sum), "%.*s", (int)strcspn(v, " \t"), v);
		}
	}
	if (c->delay_ms > 0)
		usleep((useconds_t)c->delay_ms * 1000);
	if (sink_flag_up(c))
		return sink_reply(r->fd, "451 4.3.0 sink: temporary failure on demand");

	char got[32], rec[512];
	const char *status;
	snprintf(got, sizeof(got), "%016" PRIx64, h);
	if (*sum == '\0')
		status = "nosum";
	else if (strcasecmp(sum, got) == 0)
		status = "ok";
	else
		status = "badsum";
	int len = snprintf(rec, sizeof(rec), "%s %s rcpts=%d bytes=%llu\n", id, status, rcpts, bytes);
	if (e2e_write_all(sink_logfd, rec, (size_t)len) < 0)
		return sink_reply(r->fd, "451 4.3.0 sink: cannot record the message");
	return sink_reply(r->fd, "250 2.0.0 sink: recorded");
}

/* sink_session - one SMTP conversation on FD, until QUIT or EOF */
static void sink_session(const struct sink_conf *c, int fd)
{
	struct sink_reader r = { .fd = fd };
	char line[SINK_LINE_MAX];
	char greet[300];
	int mail = 0, rcpts = 0;

	snprintf(greet, sizeof(greet), "220 %s ESMTP e2e sink", c->name);
	if (sink_reply(fd, greet) < 0)
		return;
	for (;;) {
		alarm(SINK_IDLE_SECS);
		if (sink_getline(&r, line, sizeof(line)) < 0)
			return;
		int rc = 0;
		if (strncasecmp(line, "EHLO", 4) == 0) {
			char ehlo[400];
			snprintf(ehlo, sizeof(ehlo), "250-%s\r\n250 8BITMIME", c->name);
			rc = sink_reply(fd, ehlo);
			mail = rcpts = 0;
		} else if (strncasecmp(line, "HELO", 4) == 0) {
			rc = sink_reply(fd, "250 sink");
			mail = rcpts = 0;
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			if (sink_flag_up(c)) {
				rc = sink_reply(fd, "451 4.3.0 sink: temporary failure on demand");
			} else {
				mail = 1;
				rcpts = 0;
				rc = sink_reply(fd, "250 2.1.0 ok");
			}
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			if (!mail) {
				rc = sink_reply(fd, "503 5.5.1 MAIL first");
			} else {
				rcpts++;
				rc = sink_reply(fd, "250 2.1.5 ok");
			}
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			if (rcpts == 0) {
				rc = sink_reply(fd, "503 5.5.1 RCPT first");
			} else if ((rc = sink_reply(fd, "354 end with a lone dot")) == 0) {
				alarm(SINK_IDLE_SECS);
				rc = sink_data(c, &r, line, rcpts);
				mail = rcpts = 0;
			}
		} else if (strncasecmp(line, "RSET", 4) == 0) {
			mail = rcpts = 0;
			rc = sink_reply(fd, "250 2.0.0 ok");
		} else if (strncasecmp(line, "NOOP", 4) == 0) {
			rc = sink_reply(fd, "250 2.0.0 ok");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			sink_reply(fd, "221 2.0.0 bye");
			return;
		} else {
			rc = sink_reply(fd, "502 5.5.2 not implemented");
		}
		if (rc < 0)
			return;
	}
}

/* sink_listen - a socket listening on 127.0.0.1:PORT, or -1 */
static int sink_listen(int port)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by design */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * sink_stop - SIGTERM / end of lifetime in the listener: end the sessions
 * too (an MTA's cached connection must not outlive "sink down"), then exit.
 * The sink leads its own process group, so kill(0) reaches only its own.
 */
static void sink_stop(int sig)
{
	(void)sig;
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sink_conf c = { .name = "sink.e2e.test", .lifetime = 1800 };
	int opt;

	while ((opt = getopt(argc, argv, "p:l:r:t:d:n:T:")) != -1) {
		switch (opt) {
		case 'p':
			c.port = atoi(optarg);
			break;
		case 'l':
			c.log = optarg;
			break;
		case 'r':
			c.ready = optarg;
			break;
		case 't':
			c.flag = optarg;
			break;
		case 'd':
			c.delay_ms = atoi(optarg);
			break;
		case 'n':
			c.name = optarg;
			break;
		case 'T':
			c.lifetime = atoi(optarg);
			break;
		default:
			sink_usage();
		}
	}
	if (c.port <= 0 || c.port > 65535 || c.log == NULL || c.lifetime <= 0 || optind != argc)
		sink_usage();

	sink_logfd = open(c.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (sink_logfd < 0) {
		fprintf(stderr, "e2e-sink: open %s: %s\n", c.log, strerror(errno));
		return 1;
	}
	int lfd = sink_listen(c.port);
	if (lfd < 0) {
		fprintf(stderr, "e2e-sink: listen 127.0.0.1:%d: %s\n", c.port, strerror(errno));
		return 1;
	}
	setpgid(0, 0);		  /* see sink_stop */
	signal(SIGCHLD, SIG_IGN); /* sessions reap themselves */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, sink_stop);
	signal(SIGALRM, sink_stop);
	alarm((unsigned)c.lifetime);
	if (c.ready != NULL) {
		int fd = open(c.ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "e2e-sink: accept: %s\n", strerror(errno));
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			signal(SIGALRM, SIG_DFL); /* idle timeout ends the session */
			sink_session(&c, cfd);
			_exit(0);
		}
		if (pid < 0)
			sink_reply(cfd, "421 4.3.2 sink: cannot fork");
		close(cfd);
	}
}
