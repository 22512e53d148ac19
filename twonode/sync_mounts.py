"""The live OCFS2 mounts carry the ``sync`` that fstab gives them
(``Cluster.mount_options_of`` says why a volume NFS writes to needs it).

fstab takes effect at the next mount only; a volume mounted before its
``sync`` changed (an export added, a cluster deployed by an older twonode)
is remounted online: ``mount -o remount,sync`` changes nothing but the
superblock's flag, with the volume in use, on one node at a time.

Both tasks/ocfs2.py and tasks/nfs.py ask for it (either may run alone);
in one run the remount is planned once per node and volume.
"""

from __future__ import annotations

from shlex import quote

from pyinfra import host
from pyinfra.operations import server

from facts.blockdev import LinuxMounts

from .model import Cluster
from .snapshot import fact, first_time


def mounted_sync(mounts: dict, mount_point: str) -> bool | None:
    """Whether ``mount_point`` is mounted with ``sync`` (None: not mounted).
    /proc/self/mountinfo lists it among the superblock's options."""
    entry = mounts.get(mount_point)
    return None if entry is None else "sync" in entry["options"]


def remounts(c: Cluster, mounts: dict) -> list[tuple[str, str]]:
    """(mount point, "sync" or "async") for each replicated volume mounted
    (``mounts``: the LinuxMounts fact) otherwise than its fstab line says."""
    found = []
    for vol in c.replicated_volumes:
        wanted = "sync" in c.mount_options_of(vol).split(",")
        live = mounted_sync(mounts, vol.mount_point)
        if live is not None and live != wanted:
            found.append((vol.mount_point, "sync" if wanted else "async"))
    return found


def remount_sync_as_configured(c: Cluster, area: str) -> None:
    for mount_point, flag in remounts(c, fact(LinuxMounts)):
        if not first_time(("remount", host.name, mount_point)):
            continue
        server.shell(name=f"{area}: {mount_point} remounted {flag}",
                     commands=[f"mount -o remount,{flag} {quote(mount_point)}"])
