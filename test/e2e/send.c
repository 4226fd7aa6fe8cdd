/*
 * NAME
 *	e2e-send - submit numbered, checksummed messages over SMTP in parallel
 *
 * SYNOPSIS
 *	e2e-send -p PORT -i TAG -n COUNT -a ACCEPTED [-c CONC] [-s FIRST]
 *		 [-e ERRORS] [-r RCPT] [-f FROM] [-m PERCONN] [-R RETRIES] [-T SECS]
 *
 * DESCRIPTION
 *	Sends messages TAG-FIRST ... TAG-(FIRST+COUNT-1) to 127.0.0.1:PORT
 *	(never any other address) over CONC connections at once (default 4),
 *	PERCONN messages per connection (default 10). Each message carries its
 *	id in an X-E2E-Id header and the FNV-1a sum of its body in X-E2E-Sum;
 *	bodies are deterministic in the id, 200 bytes to 300 KB, with lines
 *	that need dot-stuffing.
 *
 *	The id of every message answered 250 at the end of DATA is appended to
 *	ACCEPTED as soon as the reply is read, in one write(2) per line, so the
 *	file is exactly the set the MTA acknowledged even if the MTA dies
 *	mid-run. Every failure goes to ERRORS (default stderr) as
 *	"ID try=N stage=STAGE reply=CODE". A failed message is tried again
 *	up to RETRIES times (default 0: the crash test wants the MTA's first
 *	answer), after a 200 ms pause and on a fresh connection.
 *
 *	-T SECS bounds the whole run (default 600): at the deadline the
 *	process ends with what it has recorded. Socket reads and writes time
 *	out after 60 s.
 *
 * DIAGNOSTICS
 *	Prints "e2e-send: TAG: N accepted, M not accepted" on stdout. Exits 0
 *	when every message was accepted, 1 when some were not, 2 on a usage
 *	error, and by SIGALRM at the deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"

#define SEND_IO_SECS 60

struct send_conf {
	int port;
	const char *tag;
	int first;
	int count;
	int conc;
	int perconn;
	int retries;
	int deadline;
	const char *rcpt;
	const char *from;
	int acc_fd;
	int err_fd;
};

struct send_buf {
	char *p;
	size_t len;
	size_t cap;
};

struct send_conn {
	int fd;		/* -1 when not connected */
	int sent;	/* messages on this connection */
	char last[256]; /* the last reply line, for the error log */
	char in[8192];
	size_t in_len;
	size_t in_off;
};

static struct send_conf conf;
static atomic_int send_next;
static atomic_int send_ok;
static atomic_int send_bad;

/* send_usage - print the synopsis and exit 2 */
static void send_usage(void)
{
	fprintf(stderr, "usage: e2e-send -p PORT -i TAG -n COUNT -a ACCEPTED [-c CONC] [-s FIRST]\n"
			"\t[-e ERRORS] [-r RCPT] [-f FROM] [-m PERCONN] [-R RETRIES] [-T SECS]\n");
	exit(2);
}

/* send_put - append LEN bytes to B, growing it */
static void send_put(struct send_buf *b, const char *s, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL) {
			perror("e2e-send: realloc");
			exit(1);
		}
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
}

/* send_puts - append a C string to B */
static void send_puts(struct send_buf *b, const char *s)
{
	send_put(b, s, strlen(s));
}

/* send_rand - xorshift64*: deterministic bodies from the id's hash */
static uint64_t send_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/*
 * send_build - the wire form of message ID in W (headers and body, CRLF
 * line ends, dot-stuffed, without the final dot line). The checksum is
 * taken over the body as generated, with LF line ends.
 */
static void send_build(const char *id, struct send_buf *w)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ .,-";
	struct send_buf body = { 0 };
	uint64_t seed = e2e_fnv(E2E_FNV_INIT, id, strlen(id)) | 1;
	uint64_t pick = send_rand(&seed) % 100;
	size_t want;

	if (pick < 70)
		want = 200 + send_rand(&seed) % 1800;
	else if (pick < 95)
		want = 2000 + send_rand(&seed) % 28000;
	else
		want = 30000 + send_rand(&seed) % 270000;
	while (body.len < want) {
		char line[80];
		size_t n = 0, len = 1 + send_rand(&seed) % 76;
		uint64_t kind = send_rand(&seed) % 50;

		if (kind == 0) {
			len = 0; /* an empty line inside the body */
		} else if (kind < 3) {
			line[n++] = '.'; /* needs dot-stuffing; "." alone, too */
			if (kind == 1)
				len = 1;
		}
		while (n < len)
			line[n++] = alphabet[send_rand(&seed) % (sizeof(alphabet) - 1)];
		line[n++] = '\n';
		send_put(&body, line, n);
	}

	char hdr[1024], date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	uint64_t sum = e2e_fnv(E2E_FNV_INIT, body.p, body.len);
	snprintf(hdr, sizeof(hdr),
		 "From: <%s>\r\nTo: <%s>\r\nSubject: queuefs e2e %s\r\nDate: %s\r\n"
		 "Message-ID: <%s@client.e2e.test>\r\n" E2E_HDR_ID " %s\r\n" E2E_HDR_SUM " %016" PRIx64
		 "\r\n\r\n",
		 conf.from, conf.rcpt, id, date, id, id, sum);
	w->len = 0;
	send_puts(w, hdr);
	const char *p = body.p, *end = body.p + body.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (*p == '.')
			send_put(w, ".", 1);
		send_put(w, p, (size_t)(nl - p));
		send_put(w, "\r\n", 2);
		p = nl + 1;
	}
	free(body.p);
}

/* send_reply - read one (possibly multi-line) reply: its code, or -1 */
static int send_reply(struct send_conn *c)
{
	char line[1024];
	size_t used = 0;

	for (;;) {
		if (c->in_off == c->in_len) {
			ssize_t n = read(c->fd, c->in, sizeof(c->in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			c->in_len = (size_t)n;
			c->in_off = 0;
		}
		char ch = c->in[c->in_off++];
		if (ch != '\n') {
			if (used + 1 < sizeof(line))
				line[used++] = ch;
			continue;
		}
		if (used > 0 && line[used - 1] == '\r')
			used--;
		line[used] = '\0';
		used = 0;
		snprintf(c->last, sizeof(c->last), "%.200s", line);
		if (strlen(line) < 3)
			return -1;
		if (line[3] == '-')
			continue; /* more lines of this reply */
		return atoi(line);
	}
}

/* send_cmd - send one command line, return the reply code or -1 */
static int send_cmd(struct send_conn *c, const char *fmt, const char *arg)
{
	char line[512];
	int n = snprintf(line, sizeof(line), fmt, arg);

	if (e2e_write_all(c->fd, line, (size_t)n) < 0)
		return -1;
	return send_reply(c);
}

/* send_close - drop the connection (politely if it still works) */
static void send_close(struct send_conn *c, int polite)
{
	if (c->fd < 0)
		return;
	if (polite)
		send_cmd(c, "QUIT\r\n", "");
	close(c->fd);
	c->fd = -1;
	c->sent = 0;
	c->in_len = c->in_off = 0;
}

/* send_connect - connect to 127.0.0.1:PORT and greet; reply code (220 ok) or -1 */
static int send_connect(struct send_conn *c)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = SEND_IO_SECS };

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)conf.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by design */
	c->sent = 0;
	c->in_len = c->in_off = 0;
	c->last[0] = '\0';
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	int code = send_reply(c);
	if (code != 220)
		return code;
	return send_cmd(c, "EHLO %s\r\n", "client.e2e.test") == 250 ? 220 : -1;
}

/* send_log_error - append "ID try=N stage=S reply=CODE TEXT" to the error log in one write */
static void send_log_error(int fd, const char *id, int try, const char *stage, int code, const char *text)
{
	char line[640];
	int n = snprintf(line, sizeof(line), "%s try=%d stage=%s reply=%d %s\n", id, try, stage, code, text);

	e2e_write_all(fd, line, (size_t)n);
}

/*
 * send_one - one SMTP transaction for message ID with wire form W. Returns
 * 250 on success, else the failing reply code (-1: connection lost) and
 * the stage in *STAGE.
 */
static int send_one(struct send_conn *c, const char *id, const struct send_buf *w, const char **stage)
{
	int code;

	(void)id;
	if (c->fd < 0) {
		*stage = "connect";
		if ((code = send_connect(c)) != 220) {
			send_close(c, 0);
			return code;
		}
	}
	*stage = "mail";
	if ((code = send_cmd(c, "MAIL FROM:<%s>\r\n", conf.from)) != 250)
		goto refused;
	*stage = "rcpt";
	if ((code = send_cmd(c, "RCPT TO:<%s>\r\n", conf.rcpt)) != 250 && code != 251)
		goto refused;
	*stage = "data";
	if ((code = send_cmd(c, "DATA\r\n", "")) != 354)
		goto refused;
	*stage = "dot";
	if (e2e_write_all(c->fd, w->p, w->len) < 0 || e2e_write_all(c->fd, ".\r\n", 3) < 0) {
		send_close(c, 0);
		return -1;
	}
	code = send_reply(c);
	if (code < 0 || code == 421) {
		send_close(c, 0);
		return code;
	}
	if (++c->sent >= conf.perconn)
		send_close(c, 1);
	return code;

refused:
	if (code < 0 || code == 421 || send_cmd(c, "RSET\r\n", "") != 250)
		send_close(c, 0);
	return code;
}

/* send_worker - take message numbers until none is left */
static void *send_worker(void *arg)
{
	struct send_conn *c = calloc(1, sizeof(*c));
	struct send_buf w = { 0 };

	(void)arg;
	if (c == NULL) {
		perror("e2e-send: calloc");
		exit(1);
	}
	c->fd = -1;
	for (;;) {
		int k = atomic_fetch_add(&send_next, 1);
		char id[128];
		int code = -1, try;
		const char *stage = "none";

		if (k >= conf.first + conf.count)
			break;
		snprintf(id, sizeof(id), "%s-%05d", conf.tag, k);
		send_build(id, &w);
		for (try = 0; try <= conf.retries; try++) {
			if (try > 0)
				usleep(200 * 1000);
			code = send_one(c, id, &w, &stage);
			if (code == 250)
				break;
			send_log_error(conf.err_fd, id, try, stage, code,
				       code < 0 ? "(connection lost)" : c->last);
			if (code >= 500)
				break; /* permanent: do not insist */
			send_close(c, 0);
		}
		if (code == 250) {
			char line[160];
			int n = snprintf(line, sizeof(line), "%s\n", id);
			e2e_write_all(conf.acc_fd, line, (size_t)n);
			atomic_fetch_add(&send_ok, 1);
		} else {
			atomic_fetch_add(&send_bad, 1);
		}
	}
	send_close(c, 1);
	free(c);
	free(w.p);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *acc = NULL, *err = NULL;
	int opt;

	conf.conc = 4;
	conf.first = 1;
	conf.perconn = 10;
	conf.deadline = 600;
	conf.rcpt = "e2e@sink.e2e.test";
	conf.from = "sender@client.e2e.test";
	while ((opt = getopt(argc, argv, "p:i:n:a:c:s:e:r:f:m:R:T:")) != -1) {
		switch (opt) {
		case 'p':
			conf.port = atoi(optarg);
			break;
		case 'i':
			conf.tag = optarg;
			break;
		case 'n':
			conf.count = atoi(optarg);
			break;
		case 'a':
			acc = optarg;
			break;
		case 'c':
			conf.conc = atoi(optarg);
			break;
		case 's':
			conf.first = atoi(optarg);
			break;
		case 'e':
			err = optarg;
			break;
		case 'r':
			conf.rcpt = optarg;
			break;
		case 'f':
			conf.from = optarg;
			break;
		case 'm':
			conf.perconn = atoi(optarg);
			break;
		case 'R':
			conf.retries = atoi(optarg);
			break;
		case 'T':
			conf.deadline = atoi(optarg);
			break;
		default:
			send_usage();
		}
	}
	if (conf.port <= 0 || conf.port > 65535 || conf.tag == NULL || conf.count <= 0 || acc == NULL ||
	    conf.conc <= 0 || conf.conc > 256 || conf.perconn <= 0 || conf.retries < 0 ||
	    conf.deadline <= 0 || conf.first < 0 || optind != argc)
		send_usage();

	conf.acc_fd = open(acc, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	conf.err_fd = err ? open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : 2;
	if (conf.acc_fd < 0 || conf.err_fd < 0) {
		fprintf(stderr, "e2e-send: open %s: %s\n", conf.acc_fd < 0 ? acc : err, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)conf.deadline);
	atomic_store(&send_next, conf.first);

	pthread_t *th = calloc((size_t)conf.conc, sizeof(*th));
	if (th == NULL) {
		perror("e2e-send: calloc");
		return 1;
	}
	for (int i = 0; i < conf.conc; i++) {
		if (pthread_create(&th[i], NULL, send_worker, NULL) != 0) {
			fprintf(stderr, "e2e-send: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < conf.conc; i++)
		pthread_join(th[i], NULL);
	free(th);
	printf("e2e-send: %s: %d accepted, %d not accepted\n", conf.tag, atomic_load(&send_ok),
	       atomic_load(&send_bad));
	return atomic_load(&send_bad) == 0 ? 0 : 1;
}
