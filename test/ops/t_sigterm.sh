#!/bin/sh
# NAME
#	t_sigterm.sh - SIGTERM to the daemon under load
#
# DESCRIPTION
#	Four writers queue sendmail-style messages through the mount (dfID
#	and tfID written with dd conv=fsync, tfID renamed to qfID) and log
#	each file once it is durable. Mid-load the daemon (started here in
#	the foreground, so its PID is ours) gets SIGTERM. Expected: it exits
#	with status 0 within 10 s, the mount is gone, and after a remount
#	every logged file is there with exactly its bytes; the offline check
#	finds nothing duplicated or misplaced (at most the one message per
#	writer that was in flight, a df without its qf). The writers write
#	into a directory that exists only inside the mount, so that nothing
#	lands in the bare mountpoint once it is gone.
#
# DIAGNOSTICS
#	"N passed, N failed" on the last line; exit 77 when it cannot run.
. "$(dirname "$0")/lib.sh"

ops_init
layout t
M=$L/mnt
mkdir -p "$OPS_WORK/src"
i=1
while [ $i -le 16 ]; do
	head -c $((i * 8192 + i)) /dev/urandom >"$OPS_WORK/src/$i"
	i=$((i + 1))
done

start_fg "$L/queues.conf" "$M" || { fail "mount" "$(cat "$OPS_WORK/daemon.err")"; ops_done; }
mkdir "$M/q"

# writer N - queue messages until a step fails; log what was made durable
writer() {
	n=0
	while :; do
		n=$((n + 1))
		s=$((n % 16 + 1))
		t=$((s % 16 + 1))
		id=$1x$n
		dd if="$OPS_WORK/src/$s" of="$M/q/df$id" bs=16k conv=fsync status=none 2>/dev/null || break
		echo "df$id $s" >>"$OPS_WORK/log.$1"
		dd if="$OPS_WORK/src/$t" of="$M/q/tf$id" bs=16k conv=fsync status=none 2>/dev/null || break
		mv "$M/q/tf$id" "$M/q/qf$id" 2>/dev/null || break
		echo "qf$id $t" >>"$OPS_WORK/log.$1"
	done
}
writers=
for w in 1 2 3 4; do
	writer $w &
	writers="$writers $!"
done
sleep 1.5
kill -TERM "$QPID"
wait "$QPID"
st=$?
check "daemon exits with 0 on SIGTERM (got $st)" test $st -eq 0
check "the mount is gone" sh -c "! awk -v m='$M' '\$2 == m { f = 1 } END { exit !f }' /proc/mounts"
for p in $writers; do wait "$p"; done
check "nothing was written to the bare mountpoint" test ! -e "$M/q"
total=$(cat "$OPS_WORK"/log.* 2>/dev/null | wc -l)
check "the writers got work done before the signal ($total files)" test "$total" -gt 10

start_fg "$L/queues.conf" "$M" || fail "remount" "$(cat "$OPS_WORK/daemon.err")"
cat "$OPS_WORK"/log.* | {
	bad=0
	while read -r name s; do
		if [ ! -e "$M/q/$name" ]; then
			echo "missing: $name" >&2
			bad=1
		elif ! cmp -s "$OPS_WORK/src/$s" "$M/q/$name"; then
			echo "differs: $name" >&2
			bad=1
		fi
	done
	exit $bad
}
check "every file fsynced before SIGTERM is intact after remount" test $? -eq 0
unmount "$M"

"$QUEUEFSCTL" check "$L/queues.conf" >"$OPS_WORK/check.out" 2>&1
st=$?
check "queuefsctl check: nothing duplicated or misplaced (status $st)" \
	sh -c "[ $st -le 1 ] && ! grep -v '^leftover ' '$OPS_WORK/check.out' | grep -q ."
n=$(grep -c '^leftover ' "$OPS_WORK/check.out")
check "at most one unfinished message per writer ($n)" test "$n" -le 4
[ $st -le 1 ] || head -20 "$OPS_WORK/check.out"
ops_done
