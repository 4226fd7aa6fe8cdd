# NAME
#	lib.sh - shared helpers of the operations tests (sourced, POSIX sh)
#
# DESCRIPTION
#	ops_init makes a private work directory and installs a trap that, on
#	any exit, unmounts what is mounted below it, ends the daemons this
#	test started (their PIDs are in $OPS_PIDS, checked against the work
#	directory in their command line), runs the test's own ops_cleanup
#	hook and removes the directory. ok/fail count results; ops_done
#	prints the final "N passed, N failed" line and exits 1 on failure.
#	A test that cannot run here calls ops_skip (exit 77).
#
#	$QUEUEFS, $QUEUEFSCTL and $MOUNT_QUEUEFS name the programs under test
#	(absolute paths; make check-ops sets them).
#
# DIAGNOSTICS
#	Failures print "FAIL - what: why" and go on; the exit status says.
set -u

ops_passed=0
ops_failed=0
OPS_PIDS=
OPS_WORK=

ok() {
	ops_passed=$((ops_passed + 1))
	echo "ok - $1"
}

fail() {
	ops_failed=$((ops_failed + 1))
	echo "FAIL - $1${2:+: $2}"
}

# check DESC CMD... - ok if CMD succeeds, else fail
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

ops_skip() {
	echo "skip - $1"
	echo "0 passed, 0 failed"
	exit 77
}

ops_done() {
	echo "$ops_passed passed, $ops_failed failed"
	[ "$ops_failed" -eq 0 ]
	exit $?
}

# mounts_under - mount points below the work directory, deepest first
mounts_under() {
	awk -v w="$OPS_WORK/" 'index($2, w) == 1 { print length($2), $2 }' /proc/mounts |
		sort -rn | cut -d' ' -f2-
}

is_mounted() {
	awk -v m="$1" '$2 == m && $3 == "fuse.queuefs" { f = 1 } END { exit !f }' /proc/mounts
}

# wait_mounted DIR [TENTHS] - wait for a queuefs mount on DIR (default 10 s)
wait_mounted() {
	i=0
	while ! is_mounted "$1"; do
		i=$((i + 1))
		[ "$i" -gt "${2:-100}" ] && return 1
		sleep 0.1
	done
	return 0
}

# wait_gone PID [TENTHS] - wait for a process to end (default 10 s)
wait_gone() {
	i=0
	while [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -gt "${2:-100}" ] && return 1
		sleep 0.1
	done
	return 0
}

# pid_ours_ok PID - does PID's command line name our work directory?
pid_ours_ok() {
	[ -r "/proc/$1/cmdline" ] && tr '\000' ' ' <"/proc/$1/cmdline" | grep -qF "$OPS_WORK"
}

# daemon_pid MNT - the queuefs daemon serving MNT (it detached itself)
daemon_pid() {
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = queuefs ] || continue
		tr '\000' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$1" || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}

ops_cleanup_all() {
	st=$?
	set +e
	mounts_under | while read -r mp; do
		umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
	done
	for p in $OPS_PIDS; do
		pid_ours_ok "$p" || continue
		wait_gone "$p" 30 || kill -9 "$p" 2>/dev/null
	done
	if command -v ops_cleanup >/dev/null 2>&1; then ops_cleanup; fi
	if [ -n "$OPS_WORK" ] && [ -z "$(mounts_under)" ]; then
		rm -rf "$OPS_WORK"
	elif [ -n "$OPS_WORK" ]; then
		echo "ops: still mounted below $OPS_WORK, not removing it" >&2
	fi
	exit $st
}

ops_init() {
	[ "$(id -u)" = 0 ] || ops_skip "not root"
	[ -c /dev/fuse ] || ops_skip "no /dev/fuse"
	: "${QUEUEFS:?set QUEUEFS}" "${QUEUEFSCTL:?set QUEUEFSCTL}"
	OPS_WORK=$(mktemp -d "${TMPDIR:-/tmp}/qfs-ops.XXXXXX") || exit 1
	OPS_WORK=$(cd "$OPS_WORK" && pwd -P)
	chmod 0711 "$OPS_WORK"
	trap ops_cleanup_all EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# layout NAME [SHARDS] - backings c1..cN d1 x1, mountpoint and config under $OPS_WORK/NAME
layout() {
	L=$OPS_WORK/$1
	n=${2:-3}
	mkdir -p "$L/mnt" "$L/d1" "$L/x1"
	shards=
	i=1
	while [ $i -le "$n" ]; do
		mkdir -p "$L/c$i"
		shards="$shards $L/c$i"
		i=$((i + 1))
	done
	write_conf "$L/queues.conf" "$shards"
}

# write_conf FILE "SHARDS" - the sendmail preset over SHARDS / d1 / x1 of $L
write_conf() {
	cat >"$1" <<EOF
# queuefs ops test layout
preset = sendmail
[class control]
shards =$2
[class data]
shards = $L/d1
[class transcript]
shards = $L/x1
EOF
}

# start_fg CONF MNT - queuefs in the foreground, in the background; sets QPID
start_fg() {
	"$QUEUEFS" -f "$1" "$2" 2>>"$OPS_WORK/daemon.err" &
	QPID=$!
	OPS_PIDS="$OPS_PIDS $QPID"
	wait_mounted "$2"
}

# mount_bg CONF MNT - queuefs as an administrator starts it (it detaches)
mount_bg() {
	"$QUEUEFS" "$1" "$2" 2>>"$OPS_WORK/daemon.err" || return 1
	wait_mounted "$2" || return 1
	QPID=$(daemon_pid "$2")
	OPS_PIDS="$OPS_PIDS $QPID"
}

# unmount MNT - umount, retried a few times while busy; then wait for the daemon
unmount() {
	i=0
	while is_mounted "$1"; do
		umount "$1" 2>/dev/null && break
		i=$((i + 1))
		[ $i -gt 50 ] && return 1
		sleep 0.1
	done
	[ -z "${QPID:-}" ] || wait_gone "$QPID"
}

# tree_sums DIR... - "path sha256" of every file below the backings, quarantine excluded, by path
tree_sums() {
	for d in "$@"; do
		(cd "$d" && find . -path ./.queuefs -prune -o -type f -print | while read -r f; do
			printf '%s %s\n' "${f#./}" "$(sha256sum <"$f" | cut -d' ' -f1)"
		done)
	done | sort
}

# where NAME - the backings of the current layout holding NAME (relative path)
where() {
	for d in "$L"/c* "$L/d1" "$L/x1"; do
		[ -e "$d/$1" ] && echo "${d##*/}"
	done
}
