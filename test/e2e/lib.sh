# NAME
#	lib.sh - what the sendmail, Postfix and Exim e2e scripts share
#
# SYNOPSIS
#	. test/e2e/lib.sh     (from test/e2e/MTA.sh, under bash)
#
# DESCRIPTION
#	e2e_netns_enter re-runs the calling script inside a network namespace
#	of its own with only lo up and a hosts file that gives the machine a
#	qualified name (so no MTA waits on DNS), then removes the namespace.
#	Everything the test starts - queuefs, the MTA, the sink, the client -
#	therefore runs inside it, in one private mount namespace: no packet
#	can leave 127.0.0.1 and no mount is seen outside.
#
#	Inside, the library keeps the work directory (backings, mountpoint,
#	configs, logs), starts and stops queuefs (foreground, PID kept for
#	kill -9), the SMTP sink and the submitter (test/e2e/sink.c, send.c),
#	checks deliveries (every acknowledged message exactly once, body
#	checksum intact) and where files landed on the backings, counts the
#	results and prints the closing "N passed, N failed" line.
#
#	The tests themselves are in steps.sh (sourced at the end); the MTA
#	script defines the mta_* hooks they call: see e2e_main there for the
#	list (the six steps of the e2e issue, with the queue listing, the
#	final clean stop and the MTA log check as tests of their own).
#
# DIAGNOSTICS
#	Every wait has a deadline and fails with "timeout after N s: what".
#	Processes are ended by PID only: those the library started, and MTA
#	processes found by their executable inside the private namespace.
#	The EXIT trap stops the MTA, the sink and queuefs and unmounts,
#	whatever way the script ends. The work directory is kept when a test
#	failed (its path is printed), removed otherwise (E2E_KEEP=1 keeps it).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TOP=$(cd "$E2E_DIR/../.." && pwd)
QUEUEFS=${QUEUEFS:-$E2E_TOP/build/bin/queuefs}
E2E_BIN=${E2E_BIN:-$E2E_TOP/build/test}
MTA_PORT=${MTA_PORT:-2525}   # where the MTA listens, on 127.0.0.1
SINK_PORT=${SINK_PORT:-2526} # where the sink listens, on 127.0.0.1

E2E_PASSED=0
E2E_FAILED=0
E2E_SETUP_OK=0
QFS_PID=
SINK_PID=
SAMPLER_PID=

# ---------------------------------------------------------------- output

# say - a line on stdout and in the harness log
say() {
	local line
	line="$(date +%H:%M:%S) $E2E_MTA: $*"
	echo "$line"
	[ -n "${LOG:-}" ] && echo "$line" >>"$LOG/harness.log"
	return 0
}

# note - a line in the harness log only (detail)
note() {
	[ -n "${LOG:-}" ] && echo "$(date +%H:%M:%S) $*" >>"$LOG/harness.log"
	return 0
}

# fail - report why the current test fails; always returns 1
fail() {
	say "  FAIL: $*"
	return 1
}

# t_run - run test function FUNC under NAME, count and print its result
t_run() {
	local name=$1 func=$2 t0=$SECONDS
	say "--- $name"
	if "$func"; then
		E2E_PASSED=$((E2E_PASSED + 1))
		say "PASS $name ($((SECONDS - t0)) s)"
	else
		E2E_FAILED=$((E2E_FAILED + 1))
		say "FAIL $name ($((SECONDS - t0)) s)"
	fi
}

# ---------------------------------------------------------------- waiting

# wait_for - poll CMD every 0.2 s until it succeeds or SECS pass
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	while ! "$@"; do
		if [ $SECONDS -ge $end ]; then
			say "  timeout after $secs s: $what"
			return 1
		fi
		sleep 0.2
	done
	return 0
}

# pid_alive - is PID a live (non-zombie) process?
pid_alive() {
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! awk '{ exit ($3 != "Z") }' "/proc/$1/stat" 2>/dev/null
}

# pids_gone - are all the PIDs gone?
pids_gone() {
	local p
	for p in "$@"; do
		pid_alive "$p" && return 1
	done
	return 0
}

# stop_pids - TERM the PIDs, KILL what is left after SECS; reap children of ours
stop_pids() {
	local secs=$1
	shift
	[ $# -eq 0 ] && return 0
	kill -TERM "$@" 2>/dev/null
	if ! wait_for "$secs" "processes $* to exit" pids_gone "$@"; then
		say "  killing $* with SIGKILL"
		kill -KILL "$@" 2>/dev/null
		wait_for 10 "processes $* to die" pids_gone "$@"
	fi
	local p
	for p in "$@"; do
		wait "$p" 2>/dev/null
	done
	return 0
}

# stop_listed FN - end at once every process FN lists (the MTA's own, by PID)
stop_listed() {
	local p
	p=$("$1")
	# shellcheck disable=SC2086
	[ -n "$p" ] && stop_pids 10 $p
	return 0
}

# ns_pids - PIDs of processes in our network namespace whose executable matches ERE
#	(all of them were started by this script: the namespace is private)
ns_pids() {
	local re=$1 p exe
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] && continue
		[ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$E2E_NSID" ] || continue
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		[[ $exe =~ $re ]] && echo "$p"
	done
	return 0
}

# ---------------------------------------------------------------- namespace

# e2e_netns_enter - re-run the calling script ($0 "$@") inside a private network namespace
e2e_netns_enter() {
	if [ -n "${E2E_IN_NETNS:-}" ]; then
		E2E_NSID=$(readlink /proc/self/ns/net)
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "$E2E_MTA: e2e tests need root (netns, FUSE, MTA install)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	local ns=qfs-e2e-$E2E_MTA-$$ rc
	E2E_NS=$ns
	trap 'e2e_netns_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "/etc/netns/$ns"
	printf '127.0.0.1\tlocalhost\n127.0.0.1\t%s.e2e.test %s\n::1\tlocalhost ip6-localhost\n' \
		"$(hostname)" "$(hostname)" >"/etc/netns/$ns/hosts"
	sed -e 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf >"/etc/netns/$ns/nsswitch.conf"
	grep -q '^hosts:' "/etc/netns/$ns/nsswitch.conf" || echo 'hosts: files' >>"/etc/netns/$ns/nsswitch.conf"
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$ns/resolv.conf"
	if ! ip netns add "$ns" || ! ip netns exec "$ns" ip link set lo up; then
		echo "$E2E_MTA: cannot create network namespace $ns"
		echo "0 passed, 1 failed"
		exit 1
	fi
	E2E_IN_NETNS=$ns ip netns exec "$ns" bash "$0" "$@"
	rc=$?
	exit $rc
}

# e2e_netns_cleanup - end what is left in the namespace (ours only), delete it
e2e_netns_cleanup() {
	local ns=$E2E_NS pids
	pids=$(ip netns pids "$ns" 2>/dev/null)
	if [ -n "$pids" ]; then
		echo "$E2E_MTA: ending leftover processes in $ns: $pids" >&2
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		sleep 2
		pids=$(ip netns pids "$ns" 2>/dev/null)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		sleep 1
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "/etc/netns/$ns"
}

# ---------------------------------------------------------------- work dir

# e2e_work - make the work directory: backings, mountpoint, logs
e2e_work() {
	# Not under /tmp: sendmail refuses files below a world-writable directory.
	E2E_BASE=${E2E_WORK_BASE:-/var/lib/queuefs-e2e}
	mkdir -p "$E2E_BASE" && chmod 0755 "$E2E_BASE" || exit 1
	W=$(mktemp -d "$E2E_BASE/$E2E_MTA.XXXXXX") || exit 1
	chmod 0755 "$W" # the MTA's users must reach the mountpoint
	MNT=$W/queue
	LOG=$W/log
	RUN=$W/run
	mkdir -p "$MNT" "$LOG" "$RUN" "$W/conf" "$W/msgs"
	SINKLOG=$W/msgs/sink.log
	SINKFLAG=$W/sink.fail
	: >"$SINKLOG"
	trap 'e2e_cleanup' EXIT
	trap 'E2E_KEEP=1; exit 130' INT # interrupted: keep the evidence
	trap 'E2E_KEEP=1; exit 143' TERM
}

# e2e_cleanup - EXIT trap inside the namespace: stop everything, unmount
e2e_cleanup() {
	local m
	sampler_stop
	mta_stop_all 2>/dev/null
	sink_stop
	if [ -n "$QFS_PID" ]; then
		timeout 30 umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
		stop_pids 10 "$QFS_PID"
		QFS_PID=
	fi
	# whatever is still mounted below the work directory, deepest first
	for m in $(awk -v w="$W/" 'index($5, w) == 1 { print length($5), $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	declare -F mta_cleanup >/dev/null && mta_cleanup
	if [ "$E2E_FAILED" -gt 0 ] || [ "${E2E_KEEP:-0}" = 1 ]; then
		echo "$E2E_MTA: work directory kept: $W (logs in $LOG)"
	elif ! awk -v w="$W/" 'index($5, w) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		rm -rf "$W"
		rmdir "$E2E_BASE" 2>/dev/null
	fi
}

# ---------------------------------------------------------------- queuefs

# qfs_conf - write the queuefs config: preset $1, then "class NAME volatile? shard..." lines on stdin
#	(the config file is $W/conf/queuefs.conf)
qfs_conf() {
	local preset=$1 name vol shards
	QFS_CONF=$W/conf/queuefs.conf
	{
		echo "# queuefs config of the $E2E_MTA e2e test"
		echo "preset = $preset"
		while read -r name vol shards; do
			echo "[class $name]"
			echo "shards = $shards"
			[ "$vol" = volatile ] && echo "volatile = yes"
		done
	} >"$QFS_CONF"
	note "queuefs config:"
	note "$(cat "$QFS_CONF")"
}

# qfs_mounted - is $MNT a live queuefs mount of $QFS_PID?
qfs_mounted() {
	pid_alive "$QFS_PID" &&
		awk -v m="$MNT" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo &&
		timeout 5 stat -f "$MNT" >/dev/null 2>&1
}

# qfs_start - start queuefs in the foreground on $MNT with extra ARGS and wait for the
#	mount; 0 when mounted, else 1 with the reason in QFS_WHY (nothing printed)
qfs_start() {
	QFS_WHY=
	[ -x "$QUEUEFS" ] || { QFS_WHY="queuefs binary missing: $QUEUEFS (make build/bin/queuefs)"; return 1; }
	note "mount: $QUEUEFS -f $* $QFS_CONF $MNT"
	local logged
	logged=$(cat "$LOG/queuefs.log" 2>/dev/null | wc -l)
	"$QUEUEFS" -f "$@" "$QFS_CONF" "$MNT" >>"$LOG/queuefs.log" 2>&1 &
	QFS_PID=$!
	local end=$((SECONDS + 20))
	while ! qfs_mounted; do
		if ! pid_alive "$QFS_PID"; then
			wait "$QFS_PID" 2>/dev/null
			QFS_PID=
			QFS_WHY="queuefs exited instead of mounting: $(tail -n +$((logged + 1)) "$LOG/queuefs.log" | tr '\n' ' ')"
			return 1
		fi
		if [ $SECONDS -ge $end ]; then
			QFS_WHY="queuefs did not mount $MNT within 20 s"
			return 1
		fi
		sleep 0.1
	done
	note "mounted, queuefs pid $QFS_PID"
	return 0
}

# qfs_mount - qfs_start, failing the test when it does not mount
qfs_mount() {
	qfs_start "$@" || { fail "$QFS_WHY"; return 1; }
}

# qfs_umount - unmount $MNT and wait for the daemon to exit
qfs_umount() {
	[ -n "$QFS_PID" ] || return 0
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		timeout 30 umount "$MNT" 2>>"$LOG/harness.log" && break
		[ $i = 10 ] && { fail "umount $MNT: busy after 10 tries (processes with their cwd there: $(cwd_pids))"; return 1; }
		sleep 0.5
	done
	if ! wait_for 20 "queuefs $QFS_PID to exit after umount" pids_gone "$QFS_PID"; then
		kill -KILL "$QFS_PID" 2>/dev/null
	fi
	wait "$QFS_PID" 2>/dev/null
	local rc=$?
	QFS_PID=
	[ $rc = 0 ] || { fail "queuefs exited with status $rc after umount"; return 1; }
	return 0
}

# cwd_pids - "PID:COMMAND" of the processes whose working directory is in the mount
cwd_pids() {
	local p d
	for p in /proc/[0-9]*; do
		d=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $d in "$MNT" | "$MNT"/*) echo -n "${p#/proc/}:$(cat "$p/comm" 2>/dev/null) " ;; esac
	done
}

# qfs_kill9 - kill -9 the daemon; the mount stays, dead
qfs_kill9() {
	note "kill -9 queuefs $QFS_PID"
	{ # no "Killed" job notice on stderr
		kill -KILL "$QFS_PID"
		wait_for 10 "queuefs to die" pids_gone "$QFS_PID"
		wait "$QFS_PID"
	} 2>/dev/null
	QFS_PID=
}

# backing_files - relative paths of the non-directories in backing ROOT (not .queuefs)
backing_files() {
	timeout 30 find "$1" -mindepth 1 \( -path "$1/.queuefs" -o -name lost+found \) -prune -o ! -type d -printf '%P\n' 2>/dev/null
}

# placement_check - FILE holds "ROOT PATH" lines seen on the backings; each "ROOT=ERE"
#	argument says which paths may live on ROOT ("ROOT!=ERE": which may not). Prints
#	per-root counts; fails on a file in the wrong place.
placement_check() {
	local seen=$1
	shift
	local spec bad=0 root re n neg wrong
	for spec in "$@"; do
		root=${spec%%=*}
		re=${spec#*=}
		neg=-v
		if [ "${root%!}" != "$root" ]; then # ROOT!=ERE: paths that must NOT match
			root=${root%!}
			neg=
		fi
		n=$(awk -v r="$root" '$1 == r' "$seen" | sort -u | wc -l)
		wrong=$(awk -v r="$root" '$1 == r { print $2 }' "$seen" | sort -u | grep -E $neg -- "$re" | head -n 5)
		say "  placement: ${root#"$W"/}: $n files$( [ -n "$wrong" ] && echo ", MISPLACED: $wrong")"
		[ -n "$wrong" ] && bad=1
	done
	[ $bad = 0 ] || { fail "queue files on a backing their class does not own"; return 1; }
	return 0
}

# placement_spread - each ROOT in the arguments holds at least one file in SEEN ($1)
placement_spread() {
	local seen=$1 root
	shift
	for root in "$@"; do
		awk -v r="$root" '$1 == r { f = 1 } END { exit !f }' "$seen" ||
			{ fail "no file ever landed on shard ${root#"$W"/}"; return 1; }
	done
	return 0
}

# snapshot_backings - append "ROOT PATH" for every file on the ROOTs to FILE
snapshot_backings() {
	local out=$1 root f
	shift
	for root in "$@"; do
		backing_files "$root" | while read -r f; do echo "$root $f"; done
	done >>"$out"
}

# sampler_start - snapshot the ROOTs into FILE every 0.1 s (at most 10 min) in the background
sampler_start() {
	local out=$1
	shift
	(
		i=0
		while [ $i -lt 6000 ]; do
			snapshot_backings "$out" "$@"
			sleep 0.1
			i=$((i + 1))
		done
	) &
	SAMPLER_PID=$!
}

# sampler_stop - stop the background sampler
sampler_stop() {
	[ -n "$SAMPLER_PID" ] || return 0
	kill "$SAMPLER_PID" 2>/dev/null
	wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=
}

# ---------------------------------------------------------------- sink and client

# sink_start - start the sink on 127.0.0.1:$SINK_PORT, extra ARGS (e.g. -d MS)
sink_start() {
	[ -x "$E2E_BIN/e2e-sink" ] || { fail "sink missing: $E2E_BIN/e2e-sink (make e2e builds it)"; return 1; }
	rm -f "$RUN/sink.ready"
	"$E2E_BIN/e2e-sink" -p "$SINK_PORT" -l "$SINKLOG" -r "$RUN/sink.ready" -t "$SINKFLAG" -T 1800 "$@" \
		>>"$LOG/sink.log" 2>&1 &
	SINK_PID=$!
	wait_for 10 "sink to listen" test -e "$RUN/sink.ready" || { fail "sink did not start"; return 1; }
	note "sink up, pid $SINK_PID"
}

# sink_stop - stop the sink and its sessions: "sink down", connections refused
sink_stop() {
	[ -n "$SINK_PID" ] || return 0
	stop_pids 10 "$SINK_PID"
	SINK_PID=
	note "sink down"
}

# sink_tempfail - on: the sink answers 451 (temporary failure); off: it accepts again
sink_tempfail() {
	case $1 in
	on) : >"$SINKFLAG" ;;
	off) rm -f "$SINKFLAG" ;;
	esac
}

# submit - send COUNT messages TAG-FIRST.. with CONC connections; ids acknowledged
#	with 250 go to $W/msgs/TAG.acc. Extra ARGS go to e2e-send.
submit() {
	local tag=$1 count=$2 conc=$3
	shift 3
	[ -x "$E2E_BIN/e2e-send" ] || { fail "client missing: $E2E_BIN/e2e-send (make e2e builds it)"; return 1; }
	"$E2E_BIN/e2e-send" -p "$MTA_PORT" -i "$tag" -n "$count" -c "$conc" -a "$W/msgs/$tag.acc" \
		-e "$W/msgs/$tag.err" -T 300 "$@" >>"$LOG/harness.log" 2>&1
}

# accepted - how many messages of TAG were acknowledged
accepted() {
	cat "$W/msgs/$1.acc" 2>/dev/null | wc -l
}

# accepted_at_least - have at least N messages of TAG been acknowledged?
accepted_at_least() {
	[ "$(accepted "$1")" -ge "$2" ]
}

# delivered_all - has every acknowledged message of TAG reached the sink?
delivered_all() {
	awk 'FNR == NR { want[$1] = 1; next } ($1 in want) { got[$1] = 1 }
	     END { for (i in want) if (!(i in got)) exit 1 }' "$W/msgs/$1.acc" "$SINKLOG"
}

# wait_delivered - wait up to SECS for every acknowledged message of TAG at the sink
wait_delivered() {
	local tag=$1 secs=$2
	wait_for "$secs" "all $(accepted "$tag") acknowledged messages of $tag at the sink" delivered_all "$tag"
}

# verify - every acknowledged message of TAG delivered exactly once with its body intact;
#	MODE strict: nothing else of TAG arrived; crash: unacknowledged ones may arrive, once at most
verify() {
	local tag=$1 mode=$2 out
	out=$(awk -v tag="$tag-" -v mode="$mode" '
		FNR == NR { acc[$1] = 1; nacc++; next }
		index($1, tag) == 1 { n[$1]++; if ($2 != "ok") bad[$1] = $2; ndel++ }
		$1 == "-" { nomark++ }
		END {
			for (i in acc) if (!(i in n)) { miss++; if (miss <= 5) ex = ex " missing:" i }
			for (i in n) {
				if (n[i] > 1) { dup++; if (dup <= 5) ex = ex " dup:" i "x" n[i] }
				if (!(i in acc)) { extra++; if (mode == "strict" && extra <= 5) ex = ex " unacked:" i }
			}
			for (i in bad) { nbad++; if (nbad <= 5) ex = ex " " bad[i] ":" i }
			printf "acked=%d deliveries=%d missing=%d dup=%d unacked-delivered=%d badbody=%d unmarked=%d%s\n",
				nacc, ndel, miss, dup, extra, nbad, nomark, ex
			if (miss || dup || nbad || nomark || (mode == "strict" && extra)) exit 1
		}' "$W/msgs/$tag.acc" "$SINKLOG")
	local rc=$?
	say "  verify $tag: $out"
	[ $rc = 0 ] || { fail "delivery check of $tag"; return 1; }
	return 0
}

# mta_listening - does something accept connections on 127.0.0.1:$MTA_PORT?
mta_listening() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MTA_PORT" 2>/dev/null
}

# the tests
. "$E2E_DIR/steps.sh"
