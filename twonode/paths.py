"""Where things live on the nodes: every remote path twonode writes or
reads, in one place, so that the operation that writes a file and the fact
that reads it back cannot drift apart."""

#: templates/drbd/before-resync-target.sh: the seed's handler, demoting a
#: Primary only.
BEFORE_RESYNC_TARGET = "/usr/local/lib/twonode/drbd-before-resync-target"
#: templates/drbd/drbd-event.sh: events to the journal and a state file.
DRBD_EVENT = "/usr/local/lib/twonode/drbd-event"
#: templates/drbd/fence-peer.sh, with fencing mode "power".
FENCE_PEER = "/usr/local/lib/twonode/drbd-fence-peer"
