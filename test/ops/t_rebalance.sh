#!/bin/sh
# NAME
#	t_rebalance.sh - queuefsctl rebalance: add a shard, remove it, crash
#
# DESCRIPTION
#	A queue of 300 sendmail messages (qf + df, some in q.1/qf and
#	q.1/df) is written through a real mount over three control shards.
#	Then, unmounted: a fourth shard is added to the config; check
#	reports the changed layout; rebalance -n moves nothing; rebalance
#	moves about a quarter of the control files, all to the new shard,
#	and the checksums of every file are unchanged. The shard is removed
#	again: rebalance without --from refuses, with --from it empties the
#	old root. A rebalance killed right after placing a copy (the
#	QUEUEFSCTL_CRASH_AFTER hook) and one killed with SIGKILL at a random
#	moment are re-run: nothing lost, nothing duplicated, check clean.
#
# DIAGNOSTICS
#	"N passed, N failed" on the last line; exit 77 when it cannot run.
. "$(dirname "$0")/lib.sh"

ops_init
C=$QUEUEFSCTL
layout r
M=$L/mnt
CONF=$L/queues.conf

start_fg "$CONF" "$M" || { fail "mount" "$(cat "$OPS_WORK/daemon.err")"; ops_done; }
mkdir -p "$M/q.1/qf" "$M/q.1/df"
i=0
while [ $i -lt 300 ]; do
	d=$M
	[ $((i % 5)) -eq 0 ] && d=$M/q.1
	dd=$d qq=$d
	[ "$d" != "$M" ] && dd=$d/df qq=$d/qf
	head -c $((i * 37 % 4000 + 1)) /dev/urandom >"$dd/dfR$i"
	printf 'V8\nT%s\n' $i >"$qq/tfR$i" && mv "$qq/tfR$i" "$qq/qfR$i"
	i=$((i + 1))
done
unmount "$M"

all() { tree_sums "$L"/c? "$L/d1" "$L/x1"; }
files_on() { (cd "$1" && find . -path ./.queuefs -prune -o -type f -print | wc -l); }
all >"$OPS_WORK/sums0"
ctl_files=$(($(files_on "$L/c1") + $(files_on "$L/c2") + $(files_on "$L/c3")))

# add a shard
mkdir "$L/c4"
write_conf "$CONF" " $L/c1 $L/c2 $L/c3 $L/c4"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "check reports the added shard (status $st)" sh -c "[ $st -eq 1 ] && grep -q '^manifest: .*c4' '$OPS_WORK/out'"
"$C" rebalance -n "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
all >"$OPS_WORK/sums-n"
check "rebalance -n exits 1 when it would move (status $st)" test $st -eq 1
check "rebalance -n moves nothing" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums-n"
check "rebalance -n records nothing" sh -c "! test -e '$L/c4/.queuefs/manifest'"
would=$(grep -c '^  would move' "$OPS_WORK/out")
"$C" rebalance "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
moved=$(grep -c '^  move ' "$OPS_WORK/out")
check "rebalance 3 -> 4 exits 0 (status $st)" test $st -eq 0
check "it moved what -n announced ($moved = $would)" test "$moved" -eq "$would"
check "every move goes to the new shard" sh -c "! grep '^  move ' '$OPS_WORK/out' | grep -qv -- '-> $L/c4\$'"
check "about a quarter of the $ctl_files control files moved ($moved)" \
	test $((moved * 100)) -ge $((ctl_files * 15)) -a $((moved * 100)) -le $((ctl_files * 35))
all >"$OPS_WORK/sums1"
check "no file lost or changed" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums1"
check "c4 holds what moved" test "$(files_on "$L/c4")" -eq "$moved"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
check "check is clean afterwards" test $? -eq 0
start_fg "$CONF" "$M" || fail "mount after rebalance" "$(tail -3 "$OPS_WORK/daemon.err")"
n=$(find "$M" -type f | wc -l)
check "the mount shows all 600 files ($n)" test "$n" -eq 600
check "a moved file reads back" sh -c "cat '$M'/qfR* >/dev/null"
unmount "$M"

# remove it again
write_conf "$CONF" " $L/c1 $L/c2 $L/c3"
on_c4=$(files_on "$L/c4")
"$C" rebalance "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "removing a shard without --from is refused (status $st)" \
	sh -c "[ $st -eq 2 ] && grep -q -- '--from' '$OPS_WORK/out'"
"$C" rebalance --from "$L/c4" "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "rebalance --from c4 exits 0 (status $st)" test $st -eq 0
check "it moved the $on_c4 files off c4" test "$(grep -c '^  move ' "$OPS_WORK/out")" -eq "$on_c4"
check "c4 holds no file any more" test "$(files_on "$L/c4")" -eq 0
all >"$OPS_WORK/sums2"
check "no file lost or changed" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums2"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
check "check is clean afterwards" test $? -eq 0

# a crash right after a copy is placed, before its source is unlinked
mkdir "$L/c5"
write_conf "$CONF" " $L/c1 $L/c2 $L/c3 $L/c5"
QUEUEFSCTL_CRASH_AFTER=7 "$C" rebalance "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "the crash hook killed rebalance (status $st)" test $st -eq 137
tree_sums "$L"/c? "$L/d1" "$L/x1" | sort -u >"$OPS_WORK/sums3"
check "nothing lost by the crash" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums3"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
check "check sees the duplicate the crash left" grep -q '^duplicate .*identical copies' "$OPS_WORK/out"
"$C" rebalance "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "the re-run exits 0 (status $st)" test $st -eq 0
all >"$OPS_WORK/sums4"
check "after the re-run: no file lost, none duplicated" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums4"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
check "check is clean afterwards" test $? -eq 0

# SIGKILL at a random moment while c5 is emptied again
write_conf "$CONF" " $L/c1 $L/c2 $L/c3"
"$C" rebalance --from "$L/c5" "$CONF" >"$OPS_WORK/out" 2>&1 &
cpid=$!
delay=$(printf '0.%03d' $(($$ % 40 + 1)))
sleep "$delay"
kill -9 $cpid 2>/dev/null
wait $cpid
echo "note - (killed after $delay s, $(grep -c '^  move ' "$OPS_WORK/out") moves done)" >&2
tree_sums "$L"/c? "$L/d1" "$L/x1" | sort -u >"$OPS_WORK/sums5"
check "nothing lost by the kill" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums5"
"$C" rebalance --from "$L/c5" "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "the re-run exits 0 (status $st)" test $st -eq 0
check "c5 holds no file any more" test "$(files_on "$L/c5")" -eq 0
all >"$OPS_WORK/sums6"
check "no file lost, none duplicated" cmp -s "$OPS_WORK/sums0" "$OPS_WORK/sums6"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
check "check is clean afterwards" test $? -eq 0
start_fg "$CONF" "$M" || fail "final mount" "$(tail -3 "$OPS_WORK/daemon.err")"
n=$(find "$M" -type f | wc -l)
check "the final mount shows all 600 files ($n)" test "$n" -eq 600
unmount "$M"
ops_done
