/*
 * NAME
 *	fuzz_conf - libFuzzer target: the config parser and the router
 * DESCRIPTION
 *	Each input is written to a memfd and loaded as a config file, as the
 *	daemon would load it; when it is accepted, every class routes a few
 *	names and paths. Built with -fsanitize=fuzzer,address,undefined by
 *	`make fuzz`; any crash, leak, hang or sanitizer report fails the run.
 * DIAGNOSTICS
 *	libFuzzer's own.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "route.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"qfABC", "df", "x", "q.3/qf/qfA12", "incoming/1.2", "hdr.1abc-00-AB", "1abc-00-AB-H", ""
	};
	char path[64];
	struct conf c;
	int fd;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	fd = memfd_create("conf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	conf_init(&c);
	if (conf_load(&c, path, devnull) == 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			struct route r;
			uint32_t ids[QFS_MAX_SHARDS];
			int order[QFS_MAX_SHARDS];

			route_path(&c, names[i], &r);
			for (int s = 0; s < c.classes[r.cls].nshards; s++)
				ids[s] = (uint32_t)s * 7u;
			route_order(ids, c.classes[r.cls].nshards, r.key, r.keylen, r.pin, order);
		}
	}
	conf_free(&c);
	close(fd);
	return 0;
}
