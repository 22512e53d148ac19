#!/bin/sh
# DRBD event handler (installed by twonode): `drbd-event EVENT`, run by DRBD
# with DRBD_RESOURCE in the environment (split-brain, fence-peer outcomes).
#
# drbd-utils' notify-split-brain.sh only mails root, and the nodes have no
# mail transport: on the lab it exited 127 and nobody was told of a split
# brain. An event goes to the journal (tag twonode, priority crit) and to a
# state file that tasks/status.py shows with time and node; mail as well
# where the node can send it.
event=${1:-unknown}
resource=${DRBD_RESOURCE:-unknown}
state=${TWONODE_EVENTS:-/var/lib/twonode/events}  # the variable: for tests/test_status.py
logger -p daemon.crit -t twonode -- "DRBD $event on $resource"
# A fence-failed event is followed within a minute by o2cb restarting the
# node: on disk within seconds, or lost (fence-peer.sh, keep()). In the
# background: the fence handler that runs this holds frozen I/O.
( exec 9>&- >/dev/null 2>&1 </dev/null; timeout 5 journalctl --sync ) &
mkdir -p "${state%/*}"
# One line per event, newest last; the last 200 are kept.
{
    tail -n 199 "$state" 2>/dev/null
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $event $resource"
} > "$state.new" && {
    # On disk before it replaces the old list, and the rename too.
    sync "$state.new" 2>/dev/null
    mv -f "$state.new" "$state" && sync "${state%/*}" 2>/dev/null
}
if [ "$event" = split-brain ] && command -v sendmail >/dev/null 2>&1; then
    /usr/lib/drbd/notify-split-brain.sh root
fi
exit 0
