#!/bin/sh
# NAME
#	t_check.sh - queuefsctl check and repair find and fix planted defects
#
# DESCRIPTION
#	A queue is filled through a real mount, unmounted, and then damaged
#	directly in the backings: an identical duplicate (an interrupted
#	move), a differing duplicate, a file off its hash home, a directory
#	copy missing, a stale and a young tf, a df without qf (flat and in a
#	q.N/df directory), a leftover temporary copy, a name that is a file
#	here and a directory there, a manifest of an older generation.
#	check must report each (and nothing for the young tf or a df whose
#	qf lives in ../qf), exit 1, and refuse to run while mounted; repair
#	-n must change nothing; repair must fix all but the leftovers and the
#	conflict; repair --force must quarantine the leftovers; no message
#	is lost (checksums through a new mount). Exim and Postfix leftovers
#	are checked on layouts of their own.
#
# DIAGNOSTICS
#	"N passed, N failed" on the last line; exit 77 when it cannot run.
. "$(dirname "$0")/lib.sh"

ops_init
C=$QUEUEFSCTL
layout k
M=$L/mnt
CONF=$L/queues.conf
# one home per control file, so that any other shard is "off home" for the planted file
sed -i 's/^\[class control\]$/&\nchoices = 1/' "$CONF"

start_fg "$CONF" "$M" || { fail "mount" "$(cat "$OPS_WORK/daemon.err")"; ops_done; }
mkdir -p "$M/emptyd" "$M/q1/qf" "$M/q1/df"
i=0
while [ $i -lt 40 ]; do
	printf 'body %s\n' $i >"$M/dfK$i"
	printf 'ctl %s\n' $i >"$M/tfK$i" && mv "$M/tfK$i" "$M/qfK$i"
	i=$((i + 1))
done
echo qf >"$M/q1/qf/qfX1" && echo df >"$M/q1/df/dfX1"
echo young >"$M/tfYOUNG"
(cd "$M" && find . -type f | sort | while read -r f; do echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"; done) \
	>"$OPS_WORK/sums.before"

"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "check refuses while mounted (status $st)" test $st -eq 2
check "saying so" grep -q 'unmount it first' "$OPS_WORK/out"
"$C" check --ignore-mounted "$CONF" >"$OPS_WORK/out" 2>&1
check "check --ignore-mounted runs" test $? -eq 0
unmount "$M"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "a fresh queue is clean (status $st)" test $st -eq 0

# plant the defects
home_of() { where "$1" | head -1; }
other_than() { for c in c1 c2 c3; do [ "$c" != "$1" ] && echo $c && return; done; }
h=$(home_of qfK1)
o=$(other_than "$h")
cp -p "$L/$h/qfK1" "$L/$o/qfK1"                                  # identical duplicate
h2=$(home_of qfK2)
o2=$(other_than "$h2")
echo 'newer and different' >"$L/$o2/qfK2"                        # differing duplicate
h3=$(home_of qfK3)
o3=$(other_than "$h3")
mv "$L/$h3/qfK3" "$L/$o3/qfK3"                                   # off its home
rmdir "$L/c2/emptyd"                                             # missing directory copy
echo stale >"$L/c1/tfSTALE" && touch -d '2 hours ago' "$L/c1/tfSTALE"
echo orphan >"$L/d1/dfORPHAN"
echo lost >"$L/d1/q1/df/dfLOST"
echo tmp >"$L/c1/.queuefs/ctl-move.99.1"
mkdir "$L/c3/conflict" && echo file >"$L/c1/conflict"
for b in c1 c2 d1 x1; do sed -i 's/^generation = 1$/generation = 2/' "$L/$b/.queuefs/manifest"; done
tree_sums "$L"/c? "$L/d1" "$L/x1" >"$OPS_WORK/planted"

"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "check exits 1 on findings (status $st)" test $st -eq 1
expect() {
	if grep -q "$2" "$OPS_WORK/out"; then ok "check finds $1"; else fail "check finds $1" "no line matching '$2'"; fi
}
expect "an identical duplicate" "^duplicate qfK1: identical copies"
expect "a differing duplicate" "^duplicate qfK2: .*the copy on $L/$o2 is the newest"
expect "a file off its hash home" "^off-home qfK3: on $L/$o3, its home is $L/$h3"
expect "a missing directory copy" "^missing-dir emptyd: on $L/c2"
expect "a stale tf" "^leftover tfSTALE: .*sendmail temporary control file"
expect "a df without qf" "^leftover dfORPHAN: .*without qfORPHAN"
expect "a df without qf in a df/ directory" "^leftover q1/df/dfLOST:"
expect "a leftover temporary copy" "^leftover-temp $L/c1/.queuefs/ctl-move.99.1"
expect "a file/directory conflict" "^conflict conflict:"
expect "a stale manifest" "^manifest $L/c3: generation 1, the layout is at generation 2"
check "no finding for a young tf" sh -c "! grep -q tfYOUNG '$OPS_WORK/out'"
check "no finding for a df whose qf is in ../qf" sh -c "! grep -q dfX1 '$OPS_WORK/out'"
# 11: the newest copy of qfK2 is also off its home
check "one line per finding (11 findings: $(wc -l <"$OPS_WORK/out"))" test "$(wc -l <"$OPS_WORK/out")" -eq 11
[ "$(wc -l <"$OPS_WORK/out")" -eq 11 ] || cat "$OPS_WORK/out"

"$C" repair -n "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
tree_sums "$L"/c? "$L/d1" "$L/x1" >"$OPS_WORK/after-n"
check "repair -n exits 1 (status $st)" test $st -eq 1
check "repair -n prints what it would do" grep -q '^  would quarantine qfK2' "$OPS_WORK/out"
check "repair -n changes nothing" cmp -s "$OPS_WORK/planted" "$OPS_WORK/after-n"
check "repair -n leaves the temporary copy" test -e "$L/c1/.queuefs/ctl-move.99.1"

"$C" repair "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "repair exits 1 while leftovers remain (status $st)" test $st -eq 1
check "identical duplicate: one copy left, at home" test "$(where qfK1)" = "$h"
check "differing duplicate: the newest kept (and moved home)" \
	test "$(where qfK2)" = "$h2" -a "$(cat "$L/$h2/qfK2")" = 'newer and different'
check "differing duplicate: the other copy quarantined" sh -c "ls '$L/$h2/.queuefs/quarantine/' | grep -q 'qfK2\$'"
check "a file off its home moved home" test "$(where qfK3)" = "$h3"
check "the missing directory copy made" test -d "$L/c2/emptyd"
check "the temporary copy removed" test ! -e "$L/c1/.queuefs/ctl-move.99.1"
check "the manifest brought to generation 2" grep -q '^generation = 2$' "$L/c3/.queuefs/manifest"
check "leftovers left without --force" test -e "$L/c1/tfSTALE" -a -e "$L/d1/dfORPHAN"
check "and said so" grep -q '^  left: tfSTALE: leftovers are quarantined only with --force' "$OPS_WORK/out"
check "every action printed" grep -q "^  move qfK3: $L/$o3 -> $L/$h3" "$OPS_WORK/out"

"$C" repair --force "$CONF" >"$OPS_WORK/out" 2>&1
check "repair --force quarantines the stale tf" sh -c "ls '$L/c1/.queuefs/quarantine/' | grep -q 'tfSTALE\$'"
check "and the df without qf" sh -c "ls '$L/d1/.queuefs/quarantine/' | grep -q 'dfORPHAN\$'"
check "but never the young tf" test -n "$(where tfYOUNG)"
check "the conflict is left for a human" grep -q '^  left: conflict' "$OPS_WORK/out"
rm -rf "$L/c3/conflict" "$L/c1/conflict"
"$C" check "$CONF" >"$OPS_WORK/out" 2>&1
st=$?
check "check is clean after repair (status $st)" test $st -eq 0
[ $st -eq 0 ] || head "$OPS_WORK/out"

start_fg "$CONF" "$M" || fail "remount" "$(cat "$OPS_WORK/daemon.err")"
(cd "$M" && find . -type f | sort | while read -r f; do echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"; done) \
	>"$OPS_WORK/sums.after"
grep -v -e '^./qfK2 ' "$OPS_WORK/sums.before" >"$OPS_WORK/b"
grep -v -e '^./qfK2 ' -e dfLOST "$OPS_WORK/sums.after" >"$OPS_WORK/a"
check "no message lost or changed (but the planted ones)" cmp -s "$OPS_WORK/b" "$OPS_WORK/a"
cmp -s "$OPS_WORK/b" "$OPS_WORK/a" || diff "$OPS_WORK/b" "$OPS_WORK/a"
unmount "$M"

# Exim: ID-D without ID-H, an old hdr.PID
L=$OPS_WORK/exim
mkdir -p "$L/c1" "$L/c2" "$L/d1" "$L/mnt"
printf 'preset = exim\n[class control]\nshards = %s %s\n[class data]\nshards = %s\n' \
	"$L/c1" "$L/c2" "$L/d1" >"$L/queues.conf"
start_fg "$L/queues.conf" "$L/mnt" || fail "exim mount"
mkdir "$L/mnt/input" && echo h >"$L/mnt/input/1abc-000001-AA-H" && echo d >"$L/mnt/input/1abc-000001-AA-D"
unmount "$L/mnt"
echo d >"$L/d1/input/1abc-000002-BB-D"
echo h >"$L/c1/input/hdr.4242" && touch -d '3 hours ago' "$L/c1/input/hdr.4242"
"$C" check "$L/queues.conf" >"$OPS_WORK/out" 2>&1
check "exim: ID-D without ID-H found" grep -q '^leftover input/1abc-000002-BB-D: .*without 1abc-000002-BB-H' "$OPS_WORK/out"
check "exim: a stale hdr.PID found" grep -q '^leftover input/hdr.4242: .*Exim temporary header' "$OPS_WORK/out"
check "exim: two findings, nothing else" test "$(wc -l <"$OPS_WORK/out")" -eq 2

# Postfix: an incoming file never completed (no owner-execute bit)
L=$OPS_WORK/postfix
mkdir -p "$L/c1" "$L/c2" "$L/l1" "$L/mnt"
printf 'preset = postfix\n[class control]\nshards = %s %s\n[class logs]\nshards = %s\n' \
	"$L/c1" "$L/c2" "$L/l1" >"$L/queues.conf"
start_fg "$L/queues.conf" "$L/mnt" || fail "postfix mount"
mkdir "$L/mnt/incoming"
echo x >"$L/mnt/incoming/4BC1D2" && chmod 0700 "$L/mnt/incoming/4BC1D2"
unmount "$L/mnt"
echo x >"$L/c1/incoming/123456.789" && chmod 0600 "$L/c1/incoming/123456.789" &&
	touch -d '2 hours ago' "$L/c1/incoming/123456.789"
"$C" check "$L/queues.conf" >"$OPS_WORK/out" 2>&1
check "postfix: an incomplete incoming file found" grep -q '^leftover incoming/123456.789: .*never completed' "$OPS_WORK/out"
check "postfix: a complete one is not" sh -c "! grep -q 4BC1D2 '$OPS_WORK/out'"
ops_done
