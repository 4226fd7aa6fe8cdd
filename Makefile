# queuefs - plain Makefile, explicit source lists.
#
#   make            build build/bin/queuefs
#   make test       install missing Debian packages, build, run unit + mount tests
#   make demo       install missing packages, build, mount a demo queue
#   make check-asan / check-valgrind   the test suite under sanitizers / valgrind

CC      ?= gcc
BUILD   ?= build
PKGS     = fuse3 libxxhash check
OPTFLAGS ?= -O2 -g
# Hardening of what ships; the sanitizer build turns it off (HARDEN=).
HARDEN   ?= -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
HARDEN_LD ?= -pie -Wl,-z,relro,-z,now
CFLAGS_ALL = -std=gnu11 $(OPTFLAGS) $(HARDEN) -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude \
	     $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS) $(CFLAGS)
LIBS_FS    = $(shell pkg-config --libs fuse3 libxxhash 2>/dev/null) -lpthread
LIBS_CHECK = $(shell pkg-config --libs check 2>/dev/null)

LIB_SRCS = fs/log.c fs/conf.c fs/route.c fs/backing.c fs/node.c fs/place.c fs/sync.c fs/ops.c fs/ops_entry.c fs/ops_file.c fs/ops_dir.c \
	   fs/stats.c fs/ctl.c fs/ctl_client.c fs/inval.c fs/watch.c
MAIN_SRCS = fs/main.c
UNIT_SRCS = test/unit/check_main.c test/unit/check_conf.c test/unit/check_route.c \
	    test/unit/check_backing.c
MOUNT_SRCS = test/mount/check_mount.c test/mount/check_ops.c test/mount/check_place.c \
	     test/mount/check_mta.c test/mount/check_inode.c test/mount/check_manifest.c test/mount/check_ctl.c \
	     test/mount/check_coherence.c test/mount/check_faults.c \
	     test/mount/mnt.c

LIB_OBJS   = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
MAIN_OBJS  = $(MAIN_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_OBJS  = $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o)
MOUNT_OBJS = $(MOUNT_SRCS:%.c=$(BUILD)/obj/%.o)

QUEUEFS     = $(BUILD)/bin/queuefs
UNIT_TEST   = $(BUILD)/test/check_unit
MOUNT_TEST  = $(BUILD)/test/check_mount

.PHONY: test-posix fuzz all deps test check-unit check-mount test-coherence test-faults check-asan check-valgrind demo demo-stop \
	format clean

all: $(QUEUEFS) $(UNIT_TEST) $(MOUNT_TEST)

deps:
	@sh mount-helpers/install-deps

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h) $(wildcard test/mount/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(QUEUEFS): $(MAIN_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(HARDEN_LD) -o $@ $^ $(LIBS_FS) $(LDFLAGS)

$(UNIT_TEST): $(UNIT_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS_CHECK) $(LIBS_FS) $(LDFLAGS)

$(MOUNT_TEST): $(MOUNT_OBJS) $(BUILD)/obj/fs/ctl_client.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS_CHECK) $(LIBS_FS) $(LDFLAGS)

test: deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-mount
	$(MAKE) check-ops
	$(MAKE) fuzz FUZZ_SECONDS=20
	$(MAKE) test-gluster
	$(MAKE) test-gluster-mta
	$(MAKE) e2e

check-unit: $(UNIT_TEST)
	$(UNIT_TEST)

check-mount: $(QUEUEFS) $(MOUNT_TEST)
	QUEUEFS=$(abspath $(QUEUEFS)) sh test/mount/run $(MOUNT_TEST)

# The fault suite alone, with more kill rounds: prints the figures.
test-faults: $(QUEUEFS) $(MOUNT_TEST)
	CK_RUN_SUITE=faults FAULT_ROUNDS=$${FAULT_ROUNDS:-25} STRESS_SECONDS=$${STRESS_SECONDS:-120} QUEUEFS=$(abspath $(QUEUEFS)) sh test/mount/run $(MOUNT_TEST)

# The two-daemon coherence suite alone (also part of check-mount): prints the stale table.
test-coherence: $(QUEUEFS) $(MOUNT_TEST)
	CK_RUN_SUITE=coherence QUEUEFS=$(abspath $(QUEUEFS)) sh test/mount/run $(MOUNT_TEST)

# Sanitizers: a separate build tree so the two never mix objects. Reports of
# the daemons (which run in the background of the mount tests) go to files,
# and any report fails the target.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check-asan: deps
	$(MAKE) BUILD=build-asan OPTFLAGS="$(ASAN_FLAGS)" HARDEN= HARDEN_LD= all
	rm -f build-asan/sanitizer.*
	ASAN_OPTIONS=detect_leaks=1:log_path=$(abspath build-asan)/sanitizer \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(abspath build-asan)/sanitizer \
		$(MAKE) BUILD=build-asan OPTFLAGS="$(ASAN_FLAGS)" HARDEN= HARDEN_LD= check-unit check-mount
	@if ls build-asan/sanitizer.* >/dev/null 2>&1; then cat build-asan/sanitizer.*; exit 1; fi

check-valgrind: deps all
	rm -f $(BUILD)/valgrind-*.log
	CK_FORK=no valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite $(UNIT_TEST)
	QUEUEFS_WRAPPER="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --log-file=$(abspath $(BUILD))/valgrind-%p.log" \
		QUEUEFS=$(abspath $(QUEUEFS)) sh test/mount/run $(MOUNT_TEST)
	@! grep -l "ERROR SUMMARY: [1-9]" $(BUILD)/valgrind-*.log

# End-to-end: real sendmail, Postfix and Exim on loopback, queue on queuefs
# (test/e2e/README). Installs and purges the MTAs itself; root only.
E2E_SRCS = test/e2e/sink.c test/e2e/send.c
E2E_OBJS = $(E2E_SRCS:%.c=$(BUILD)/obj/%.o)
E2E_SINK = $(BUILD)/test/e2e-sink
E2E_SEND = $(BUILD)/test/e2e-send

.PHONY: e2e

$(E2E_OBJS): test/e2e/e2e.h

$(E2E_SINK): $(BUILD)/obj/test/e2e/sink.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDFLAGS)

$(E2E_SEND): $(BUILD)/obj/test/e2e/send.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ -lpthread $(LDFLAGS)

e2e: deps
	$(MAKE) $(QUEUEFS) $(E2E_SINK) $(E2E_SEND)
	QUEUEFS=$(abspath $(QUEUEFS)) E2E_BIN=$(abspath $(BUILD)/test) bash test/e2e/run-all $(E2E_MTAS)

demo: deps $(QUEUEFS) $(QUEUEFSCTL)
	sh mount-helpers/demo start $(abspath $(QUEUEFS)) $(abspath $(QUEUEFSCTL))

demo-stop:
	sh mount-helpers/demo stop

# Fuzzing the config parser and router with libFuzzer (clang). make test runs
# it for FUZZ_SECONDS on a scratch copy of the corpus, which stays as it is.
FUZZ_SECONDS ?= 60
FUZZ_BIN = $(BUILD)/fuzz/fuzz_conf
$(FUZZ_BIN): test/fuzz/fuzz_conf.c fs/conf.c fs/route.c $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ test/fuzz/fuzz_conf.c fs/conf.c fs/route.c $(LIBS_FS)

fuzz: deps $(FUZZ_BIN)
	rm -rf $(BUILD)/fuzz/corpus && mkdir -p $(BUILD)/fuzz/corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus test/fuzz/corpus-conf \
		>$(BUILD)/fuzz/log 2>&1; st=$$?; grep -E '^(Done|stat::number|==|SUMMARY)' $(BUILD)/fuzz/log; \
		[ $$st -eq 0 ] && echo "fuzz: no crash, leak or sanitizer report" || { tail -40 $(BUILD)/fuzz/log; exit 1; }

# POSIX conformance with pjdfstest (not fetched by the project: PJDFSTEST=checkout).
test-posix: deps $(QUEUEFS)
	QUEUEFS=$(abspath $(QUEUEFS)) PJDFSTEST=$(PJDFSTEST) sh test/posix/run $(POSIX_GROUPS)

format:
	clang-format -i fs/*.c include/*.h test/unit/*.c test/mount/*.c test/mount/*.h test/gluster/*.c test/fuzz/*.c \
		mount-helpers/*.c mount-helpers/*.h

clean:
	rm -rf build build-asan

# ---------------------------------------------------------------------------
# Operations: queuefsctl (offline check / repair / rebalance), the mount
# helper, systemd units, man pages; make install / uninstall; make check-ops.
# (Additive: new variables and targets only; `all` gains queuefsctl below.)
CTL_SRCS = mount-helpers/queuefsctl.c mount-helpers/queuefsctl_layout.c \
	   mount-helpers/queuefsctl_walk.c mount-helpers/queuefsctl_mta.c \
	   mount-helpers/queuefsctl_move.c mount-helpers/queuefsctl_online.c
CTL_LIB_SRCS = fs/log.c fs/conf.c fs/route.c fs/backing.c fs/ctl_client.c
CTL_OBJS   = $(CTL_SRCS:%.c=$(BUILD)/obj/%.o)
QUEUEFSCTL = $(BUILD)/bin/queuefsctl

.PHONY: tools check-ops install uninstall

all: $(QUEUEFSCTL)
tools: $(QUEUEFSCTL)

$(CTL_OBJS): mount-helpers/queuefsctl.h

$(QUEUEFSCTL): $(CTL_OBJS) $(CTL_LIB_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(HARDEN_LD) -o $@ $^ $(LIBS_FS) -lm $(LDFLAGS)

check-ops: $(QUEUEFS) $(QUEUEFSCTL)
	QUEUEFS=$(abspath $(QUEUEFS)) QUEUEFSCTL=$(abspath $(QUEUEFSCTL)) \
		MOUNT_QUEUEFS=$(abspath mount-helpers/mount.queuefs) sh test/ops/run-all

# make install [PREFIX=/usr/local] [DESTDIR=...]. mount(8) looks for its
# helpers in /sbin only, so mount.queuefs goes there whatever PREFIX says
# (SBINDIR_MOUNT=$(PREFIX)/sbin to keep everything under PREFIX, then
# mount -t queuefs cannot find it). Units go to /lib/systemd/system, the
# example config to /etc/queuefs; an existing queues.conf is never touched.
PREFIX        ?= /usr/local
SBINDIR       ?= $(PREFIX)/sbin
MANDIR        ?= $(PREFIX)/share/man
SBINDIR_MOUNT ?= /sbin
UNITDIR       ?= /lib/systemd/system
CONFDIR       ?= /etc/queuefs
INSTALL       ?= install

install: $(QUEUEFS) $(QUEUEFSCTL)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SBINDIR_MOUNT) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(CONFDIR)
	$(INSTALL) -m 0755 $(QUEUEFS) $(QUEUEFSCTL) $(DESTDIR)$(SBINDIR)/
	sed 's|@SBINDIR@|$(SBINDIR)|g' mount-helpers/mount.queuefs >$(DESTDIR)$(SBINDIR_MOUNT)/mount.queuefs
	chmod 0755 $(DESTDIR)$(SBINDIR_MOUNT)/mount.queuefs
	ln -sf mount.queuefs $(DESTDIR)$(SBINDIR_MOUNT)/mount.fuse.queuefs
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|@CONFDIR@|$(CONFDIR)|g' mount-helpers/queuefs@.service \
		>$(DESTDIR)$(UNITDIR)/queuefs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/queuefs@.service
	$(INSTALL) -m 0644 mount-helpers/queuefs.8 mount-helpers/queuefsctl.8 mount-helpers/mount.queuefs.8 \
		$(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 mount-helpers/queuefs.conf.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 mount-helpers/queues.conf.example $(DESTDIR)$(CONFDIR)/queues.conf.example

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/queuefs $(DESTDIR)$(SBINDIR)/queuefsctl \
		$(DESTDIR)$(SBINDIR_MOUNT)/mount.queuefs $(DESTDIR)$(SBINDIR_MOUNT)/mount.fuse.queuefs \
		$(DESTDIR)$(UNITDIR)/queuefs@.service \
		$(DESTDIR)$(MANDIR)/man8/queuefs.8 $(DESTDIR)$(MANDIR)/man8/queuefsctl.8 \
		$(DESTDIR)$(MANDIR)/man8/mount.queuefs.8 $(DESTDIR)$(MANDIR)/man5/queuefs.conf.5 \
		$(DESTDIR)$(CONFDIR)/queues.conf.example
	-rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null

# ---------------------------------------------------------------------------
# Benchmarks (test/bench/): the MTA-shaped workload generator qgen, the
# slow-disk simulator, libfuse's passthrough_ll example as the FUSE floor,
# and the runner. Not part of `make test`; root only (mounts).
#   make bench          full run, medians of BENCH_RUNS (3), ~30 min
#   make bench-quick    CI-sized smoke run of the same (BENCH_QUICK=1)
#   make bench-memory   daemon RSS over BENCH_MEM_MSGS (1000000) messages
#   make bench-smtp     real sendmail over SMTP on loopback: its queue on one
#                       simulated disk vs queuefs over N (test/bench/smtp;
#                       installs and purges sendmail through test/e2e/run-all)
# Results: $(BUILD)/bench/results.{txt,md,tsv}, scaling.png, overhead.png,
# smtp.{md,tsv}.
BENCH_BIN      = $(BUILD)/bench
QGEN           = $(BENCH_BIN)/qgen
SLOWDISK       = $(BENCH_BIN)/slowdisk
PASSTHROUGH_LL = $(BENCH_BIN)/passthrough_ll
FUSE_EXAMPLES ?= /usr/share/doc/libfuse3-dev/examples
BENCH_RUN      = QUEUEFS=$(abspath $(QUEUEFS)) BENCH_BIN=$(abspath $(BENCH_BIN)) sh test/bench/run

.PHONY: bench bench-quick bench-memory bench-smtp bench-tools

bench-tools: $(QUEUEFS) $(QGEN) $(SLOWDISK) $(PASSTHROUGH_LL)

$(QGEN): test/bench/qgen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -lpthread $(LDFLAGS)

$(SLOWDISK): test/bench/slowdisk.c include/queuefs.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBS_FS) $(LDFLAGS)

# Built from the Debian docs folder as shipped, never committed; it is not
# our code, so it gets the flags of its own Makefile, not -Werror.
$(PASSTHROUGH_LL): $(FUSE_EXAMPLES)/passthrough_ll.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -DHAVE_FALLOCATE -DHAVE_POSIX_FALLOCATE -DHAVE_COPY_FILE_RANGE \
		-I$(FUSE_EXAMPLES) $(shell pkg-config --cflags fuse3) -o $@ $< \
		$(shell pkg-config --libs fuse3) -lpthread

bench: deps
	$(MAKE) bench-tools
	$(BENCH_RUN) all
	$(MAKE) bench-smtp

bench-quick: deps
	$(MAKE) bench-tools
	BENCH_QUICK=1 $(BENCH_RUN) all

bench-memory: deps
	$(MAKE) bench-tools
	$(BENCH_RUN) memory

bench-smtp: deps
	$(MAKE) bench-tools $(E2E_SINK) $(E2E_SEND)
	QUEUEFS=$(abspath $(QUEUEFS)) BENCH_BIN=$(abspath $(BENCH_BIN)) E2E_BIN=$(abspath $(BUILD)/test) \
		bash test/bench/smtp

# ---------------------------------------------------------------------------
# Shared storage over GlusterFS (test/gluster/): a one-node volume on
# loopback mounted twice by the GlusterFS client, a queuefs daemon on each
# mount; prints the stale table, lock and O_EXCL results and the cost of
# flush mode. Installs glusterfs-server/-client if missing; root only; not
# part of `make test`.
GL_PROBE = $(BUILD)/test/coh_observe

.PHONY: test-gluster

$(GL_PROBE): test/gluster/coh_observe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(HARDEN_LD) -o $@ $< $(LDFLAGS)

test-gluster: deps
	$(MAKE) $(QUEUEFS) $(GL_PROBE)
	QUEUEFS=$(abspath $(QUEUEFS)) GL_PROBE=$(abspath $(GL_PROBE)) sh test/gluster/run

# A real MTA on each node (README, "Shared storage"): sendmail on two client
# mounts of one GlusterFS volume, queuefs with nfs_index, nfs_storage and
# locks = backing on both; messages submitted on node A are delivered once
# while both nodes run queue runners. Installs (and purges) sendmail through
# test/e2e/run-all; root only.
.PHONY: test-gluster-mta

test-gluster-mta: deps
	$(MAKE) $(QUEUEFS) $(E2E_SINK) $(E2E_SEND)
	QUEUEFS=$(abspath $(QUEUEFS)) E2E_BIN=$(abspath $(BUILD)/test) bash test/gluster/mta.sh
