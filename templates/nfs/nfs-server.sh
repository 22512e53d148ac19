#!/bin/bash
# twonode-nfs (installed by twonode; run by twonode-nfs.service on both
# nodes): the cluster's one NFS server. The node whose holder gets the
# lock serves; the other's waits for it.
#
#   nfs-server           hold the lock and serve, or wait for it
#   nfs-server release   stop serving, now (the unit's stop; idempotent)
#   nfs-server move      the serving holder lets go so that the peer serves
#                        (a planned move: tasks/nfs.py --data serve_on=NODE)
#
# The lock is a flock(2) on a file of a replicated OCFS2 volume, which o2cb
# makes cluster-wide. A node that dies keeps it until o2cb has called it
# dead, and with fencing that is after its power-off was confirmed: the
# two nodes cannot serve at once, even with the cluster link cut.
#
# Serving means: /var/lib/nfs bound from the volume (the NFSv4 client
# records and statd's list of NFSv3 clients, so that they survive a move),
# the server address on the private bridge and announced (gratuitous ARP),
# nfs-server started, and the NFSv3 clients told to reclaim (sm-notify).
# Both nodes give the same server scope and export one file system with
# the same file handles (/etc/nfs.conf.d/twonode.conf): to a client, a
# move is its server's restart.
set -u
CONF=${TWONODE_NFS_CONF:-/etc/twonode/nfs-server.conf}
# NODE, ADDRESS (with prefix), BRIDGE, STATE_DIR, MOUNTS (space separated), HEAD_START
. "$CONF"
IP=${ADDRESS%/*}
LOCK=$STATE_DIR/server.lock
# "NODE SINCE" while this node serves: what the status task reads.
SERVING=${TWONODE_NFS_SERVING:-/run/twonode/nfs-server}
NFS_STATE=${TWONODE_NFS_STATE:-/var/lib/nfs}  # the variables: for tests/test_nfs_server.py
PROC_MOUNTS=${TWONODE_MOUNTS:-/proc/mounts}
NFSD_THREADS=${TWONODE_NFSD_THREADS:-/proc/fs/nfsd/threads}
# Seconds between two asks for the lock on the standby node.
POLL=${TWONODE_NFS_POLL:-5}
# Seconds between two checks on the serving node that its address and nfsd
# are still there. Each check starts one process (ip), because every process
# costs: under emulation a check every 2 s by ip, grep and systemctl took a
# fifth of the guest's CPU. A move (USR1) does not wait for it.
HEAL=${TWONODE_NFS_HEAL:-10}

say() { echo "$*"; }

# Both read without a new process (the standby asks every few seconds,
# also while its node fences the peer, when a guest's CPU is scarce).
ready() {
    local m dev mp type rest found
    for m in $MOUNTS; do
        found=no
        while read -r dev mp type rest; do
            if [ "$mp" = "$m" ] && [ "$type" = ocfs2 ]; then found=yes; break; fi
        done < "$PROC_MOUNTS"
        [ $found = yes ] || return 1
    done
    [ -d "/sys/class/net/$BRIDGE" ]
}

# nfsd's thread count, read without a new process: 0 (or no file) once
# nfs-server has stopped.
nfsd_runs() {
    local threads=0
    read -r threads < "$NFSD_THREADS" 2>/dev/null
    [ "${threads:-0}" -gt 0 ] 2>/dev/null
}

on_volume() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = ocfs2 ]; }

release() {
    # The address first: the clients retry rather than meet a server
    # that is going away.
    ip addr del "$ADDRESS" dev "$BRIDGE" 2>/dev/null && say "let go of $ADDRESS"
    systemctl stop nfs-server.service
    # What keeps files open under /var/lib/nfs, so that it can be unbound.
    systemctl stop nfs-mountd.service rpc-statd.service nfsdcld.service
    while [ "$(findmnt -n -o TARGET -M "$NFS_STATE" 2>/dev/null)" = "$NFS_STATE" ]; do
        umount "$NFS_STATE" || { sleep 1; continue; }
    done
    rm -f "$SERVING"
}

serve() {
    # A holder killed outright lets go of the lock but not of the address:
    # nobody may answer for it before this node takes it.
    # arping -D: 0 nobody answered, 1 somebody did, 2 the bridge is not up
    # yet (no port on it).
    local said=no rc
    while :; do
        arping -q -D -c 1 -w 1 -I "$BRIDGE" "$IP" >/dev/null 2>&1
        rc=$?
        [ $rc = 0 ] && break
        if [ $rc = 1 ] && [ $said = no ]; then
            say "$IP still answers on $BRIDGE: waiting until it is free"
            said=yes
        fi
        sleep 2
    done
    if [ ! -d "$STATE_DIR/var-lib-nfs" ]; then
        # The first server: its state (empty but for statd's number) seeds the shared one.
        rm -rf "$STATE_DIR/var-lib-nfs.new"
        cp -a "$NFS_STATE" "$STATE_DIR/var-lib-nfs.new" && mv "$STATE_DIR/var-lib-nfs.new" "$STATE_DIR/var-lib-nfs" \
            || return 1
    fi
    systemctl stop nfs-server.service nfs-mountd.service rpc-statd.service nfsdcld.service
    mount --bind "$STATE_DIR/var-lib-nfs" "$NFS_STATE" || return 1
    ip addr replace "$ADDRESS" dev "$BRIDGE" || return 1
    arping -q -U -c 3 -I "$BRIDGE" "$IP" >/dev/null 2>&1 &
    systemctl start nfs-server.service || return 1
    # NFSv3 clients reclaim their locks when told; -f: this node may have
    # told them already since its boot.
    sm-notify -f -v "$IP"
    local since
    since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    mkdir -p "$(dirname "$SERVING")"
    echo "$NODE $since" > "$SERVING"
    echo "$NODE $since" > "$STATE_DIR/server"
    say "serving NFS at $ADDRESS since $since"
}

# The lock, asked for every POLL seconds and held from the first yes. Not by a
# blocking flock: its open file would keep the volume busy on the standby
# node for as long as the peer serves, and an operator's umount there (a
# split brain's recovery, a resync) would fail.
take_lock() {
    local said=no
    while :; do
        ready || return 1
        # On the volume, never beneath it: a volume unmounted since ready()
        # would leave a directory and a lock of the root file system, which
        # no other node sees.
        if [ ! -d "$STATE_DIR" ]; then
            on_volume "$(dirname "$STATE_DIR")" && mkdir -p "$STATE_DIR" || return 1
        fi
        if exec 9>>"$LOCK"; then
            if flock -n 9; then
                on_volume "$LOCK" && return 0
                exec 9>&-
                return 1
            fi
            exec 9>&-
        fi
        [ $said = yes ] || say "waiting for the NFS server's lock ($LOCK)"
        said=yes
        sleep "$POLL" & wait $!
    done
}

case "${1:-run}" in
    release) release; exit 0 ;;
    move) exec systemctl kill -s USR1 --kill-whom=main twonode-nfs.service ;;
    run) ;;
    *) echo "usage: $0 [release|move]" >&2; exit 2 ;;
esac

moving=no
trap 'release; exit 0' TERM INT
trap 'moving=yes' USR1
# What a holder that was killed left behind.
release
head_start=${HEAD_START:-0}
while :; do
    until ready; do sleep 2 & wait $!; done
    sleep "$head_start" & wait $!
    head_start=0
    take_lock || continue
    if ! serve; then
        say "could not serve: letting go"
        release; exec 9>&-; sleep 5; continue
    fi
    moving=no
    while [ $moving = no ]; do
        sleep "$HEAL" & wait $!
        [ $moving = no ] || break
        # libvirt restarted the network (a new bridge has no address), or
        # someone stopped nfsd: this node holds the lock, so it serves.
        if [ -d "/sys/class/net/$BRIDGE" ] && [[ "$(ip -o addr show dev "$BRIDGE")" != *" $ADDRESS "* ]]; then
            ip addr replace "$ADDRESS" dev "$BRIDGE" && say "$ADDRESS back on $BRIDGE"
            arping -q -U -c 3 -I "$BRIDGE" "$IP" >/dev/null 2>&1 &
        fi
        nfsd_runs || { say "nfs-server was not running: started"; systemctl start nfs-server.service; }
    done
    say "a planned move: letting go so that the peer serves"
    release
    exec 9>&-
    # Let the peer's holder, waiting on the lock, take it first.
    for _ in $(seq 30); do
        read -r holder _ < "$STATE_DIR/server" 2>/dev/null && [ "$holder" != "$NODE" ] && break
        sleep 1
    done
done
