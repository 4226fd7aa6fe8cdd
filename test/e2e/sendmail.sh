#!/bin/bash
# NAME
#	sendmail.sh - Debian 12's sendmail 8.17 with its queue on queuefs
#
# SYNOPSIS
#	QUEUEFS=build/bin/queuefs E2E_BIN=build/test bash test/e2e/sendmail.sh
#	(normally run by test/e2e/run-all, which installs sendmail-bin first)
#
# DESCRIPTION
#	A private sendmail instance: its own .cf built with m4 from Debian's
#	sendmail-cf, QueueDirectory on a queuefs mount (preset sendmail:
#	qf tf Tf Qf hf on three control shards, df on a data shard, xf on a
#	tmpfs transcript shard), listening on 127.0.0.1:2525, relaying all
#	mail to the sink on [127.0.0.1]:2526 (SMART_HOST
#	relay:[127.0.0.1]: a bare [127.0.0.1] is in class w, "myself", and
#	would be ignored), no DNS (service switch: hosts
#	files), no load-average throttling. SuperSafe (the default) fsyncs
#	every queue file and the queue directory; the df and xf buffers are
#	0 so that both files always reach the queue. The daemon runs in the
#	foreground (-bD) without periodic queue runs: the test runs the queue
#	itself with -qf. Steps: see lib.sh.
#
#	Sourced by another script (test/gluster/mta.sh, test/bench/smtp),
#	it only defines the hooks; SM_QUEUE_DIR, when set, is the
#	QueueDirectory instead of $MNT (e.g. a multi-queue "$MNT/q.*"),
#	and SM_LISTEN the daemon's listen queue (sendmail's default: 10).
#
# DIAGNOSTICS
#	Prints one PASS/FAIL line per test and "N passed, N failed" last;
#	exits 0 only when every test passed.
E2E_MTA=sendmail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# sourced (test/gluster/mta.sh): the hooks only, no namespace, no run
[ "${BASH_SOURCE[0]}" != "$0" ] || e2e_netns_enter "$@"

MTA_PACKAGES="sendmail-bin sendmail-cf"
MTA_LISTER=mailq
SM=/usr/sbin/sendmail-mta
SM_EXE_RE='^/usr/libexec/sendmail/sendmail$|^/usr/lib/sm\.bin/sendmail$'
SM_PID=

# mta_layout - backings, queuefs config, placement rules
mta_layout() {
	mkdir -p "$W/c1" "$W/c2" "$W/c3" "$W/d1" "$W/x1"
	mount -t tmpfs -o size=64m,mode=0755 qfs-e2e-xf "$W/x1" || { fail "cannot mount the tmpfs for xf"; return 1; }
	qfs_conf sendmail <<-EOF
		control - $W/c1 $W/c2 $W/c3
		data - $W/d1
		transcript volatile $W/x1
	EOF
	BACKINGS="$W/c1 $W/c2 $W/c3 $W/d1 $W/x1"
	PLACEMENT_CONTROL='=^(qf|tf|Tf|Qf|hf)[^/]+$'
	PLACEMENT="$W/c1$PLACEMENT_CONTROL $W/c2$PLACEMENT_CONTROL $W/c3$PLACEMENT_CONTROL"
	PLACEMENT="$PLACEMENT $W/d1=^df[^/]+\$ $W/x1=^xf[^/]+\$"
	SPREAD="$W/c1 $W/c2 $W/c3 $W/d1"
}

# mta_prepare - the queue directory's owner and mode; the .cf
mta_prepare() {
	chown root:root "$MNT" && chmod 0700 "$MNT" || { fail "chown/chmod of the queue directory"; return 1; }
	CF=$W/conf/sendmail.cf
	printf 'hosts\tfiles\naliases\tfiles\n' >"$W/conf/service.switch"
	# bounces, should any happen, reach the sink too (and fail the test there)
	printf 'postmaster: postmaster@sink.e2e.test\nMAILER-DAEMON: postmaster\nroot: postmaster\n' >"$W/conf/aliases"
	cat >"$W/conf/sendmail.mc" <<-EOF
		divert(-1)dnl
		divert(0)dnl
		define(\`_USE_ETC_MAIL_')dnl
		include(\`/usr/share/sendmail/cf/m4/cf.m4')dnl
		VERSIONID(\`queuefs e2e')dnl
		OSTYPE(\`debian')dnl
		define(\`confDOMAIN_NAME', \`mta.e2e.test')dnl
		define(\`QUEUE_DIR', \`${SM_QUEUE_DIR:-$MNT}')dnl
		define(\`confQUEUE_FILE_MODE', \`0600')dnl
		define(\`confDF_BUFFER_SIZE', \`0')dnl
		define(\`confXF_BUFFER_SIZE', \`0')dnl
		define(\`SMART_HOST', \`relay:[127.0.0.1]')dnl
		define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
		define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
		define(\`SMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
		define(\`confSERVICE_SWITCH_FILE', \`$W/conf/service.switch')dnl
		define(\`ALIAS_FILE', \`$W/conf/aliases')dnl
		define(\`confPID_FILE', \`$RUN/sendmail.pid')dnl
		define(\`STATUS_FILE', \`$RUN/sendmail.st')dnl
		define(\`confDONT_PROBE_INTERFACES', \`true')dnl
		define(\`confQUEUE_LA', \`1000')dnl
		define(\`confREFUSE_LA', \`1000')dnl
		define(\`confDELAY_LA', \`0')dnl
		define(\`confTO_CONNECT', \`10s')dnl
		define(\`confTO_ICONNECT', \`10s')dnl
		define(\`confPRIVACY_FLAGS', \`authwarnings')dnl
		define(\`confLOG_LEVEL', \`9')dnl
		undefine(\`confHOST_STATUS_DIRECTORY')dnl
		FEATURE(\`nocanonify')dnl
		FEATURE(\`accept_unresolvable_domains')dnl
		FEATURE(\`no_default_msa')dnl
		DAEMON_OPTIONS(\`Family=inet, Name=MTA-e2e, Port=$MTA_PORT, Addr=127.0.0.1${SM_LISTEN:+, Listen=$SM_LISTEN}')dnl
		MAILER(\`local')dnl
		MAILER(\`smtp')dnl
	EOF
	m4 "$W/conf/sendmail.mc" >"$CF" 2>"$LOG/m4.log" || { fail "m4 sendmail.mc: $(cat "$LOG/m4.log")"; return 1; }
	touch "$RUN/sendmail.st"
	timeout 30 "$SM" -C "$CF" -bi >>"$LOG/sendmail.log" 2>&1 || { fail "newaliases: $(tail -n 2 "$LOG/sendmail.log")"; return 1; }
	note "sendmail.cf queue options: $(grep -E '^O (QueueDirectory|SuperSafe|DataFileBufferSize|XscriptFileBufferSize)' "$CF" | tr '\n' ' ')"
}

# sm_pids - every sendmail process in our namespace
sm_pids() {
	ns_pids "$SM_EXE_RE"
}

# mta_start - the daemon in the foreground, no periodic queue runs
mta_start() {
	"$SM" -C "$CF" -bD -L sm-e2e >>"$LOG/sendmail.log" 2>&1 &
	SM_PID=$!
	wait_for 30 "sendmail to listen on 127.0.0.1:$MTA_PORT" mta_listening ||
		{ fail "sendmail did not start: $(tail -n 3 "$LOG/sendmail.log")"; return 1; }
	note "sendmail daemon pid $SM_PID"
}

# mta_idle - only the daemon left (no delivery or SMTP children)
mta_idle() {
	[ "$(sm_pids | grep -vx "$SM_PID" | wc -l)" = 0 ]
}

# mta_stop - stop the daemon, let running deliveries finish
mta_stop() {
	[ -n "$SM_PID" ] && stop_pids 20 "$SM_PID"
	SM_PID=
	# shellcheck disable=SC2046
	wait_for 30 "sendmail children to finish" mta_idle || stop_pids 5 $(sm_pids)
	return 0
}

# mta_stop_all - every sendmail process of ours, now (crash, cleanup)
mta_stop_all() {
	stop_listed sm_pids
	[ -n "$SM_PID" ] && wait "$SM_PID" 2>/dev/null
	SM_PID=
	return 0
}

# mta_recover - after a crash: nothing to do, sendmail recovers from its files
mta_recover() {
	note "queue after the crash: $(queue_names | sed 's/^\(..\).*/\1/' | sort | uniq -c | tr '\n' ' ')"
	return 0
}

# mta_flush - one queue run in the foreground
mta_flush() {
	timeout 170 "$SM" -C "$CF" -qf >>"$LOG/sendmail-q.log" 2>&1
	local rc=$?
	[ $rc = 124 ] && { fail "sendmail -qf did not finish in 170 s"; return 1; }
	return 0
}

# queue_names - names in the queue directory, through the mount
queue_names() {
	timeout 30 ls -A "$MNT" 2>/dev/null
}

# mta_queue_empty - no queue file at all left
mta_queue_empty() {
	[ -z "$(queue_names)" ]
}

# mta_queue_purge - delete every queue file (an earlier step failed)
mta_queue_purge() {
	local f
	for f in $(queue_names); do
		rm -f "$MNT/$f"
	done
}

# mta_queue_show - what is left, for the log
mta_queue_show() {
	say "  queue holds: $(queue_names | sed 's/^\(..\).*/\1/' | sort | uniq -c | tr '\n' ' ')"
	timeout 30 mailq -C "$CF" 2>&1 | tail -n 5 | while read -r l; do say "  mailq: $l"; done
}

# mta_settled - N qf files, no tf/xf, nothing delivering
mta_settled() {
	local names
	names=$(queue_names)
	[ "$(grep -c '^qf' <<<"$names")" = "$1" ] && ! grep -q '^[tx]f' <<<"$names" && mta_idle
}

# mta_list_count - how many messages mailq shows. Debian's mailq is a wrapper that lists
#	the MSP queue and then the MTA queue, both from the -C config here: keep the MTA part.
mta_list_count() {
	timeout 60 mailq -C "$CF" >"$W/msgs/mailq.all" 2>&1
	if grep -q '^MTA Queue status' "$W/msgs/mailq.all"; then
		sed -n '/^MTA Queue status/,$p' "$W/msgs/mailq.all" >"$W/msgs/mailq.out"
	else
		cp "$W/msgs/mailq.all" "$W/msgs/mailq.out"
	fi
	local n
	n=$(sed -n 's/.*Total requests: *\([0-9][0-9]*\).*/\1/p' "$W/msgs/mailq.out" | tail -n 1)
	[ -z "$n" ] && grep -q 'is empty' "$W/msgs/mailq.out" && n=0
	echo "${n:-unparsable}"
}

# mta_list_extra - every qf in the queue directory is listed by mailq under its id
mta_list_extra() {
	queue_names | sed -n 's/^qf//p' | sort >"$W/msgs/ids.fs"
	awk 'NF && $1 ~ /^[0-9A-Za-z]+[*X-]?$/ && length($1) >= 12 { sub(/[*X-]$/, "", $1); print $1 }' \
		"$W/msgs/mailq.out" | sort >"$W/msgs/ids.mailq"
	cmp -s "$W/msgs/ids.fs" "$W/msgs/ids.mailq" ||
		{ fail "mailq ids differ from the qf files: $(diff "$W/msgs/ids.fs" "$W/msgs/ids.mailq" | head -n 6 | tr '\n' ' ')"; return 1; }
	say "  every qf id is listed by mailq"
}

# qf_state - "ID INODE TRIES" for each qf file
qf_state() {
	local f
	for f in $(queue_names | grep '^qf'); do
		echo "${f#qf} $(stat -c %i "$MNT/$f") $(sed -n 's/^N//p' "$MNT/$f" | head -n 1)"
	done | sort
}

# mta_retry_check - two queue runs with the sink down: each rewrites every qf (tf -> qf, new inode, N+1)
mta_retry_check() {
	local run before after
	before=$(qf_state)
	for run in 1 2; do
		mta_flush || return 1
		after=$(qf_state)
		local moved
		moved=$(join <(echo "$before") <(echo "$after") | awk '$2 != $4 && $5 == $3 + 1' | wc -l)
		say "  queue run $run with the sink down: $moved of $1 qf files rewritten (new inode, tries+1)"
		[ "$moved" = "$1" ] || { fail "queue run $run rewrote $moved qf files, want $1"; return 1; }
		before=$after
	done
	settle "$1" || return 1
}

# mta_deliver_extra - sendmail's three file kinds were all seen on their backings
mta_deliver_extra() {
	local seen=$1 k
	for k in "qf $W/c" "df $W/d1" "xf $W/x1"; do
		set -- $k
		awk -v p="$1" -v r="$2" 'index($1, r) == 1 && index($2, p) == 1 { f = 1 } END { exit !f }' "$seen" ||
			{ fail "no $1 file was ever seen on ${2#"$W"/}*"; return 1; }
	done
	say "  qf, df and xf files all seen on their backings while delivering"
}

# mta_queue_nomsg - no message left: no qf with content. An empty qf is what a sendmail
#	killed between creating a new message's qf and writing it leaves; sendmail itself
#	removes such a "bogus file" (with its df) once it is 10 minutes old.
mta_queue_nomsg() {
	local f
	for f in $(queue_names | grep '^qf'); do
		[ -s "$MNT/$f" ] && return 1
	done
	return 0
}

# mta_queue_list, mta_leftover_ok - what killed sendmail processes may leave of messages never
#	acknowledged: an empty qf (see above) with its df, a df whose qf was never written,
#	xf (transcript of an attempt in progress), tf (a rewrite in progress). Every
#	acknowledged message was delivered once already (verify): none of these is mail.
mta_queue_list() {
	queue_names
}

mta_leftover_ok() {
	case $1 in
	qf*) [ -s "$MNT/$1" ] && { fail "$1 is not empty"; return 1; } ;;
	df* | xf* | tf*) ;;
	*) fail "unexpected file $1 after the crash"; return 1 ;;
	esac
	return 0
}

# mta_logs - none: sendmail logs to syslog only, and the test runs no syslog
mta_logs() {
	return 0
}

[ "${BASH_SOURCE[0]}" != "$0" ] || e2e_main
