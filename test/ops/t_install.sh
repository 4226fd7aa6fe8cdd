#!/bin/sh
# NAME
#	t_install.sh - make install / uninstall, and the systemd unit
#
# DESCRIPTION
#	make install into a private DESTDIR puts every file where
#	queuefs.conf(5) says (the mount helper and its fuse.queuefs link in
#	/sbin, programs in PREFIX/sbin, units, man pages, the example
#	config), with @SBINDIR@/@CONFDIR@ substituted; the example config
#	parses; make uninstall removes all of it. systemd-analyze verify
#	accepts the unit (instance queuefs@queues.service) without a single
#	warning; skipped when systemd-analyze is missing.
#
# DIAGNOSTICS
#	"N passed, N failed" on the last line.
. "$(dirname "$0")/lib.sh"

ops_init
top=$(cd "$(dirname "$0")/../.." && pwd)
D=$OPS_WORK/dest
if make -s -C "$top" install DESTDIR="$D" PREFIX=/usr/local >"$OPS_WORK/make.out" 2>&1; then
	ok "make install DESTDIR=... succeeds"
else
	fail "make install" "$(tail -5 "$OPS_WORK/make.out")"
fi
for f in /usr/local/sbin/queuefs /usr/local/sbin/queuefsctl /sbin/mount.queuefs /sbin/mount.fuse.queuefs \
	/lib/systemd/system/queuefs@.service /usr/local/share/man/man8/queuefs.8 \
	/usr/local/share/man/man8/queuefsctl.8 /usr/local/share/man/man8/mount.queuefs.8 \
	/usr/local/share/man/man5/queuefs.conf.5 /etc/queuefs/queues.conf.example; do
	check "installed $f" test -e "$D$f"
done
check "mount.queuefs is executable" test -x "$D/sbin/mount.queuefs"
check "mount.fuse.queuefs links to it" test "$(readlink "$D/sbin/mount.fuse.queuefs")" = mount.queuefs
check "no @PLACEHOLDER@ left" sh -c "! grep -l '@[A-Z]*DIR@' '$D/sbin/mount.queuefs' '$D/lib/systemd/system/queuefs@.service'"
check "the helper knows where queuefs went" grep -q "sbindir='/usr/local/sbin'" "$D/sbin/mount.queuefs"
check "the man pages format" sh -c "for m in '$D'/usr/local/share/man/man*/*; do man -l \"\$m\" >/dev/null 2>&1 || exit 1; done"

# the example config must be accepted by the parser: a check on it ends
# with a layout complaint (its roots do not exist), never a config error
"$QUEUEFSCTL" check "$D/etc/queuefs/queues.conf.example" >"$OPS_WORK/ex.out" 2>&1
check "the example config parses" sh -c "! grep -q 'configuration refused' '$OPS_WORK/ex.out'"

if command -v systemd-analyze >/dev/null 2>&1; then
	U=$OPS_WORK/units
	mkdir -p "$U"
	# verify insists that ExecStart exists: point it at the installed copy
	sed "s|/usr/local/sbin/queuefs|$D/usr/local/sbin/queuefs|" "$D/lib/systemd/system/queuefs@.service" \
		>"$U/queuefs@.service"
	ln -s queuefs@.service "$U/queuefs@queues.service"
	(cd "$U" && systemd-analyze verify --man=no "$U/queuefs@queues.service") >"$OPS_WORK/verify.out" 2>&1
	st=$?
	check "systemd-analyze verify accepts the unit (status $st)" test $st -eq 0
	check "without any warning" test ! -s "$OPS_WORK/verify.out"
	[ -s "$OPS_WORK/verify.out" ] && cat "$OPS_WORK/verify.out"
elif [ "${CI:-}" = true ]; then
	fail "systemd-analyze verify" "systemd-analyze is not installed (apt-get install systemd): CI must check the unit"
else
	echo "skip - systemd-analyze not installed (apt-get install systemd)"
fi

make -s -C "$top" uninstall DESTDIR="$D" PREFIX=/usr/local >"$OPS_WORK/make.out" 2>&1
check "make uninstall succeeds" test $? -eq 0
left=$(find "$D" -type f -o -type l | wc -l)
check "make uninstall removes every file ($left left)" test "$left" -eq 0
ops_done
