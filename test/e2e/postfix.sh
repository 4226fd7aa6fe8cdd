#!/bin/bash
# NAME
#	postfix.sh - Debian 12's Postfix 3.7 with its queue on queuefs
#
# SYNOPSIS
#	QUEUEFS=build/bin/queuefs E2E_BIN=build/test bash test/e2e/postfix.sh
#	(normally run by test/e2e/run-all, which installs postfix first)
#
# DESCRIPTION
#	A private Postfix instance with its own config_directory: queue_directory
#	on a queuefs mount (preset postfix: the queues incoming, active,
#	deferred, hold, maildrop, corrupt, saved - and pid/, public/, private/,
#	which no rule names - on three control shards; the defer, bounce, trace
#	and flush logs on a shard of their own), smtpd on 127.0.0.1:2525,
#	every message relayed to the sink at [127.0.0.1]:2526, no DNS, no
#	chroot, the log in a file (postlogd). The queue is flushed with
#	postqueue -f; postqueue -p, postsuper -h/-H/-r are exercised on the
#	deferred queue. Steps: see lib.sh.
#
# DIAGNOSTICS
#	Prints one PASS/FAIL line per test and "N passed, N failed" last;
#	exits 0 only when every test passed.
E2E_MTA=postfix
. "$(dirname "$0")/lib.sh"
e2e_netns_enter "$@"

MTA_PACKAGES="postfix"
MTA_LISTER="postqueue -p"
PF_EXE_RE='^/usr/lib/postfix/sbin/|^/usr/sbin/post(fix|queue|super|drop|log)$'
QUEUES="incoming active deferred hold maildrop corrupt"

# mta_layout - backings, queuefs config, placement rules
mta_layout() {
	mkdir -p "$W/c1" "$W/c2" "$W/c3" "$W/d1"
	qfs_conf postfix <<-EOF
		control - $W/c1 $W/c2 $W/c3
		logs - $W/d1
	EOF
	BACKINGS="$W/c1 $W/c2 $W/c3 $W/d1"
	PLACEMENT_CONTROL='=^(incoming|active|deferred|hold|maildrop|corrupt|saved|pid|public|private)/'
	PLACEMENT="$W/c1$PLACEMENT_CONTROL $W/c2$PLACEMENT_CONTROL $W/c3$PLACEMENT_CONTROL"
	PLACEMENT="$PLACEMENT $W/d1=^(defer|bounce|trace|flush)/"
	SPREAD="$W/c1 $W/c2 $W/c3 $W/d1"
}

# pf - Postfix command CMD with ARGS, on our instance (-c goes first)
pf() {
	local cmd=$1
	shift
	timeout 120 "$cmd" -c "$PFCONF" "$@"
}

# mta_prepare - main.cf, master.cf, queue directory owner and subdirectories
mta_prepare() {
	PFCONF=$W/conf/postfix
	mkdir -p "$PFCONF" "$W/pfdata"
	chown postfix "$W/pfdata"
	chown root:root "$MNT" && chmod 0755 "$MNT" || { fail "chown/chmod of the queue directory"; return 1; }
	cat >"$PFCONF/main.cf" <<-EOF
		# queuefs e2e: a private instance, loopback only
		compatibility_level = 3.6
		queue_directory = $MNT
		data_directory = $W/pfdata
		mail_owner = postfix
		setgid_group = postdrop
		myhostname = mta.e2e.test
		mydomain = e2e.test
		myorigin = \$myhostname
		mydestination =
		local_recipient_maps =
		alias_maps =
		alias_database =
		inet_interfaces = 127.0.0.1
		inet_protocols = ipv4
		mynetworks = 127.0.0.0/8
		smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
		relayhost = [127.0.0.1]:$SINK_PORT
		disable_dns_lookups = yes
		smtp_dns_support_level = disabled
		smtp_host_lookup = native
		smtpd_peername_lookup = no
		enable_long_queue_ids = yes
		# deferred mail waits for the test's postqueue -f, so the queue holds still
		queue_run_delay = 600s
		minimal_backoff_time = 600s
		maximal_backoff_time = 1200s
		smtp_connect_timeout = 5s
		biff = no
		smtputf8_enable = no
		maillog_file = $LOG/postfix.log
	EOF
	cat >"$PFCONF/master.cf" <<-EOF
		# queuefs e2e: smtpd on 127.0.0.1:$MTA_PORT, no chroot anywhere
		127.0.0.1:$MTA_PORT inet n - n - - smtpd
		pickup    unix  n       -       n       60      1       pickup
		cleanup   unix  n       -       n       -       0       cleanup
		qmgr      unix  n       -       n       300     1       qmgr
		rewrite   unix  -       -       n       -       -       trivial-rewrite
		bounce    unix  -       -       n       -       0       bounce
		defer     unix  -       -       n       -       0       bounce
		trace     unix  -       -       n       -       0       bounce
		verify    unix  -       -       n       -       1       verify
		flush     unix  n       -       n       1000?   0       flush
		proxymap  unix  -       -       n       -       -       proxymap
		smtp      unix  -       -       n       -       -       smtp
		relay     unix  -       -       n       -       -       smtp
		showq     unix  n       -       n       -       -       showq
		error     unix  -       -       n       -       -       error
		retry     unix  -       -       n       -       -       error
		discard   unix  -       -       n       -       -       discard
		local     unix  -       n       n       -       -       local
		anvil     unix  -       -       n       -       1       anvil
		scache    unix  -       -       n       -       1       scache
		postlog   unix-dgram n  -       n       -       1       postlogd
	EOF
	# postlogd and the commands (postsuper runs as postfix) append to it
	install -m 0644 -o postfix /dev/null "$LOG/postfix.log"
	pf postfix check >>"$LOG/postfix-ctl.log" 2>&1 ||
		{ fail "postfix check: $(tail -n 3 "$LOG/postfix-ctl.log")"; return 1; }
	local q
	for q in $QUEUES; do
		[ -d "$MNT/$q" ] || { fail "postfix check did not create $q/ in the queue directory"; return 1; }
	done
	note "queue directory: $(ls -la "$MNT" | tr '\n' ' ')"
}

# pf_pids - every Postfix process in our namespace
pf_pids() {
	ns_pids "$PF_EXE_RE"
}

# mta_start - postfix start (master detaches)
mta_start() {
	pf postfix start >>"$LOG/postfix-ctl.log" 2>&1 ||
		{ fail "postfix start: $(tail -n 3 "$LOG/postfix-ctl.log")"; return 1; }
	wait_for 30 "Postfix to listen on 127.0.0.1:$MTA_PORT" mta_listening ||
		{ fail "Postfix did not start: $(tail -n 3 "$LOG/postfix.log")"; return 1; }
}

# mta_stop - postfix stop, and wait until every process is gone
mta_stop() {
	pf postfix stop >>"$LOG/postfix-ctl.log" 2>&1
	wait_for 30 "Postfix processes to exit" pf_gone || mta_stop_all
	return 0
}

# pf_gone - no Postfix process left
pf_gone() {
	[ -z "$(pf_pids)" ]
}

# mta_stop_all - every Postfix process of ours, now (crash, cleanup)
mta_stop_all() {
	stop_listed pf_pids
}

# mta_recover - after a crash: postfix start runs postsuper (structure check, stale files)
mta_recover() {
	note "queue after the crash: $(queue_files | tr '\n' ' ')"
	return 0
}

# mta_flush - postqueue -f: deliver the deferred queue now
mta_flush() {
	pf postqueue -f >>"$LOG/postfix-ctl.log" 2>&1 || { fail "postqueue -f failed"; return 1; }
}

# queue_files - the files of the message queues and their logs, through the mount
queue_files() {
	timeout 30 bash -c 'cd "$1" && shift && find "$@" ! -type d 2>/dev/null' _ "$MNT" $QUEUES defer bounce trace
}

# mta_queue_empty - no message or log file left anywhere
mta_queue_empty() {
	[ -z "$(queue_files)" ]
}

# mta_queue_nomsg - postqueue -p shows no message
mta_queue_nomsg() {
	[ "$(mta_list_count)" = 0 ]
}

# mta_queue_purge - delete every message and log (an earlier step failed)
mta_queue_purge() {
	pf postsuper -d ALL >>"$LOG/postfix-ctl.log" 2>&1
	local f
	for f in $(queue_files); do
		rm -f "$MNT/$f"
	done
}

# mta_queue_show - what is left, for the log
mta_queue_show() {
	say "  queue holds: $(queue_files | head -n 8 | tr '\n' ' ')"
	pf postqueue -p 2>&1 | tail -n 4 | while read -r l; do say "  postqueue -p: $l"; done
}

# mta_settled - N messages in deferred (and hold), nothing in incoming/active/maildrop
mta_settled() {
	local f
	f=$(queue_files)
	[ "$(grep -cE '^(deferred|hold)/' <<<"$f")" = "$1" ] && ! grep -qE '^(incoming|active|maildrop)/' <<<"$f"
}

# mta_list_count - how many messages postqueue -p shows
mta_list_count() {
	pf postqueue -p >"$W/msgs/postqueue.out" 2>&1
	if grep -q 'Mail queue is empty' "$W/msgs/postqueue.out"; then
		echo 0
		return
	fi
	local n
	n=$(sed -n 's/^-- .* in \([0-9][0-9]*\) Requests\{0,1\}\.$/\1/p' "$W/msgs/postqueue.out")
	echo "${n:-unparsable}"
}

# list_ids - queue ids postqueue -p lists (without the * or ! marks), sorted
list_ids() {
	awk '$1 ~ /^[0-9A-Za-z]+[*!]?$/ && length($1) >= 10 && NF >= 6 { sub(/[*!]$/, "", $1); print $1 }' \
		"$W/msgs/postqueue.out" | sort
}

# old_ids_gone - none of the queue ids in $1 is in deferred/ any more
old_ids_gone() {
	[ -z "$(comm -12 <(echo "$1") <(queue_files | sed -n 's|^deferred/.*/||p' | sort))" ]
}

# mta_list_extra - ids listed = files in deferred/; postsuper -h / -H / -r on the whole queue
mta_list_extra() {
	local n=$1 fs
	fs=$(queue_files | sed -n 's|^deferred/.*/||p' | sort)
	[ "$fs" = "$(list_ids)" ] || { fail "postqueue -p ids differ from deferred/: $(diff <(echo "$fs") <(list_ids) | head -n 4 | tr '\n' ' ')"; return 1; }
	say "  every file in deferred/ is listed by postqueue -p under its id"
	pf postsuper -h ALL deferred >>"$LOG/postfix-ctl.log" 2>&1 || { fail "postsuper -h ALL"; return 1; }
	local held
	held=$(queue_files | grep -c '^hold/')
	mta_list_count >/dev/null
	local marked
	marked=$(awk '$1 ~ /!$/' "$W/msgs/postqueue.out" | wc -l)
	say "  postsuper -h ALL: $held files in hold/, $marked listed as held"
	[ "$held" = "$n" ] && [ "$marked" = "$n" ] || { fail "want $n held"; return 1; }
	pf postsuper -H ALL >>"$LOG/postfix-ctl.log" 2>&1 || { fail "postsuper -H ALL"; return 1; }
	settle "$n" 30 || return 1
	[ "$(queue_files | grep -c '^hold/')" = 0 ] || { fail "postsuper -H ALL left messages on hold"; return 1; }
	# requeue: every message goes through maildrop, pickup and cleanup again (new files, new ids)
	local before
	before=$(queue_files | sed -n 's|^deferred/.*/||p' | sort)
	pf postsuper -r ALL >>"$LOG/postfix-ctl.log" 2>&1 || { fail "postsuper -r ALL"; return 1; }
	pf postqueue -f >>"$LOG/postfix-ctl.log" 2>&1
	wait_for 60 "requeued messages to come back to deferred/ with new ids" old_ids_gone "$before" || return 1
	settle "$n" 60 || return 1
	# Postfix leaves the old ids' defer logs behind (on a plain disk too): remove them
	local id
	for id in $before; do
		rm -f "$MNT"/defer/*/"$id" || { fail "rm defer log $id through the mount"; return 1; }
	done
	say "  postsuper -H ALL released them; postsuper -r ALL requeued all $n under new ids"
}

# dq_state - "ID MTIME" for each deferred message (Postfix keeps the next retry time in the mtime)
dq_state() {
	timeout 30 find "$MNT/deferred" -type f -printf '%f %T@\n' | sort
}

# retried_all - has every message in BEFORE ("ID MTIME" lines) a new mtime now?
retried_all() {
	[ "$(join <(echo "$1") <(dq_state) | awk '$2 != $3' | wc -l)" = "$2" ]
}

# mta_retry_check - two flushes with the sink down: every message is tried again
#	(deferred -> active -> deferred, a new retry time in its mtime)
mta_retry_check() {
	local n=$1 run before
	before=$(dq_state)
	for run in 1 2; do
		sleep 1.1 # Postfix sets whole-second retry times
		mta_flush || return 1
		wait_for 60 "flush $run to retry all $n messages" retried_all "$before" "$n" || return 1
		settle "$n" 60 || return 1
		say "  flush $run with the sink down: all $n deferred messages tried again (new retry time)"
		before=$(dq_state)
	done
	local missing
	missing=$(comm -23 <(queue_files | sed -n 's|^deferred/.*/||p' | sort) \
		<(queue_files | sed -n 's|^defer/.*/||p' | sort) | head -n 3)
	[ -z "$missing" ] || { fail "deferred messages without a defer log: $missing"; return 1; }
	say "  every deferred message has its defer log (why it waits), on the logs shard"
}

# mta_deliver_extra - queue files were seen on the control shards while delivering
mta_deliver_extra() {
	local seen=$1
	awk -v r="$W/c" 'index($1, r) == 1 && $2 ~ /^(incoming|active)\// { f = 1 } END { exit !f }' "$seen" ||
		{ fail "no incoming/ or active/ file was ever seen on a control shard"; return 1; }
	say "  incoming/ and active/ files seen on the control shards while delivering"
}

# mta_queue_list, mta_leftover_ok - what Postfix processes killed mid-message may leave: incomplete files
#	in incoming/ (no owner-execute bit: never acknowledged; postsuper removes such
#	files itself once they are old). crash_leftovers reports and removes them.
mta_queue_list() {
	queue_files
}

mta_leftover_ok() {
	case $1 in
	incoming/*)
		# cleanup marks a complete queue file with the owner-execute bit
		[ -x "$MNT/$1" ] && { fail "$1 is a complete message, not delivered"; return 1; }
		;;
	defer/* | bounce/* | trace/*) ;;
	*) fail "unexpected file $1 after the crash"; return 1 ;;
	esac
	return 0
}

# mta_logs - the log to read for errors, with what an error line looks like
mta_logs() {
	echo "$LOG/postfix.log (warning|error|fatal|panic): "
}

e2e_main
