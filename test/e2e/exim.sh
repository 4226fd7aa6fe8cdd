#!/bin/bash
# NAME
#	exim.sh - Debian 12's Exim 4.96 (exim4-daemon-light) with its spool on queuefs
#
# SYNOPSIS
#	QUEUEFS=build/bin/queuefs E2E_BIN=build/test bash test/e2e/exim.sh
#	(normally run by test/e2e/run-all, which installs exim4-daemon-light first)
#
# DESCRIPTION
#	A private Exim instance from a config file of its own (exim4 -C, listed
#	in /etc/exim4/trusted_configs for the length of the run, as Debian's
#	setuid exim4 keeps its privileges only for a listed -C file):
#	spool_directory on a queuefs mount (preset exim: ID-H, hdr.ID, ID-J,
#	msglog/ and db/ on three control shards, ID-D on a data shard), the
#	daemon on 127.0.0.1:2525 in the foreground (-bdf) without queue
#	runners, every message routed to the sink at 127.0.0.1:2526
#	(manualroute, self = send, allow_localhost), no DNS, no ident, no
#	host lookups. The queue is run with exim -qff, listed with exim -bp
#	and -bpc. Steps: see lib.sh.
#
# DIAGNOSTICS
#	Prints one PASS/FAIL line per test and "N passed, N failed" last;
#	exits 0 only when every test passed.
E2E_MTA=exim
. "$(dirname "$0")/lib.sh"
e2e_netns_enter "$@"

MTA_PACKAGES="exim4-daemon-light exim4-config"
MTA_LISTER="exim -bp"
EXIM=/usr/sbin/exim4
EXIM_EXE_RE='^/usr/sbin/exim4$'
EXIM_PID=
TRUSTED=/etc/exim4/trusted_configs

# mta_layout - backings, queuefs config, placement rules
mta_layout() {
	mkdir -p "$W/c1" "$W/c2" "$W/c3" "$W/d1"
	qfs_conf exim <<-EOF
		control - $W/c1 $W/c2 $W/c3
		data - $W/d1
	EOF
	BACKINGS="$W/c1 $W/c2 $W/c3 $W/d1"
	# control: everything but the data files (ID-H, hdr.ID, ID-J, msglog/ID, db/*, ...)
	PLACEMENT_CONTROL='!=-D$'
	PLACEMENT="$W/c1$PLACEMENT_CONTROL $W/c2$PLACEMENT_CONTROL $W/c3$PLACEMENT_CONTROL"
	PLACEMENT="$PLACEMENT $W/d1=^input/[^/]+-D\$"
	SPREAD="$W/c1 $W/c2 $W/c3 $W/d1"
}

# trust_config - list our config in trusted_configs (undone by untrust_config)
trust_config() {
	if [ ! -e "$TRUSTED" ]; then
		EXIM_TRUSTED_CREATED=1
		install -m 0644 -o root -g root /dev/null "$TRUSTED"
	fi
	echo "$EXCONF" >>"$TRUSTED"
}

# untrust_config - remove our line (and the file if we created it)
untrust_config() {
	[ -n "${EXCONF:-}" ] && [ -f "$TRUSTED" ] || return 0
	if [ "${EXIM_TRUSTED_CREATED:-0}" = 1 ]; then
		rm -f "$TRUSTED"
	else
		grep -vxF "$EXCONF" "$TRUSTED" >"$TRUSTED.qfs-e2e" && cat "$TRUSTED.qfs-e2e" >"$TRUSTED"
		rm -f "$TRUSTED.qfs-e2e"
	fi
}

# mta_prepare - the config, the spool root's owner, the log directory
mta_prepare() {
	EXCONF=$W/conf/exim.conf
	chown Debian-exim:Debian-exim "$MNT" && chmod 0750 "$MNT" ||
		{ fail "chown/chmod of the spool directory"; return 1; }
	install -d -m 0750 -o Debian-exim -g Debian-exim "$LOG/exim" "$RUN/exim"
	cat >"$EXCONF" <<-EOF
		# queuefs e2e: a private Exim, loopback only, spool on queuefs
		spool_directory = $MNT
		log_file_path = $LOG/exim/%slog
		pid_file_path = $RUN/exim/exim.pid
		exim_user = Debian-exim
		exim_group = Debian-exim
		primary_hostname = mta.e2e.test
		qualify_domain = e2e.test
		daemon_smtp_ports = $MTA_PORT
		local_interfaces = 127.0.0.1
		disable_ipv6 = true
		host_lookup =
		rfc1413_hosts =
		rfc1413_query_timeout = 0s
		tls_advertise_hosts =
		hostlist relay_from_hosts = 127.0.0.1
		acl_smtp_rcpt = acl_check_rcpt
		smtp_accept_max = 100
		smtp_accept_queue_per_connection = 0
		remote_max_parallel = 4
		message_size_limit = 50M
		check_spool_space = 10M
		check_spool_inodes = 100
		keep_environment =
		log_selector = +smtp_connection +delivery_size +queue_run

		begin acl
		acl_check_rcpt:
		  accept hosts = +relay_from_hosts
		  deny message = relay not permitted

		begin routers
		to_sink:
		  driver = manualroute
		  route_list = * 127.0.0.1
		  self = send
		  transport = to_sink_smtp

		begin transports
		to_sink_smtp:
		  driver = smtp
		  port = $SINK_PORT
		  allow_localhost
		  hosts_try_fastopen = :

		begin retry
		*  *  F,2h,15m

		begin rewrite
	EOF
	chmod 0644 "$EXCONF"
	trust_config
	"$EXIM" -C "$EXCONF" -bV >"$LOG/exim-bV.log" 2>&1 ||
		{ fail "exim -bV: $(tail -n 3 "$LOG/exim-bV.log")"; return 1; }
	grep -q "Configuration file is $EXCONF" "$LOG/exim-bV.log" ||
		{ fail "exim does not use $EXCONF: $(grep 'Configuration file' "$LOG/exim-bV.log")"; return 1; }
}

# ex - exim4 with our config
ex() {
	timeout 170 "$EXIM" -C "$EXCONF" "$@"
}

# ex_pids - every Exim process in our namespace
ex_pids() {
	ns_pids "$EXIM_EXE_RE"
}

# mta_start - the daemon in the foreground, no queue runners
mta_start() {
	"$EXIM" -C "$EXCONF" -bdf >>"$LOG/exim-daemon.log" 2>&1 &
	EXIM_PID=$!
	wait_for 30 "Exim to listen on 127.0.0.1:$MTA_PORT" mta_listening ||
		{ fail "Exim did not start: $(tail -n 3 "$LOG/exim/paniclog" "$LOG/exim-daemon.log" 2>/dev/null)"; return 1; }
	note "exim daemon pid $EXIM_PID"
}

# mta_idle - only the daemon left (no SMTP or delivery process)
mta_idle() {
	[ "$(ex_pids | grep -vx "$EXIM_PID" | wc -l)" = 0 ]
}

# mta_stop - stop the daemon, let running deliveries finish
mta_stop() {
	[ -n "$EXIM_PID" ] && stop_pids 20 "$EXIM_PID"
	EXIM_PID=
	wait_for 30 "Exim processes to finish" mta_idle || mta_stop_all
	return 0
}

# mta_stop_all - every Exim process of ours, now (crash, cleanup); and the trusted_configs line
mta_stop_all() {
	stop_listed ex_pids
	[ -n "$EXIM_PID" ] && wait "$EXIM_PID" 2>/dev/null
	EXIM_PID=
	return 0
}

# mta_recover - after a crash: nothing to do, Exim recovers from its files
mta_recover() {
	note "spool after the crash: $(queue_files | tr '\n' ' ')"
	return 0
}

# mta_flush - one forced queue run (-qff: frozen too), in the foreground
mta_flush() {
	ex -qff >>"$LOG/exim-q.log" 2>&1
	[ $? = 124 ] && { fail "exim -qff did not finish in 170 s"; return 1; }
	return 0
}

# queue_files - the message files (input/, msglog/), through the mount
queue_files() {
	timeout 30 bash -c 'cd "$1" && find input msglog ! -type d 2>/dev/null' _ "$MNT"
}

# mta_queue_empty - no message file left
mta_queue_empty() {
	[ -z "$(queue_files)" ]
}

# mta_queue_nomsg - no message left: no -H file (the one that makes a message)
mta_queue_nomsg() {
	! queue_files | grep -q -- '-H$'
}

# mta_queue_purge - delete every message (an earlier step failed)
mta_queue_purge() {
	local f
	for f in $(queue_files); do
		rm -f "$MNT/$f"
	done
}

# mta_queue_show - what is left, for the log
mta_queue_show() {
	say "  spool holds: $(queue_files | head -n 8 | tr '\n' ' ')"
	ex -bp 2>&1 | tail -n 3 | while read -r l; do say "  exim -bp: $l"; done
}

# mta_settled - N messages (-H files), no -J / hdr. file, nothing delivering
mta_settled() {
	local f
	f=$(queue_files)
	[ "$(grep -c -- '-H$' <<<"$f")" = "$1" ] && ! grep -qE -- '-J$|/hdr\.' <<<"$f" && mta_idle
}

# mta_list_count - how many messages exim -bp lists (and -bpc must say the same)
mta_list_count() {
	ex -bp >"$W/msgs/exim-bp.out" 2>&1
	local n c
	n=$(list_ids | wc -l)
	c=$(ex -bpc 2>&1)
	[ "$n" = "$c" ] || { echo "exim -bp lists $n, -bpc says $c"; return; }
	echo "$n"
}

# list_ids - message ids exim -bp lists, sorted
list_ids() {
	awk 'NF >= 3 && $3 ~ /^[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+$/ { print $3 }' "$W/msgs/exim-bp.out" | sort
}

# mta_list_extra - every -H in input/ is listed under its id
mta_list_extra() {
	local fs
	fs=$(queue_files | sed -n 's|^input/\(.*\)-H$|\1|p' | sort)
	[ "$fs" = "$(list_ids)" ] ||
		{ fail "exim -bp ids differ from input/*-H: $(diff <(echo "$fs") <(list_ids) | head -n 4 | tr '\n' ' ')"; return 1; }
	say "  every message in input/ is listed by exim -bp under its id (and -bpc agrees)"
}

# attempts - "ID N" per message: N delivery attempts its msglog records
attempts() {
	local f
	for f in $(timeout 30 ls "$MNT/msglog"); do
		echo "$f $(grep -c ' defer (' "$MNT/msglog/$f")"
	done | sort
}

# mta_retry_check - two forced queue runs with the sink down: every message tried again
#	(one more "defer (...)" line in its msglog, appended through the mount)
mta_retry_check() {
	local n=$1 run before after moved
	before=$(attempts)
	for run in 1 2; do
		mta_flush || return 1
		settle "$n" 60 || return 1
		after=$(attempts)
		moved=$(join <(echo "$before") <(echo "$after") | awk '$3 == $2 + 1' | wc -l)
		say "  queue run $run with the sink down: $moved of $n messages tried again (msglog +1 deferral)"
		[ "$moved" = "$n" ] || { fail "queue run $run retried $moved messages, want $n"; return 1; }
		before=$after
	done
}

# mta_deliver_extra - -H and -D files were seen on their shards while delivering
mta_deliver_extra() {
	local seen=$1
	awk -v r="$W/c" 'index($1, r) == 1 && $2 ~ /-H$/ { f = 1 } END { exit !f }' "$seen" ||
		{ fail "no -H file was ever seen on a control shard"; return 1; }
	awk -v r="$W/d1" '$1 == r && $2 ~ /-D$/ { f = 1 } END { exit !f }' "$seen" ||
		{ fail "no -D file was ever seen on the data shard"; return 1; }
	say "  -H and -D files seen on their shards while delivering"
}

# mta_queue_list, mta_leftover_ok - what Exim processes killed mid-message may leave of messages never
#	acknowledged: -D without -H (body received, header not yet written), hdr.PID,
#	msglog and -J of such ids. A -H left would be a message not delivered.
mta_queue_list() {
	queue_files
}

mta_leftover_ok() {
	case $1 in
	*-H) fail "$1: a message was not delivered"; return 1 ;;
	input/*-D | input/hdr.* | input/*-J | msglog/*) ;;
	*) fail "unexpected file $1 after the crash"; return 1 ;;
	esac
	return 0
}

# mta_logs - the logs to read for errors, with what an error line looks like
mta_logs() {
	echo "$LOG/exim/paniclog ."
	echo "$LOG/exim/rejectlog ."
}

# mta_cleanup - at exit (lib.sh's trap): take our config out of trusted_configs
mta_cleanup() {
	untrust_config
}

e2e_main
