#!/bin/sh
# DRBD before-resync-target handler (installed by twonode).
#
# The seed's handler, `drbdsetup $DRBD_MINOR secondary`, demotes a node
# before it is overwritten by a resync; if the demotion fails (a mounted
# filesystem), DRBD drops the connection and nothing is overwritten.
#
# A node that boots is still Secondary when its resync starts, and then the
# demotion has nothing to do, yet it can fail: at boot ocfs2-tools' init
# script opens the device at that very moment (mount -at ocfs2) and
# `drbdsetup secondary` refuses a device held open. DRBD then dropped the
# connection and the rebooted node stayed StandAlone (seen on the lab). So
# demote only a node that is Primary: the seed's protection, without the
# boot race.
role=$(drbdadm role "$DRBD_RESOURCE" 2>/dev/null) || role=unknown
case "$role" in
    Primary*) exec drbdsetup "$DRBD_MINOR" secondary ;;
esac
exit 0
