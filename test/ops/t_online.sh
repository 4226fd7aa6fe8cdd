#!/bin/sh
# NAME
#	t_online.sh - queuefsctl status and flush against a running daemon
#
# DESCRIPTION
#	Mounts a sendmail layout (control socket in a private ctl_dir),
#	queues messages, and checks that "queuefsctl status" lists every
#	shard with the number of files its backing really holds, that the
#	JSON form carries the same numbers, that flush answers, and that a
#	user who is neither root nor in ctl_group is refused (exit 2).
#
# DIAGNOSTICS
#	"N passed, N failed" on the last line; exit 77 when it cannot run.
. "$(dirname "$0")/lib.sh"

ops_init
layout on
M=$L/mnt
echo "ctl_dir = $L/ctl" | cat - "$L/queues.conf" >"$L/q2.conf" && mv "$L/q2.conf" "$L/queues.conf"
start_fg "$L/queues.conf" "$M" || { fail "mount" "$(cat "$OPS_WORK/daemon.err")"; ops_done; }

i=1
while [ $i -le 40 ]; do
	id=$(printf 'wONL%06d' $i)
	echo "data $i" >"$M/df$id"
	echo "ctl $i" >"$M/qf$id"
	i=$((i + 1))
done

out=$("$QUEUEFSCTL" status --ctl-dir "$L/ctl" "$M")
check "status exits 0" [ $? -eq 0 ]
for b in c1 c2 c3 d1 x1; do
	have=$(find "$L/$b" -path "$L/$b/.queuefs" -prune -o -type f -print | wc -l)
	said=$(printf '%s\n' "$out" | awk -v p="$L/$b" '$3 == p { print $4 }')
	if [ "$said" = "$have" ]; then ok "status: $b holds $have files"; else fail "status: $b" "said '$said', holds $have"; fi
done
json=$("$QUEUEFSCTL" status --json --ctl-dir "$L/ctl" "$M")
case $json in
*"\"backing\":\"$L/d1\",\"id\":3,\"files\":40,"*) ok "status --json: d1 with 40 files" ;;
*) fail "status --json" "$json" ;;
esac
case $json in
*'"op":"create","count":80,'*) ok "status --json: 80 creates counted" ;;
*) fail "status --json creates" "$json" ;;
esac

out=$("$QUEUEFSCTL" flush --ctl-dir "$L/ctl" "$M" 2>&1)
case $out in flushed:*) ok "flush answers" ;; *) fail "flush" "$out" ;; esac
out=$("$QUEUEFSCTL" flush --storage --ctl-dir "$L/ctl" "$M" dfwONL000001 2>&1)
case $out in flushed:*) ok "flush --storage PATH answers" ;; *) fail "flush PATH" "$out" ;; esac

chmod 0755 "$OPS_WORK" "$L"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$QUEUEFSCTL" status --ctl-dir "$L/ctl" "$M" 2>&1)
st=$?
if [ $st -eq 2 ]; then ok "status refused for uid 65534 ($out)"; else fail "status for uid 65534" "exit $st: $out"; fi

"$QUEUEFSCTL" status --ctl-dir "$L/ctl" "$OPS_WORK" >/dev/null 2>&1
check "status of a directory that is no queuefs mount fails with 2" [ $? -eq 2 ]

unmount "$M"
ops_done
