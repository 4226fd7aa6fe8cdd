/*
 * NAME
 *	e2e.h - what the e2e submitter and sink agree on
 *
 * DESCRIPTION
 *	The body checksum both sides compute: FNV-1a, 64 bits, over the body
 *	with LF line ends (what the submitter generated, what the sink gets
 *	back after undoing CRLF and dot-stuffing). The two header names that
 *	carry a message's id and checksum through the MTA. A write that
 *	finishes what it starts.
 */
#ifndef E2E_H
#define E2E_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#define E2E_HDR_ID  "X-E2E-Id:"
#define E2E_HDR_SUM "X-E2E-Sum:"

#define E2E_FNV_INIT 0xcbf29ce484222325ULL

/* e2e_fnv - fold LEN bytes of P into the running FNV-1a hash H */
static inline uint64_t e2e_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len-- > 0) {
		h ^= *c++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* e2e_write_all - write all of BUF to FD, 0 or -1 */
static inline int e2e_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif
