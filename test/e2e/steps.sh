# NAME
#	steps.sh - the e2e tests themselves, the same for every MTA
#
# SYNOPSIS
#	sourced by lib.sh; e2e_main (at the end) runs them
#
# DESCRIPTION
#	Each test is a step_* function run by t_run: setup, deliver, deferred,
#	listing, retry, crash, maintenance, final and, for an MTA that logs to
#	a file, logs. They drive the MTA through the mta_* hooks its script
#	defines (listed above e2e_main) and the helpers of lib.sh.
#
# DIAGNOSTICS
#	A step returns 1 after saying why (fail); the steps after a failed one
#	first bring the run back to a known state (need_setup).

# ---------------------------------------------------------------- MTA logs

E2E_MARK="queuefs-e2e: crash window"

# log_mark - BEGIN or END a crash window in every MTA log (mta_logs: "FILE ERE" lines):
#	errors the MTA logs while queuefs is dead are expected, errors elsewhere are not
log_mark() {
	local f re
	mta_logs | while read -r f re; do
		if [ ! -f "$f" ]; then # not written yet: create it as the MTA would (owner of its directory)
			install -m 0640 /dev/null "$f" && chown --reference="$(dirname "$f")" "$f"
		fi
		echo "$E2E_MARK $1" >>"$f"
	done
}

# log_errors - the error lines of the MTA logs outside the crash windows
log_errors() {
	local f re
	mta_logs | while read -r f re; do
		[ -f "$f" ] || continue
		awk -v mark="$E2E_MARK" -v re="$re" '
			index($0, mark " begin") { inside = 1; next }
			index($0, mark " end") { inside = 0; next }
			!inside && $0 ~ re { print }' "$f"
	done
}

# step_logs - the MTA logged no error outside the crash windows
step_logs() {
	[ "$E2E_SETUP_OK" = 1 ] || { fail "setup did not complete"; return 1; }
	local errs files
	files=$(mta_logs | awk '{ print $1 }' | sed "s|^$W/||" | tr '\n' ' ')
	files=${files% }
	errs=$(log_errors)
	if [ -n "$errs" ]; then
		say "  $(echo "$errs" | wc -l) error lines in $files outside the crash windows, e.g.:"
		echo "$errs" | head -n 8 | while read -r l; do say "    $l"; done
		fail "the MTA logged errors while queuefs was up"
		return 1
	fi
	say "  no error in $files outside the crash windows"
}

# ---------------------------------------------------------------- packages

# pkg_installed - is Debian package P installed?
pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

# ---------------------------------------------------------------- the tests

# step_setup - configure, mount, start sink and MTA
step_setup() {
	local p
	for p in $MTA_PACKAGES; do
		pkg_installed "$p" || { fail "package $p is not installed (test/e2e/run-all installs it)"; return 1; }
	done
	mta_layout || return 1
	qfs_mount || return 1
	mta_prepare || return 1
	sink_start || return 1
	mta_start || return 1
	E2E_SETUP_OK=1
}

# need_setup - the steps after setup cannot run without it: say so and fail. Then
#	bring the run to the state every step starts from, whatever an earlier failed
#	step left: queuefs mounted, the MTA running, the sink up and accepting, the
#	queue empty (flushed, else purged: said in the log) unless $1 is "keep" (the
#	steps that go on with the queue the step before them filled).
need_setup() {
	[ "$E2E_SETUP_OK" = 1 ] || { fail "setup did not complete"; return 1; }
	if ! qfs_mounted; then
		say "  queuefs is not mounted (an earlier step failed): remounting, restarting the MTA"
		mta_stop_all
		[ -n "$QFS_PID" ] && qfs_kill9
		qfs_mount || return 1
		mta_start || return 1
	elif ! mta_listening; then
		say "  the MTA is not running (an earlier step failed): starting it"
		mta_stop_all
		mta_start || return 1
	fi
	[ "${1:-}" = keep ] && return 0
	sink_tempfail off
	[ -n "$SINK_PID" ] || sink_start || return 1
	mta_queue_empty && return 0
	say "  the queue is not empty (an earlier step failed): flushing it"
	mta_flush
	wait_for 60 "the queue to drain" mta_queue_empty && return 0
	say "  purging what is left: $(mta_queue_show)"
	mta_queue_purge
	mta_queue_empty || { fail "cannot empty the queue"; return 1; }
}

# step_deliver - a few hundred messages in parallel, each delivered once, files where the preset says
step_deliver() {
	need_setup || return 1
	local tag=deliver seen=$W/msgs/deliver.seen rc=0
	sink_stop && sink_start -d "${E2E_SINK_DELAY:-20}" || return 1
	: >"$seen"
	sampler_start "$seen" $BACKINGS
	submit $tag "${E2E_COUNT:-300}" 8 -R 2
	say "  submitted: $(accepted $tag) of ${E2E_COUNT:-300} acknowledged"
	[ "$(accepted $tag)" = "${E2E_COUNT:-300}" ] || { fail "the MTA did not acknowledge every message"; rc=1; }
	wait_delivered $tag 90 || rc=1
	sampler_stop
	verify $tag strict || rc=1
	placement_check "$seen" $PLACEMENT || rc=1
	mta_deliver_extra "$seen" || rc=1
	wait_for 60 "the queue to drain" mta_queue_empty || { mta_queue_show; rc=1; }
	sink_stop && sink_start || rc=1
	return $rc
}

# settle - wait until the MTA holds exactly N messages of the queue and is idle
settle() {
	wait_for "${2:-60}" "$1 messages queued and the MTA idle" mta_settled "$1"
}

# step_deferred - sink down: the queue fills, with the files where the preset says
step_deferred() {
	need_setup || return 1
	local tag=deferred n=${E2E_DEFER_COUNT:-150} seen=$W/msgs/deferred.seen
	sink_stop
	submit $tag "$n" 6 -R 2
	say "  submitted: $(accepted $tag) of $n acknowledged, sink down"
	[ "$(accepted $tag)" = "$n" ] || { fail "the MTA did not acknowledge every message"; return 1; }
	settle "$n" || { mta_queue_show; return 1; }
	: >"$seen"
	snapshot_backings "$seen" $BACKINGS
	placement_check "$seen" $PLACEMENT || return 1
	placement_spread "$seen" $SPREAD || return 1
	E2E_DEFERRED_OK=1
}

# step_listing - the MTA's own listing tool shows the deferred messages
step_listing() {
	need_setup keep || return 1
	[ "${E2E_DEFERRED_OK:-0}" = 1 ] || { fail "the deferred queue did not fill"; return 1; }
	local n=${E2E_DEFER_COUNT:-150} got
	got=$(mta_list_count)
	say "  $MTA_LISTER lists $got messages, $n queued"
	[ "$got" = "$n" ] || { fail "$MTA_LISTER lists $got messages, want $n"; return 1; }
	mta_list_extra "$n" || return 1
}

# step_retry - queue runs with the sink down rewrite the queue; sink back: all delivered once
step_retry() {
	need_setup keep || return 1
	[ "${E2E_DEFERRED_OK:-0}" = 1 ] || { fail "the deferred queue did not fill"; return 1; }
	local tag=deferred n=${E2E_DEFER_COUNT:-150}
	mta_retry_check "$n" || return 1
	sink_start || return 1
	mta_flush || return 1
	wait_delivered $tag 90 || return 1
	verify $tag strict || return 1
	wait_for 60 "the queue to drain" mta_queue_empty || { mta_queue_show; return 1; }
}

# step_crash - kill -9 of queuefs while the MTA accepts mail; remount; all acknowledged delivered once
step_crash() {
	need_setup || return 1
	local round rounds=${E2E_CRASH_ROUNDS:-3} rc=0
	for round in $(seq 1 "$rounds"); do
		crash_round "$round" || { rc=1; break; }
	done
	[ $rc = 0 ] || log_mark end # a failed round: its errors are no news
	return $rc
}

# client_quiet - wait until client PID ended, or TAG got no acknowledgement for 5 s
#	(20 s at most); 1 if the client is still running
client_quiet() {
	local tag=$1 pid=$2 n last=-1 still=0 i
	for i in $(seq 1 100); do
		pids_gone "$pid" && return 0
		n=$(accepted "$tag")
		if [ "$n" = "$last" ]; then
			still=$((still + 1))
			[ $still -ge 25 ] && return 1
		else
			still=0
			last=$n
		fi
		sleep 0.2
	done
	return 1
}

# crash_round - one kill -9 round, tag crashN
crash_round() {
	local tag=crash$1 n=${E2E_CRASH_COUNT:-200} send_pid after
	sink_tempfail on # deliveries fail during the crash: nothing is delivered twice by a lost 250
	"$E2E_BIN/e2e-send" -p "$MTA_PORT" -i "$tag" -n "$n" -c 4 -a "$W/msgs/$tag.acc" -e "$W/msgs/$tag.err" \
		-T 120 >>"$LOG/harness.log" 2>&1 &
	send_pid=$!
	after=$((20 + 15 * $1))
	wait_for 60 "$after acknowledgements before the crash" accepted_at_least "$tag" "$after" ||
		{ stop_pids 5 "$send_pid"; sink_tempfail off; return 1; }
	log_mark begin
	qfs_kill9
	say "  round $1: queuefs killed after $(accepted $tag) acknowledgements"
	# Some MTAs keep the client waiting (Postfix's smtpd retries its cleanup
	# connection): once no acknowledgement came for 5 s (20 s at most), none will.
	client_quiet "$tag" "$send_pid" || say "  round $1: ending the client"
	{
		kill -TERM "$send_pid"
		wait "$send_pid"
	} 2>/dev/null
	say "  round $1: $(accepted $tag) of $n acknowledged in all"
	mta_stop_all
	qfs_mount || return 1
	mta_recover || return 1
	mta_start || return 1
	sink_tempfail off
	mta_flush || return 1
	wait_delivered $tag 90 || { mta_queue_show; return 1; }
	verify $tag crash || return 1
	wait_for 60 "no message left in the queue" mta_queue_nomsg || { mta_queue_show; return 1; }
	# What a killed MTA process leaves behind (a transcript, a half-written
	# data file without its control file) is no message: report and remove it,
	# as the MTA's own clean-up or queuefsctl would, then the queue is empty.
	crash_leftovers || return 1
	mta_queue_empty || { mta_queue_show; fail "files left in the queue after the crash clean-up"; return 1; }
	log_mark end
	return 0
}

# step_maintenance - stop, unmount with a deferred queue, remount (same config; then one more
#	control shard with -o migrate), run the queue: every message delivered once
step_maintenance() {
	need_setup || return 1
	local n=${E2E_MAINT_COUNT:-100}
	# same config
	sink_tempfail on
	submit maint1 "$n" 4 -R 2
	[ "$(accepted maint1)" = "$n" ] || { fail "the MTA did not acknowledge every message"; return 1; }
	settle "$n" || { mta_queue_show; return 1; }
	mta_stop || return 1
	qfs_umount || return 1
	say "  unmounted with $n deferred messages; remounting with the same config"
	qfs_mount || return 1
	mta_start || return 1
	local got
	got=$(mta_list_count)
	[ "$got" = "$n" ] || { fail "after remount $MTA_LISTER lists $got messages, want $n"; return 1; }
	sink_tempfail off
	mta_flush || return 1
	wait_delivered maint1 90 || return 1
	verify maint1 strict || return 1
	wait_for 60 "the queue to drain" mta_queue_empty || { mta_queue_show; return 1; }

	# one more control shard
	sink_tempfail on
	submit maint2 "$n" 4 -R 2
	[ "$(accepted maint2)" = "$n" ] || { fail "the MTA did not acknowledge every message"; return 1; }
	settle "$n" || { mta_queue_show; return 1; }
	mta_stop || return 1
	qfs_umount || return 1
	mkdir -p "$W/c4"
	sed -i -e "s|^shards = $W/c1 $W/c2 $W/c3\$|& $W/c4|" "$QFS_CONF"
	grep -q "$W/c4" "$QFS_CONF" || { fail "could not add c4 to $QFS_CONF"; return 1; }
	say "  added control shard c4; mounting without -o migrate must fail"
	if qfs_start; then
		fail "queuefs mounted a changed shard list without -o migrate"
		return 1
	fi
	say "  refused as it should: $QFS_WHY"
	qfs_mount -o migrate || return 1
	BACKINGS="$BACKINGS $W/c4"
	SPREAD="$SPREAD $W/c4"
	PLACEMENT="$PLACEMENT $W/c4$PLACEMENT_CONTROL"
	mta_start || return 1
	got=$(mta_list_count)
	[ "$got" = "$n" ] || { fail "after migrate $MTA_LISTER lists $got messages, want $n"; return 1; }
	# new mail spreads over four shards
	submit maint3 "$n" 4 -R 2
	[ "$(accepted maint3)" = "$n" ] || { fail "the MTA did not acknowledge every message"; return 1; }
	settle $((2 * n)) || { mta_queue_show; return 1; }
	local seen=$W/msgs/maint.seen
	: >"$seen"
	snapshot_backings "$seen" $BACKINGS
	placement_check "$seen" $PLACEMENT || return 1
	placement_spread "$seen" $SPREAD || return 1
	sink_tempfail off
	mta_flush || return 1
	wait_delivered maint2 90 || return 1
	wait_delivered maint3 90 || return 1
	verify maint2 strict || return 1
	verify maint3 strict || return 1
	wait_for 60 "the queue to drain" mta_queue_empty || { mta_queue_show; return 1; }
}

# step_final - nothing left behind by the whole run: stop the MTA, unmount cleanly
step_final() {
	need_setup || return 1
	local rc=0 stray
	stray=$(awk '$1 == "-" || $2 != "ok"' "$SINKLOG" | head -n 5)
	[ -z "$stray" ] || { fail "the sink got unmarked or damaged messages (bounces?): $stray"; rc=1; }
	mta_stop || rc=1
	qfs_umount || rc=1
	# what queuefs had to say beyond mounting, unmounting and the expected refusal
	local notable
	notable=$(grep -vE '^queuefs: (mounted|unmounting|mount of .* refused|layout migrated)|: empty, but this queuefs already has data|held a dead FUSE mount' \
		"$LOG/queuefs.log")
	if [ -n "$notable" ]; then
		say "  queuefs logged $(echo "$notable" | wc -l) other lines, e.g.:"
		echo "$notable" | head -n 5 | while read -r l; do say "    $l"; done
	else
		say "  queuefs logged nothing but its mounts and unmounts"
	fi
	return $rc
}

# crash_leftovers - what killed MTA processes left of messages never acknowledged:
#	every queue file (mta_queue_list) must be one mta_leftover_ok FILE accepts
#	(it fails the test for one that must not be there); then all are removed
#	through the mount
crash_leftovers() {
	local f left
	left=$(mta_queue_list)
	[ -z "$left" ] && return 0
	say "  left by the killed $E2E_MTA processes: $(echo $left)"
	for f in $left; do
		mta_leftover_ok "$f" || return 1
	done
	for f in $left; do
		rm -f "$MNT/$f" || { fail "rm $f through the mount"; return 1; }
	done
}

# e2e_main - the whole run for one MTA: the hooks it needs
#	MTA_PACKAGES  packages that must be installed
#	BACKINGS PLACEMENT SPREAD PLACEMENT_CONTROL  set by mta_layout
#	mta_layout mta_prepare mta_start mta_stop mta_stop_all mta_recover mta_flush
#	mta_queue_empty mta_queue_nomsg mta_queue_show mta_queue_purge mta_settled
#	mta_list_count mta_list_extra
#	mta_retry_check mta_deliver_extra mta_queue_list mta_leftover_ok mta_logs
e2e_main() {
	e2e_work
	say "work directory $W, queuefs $QUEUEFS"
	local t0=$SECONDS
	t_run "$E2E_MTA: setup (install check, config, mount, start on 127.0.0.1:$MTA_PORT)" step_setup
	t_run "$E2E_MTA: deliver ${E2E_COUNT:-300} messages in parallel" step_deliver
	t_run "$E2E_MTA: sink down, the deferred queue fills" step_deferred
	t_run "$E2E_MTA: $MTA_LISTER shows the queued messages" step_listing
	t_run "$E2E_MTA: queue runs with the sink down, then up: all delivered once" step_retry
	t_run "$E2E_MTA: kill -9 of queuefs while accepting (x${E2E_CRASH_ROUNDS:-3})" step_crash
	t_run "$E2E_MTA: unmount with a deferred queue, remount, migrate to 4 shards" step_maintenance
	t_run "$E2E_MTA: clean stop and unmount" step_final
	if [ -n "$(mta_logs)" ]; then
		t_run "$E2E_MTA: no MTA error logged outside the crash windows" step_logs
	else
		say "($E2E_MTA logs to syslog only, which the test does not run: no log check)"
	fi
	say "done in $((SECONDS - t0)) s"
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" = 0 ]
}
