#!/bin/bash
# twonode-activate (installed by twonode): promote and mount this node's
# replicated volumes, each once it is connected to its peer with
# up-to-date data. Run at boot by twonode-activate.service.
#
#   twonode-activate           wait for the peer, then promote and mount
#   twonode-activate --alone   the operator's word: the peer is down and
#                              stays down; promote this node alone now
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
alone=no
[ "${1:-}" = --alone ] && alone=yes

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
            elif [ $alone = yes ] && [ "$cs" != Connected ] && { [ "$disk" = UpToDate ] || [ "$disk" = Consistent ]; }; then
                drbdadm primary --force "$res" \
                    && say "$res: Primary ALONE on the operator's word (connection: $cs, disk: $disk)" \
                    || { pending=1; continue; }
            else
                [ $alone = yes ] && say "$res: not promoted alone: connection $cs, disk $disk (an Inconsistent or Outdated disk is not the latest data)"
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

if [ $alone = yes ]; then
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
