#!/bin/bash
# libvirt's qemu hook (installed by twonode as
# /etc/libvirt/hooks/qemu.d/twonode-vm-leases, beside any hook of the
# admin's): a VM whose disks live on the replicated volumes runs on one node
# at a time.
#
# Both nodes see the same disk images (OCFS2 on dual-primary DRBD), and
# nothing else stops `virsh start` of the same VM on both: QEMU's image
# locks are fcntl locks, which OCFS2 with the o2cb stack keeps per node
# (seen on the lab: two QEMUs wrote one image). flock(2) locks, though, are
# cluster-wide on OCFS2 (o2dlm; unless mounted `localflocks`). So each disk
# image on a replicated volume has a lease, VOLUME/.twonode-leases/HASH
# (sha256 of the image's path, as libvirt's sanlock plugin names its disk
# leases), and a node runs a VM only while it holds the leases of all its
# disks with flock. By disk, not by VM: the same VM defined on each node by
# hand has two UUIDs, and two VMs given one disk must exclude each other too. Why not sanlock: its leases expire after
# 80 s without storage I/O, and this cluster freezes I/O for up to 97 s
# while it fences a peer (docs/concepts.md, "A VM on one node at a time"); an flock is held
# for as long as the node is in the cluster, and released by o2dlm's
# recovery only once the peer is fenced or has left.
#
# The lease is held by a transient unit, twonode-vm-lease-UUID.service
# (`systemctl status` shows it), started by this hook:
#   prepare begin   take the leases now, or refuse the start, saying where
#                   the VM runs; for an incoming live migration (marked at
#                   "migrate begin", moments before) wait for them, if the
#                   source that holds them runs this very VM (its UUID): the
#                   source lets go when its QEMU ends, at its "release end".
#                   The mark lives MARK_SECONDS: a migration that failed
#                   after its "migrate begin" leaves one behind, and a plain
#                   start that found it would not wait for the lease it has
#                   no right to;
#   release end     let go;
#   leases -        (not libvirt's: the holder's) print the lease of each
#                   disk of the VM's current XML on a mounted replicated
#                   volume, for the disks attached while it runs.
# A VM with no disk on a replicated volume is left alone: it can run on
# one node only anyway, and the status report flags it.
#
# /etc/twonode/volumes: "resource mount-point" per line (tasks/ocfs2.py);
# /etc/twonode/vm-leases.conf: node= (tasks/libvirt.py).
set -u
vm=${1:-} op=${2:-} sub=${3:-}
conf=${TWONODE_CONF_DIR:-/etc/twonode}
storage=${TWONODE_POOL_DIR:-/etc/libvirt/storage}
incoming=${TWONODE_RUN_DIR:-/run/twonode}/incoming
holder=${TWONODE_LEASE_HOLDER:-/usr/local/lib/twonode/vm-lease-holder}
# The TWONODE_* variables are for tests/test_qemu_hook.py only.
start_unit=${TWONODE_START_UNIT:-systemd-run --quiet --collect}
wait_for=${TWONODE_LEASE_WAIT:-20}
# "migrate begin" and "prepare begin" of one incoming migration come within
# the same libvirt call, seconds apart.
MARK_SECONDS=30
node=$(hostname)
[ -r "$conf/vm-leases.conf" ] && . "$conf/vm-leases.conf"

case "$op $sub" in
    "prepare begin"|"release end"|"migrate begin"|"leases -") ;;
    *) exit 0 ;;
esac
xml=$(cat)

refuse() { echo "twonode: VM $vm: $*" >&2; logger -t twonode-vm -- "VM $vm: $*" 2>/dev/null; exit 1; }

uuid=$(printf '%s\n' "$xml" | sed -n 's:^ *<uuid>\([0-9a-f-]*\)</uuid>.*:\1:p' | head -n 1)
[ -n "$uuid" ] || refuse "no <uuid> in its definition"
unit=twonode-vm-lease-$uuid.service

# Every writable disk's file: <source file=...>, or a volume of a directory
# pool. A CD-ROM, a floppy, a <readonly/> or <shareable/> disk is left out:
# one installation ISO on a replicated volume serves VMs on both nodes at
# once, as libvirt's sanlock plugin leaves such disks unleased too. The
# disk's own source, the first: the image QEMU writes; the sources in its
# <backingStore> (the base images an overlay reads) come after it. Each
# file by its real path: a symlink to an image is that image.
disk_files() {
    printf '%s\n' "$xml" | awk '
        /<disk[ >]/ { indisk = 1; skip = ($0 ~ /device=.(cdrom|floppy)./); src = "" }
        indisk && /<readonly\/>|<shareable\/>/ { skip = 1 }
        indisk && src == "" && match($0, /<source file=\047[^\047]*\047/) { src = "file " substr($0, RSTART + 14, RLENGTH - 15) }
        indisk && src == "" && match($0, /<source pool=\047[^\047]*\047 volume=\047[^\047]*\047/) {
            split(substr($0, RSTART, RLENGTH), q, "\047"); src = "volume " q[2] " " q[4] }
        /<\/disk>/ { if (indisk && !skip && src != "") print src; indisk = 0 }' |
        while read -r kind rest; do
            if [ "$kind" = file ]; then
                realpath -m -- "$rest"
            else
                target=$(sed -n 's:.*<path>\(.*\)</path>.*:\1:p' "$storage/${rest%% *}.xml" 2>/dev/null | head -n 1)
                [ -n "$target" ] && realpath -m -- "$target/${rest#* }"
            fi
        done
}

# "MOUNT-POINT FILE" for each disk on a replicated volume, once each.
replicated_disks() {
    local file res mp
    disk_files | while read -r file; do
        while read -r res mp <&3; do
            case "$res" in ""|"#"*) continue ;; esac
            case "$file" in "$mp"/*) echo "$mp $file" ;; esac
        done 3< "$conf/volumes"
    done | sort -u
}

case "$op $sub" in
"migrate begin")
    # Only leases are this hook's business: the XML stays as it is (no output).
    mkdir -p "$incoming" && touch "$incoming/$uuid"
    exit 0 ;;
"release end")
    systemctl stop "$unit" 2>/dev/null
    rm -f "$incoming/$uuid"
    exit 0 ;;
esac

# lease_of MOUNT-POINT FILE: the lease of a disk image, its directory made.
lease_of() {
    mkdir -p "$1/.twonode-leases" && chmod 700 "$1/.twonode-leases" || return 1
    echo "$1/.twonode-leases/$(printf '%s' "$2" | sha256sum | cut -c1-32)"
}

disks=$(replicated_disks)
[ -n "$disks" ] || exit 0
if [ "$op" = leases ]; then
    while read -r mp file; do
        mountpoint -q "$mp" && lease_of "$mp" "$file"
    done <<< "$disks"
    exit 0
fi

# prepare begin
leases=()
while read -r mp file; do
    # Not mounted here: the peer may run the VM on it, and this node cannot see its lease.
    mountpoint -q "$mp" || refuse "its disk $file is on $mp, which is not mounted on $node (twonode-activate mounts it once the peer is connected, or with --alone)"
    lease=$(lease_of "$mp" "$file") || refuse "cannot make $mp/.twonode-leases"
    leases+=("$lease")
done <<< "$disks"

# A holder left from a run that ended without its "release end" (the VM
# is not running here, or libvirt would not prepare it).
systemctl stop "$unit" 2>/dev/null

# read_lease FILE: owner, since, owner_uuid and owner_vm from a lease
# ("TOKEN NODE SINCE UUID VM"; one written before leases held the UUID,
# "TOKEN NODE SINCE VM", leaves owner_uuid empty).
read_lease() {
    read -r _ owner since owner_uuid owner_vm < "$1" 2>/dev/null || return 1
    [ -n "$owner_vm" ] || { owner_vm=$owner_uuid; owner_uuid=; }
}

mode=now
if [ -e "$incoming/$uuid" ] && [ $(( $(date +%s) - $(stat -c %Y "$incoming/$uuid") )) -lt $MARK_SECONDS ]; then
    mode=wait
fi
rm -f "$incoming/$uuid"
if [ $mode = wait ]; then
    # Wait only for this VM's own lease: a lease held now (flock refused)
    # by another VM's holder is a disk that VM runs on, not a migration.
    for lease in "${leases[@]}"; do
        [ -e "$lease" ] && ! flock -n "$lease" true 2>/dev/null || continue
        # A lease without the UUID: whose it is, is not known.
        read_lease "$lease" && [ -n "$owner_uuid" ] || continue
        [ "$owner_uuid" = "$uuid" ] || refuse "its disk's lease $lease is held by another VM ($owner_vm, $owner_uuid) on $owner since $since: not an incoming migration of this VM"
    done
fi
token=$node-$$-$(date +%s)
# Before= libvirt's units: at shutdown the holder is stopped after them,
# once libvirt-guests has shut the VMs down, never while they run.
$start_unit --unit="$unit" --description="twonode: VM $vm's lease" \
    --property=Before=libvirt-guests.service --property=Before=libvirtd.service \
    "$holder" "$mode" "$token" "$node" "$uuid" "$vm" "${leases[@]}" \
    || refuse "could not start its lease holder ($unit)"
if [ $mode = wait ]; then
    # Incoming live migration: the source still runs it and holds the
    # leases until its QEMU ends; the holder waits for them.
    logger -t twonode-vm -- "VM $vm: incoming migration: its lease follows once the source lets go" 2>/dev/null
    exit 0
fi

held() { local lease; for lease in "${leases[@]}"; do [ "$(cut -d' ' -f1 "$lease" 2>/dev/null)" = "$token" ] || return 1; done; }
deadline=$(( $(date +%s) + wait_for ))
until held; do
    if ! systemctl -q is-active "$unit" 2>/dev/null; then
        # The holder gave up at once: another node holds a lease, and says so in it.
        for lease in "${leases[@]}"; do
            read_lease "$lease" || continue
            [ "$owner" != "$node" ] && refuse "it runs on $owner (VM $owner_vm there holds the lease $lease of its disk since $since): stop it there, or migrate it"
        done
        refuse "its lease (${leases[*]}) is held elsewhere"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        # A lock request that hangs: the peer went down and is not fenced
        # yet (until then o2dlm cannot tell whether it still runs the VM).
        # Not blocking: a holder stuck in the kernel ends when its request does.
        systemctl stop --no-block "$unit" 2>/dev/null
        refuse "its lease (${leases[*]}) could not be taken within $wait_for s: a peer that went down keeps it until it is fenced (tasks/status.py)"
    fi
    sleep 0.2
done
logger -t twonode-vm -- "VM $vm: lease taken on $node" 2>/dev/null
exit 0
