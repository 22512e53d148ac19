"""Debian packages the deploy installs, per area.

One list, read by the tasks and by the lab's image builder (which mirrors
exactly these packages, with their dependencies, into the guests' offline
repository). Installed with ``--no-install-recommends`` so that what lands on
a server is this list and its hard dependencies, nothing more. Where the
releases differ (twonode/releases.py), the release decides.

    python3 twonode/packages.py trixie     # the lab image's list (lab/lab.sh)
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by lab/lab.sh
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twonode.releases import SUPPORTED, Release  # noqa: E402

AREAS = {
    "storage": ["lvm2", "xfsprogs"],
    "network": ["ifupdown", "iproute2"],
    "drbd": ["drbd-utils"],
    "ocfs2": ["ocfs2-tools"],
    # arping: the NFS server's address is announced when it moves
    # (gratuitous ARP), and checked free before it is taken.
    "nfs": ["nfs-kernel-server", "iputils-arping"],
    # The seed's `qemu-kvm libvirt-bin` are gone from current Debian. The
    # driver and dnsmasq are only recommends of libvirt-daemon-system, but
    # networks with an address and KVM domains need them.
    "libvirt": [
        "qemu-system-x86",
        "qemu-utils",
        "libvirt-daemon-system",
        "libvirt-clients",
        "libvirt-daemon-driver-qemu",
        "dnsmasq-base",
        "iptables",
    ],
}

#: The lab's BMCs speak Redfish (lab/bmc.py).
LAB_FENCE_AGENTS = {"fence_redfish"}


def wanted(release: Release, areas: list[str], fence_agents: set[str]) -> list[str]:
    """The packages of ``areas`` on ``release``. DRBD's fence-peer handler
    powers the peer off with ``fence_agents`` (the peer's BMC's agent):
    they come with the drbd area."""
    packages = [p for area in areas for p in AREAS[area]]
    if "drbd" in areas:
        packages += release.fence_agent_packages(fence_agents)
    return packages


def lab_packages(release: Release) -> list[str]:
    return wanted(release, list(AREAS), LAB_FENCE_AGENTS)


if __name__ == "__main__":
    print(" ".join(lab_packages(SUPPORTED[sys.argv[1]])))
