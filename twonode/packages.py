"""Debian packages the deploy installs, per area.

One list, read by the tasks and by the lab's image builder (which mirrors
exactly these packages, with their dependencies, into the guests' offline
repository). Installed with ``--no-install-recommends`` so that what lands on
a server is this list and its hard dependencies, nothing more.
"""

STORAGE = ["lvm2", "xfsprogs"]
NETWORK = ["ifupdown", "iproute2"]
DRBD = ["drbd-utils"]
OCFS2 = ["ocfs2-tools"]
NFS = ["nfs-kernel-server"]
# The seed's `qemu-kvm libvirt-bin` are gone from current Debian. The driver
# and dnsmasq are only recommends of libvirt-daemon-system, but networks with
# an address and KVM domains need them.
LIBVIRT = [
    "qemu-system-x86",
    "qemu-utils",
    "libvirt-daemon-system",
    "libvirt-clients",
    "libvirt-daemon-driver-qemu",
    "dnsmasq-base",
    "iptables",
]

# DRBD's fence-peer handler powers the peer off through its BMC with one of
# these agents (fence_redfish, fence_ipmilan, ...). Bookworm ships them in
# one package; trixie splits it (fence-agents-redfish, ...: issue 16).
FENCING = ["fence-agents"]

ALL = STORAGE + NETWORK + DRBD + FENCING + OCFS2 + NFS + LIBVIRT

if __name__ == "__main__":  # used by lab/lab.sh
    print(" ".join(ALL))
