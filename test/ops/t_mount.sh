#!/bin/sh
# NAME
#	t_mount.sh - mount(8), fstab and busy unmount through mount.queuefs
#
# DESCRIPTION
#	mount(8) finds helpers in /sbin only, so the test links
#	/sbin/mount.queuefs and /sbin/mount.fuse.queuefs to the helper under
#	test for its duration (only when no such file exists: an installed
#	helper is never replaced) and removes exactly the links it made.
#	Cases: mount -t queuefs; a private fstab (mount -T FILE DIR) with
#	fstab/systemd-only options, in the queuefs and fuse.queuefs forms;
#	mount -f does nothing; a bad option fails with 32 and mounts
#	nothing; a dead mount (daemon killed) is replaced by the next mount;
#	umount of a busy mount fails with EBUSY and loses nothing.
#
# DIAGNOSTICS
#	"N passed, N failed" on the last line; exit 77 when it cannot run.
. "$(dirname "$0")/lib.sh"

ops_init
: "${MOUNT_QUEUEFS:?set MOUNT_QUEUEFS}"
command -v mount >/dev/null || ops_skip "no mount(8)"

made_links=
ops_cleanup() {
	for l in $made_links; do
		[ "$(readlink "$l")" = "$MOUNT_QUEUEFS" ] && rm -f "$l"
	done
}
for l in /sbin/mount.queuefs /sbin/mount.fuse.queuefs; do
	if [ -e "$l" ] || [ -L "$l" ]; then
		[ "$(readlink -f "$l")" = "$(readlink -f "$MOUNT_QUEUEFS")" ] ||
			ops_skip "$l exists and is not the helper under test"
	else
		ln -s "$MOUNT_QUEUEFS" "$l" && made_links="$made_links $l"
	fi
done
export QUEUEFS

layout m
M=$L/mnt

# 1. mount -t queuefs, as from the command line
if mount -t queuefs -o allow_other "$L/queues.conf" "$M" && wait_mounted "$M"; then
	ok "mount -t queuefs CONFIG DIR mounts"
	QPID=$(daemon_pid "$M")
	OPS_PIDS="$OPS_PIDS $QPID"
	opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/mounts)
	case ,$opts, in *,allow_other,*) ok "allow_other reached the mount" ;; *) fail "allow_other" "$opts" ;; esac
	echo hello >"$M/qfA1" && printf 'data\n' >"$M/dfA1"
	check "files land on the backings" test "$(where qfA1 | wc -l)" -eq 1 -a -e "$L/d1/dfA1"
	check "umount DIR unmounts" unmount "$M"
else
	fail "mount -t queuefs" "$(cat "$OPS_WORK/daemon.err" 2>/dev/null)"
fi

# 2. a private fstab, with the options mount(8) and systemd use
printf '%s %s queuefs defaults,allow_other,nofail,_netdev,noauto,x-systemd.requires=foo.mount,comment=x,entry_timeout=0 0 0\n' \
	"$L/queues.conf" "$M" >"$OPS_WORK/fstab"
if mount -T "$OPS_WORK/fstab" "$M" && wait_mounted "$M"; then
	ok "fstab line (type queuefs) mounts, fstab-only options dropped"
	QPID=$(daemon_pid "$M")
	OPS_PIDS="$OPS_PIDS $QPID"
	check "the file of the first mount is still there" grep -qx hello "$M/qfA1"
	unmount "$M"
else
	fail "fstab line (type queuefs)"
fi
printf 'queuefs#%s %s fuse.queuefs defaults,allow_other,nosuid,nodev 0 0\n' "$L/queues.conf" "$M" >"$OPS_WORK/fstab"
if mount -T "$OPS_WORK/fstab" "$M" && wait_mounted "$M"; then
	ok "fstab line (type fuse.queuefs, queuefs#CONFIG) mounts"
	QPID=$(daemon_pid "$M")
	OPS_PIDS="$OPS_PIDS $QPID"
	opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/mounts)
	case ,$opts, in *,nosuid,*nodev,*) ok "nosuid,nodev reached the mount" ;; *) fail "nosuid,nodev" "$opts" ;; esac
	unmount "$M"
else
	fail "fstab line (type fuse.queuefs)"
fi

# 3. -f fakes, a bad option fails cleanly
mount -f -t queuefs "$L/queues.conf" "$M"
check "mount -f mounts nothing" sh -c "! awk -v m='$M' '\$2 == m { f = 1 } END { exit !f }' /proc/mounts"
mount -t queuefs -o no_such_option "$L/queues.conf" "$M" 2>"$OPS_WORK/bad.err"
st=$?
check "a bad option fails with 32 (got $st)" test $st -eq 32
check "and mounts nothing" sh -c "! awk -v m='$M' '\$2 == m { f = 1 } END { exit !f }' /proc/mounts"

# 4. a dead mount left by a killed daemon is replaced
if mount -t queuefs "$L/queues.conf" "$M" && wait_mounted "$M"; then
	QPID=$(daemon_pid "$M")
	OPS_PIDS="$OPS_PIDS $QPID"
	kill -9 "$QPID"
	wait_gone "$QPID"
	stat "$M" >/dev/null 2>&1
	if mount -t queuefs "$L/queues.conf" "$M" && wait_mounted "$M" && grep -qx hello "$M/qfA1"; then
		ok "mount over a dead mount detaches it and mounts"
		QPID=$(daemon_pid "$M")
		OPS_PIDS="$OPS_PIDS $QPID"
	else
		fail "mount over a dead mount"
	fi
	check "exactly one mount on DIR" test "$(awk -v m="$M" '$2 == m' /proc/mounts | wc -l)" -eq 1
fi

# 5. busy unmount: refused while a file is open, nothing lost
if is_mounted "$M"; then
	printf 'busy body\n' >"$M/dfBUSY"
	# shellcheck disable=SC2217 # the open file is the point
	sleep 30 <"$M/dfBUSY" &
	holder=$!
	sleep 0.2
	umount "$M" 2>"$OPS_WORK/umount.err"
	st=$?
	check "umount of a busy mount fails" test $st -ne 0
	check "with 'busy' (EBUSY)" grep -qi busy "$OPS_WORK/umount.err"
	check "the mount is still served" grep -qx 'busy body' "$M/dfBUSY"
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	check "umount succeeds once the file is closed" unmount "$M"
	check "the daemon exited" wait_gone "$QPID"
	check "nothing lost" grep -qx 'busy body' "$L/d1/dfBUSY"
fi
ops_done
