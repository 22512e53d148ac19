#!/bin/bash
# twonode-activate (installed by twonode): promote and mount this node's
# replicated volumes, each once it is connected to its peer with
# up-to-date data. Run at boot by twonode-activate.service.
#
#   twonode-activate           wait for the peer, then promote and mount
#   twonode-activate --alone   the operator's word: the peer is down and
#                              stays down; promote this node alone now, its
#                              disks UpToDate, once the peer's BMC says off
#   twonode-activate --alone --consistent
#                              ...also a Consistent disk: one this node had
#                              when it lost the peer, which the peer may have
#                              changed since (power fencing never marks the
#                              fenced node's disk Outdated)
#   twonode-activate --alone --without-bmc [--consistent]
#                              ...when the BMC cannot answer: you have seen
#                              the peer powered off yourself
#
# Why not DRBD's own `become-primary-on both`: drbd.service promotes after
# `degr-wfc-timeout` whether or not the peer was seen, and a node that
# booted with its cluster link down came up Primary and mounted beside a
# peer that was still writing (a split brain by design). Here a node alone
# stays Secondary and unmounted, fences nobody, and joins by itself when the
# link returns: it is promoted when Connected with UpToDate data, after its
# resync when it has one.
#
# /etc/twonode/volumes lists "resource mount-point" per line (tasks/ocfs2.py).
set -u
VOLUMES=${TWONODE_VOLUMES:-/etc/twonode/volumes}  # the variable: for tests/test_activate.py
FENCE_PEER=${TWONODE_FENCE_PEER:-/usr/local/lib/twonode/drbd-fence-peer}
EVENTS=${TWONODE_EVENTS:-/var/lib/twonode/events}
alone=no consistent=no bmc=yes
for arg; do
    case $arg in
        --alone) alone=yes ;;
        --consistent) consistent=yes ;;
        --without-bmc) bmc=no ;;
        *) echo "usage: $0 [--alone [--consistent] [--without-bmc]]" >&2; exit 2 ;;
    esac
done
if [ $alone = no ] && { [ $consistent = yes ] || [ $bmc = no ]; }; then
    echo "$0: --consistent and --without-bmc go with --alone" >&2; exit 2
fi

say() { echo "$*"; logger -t twonode-activate -- "$*"; }

# One pass over every volume; returns 1 while any is not yet Primary and mounted.
activate_all() {
    local res mp role cs disk pending=0 mounted=no
    # The list on fd 3: drbdadm and mount must not read it as their stdin.
    while read -r res mp <&3; do
        case "$res" in ""|"#"*) continue ;; esac
        role=$(drbdadm role "$res" 2>/dev/null) || { pending=1; continue; }
        if [ "${role%%/*}" != Primary ]; then
            cs=$(drbdadm cstate "$res" 2>/dev/null)
            disk=$(drbdadm dstate "$res" 2>/dev/null); disk=${disk%%/*}
            # Connected, or the sync source of a peer that catches up: its
            # own data is the latest either way.
            if [ "$disk" = UpToDate ] && { [ "$cs" = Connected ] || [ "$cs" = SyncSource ] || [ "$cs" = PausedSyncS ]; }; then
                # Both nodes promote at once after a joint boot: DRBD 8.4
                # refuses one of them ("State change was refused by peer
                # node"); the next pass promotes it.
                drbdadm primary "$res" && say "$res: connected with UpToDate data: Primary" \
                    || { pending=1; continue; }
            elif [ $alone = yes ] && [ "$cs" != Connected ] && { [ "$disk" = UpToDate ] || { [ "$disk" = Consistent ] && [ $consistent = yes ]; }; }; then
                drbdadm primary --force "$res" \
                    && say "$res: Primary ALONE on the operator's word (connection: $cs, disk: $disk)" \
                    || { pending=1; continue; }
            else
                if [ $alone = yes ] && [ "$disk" = Consistent ]; then
                    say "$res: not promoted alone: its disk is Consistent, the data this node had when it lost its peer; the peer may have written since. Only if it cannot have (see the events above): twonode-activate --alone --consistent"
                elif [ $alone = yes ]; then
                    say "$res: not promoted alone: connection $cs, disk $disk (an Inconsistent or Outdated disk is not the latest data)"
                fi
                pending=1
                continue
            fi
        fi
        if ! mountpoint -q "$mp"; then
            # The directory beneath the mount point refuses writes: until the
            # volume is mounted, a pool, an export or a program writing there
            # would write to the root file system, hidden by the mount.
            # A mount by the deploy that came first would have it on the
            # volume's root instead: undone then.
            chattr +i "$mp" 2>/dev/null || say "$mp: could not make the directory beneath it refuse writes (chattr +i)"
            if mountpoint -q "$mp"; then chattr -i "$mp"; fi
            # Right after a boot the journal replay of a first mount can
            # still run: a failed mount is retried on the next pass.
            if mount "$mp"; then say "$res: mounted $mp"; mounted=yes; else pending=1; fi
        fi
    done 3< "$VOLUMES"
    # Its exports carry mp=: exportfs skipped them until now.
    if [ $mounted = yes ] && systemctl -q is-active nfs-server.service; then
        exportfs -ra && say "re-exported NFS (exportfs -ra)"
    fi
    return $pending
}

# libvirt autostarts its VMs when it starts, at boot, before the volumes
# are mounted here; their VM leases (/etc/libvirt/hooks/qemu.d/
# twonode-vm-leases) refuse a start until they are. So once they are, this
# starts the autostart VMs not running yet: on a joint boot both nodes try,
# and each VM's lease lets exactly one of them run it.
start_autostart_vms() {
    command -v virsh >/dev/null 2>&1 || return 0
    local vm
    virsh list --inactive --autostart --name 2>/dev/null | while read -r vm; do
        [ -n "$vm" ] || continue
        if out=$(virsh start "$vm" 2>&1); then
            say "started autostart VM $vm"
        else
            say "autostart VM $vm not started here: $(echo "$out" | tr '\n' ' ')"
        fi
    done
}

# The pools on the replicated volumes keep libvirt's autostart off: libvirt
# starts at boot before the volumes are mounted, and a directory pool would
# list the empty mount point. So, as the deploy does, they are started here
# once mounted (a deploy after a reboot found them inactive and started them:
# a change on a converged cluster, seen on the lab). libvirt's start also
# calls a directory pool active, autostart or not, when its target directory
# exists, and reads its volumes and capacity from the directory beneath the
# mount point: such a pool is refreshed here. An admin's pools elsewhere are
# left as they are.
start_pools_on_volumes() {
    command -v virsh >/dev/null 2>&1 || return 0
    local pool path res mp out inactive
    inactive=$(virsh pool-list --inactive --name 2>/dev/null)
    virsh pool-list --all --name 2>/dev/null | while read -r pool; do
        [ -n "$pool" ] || continue
        path=$(virsh pool-dumpxml "$pool" </dev/null 2>/dev/null | sed -n 's:.*<path>\(.*\)</path>.*:\1:p' | head -n 1)
        [ -n "$path" ] || continue
        while read -r res mp <&3; do
            case "$res" in ""|"#"*) continue ;; esac
            case "$path/" in
                "$mp"/*)
                    if printf '%s\n' "$inactive" | grep -qxF -- "$pool"; then
                        if out=$(virsh pool-start "$pool" </dev/null 2>&1); then
                            say "started pool $pool ($path)"
                        else
                            say "pool $pool not started: $(echo "$out" | tr '\n' ' ')"
                        fi
                    elif out=$(virsh pool-refresh "$pool" </dev/null 2>&1); then
                        say "refreshed pool $pool ($path): $mp is mounted"
                    else
                        say "pool $pool not refreshed: $(echo "$out" | tr '\n' ' ')"
                    fi
                    break ;;
            esac
        done 3< "$VOLUMES"
    done
}

# Coming up alone writes beside a peer that may still run: only once the
# peer's BMC says it is off (the fence agent's status), where fencing is set
# up; or on the operator's word that they saw it off.
peer_is_off() {
    [ -x "$FENCE_PEER" ] || return 0
    if [ $bmc = no ]; then
        say "coming up alone without asking the peer's BMC (--without-bmc): you saw the peer off"
        return 0
    fi
    "$FENCE_PEER" check
    case $? in
        2) say "the peer's BMC says the peer is off: coming up alone"; return 0 ;;
        0) say "NOT coming up alone: the peer's BMC says the peer is ON, and it may be writing. Power it off first (or let the link come back)"
           return 1 ;;
        *) say "NOT coming up alone: the peer's BMC did not answer. Only if you have seen the peer powered off: twonode-activate --alone --without-bmc"
           return 1 ;;
    esac
}

if [ $alone = yes ]; then
    if [ -s "$EVENTS" ]; then
        say "this node's last recorded events (journalctl -t twonode for all):"
        tail -n 5 "$EVENTS" | while read -r line; do say "  $line"; done
    fi
    peer_is_off || exit 1
    activate_all && start_pools_on_volumes && start_autostart_vms
    exit
fi
waiting_said=no
until activate_all; do
    [ $waiting_said = yes ] || say "waiting for the peer: a volume is not yet Connected with UpToDate data (to come up alone: twonode-activate --alone)"
    waiting_said=yes
    sleep 5
done
say "every replicated volume is Primary and mounted"
start_pools_on_volumes
start_autostart_vms
