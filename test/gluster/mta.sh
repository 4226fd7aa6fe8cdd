#!/bin/bash
# NAME
#	mta.sh - sendmail on two "nodes" sharing one queue on GlusterFS through queuefs
#
# SYNOPSIS
#	QUEUEFS=/abs/queuefs E2E_BIN=/abs/build/test bash test/gluster/mta.sh
#	(what `make test-gluster-mta` runs; root, loopback only)
#
# DESCRIPTION
#	The last test of the shared-storage issue: a real MTA on each node,
#	sharing the queue on GlusterFS; messages submitted on node A are
#	delivered exactly once while both nodes run queue runners.
#
#	The script runs in four stages, each the same file:
#
#	outer	checks (root, /dev/fuse), then hands over to
#		test/e2e/run-all with E2E_SCRIPT pointing here: it installs
#		sendmail if missing (and purges it afterwards), bounds the run
#		(E2E_MTA_TIMEOUT, 240 s), checks that no namespace or mount is
#		left and prints the total "N passed, N failed" last.
#	netns	(run by run-all) re-runs this script inside a network namespace
#		of its own with only lo up (test/e2e/lib.sh e2e_netns_enter),
#		which is also a private mount namespace.
#	gluster	(inside) the GlusterFS side of test/gluster/run, sourced with
#		GL_SOURCED=1: glusterd on 127.0.0.1, a one-node volume, two
#		client mounts g1 and g2 ("nodes" A and B), the backing roots
#		c1 c2 c3 d1 x1 in the volume and a queuefs daemon on each
#		client mount, same config but for the paths (preset sendmail,
#		kernel timeouts 30 s). For each phase both daemons are
#		restarted with -o nfs_index=yes,nfs_storage=yes,locks=PHASE and
#		the MTA stage runs; then run's teardown removes everything.
#		GlusterFS's fixed places (/run, /var/log/glusterfs,
#		/var/lib/glusterd) are private tmpfs copies in this namespace:
#		a `make test-gluster` at the same time does not collide.
#	mta	(a child of the gluster stage, per phase) sendmail's hooks of
#		test/e2e/sendmail.sh, sourced: a sendmail daemon per node, each
#		with its own .cf (QueueDirectory = its node's queuefs mount,
#		127.0.0.1:2525 on A, 127.0.0.1:2527 on B), both relaying to ONE
#		sink on 127.0.0.1:2526; the e2e sink and submitter.
#
#	Phase "backing" (the test): with the sink down, GLM_COUNT (200)
#	messages are submitted to node A only and queue (node B's queuefs
#	and node B's mailq see all of them); then the sink comes up (20 ms
#	per message) and a queue-runner loop (sendmail -qf -v, again and
#	again) runs on EACH node at once. Every message must arrive exactly
#	once with its checksum; the runners' verbose output says which node
#	delivered which queue id: no id may be delivered by both, and node B
#	must have delivered some (else the test proves no sharing). Then the
#	queue is empty through both mounts and on the backing roots seen
#	through both client mounts.
#
#	Phase "local" (contrast, GLM_CONTRAST messages, 60; 0 skips it):
#	the same with locks = local, so sendmail's flock on a qf stays
#	inside each node's kernel: both runners may take the same message.
#	Duplicate, lost and damaged deliveries are reported, not failed on
#	(a race): a runner that read a qf whose df the other node has
#	already removed sends the headers without the body.
#
#	The transcript class (xf) lives on the volume (x1), not on a per-node
#	tmpfs: whichever node delivers a message writes its xf, and a tmpfs
#	is no shared backing. It stays a class of its own (in flush mode like
#	the control classes), so queuefs keeps routing it apart.
#
# DIAGNOSTICS
#	Every wait has a deadline. Prints PASS/FAIL and "gluster: ok/FAILED"
#	lines and, last, "N passed, N failed"; exits 0 only when nothing
#	failed (77 when skipped: not root, no /dev/fuse).
#	Traps stop and remove everything however the run ends: the MTAs
#	(e2e cleanup: by PID, inside our namespace only), the sink, queuefs,
#	the client mounts, bricks and glusterd (run's teardown), the
#	namespace (lib.sh) and what run-all installed (purge).

GLM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GLM_TOP=$(cd "$GLM_DIR/../.." && pwd)
E2E_DIR=$GLM_TOP/test/e2e
GLM_SELF=$GLM_DIR/mta.sh
GLM_COUNT=${GLM_COUNT:-200}
GLM_CONTRAST=${GLM_CONTRAST:-60}
GLM_PORT_A=2525
GLM_PORT_B=2527
GLM_SINK_PORT=2526
export GLM_COUNT GLM_CONTRAST

# ================================================================== outer
if [ -z "${GLM_STAGE:-}" ] && [ -z "${E2E_IN_NETNS:-}" ] && [ -z "${E2E_SCRIPT:-}" ]; then
	skip() {
		echo "gluster-mta: skipped: $*"
		echo "0 passed, 0 failed, 1 skipped"
		exit 77
	}
	[ "$(id -u)" = 0 ] || skip "not root"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	echo "gluster-mta: sendmail on two nodes sharing a queue on GlusterFS (installs via test/e2e/run-all)"
	E2E_SCRIPT=$GLM_SELF exec bash "$E2E_DIR/run-all" sendmail
fi

# ================================================================== netns
if [ -z "${GLM_STAGE:-}" ] && [ -z "${E2E_IN_NETNS:-}" ]; then
	E2E_MTA=gluster-mta
	. "$E2E_DIR/lib.sh"
	e2e_netns_enter "$@" # exits
	exit 1
fi

# ================================================================== mta
# (GLM_STAGE=backing|local; GLM_QA, GLM_QB the queuefs mounts; GLM_G the client mounts)
if [ -n "${GLM_STAGE:-}" ]; then
	. "$E2E_DIR/sendmail.sh" # the hooks, lib.sh, steps.sh
	E2E_MTA=mta-$GLM_STAGE
	SINK_PORT=$GLM_SINK_PORT
	e2e_netns_enter # inside already: notes our namespace for ns_pids
	e2e_work
	SM_PID_A=
	SM_PID_B=
	RUNNER_A=
	RUNNER_B=
	N=$GLM_COUNT
	[ "$GLM_STAGE" = local ] && N=$GLM_CONTRAST
	TAG=shared
	[ "$GLM_STAGE" = local ] && TAG=contrast

	# on_node NODE CMD... - run CMD with the sendmail hooks' variables of NODE
	#	(W, LOG, RUN of the node under $W/NODE; MNT, MTA_PORT, CF, SM_PID)
	on_node() {
		local node=$1
		shift
		local W=$W/$node MNT MTA_PORT CF SM_PID LOG RUN rc
		LOG=$W/log
		RUN=$W/run
		CF=$W/conf/sendmail.cf
		case $node in
		A) MNT=$GLM_QA MTA_PORT=$GLM_PORT_A SM_PID=$SM_PID_A ;;
		B) MNT=$GLM_QB MTA_PORT=$GLM_PORT_B SM_PID=$SM_PID_B ;;
		esac
		mkdir -p "$W/conf" "$W/msgs" "$LOG" "$RUN"
		"$@"
		rc=$?
		case $node in
		A) SM_PID_A=$SM_PID ;;
		B) SM_PID_B=$SM_PID ;;
		esac
		return $rc
	}

	# both_idle - no sendmail process but the two daemons (no SMTP or delivery child)
	both_idle() {
		[ -z "$(sm_pids | grep -vx -e "${SM_PID_A:-x}" -e "${SM_PID_B:-x}")" ]
	}

	# queued_on_A N - N qf on node A's view, no tf/xf, nothing busy
	queued_on_A() {
		local names
		names=$(on_node A queue_names)
		[ "$(grep -c '^qf' <<<"$names")" = "$1" ] && ! grep -q '^[tx]f' <<<"$names" && both_idle
	}

	no_sendmail() {
		[ -z "$(sm_pids)" ]
	}

	# qf_count NODE - qf files through NODE's mount
	qf_count() {
		on_node "$1" queue_names | grep -c '^qf'
	}

	# runner_once - one foreground, verbose queue run (inside on_node)
	runner_once() {
		echo "=== queue run $(date +%T.%N)" >>"$W/runner.log"
		timeout 60 "$SM" -C "$CF" -qf -v >>"$W/runner.log" 2>&1 </dev/null
	}

	# runner_start NODE - queue runs on NODE one after the other until $W/runners.stop
	#	(or 150 s); its PID in RUNNER_NODE
	runner_start() {
		(
			end=$((SECONDS + 150))
			while [ ! -e "$W/runners.stop" ] && [ $SECONDS -lt $end ]; do
				on_node "$1" runner_once
				sleep 0.2
			done
		) &
		eval "RUNNER_$1=\$!"
	}

	# runners_stop - end both loops (each finishes its current queue run, 70 s at most)
	runners_stop() {
		[ -n "$RUNNER_A$RUNNER_B" ] || return 0
		: >"$W/runners.stop"
		# shellcheck disable=SC2086
		wait_for 70 "the queue runners to finish" pids_gone $RUNNER_A $RUNNER_B ||
			stop_pids 5 $RUNNER_A $RUNNER_B
		# shellcheck disable=SC2086
		wait $RUNNER_A $RUNNER_B 2>/dev/null
		RUNNER_A=
		RUNNER_B=
	}

	# delivered_by NODE - "ID" of each message NODE's runner reported Sent, one a line.
	#	sendmail -v says "Running QUEUEDIR/ID (sequence i of n)" before a job and
	#	"<rcpt>... Sent (...)" when the relay took it.
	delivered_by() {
		awk '/^Running / { id = $2; sub(/.*\//, "", id); next }
		     /\.\.\. Sent \(/ && id != "" { print id }' "$W/$1/runner.log" 2>/dev/null
	}

	# runner_outcomes NODE - what NODE's runner did with the jobs it picked up:
	#	"S sent, L locked (held by the other node), G gone (delivered and removed meanwhile), O other"
	runner_outcomes() {
		awk 'function done() { if (id != "") c[out]++ }
		     /^Running / { done(); id = $2; out = "gone"; next }
		     /\.\.\. Sent \(/ { out = "sent" }
		     /: locked$/ && out == "gone" { out = "locked" }
		     /^(Deferred|.*\.\.\. (Deferred|User unknown|Service unavailable))/ { out = "other" }
		     END { done(); printf "%d sent, %d skipped as locked, %d found gone, %d other\n", c["sent"], c["locked"], c["gone"], c["other"] }' \
			"$W/$1/runner.log" 2>/dev/null
	}

	# gl_backing_files - files on the five backing roots, through both client mounts
	gl_backing_files() {
		local g r
		for g in $GLM_G; do
			for r in c1 c2 c3 d1 x1; do
				backing_files "$g/$r" | sed "s|^|${g##*/}/$r/|"
			done
		done
	}

	step_nodes() {
		local p
		for p in $MTA_PACKAGES; do
			pkg_installed "$p" || { fail "package $p is not installed (run-all installs it)"; return 1; }
		done
		[ -d "$GLM_QA" ] && [ -d "$GLM_QB" ] || { fail "no queuefs mounts"; return 1; }
		on_node A mta_prepare || return 1
		on_node B mta_prepare || return 1
		on_node A mta_start || return 1
		on_node B mta_start || return 1
		say "  node A: sendmail $SM_PID_A on 127.0.0.1:$GLM_PORT_A, queue $GLM_QA"
		say "  node B: sendmail $SM_PID_B on 127.0.0.1:$GLM_PORT_B, queue $GLM_QB"
		say "  both relay to the one sink on 127.0.0.1:$SINK_PORT (down for now)"
		E2E_SETUP_OK=1
	}

	step_queue() {
		[ "$E2E_SETUP_OK" = 1 ] || { fail "setup did not complete"; return 1; }
		local t0=$SECONDS n
		MTA_PORT=$GLM_PORT_A submit $TAG "$N" 6 -R 2
		say "  submitted to node A: $(accepted $TAG) of $N acknowledged in $((SECONDS - t0)) s"
		[ "$(accepted $TAG)" = "$N" ] || { fail "node A did not acknowledge every message"; return 1; }
		wait_for 90 "$N messages queued on A and every sendmail idle" queued_on_A "$N" ||
			{ on_node A mta_queue_show; return 1; }
		n=$(qf_count B)
		say "  node A's view: $(qf_count A) qf; node B's view: $n qf"
		[ "$n" = "$N" ] || { fail "node B sees $n qf files, want $N"; return 1; }
		n=$(on_node B mta_list_count)
		say "  mailq on node B lists $n messages"
		[ "$n" = "$N" ] || { fail "node B's mailq lists $n, want $N"; return 1; }
	}

	step_deliver() {
		[ "$E2E_SETUP_OK" = 1 ] || { fail "setup did not complete"; return 1; }
		local rc=0 t0 a b both
		sink_start -d 20 || return 1
		t0=$SECONDS
		runner_start A
		runner_start B
		say "  sink up; queue runners on both nodes (loops of sendmail -qf -v)"
		if [ "$GLM_STAGE" = local ]; then
			wait_delivered $TAG 60 || say "  (not every message reached the sink: see below)"
		else
			wait_delivered $TAG 120 || rc=1
		fi
		say "  all at the sink after $((SECONDS - t0)) s"
		wait_for 60 "the queue to drain on both nodes" eval 'on_node A mta_queue_empty && on_node B mta_queue_empty' || rc=1
		runners_stop
		delivered_by A | sort >"$W/msgs/by.A"
		delivered_by B | sort >"$W/msgs/by.B"
		a=$(wc -l <"$W/msgs/by.A")
		b=$(wc -l <"$W/msgs/by.B")
		both=$(sort "$W/msgs/by.A" "$W/msgs/by.B" | uniq -d | wc -l)
		say "  delivered by node A's runner: $a, by node B's runner: $b, queue ids sent by both: $both"
		say "  node A's runner ($(grep -c '^=== queue run' "$W/A/runner.log") queue runs): $(runner_outcomes A)"
		say "  node B's runner ($(grep -c '^=== queue run' "$W/B/runner.log") queue runs): $(runner_outcomes B)"
		grep -h 'cannot flock' "$W/A/runner.log" "$W/B/runner.log" | head -n 3 | while read -r l; do say "  sendmail said: $l"; done
		if [ "$GLM_STAGE" = local ]; then
			contrast_check "$a" "$b" "$both" || rc=1
		else
			verify $TAG strict || rc=1
			[ "$both" = 0 ] || { fail "$both queue ids were sent by both nodes"; rc=1; }
			[ "$((a + b))" = "$N" ] || { fail "the runners report $((a + b)) deliveries, want $N"; rc=1; }
			[ "$b" -gt 0 ] || { fail "node B delivered nothing: the test shows no sharing"; rc=1; }
			[ "$a" -gt 0 ] || say "  (node A's runner delivered nothing)"
		fi
		return $rc
	}

	# contrast_check A B BOTH - locks = local: report duplicates, losses and damage (the
	#	race decides: nothing here fails; a node that finds the df removed by the other
	#	sends the headers alone, which the sink records as a bad checksum)
	contrast_check() {
		local out rc
		out=$(awk -v tag="$TAG-" '
			FNR == NR { acc[$1] = 1; nacc++; next }
			index($1, tag) == 1 { n[$1]++; if ($2 != "ok") bad++ }
			END {
				for (i in acc) if (!(i in n)) miss++
				for (i in n) if (n[i] > 1) { dup++; extra += n[i] - 1 }
				printf "%d %d %d %d %d\n", nacc, miss, dup, extra, bad
			}' "$W/msgs/$TAG.acc" "$SINKLOG")
		# shellcheck disable=SC2086
		set -- "$1" "$2" "$3" $out # 4 acked, 5 missing, 6 duplicated, 7 extra copies, 8 damaged
		say "  locks = local: $6 of $4 messages delivered more than once ($7 extra copies);" \
			"$5 missing, $8 damaged; $3 queue ids sent by both runners"
		[ "$6" -gt 0 ] || say "  (no duplicate this time: the race is timing-dependent)"
		grep -h 'cannot open ./df' "$W/A/runner.log" "$W/B/runner.log" | head -n 2 |
			while read -r l; do say "  sendmail said: $l"; done
		echo "GLM-CONTRAST $6 $7 $3 $4 $5 $8"
		return 0
	}

	step_empty() {
		[ "$E2E_SETUP_OK" = 1 ] || { fail "setup did not complete"; return 1; }
		local a b left
		wait_for 30 "node A's view to be empty" on_node A mta_queue_empty
		wait_for 30 "node B's view to be empty" on_node B mta_queue_empty
		a=$(on_node A queue_names | wc -l)
		b=$(on_node B queue_names | wc -l)
		left=$(gl_backing_files)
		say "  entries left: node A's view $a, node B's view $b, backing roots (both client mounts)" \
			"$(echo -n "$left" | grep -c .)"
		if [ "$a" != 0 ] || [ "$b" != 0 ] || [ -n "$left" ]; then
			on_node A mta_queue_show
			[ -n "$left" ] && say "  on the backings: $(echo $left | head -c 300)"
			fail "the queue is not empty everywhere"
			return 1
		fi
	}

	step_stop() {
		[ "$E2E_SETUP_OK" = 1 ] || { fail "setup did not complete"; return 1; }
		local rc=0 stray
		stray=$(awk '$1 == "-" || $2 != "ok"' "$SINKLOG" | head -n 5)
		[ "$GLM_STAGE" = local ] && stray= # the contrast may damage: reported above
		[ -z "$stray" ] || { fail "the sink got unmarked or damaged messages (bounces?): $stray"; rc=1; }
		# (not mta_stop: it waits until no sendmail at all is left, the other node's daemon too)
		stop_pids 20 $SM_PID_A $SM_PID_B
		SM_PID_A=
		SM_PID_B=
		wait_for 30 "every sendmail to exit" no_sendmail || { fail "sendmail processes left: $(sm_pids)"; rc=1; }
		sink_stop
		return $rc
	}

	# the runner loops go with everything else, however the stage ends
	mta_cleanup() {
		runners_stop
	}

	say "phase $GLM_STAGE: queuefs -o nfs_index=yes,nfs_storage=yes,locks=$GLM_STAGE on both nodes; work dir $W"
	t_run "nodes: sendmail on A ($GLM_PORT_A) and B ($GLM_PORT_B), queues on the two queuefs mounts" step_nodes
	t_run "sink down: $N messages submitted on node A queue, node B sees them" step_queue
	if [ "$GLM_STAGE" = local ]; then
		t_run "locks = local (contrast): both nodes' runners, duplicates reported" step_deliver
	else
		t_run "sink up, runners on both nodes: each message delivered exactly once, node B delivered some" step_deliver
	fi
	t_run "the queue is empty through both mounts and on the backings" step_empty
	t_run "both sendmails stop, nothing left running" step_stop
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" = 0 ]
	exit
fi

# ================================================================== gluster
# (inside the namespace: test/gluster/run's functions, pass/fail and teardown)
GL_SOURCED=1
GL_PROBE=${GL_PROBE:-unused} # run's coherence probe: not used here
TMPDIR=/var/lib/queuefs-e2e  # sendmail refuses a queue below a world-writable directory (/tmp)
GL_START=$(date +%s)
mkdir -p "$TMPDIR" && chmod 0755 "$TMPDIR" || exit 1
. "$GLM_DIR/run"
say() { echo "$(date +%H:%M:%S) gluster: $*"; }
chmod 0755 "$work" # sendmail's users reach the queue mounts

# glm_private - private copies, in this mount namespace only, of the places GlusterFS
#	insists on (/run for glusterd.socket and /run/gluster, /var/log/glusterfs,
#	/var/lib/glusterd): a test/gluster/run on the host (its glusterd on the host's
#	127.0.0.1, ours in our network namespace) and this run never share a socket,
#	pidfile, log or state file, and teardown's before/after diff sees only ours.
#	After the install, which must write the real ones.
glm_private() {
	gl_install || return 1
	keep=$work/varlib
	mkdir -p "$keep" /var/log/glusterfs /var/lib/glusterd &&
		cp -a /var/lib/glusterd/. "$keep/" &&
		mount -t tmpfs -o mode=0755,size=64m glm-run /run &&
		mount -t tmpfs -o mode=0755,size=64m glm-log /var/log/glusterfs &&
		mount -t tmpfs -o mode=0755,size=64m glm-lib /var/lib/glusterd &&
		cp -a "$keep/." /var/lib/glusterd/ && rm -rf "$keep"
}

status=1
trap 'teardown; rmdir "$TMPDIR" 2>/dev/null; [ $nfail = 0 ] && status=0; exit $status' EXIT
trap 'fail "interrupted (SIGINT)"; exit 130' INT
trap 'fail "interrupted (SIGTERM)"; exit 143' TERM

# phase LOCKS - both queuefs daemons with flush mode and LOCKS, then the MTA stage
phase() {
	opts=nfs_index=yes,nfs_storage=yes,locks=$1
	if ! qfs_pair "$opts" "$opts"; then
		fail "$1: queuefs A and B with -o $opts"
		return 1
	fi
	say "queuefs A ($qpid_A) on $work/qA over client mount 1, B ($qpid_B) on $work/qB over client mount 2, -o $opts"
	GLM_STAGE=$1 GLM_QA=$work/qA GLM_QB=$work/qB GLM_G="$work/g1 $work/g2" \
		timeout -k 10 200 bash "$GLM_SELF" </dev/null 2>&1 | tee "$work/log/mta.$1" |
		grep -Ev '^[0-9]+ passed, [0-9]+ failed$|^GLM-'
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/log/mta.$1" | tail -n 1)
	if [ -z "$line" ]; then
		fail "$1: the MTA stage ended without its summary"
		return 1
	fi
	p=${line%% *}
	f=$(echo "$line" | awk '{ print $3 }')
	npass=$((npass + p))
	nfail=$((nfail + f))
	say "phase $1: $line"
	# no MTA of ours (in our network namespace) may still hold the mounts: they are unmounted next
	ns=$(readlink /proc/self/ns/net)
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/ns/net" 2>/dev/null)" = "$ns" ] || continue
		case $(readlink "$d/exe" 2>/dev/null) in
		*/sendmail) say "a sendmail is left: ${d#/proc/}"; fail "$1: sendmail left running" ;;
		esac
	done
}

main_done=
glm_main() {
	if ! glm_private; then
		fail "private /run, /var/log/glusterfs, /var/lib/glusterd for GlusterFS"
		return
	fi
	gl_bringup || return
	phase backing
	[ "$GLM_CONTRAST" -gt 0 ] && phase local
	qfs_stop A
	qfs_stop B
	for n in A B; do
		said=$(grep -v '^--- start\|: mounted \|: unmounting ' "$work/log/q$n.err")
		say "queuefs $n said $(echo -n "$said" | grep -c .) thing(s) besides mounting and unmounting"
		echo "$said" | head -n 5 | grep . | sed 's/^/gluster:   | /'
	done
	c=$(sed -n 's/^GLM-CONTRAST //p' "$work/log/mta.local" 2>/dev/null)
	if [ -n "$c" ]; then
		set -- $c
		say "contrast, locks = local: $1 of $4 messages delivered twice or more ($2 extra copies)," \
			"$3 queue ids sent by both nodes, $5 lost, $6 arrived damaged"
	fi
	main_done=1
}
glm_main
