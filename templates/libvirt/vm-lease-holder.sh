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
#
# Then it follows the VM's events: libvirt runs no hook for a disk attached
# while the VM runs (attach-disk, attach-device) or for the new image a
# block copy pivots to, so the holder leases each such disk on a replicated
# volume itself, as the hook leased the first ones. A disk whose lease is
# held elsewhere (a VM that runs on it there) cannot be refused any more:
# the VM is paused at once, before its guest writes to it, and the journal
# says at crit which disk and why.
set -u
umask 077
mode=$1 token=$2 node=$3 uuid=$4 vm=$5
shift 5
# The TWONODE_* variables are for tests/test_qemu_hook.py only.
hook=${TWONODE_QEMU_HOOK:-/etc/libvirt/hooks/qemu.d/twonode-vm-leases}
retry=${TWONODE_EVENT_RETRY:-5}
declare -A held
for lease in "$@"; do
    exec {fd}>>"$lease" || exit 1
    if [ "$mode" = wait ]; then
        flock "$fd" || exit 1
    else
        flock -n -E 75 "$fd" || exit 75
    fi
    held[$lease]=$fd
done
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for lease in "$@"; do
    echo "$token $node $since $uuid $vm" > "$lease"
done

# What this shell starts must not hold the leases' descriptors: a lock is
# released once every descriptor of it is closed, and a child that outlived
# the holder (a `virsh event` still connected) would keep the disks leased.
without_leases() { local fd; for fd in "${held[@]}"; do exec {fd}>&-; done; exec "$@"; }

lease_added_disks() {
    local xml lease fd owner when owner_vm
    xml=$(without_leases virsh dumpxml "$uuid" 2>/dev/null) && [ -n "$xml" ] || return 0
    while read -r lease; do
        [ -n "$lease" ] && [ -z "${held[$lease]:-}" ] || continue
        exec {fd}>>"$lease" || continue
        if flock -n "$fd"; then
            held[$lease]=$fd
            echo "$token $node $(date -u +%Y-%m-%dT%H:%M:%SZ) $uuid $vm" > "$lease"
            logger -t twonode-vm -- "VM $vm: lease taken on $node for a disk added while it runs ($lease)"
        else
            exec {fd}>&-
            read -r _ owner when _ owner_vm < "$lease" 2>/dev/null
            virsh suspend "$uuid" >/dev/null 2>&1
            logger -p daemon.crit -t twonode-vm -- "VM $vm PAUSED on $node: a disk added to it is in use by VM ${owner_vm:-?} on ${owner:-?} since ${when:-?} (lease $lease). Detach that disk (virsh detach-disk $vm TARGET --live), then virsh resume $vm"
        fi
    done < <(printf '%s\n' "$xml" | without_leases "$hook" "$vm" leases -)
}

# The locks stay with this shell's descriptors. `virsh event` ends when
# libvirtd restarts: then it is started again, and the disks attached
# meanwhile are looked at.
while :; do
    lease_added_disks
    while read -r line; do
        case $line in *"'device-added'"*|*"'block-job"*) lease_added_disks ;; esac
    done < <(without_leases virsh event --domain "$uuid" --all --loop 2>/dev/null)
    (without_leases sleep "$retry")
done
