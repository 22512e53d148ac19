#!/bin/bash
# libvirt's network hook (installed by twonode as
# /etc/libvirt/hooks/network.d/twonode-private-link, beside any hook of the
# admin's): with NFS in mode single, the private network is one network
# across both nodes. When libvirt has started it, a VXLAN over the cluster
# network joins this node's bridge to the peer's; when libvirt stops it,
# the VXLAN goes with it.
#
# One network, so that the one NFS server address is reachable from VMs on
# either node and a VM that moves keeps its neighbours. Its MTU is the
# cluster link's less the VXLAN's 50 bytes (the network's <mtu>, which
# libvirt also gives the VMs' virtio NICs).
#
#   twonode-private-link NETWORK started begin -   (libvirt; tasks/libvirt.py
#                                                    too, when the link is not
#                                                    as configured)
set -u
CONF=${TWONODE_PRIVATE_LINK_CONF:-/etc/twonode/private-link.conf}
[ -r "$CONF" ] || exit 0
# NETWORK BRIDGE LINK VXLAN_ID LOCAL REMOTE PORT DEVICE MTU
. "$CONF"
[ "${1:-}" = "$NETWORK" ] || exit 0

# The VXLAN's packets leave the cluster NIC after DRBD's and o2cb's: a
# strict-priority queue whose lowest band takes the VXLAN's UDP port, so
# that NFS traffic between the nodes never delays replication (DRBD's
# protocol C holds every write until the peer has it) or the o2cb
# heartbeat. Everything else keeps the kernel's default bands.
prioritise() {
    tc qdisc del dev "$DEVICE" root 2>/dev/null
    tc qdisc add dev "$DEVICE" root handle 1: prio &&
    tc filter add dev "$DEVICE" parent 1: protocol ip prio 1 u32 \
        match ip protocol 17 0xff match ip dport "$PORT" 0xffff flowid 1:3
}

case "${2:-} ${3:-}" in
    "started begin")
        # Made anew: an old one may point at another peer or port.
        ip link del "$LINK" 2>/dev/null
        ip link add "$LINK" type vxlan id "$VXLAN_ID" local "$LOCAL" remote "$REMOTE" \
            dstport "$PORT" dev "$DEVICE" \
            && ip link set "$LINK" mtu "$MTU" master "$BRIDGE" up \
            || logger -t twonode-private-link "could not join $BRIDGE to $REMOTE by $LINK"
        prioritise || logger -t twonode-private-link "could not put $LINK's traffic after replication on $DEVICE"
        ;;
    "stopped end")
        ip link del "$LINK" 2>/dev/null
        ;;
esac
# A failing hook would stop libvirt from starting the network at all.
exit 0
