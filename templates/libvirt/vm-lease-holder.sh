#!/bin/bash
# vm-lease-holder MODE TOKEN NODE UUID VM LEASE... (installed by twonode; run by the
# qemu hook as the unit twonode-vm-lease-UUID.service): hold every LEASE
# with flock(2), which OCFS2 makes cluster-wide, for as long as it runs.
#
#   MODE now    take them at once, or exit 75 (held elsewhere);
#   MODE wait   wait for them (an incoming live migration: the source holds
#               them until its QEMU ends).
#
# Once all are held, each LEASE says "TOKEN NODE SINCE UUID VM": the hook
# learns that it has them, and a node refused learns who runs the disk.
# Lease files are root's alone (0600, in a 0700 directory): a user who can
# open one can hold it, and block the VM's starts and moves.
set -u
umask 077
mode=$1 token=$2 node=$3 uuid=$4 vm=$5
shift 5
for lease in "$@"; do
    exec {fd}>>"$lease" || exit 1
    if [ "$mode" = wait ]; then
        flock "$fd" || exit 1
    else
        flock -n -E 75 "$fd" || exit 75
    fi
done
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for lease in "$@"; do
    echo "$token $node $since $uuid $vm" > "$lease"
done
# The descriptors, and so the locks, go with exec to sleep.
exec sleep infinity
