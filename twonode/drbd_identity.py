"""What makes a DRBD resource the one it is on the wire and on disk: its
minor, its backing LV and each node's address and port. Read back from the
resource file this tool wrote, and compared with what group_data now says
before the file is rewritten: `drbdadm adjust` of a live resource with a new
identity would disconnect two Primaries, or move the device under a
mounted filesystem. Pure functions, for the drbd task and its tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .paths import lv_path
from .reads import MANAGED_MARK

_MINOR = re.compile(r"^\s*device\s+\S+\s+minor\s+(\d+)\s*;")
_DISK = re.compile(r"^\s*disk\s+(/\S+)\s*;")
_ON = re.compile(r"^\s*on\s+(\S+)\s*\{")
_ADDRESS = re.compile(r"^\s*address\s+(\S+)\s*;")


@dataclass(frozen=True)
class ResourceIdentity:
    minor: int | None = None
    disk: str | None = None
    #: node name -> "ip:port"
    addresses: dict[str, str] = field(default_factory=dict)


def parse_resource_file(lines: Sequence[str]) -> ResourceIdentity:
    """The identity in a resource file written from
    templates/drbd/resource.res.j2."""
    minor = disk = node = None
    addresses = {}
    for text in lines:
        if (m := _MINOR.match(text)) and minor is None:
            minor = int(m.group(1))
        elif (m := _DISK.match(text)) and disk is None:
            disk = m.group(1)
        elif m := _ON.match(text):
            node = m.group(1)
        elif (m := _ADDRESS.match(text)) and node is not None:
            addresses[node] = m.group(1)
            node = None
    return ResourceIdentity(minor=minor, disk=disk, addresses=addresses)


def identity_of(vol, nodes, volume_group: str) -> ResourceIdentity:
    """The identity group_data gives a replicated volume."""
    return ResourceIdentity(
        minor=vol.minor,
        disk=lv_path(volume_group, vol.name),
        addresses={n.name: f"{n.cluster_address}:{vol.port}" for n in nodes},
    )


def identity_changes(current: ResourceIdentity, wanted: ResourceIdentity) -> list[str]:
    """Each part of the identity that would change, as "what: old -> new"."""
    changes = []
    if current.minor != wanted.minor:
        changes.append(f"minor {current.minor} -> {wanted.minor}")
    if current.disk != wanted.disk:
        changes.append(f"backing LV {current.disk} -> {wanted.disk}")
    for node in sorted(set(current.addresses) | set(wanted.addresses)):
        old, new = current.addresses.get(node), wanted.addresses.get(node)
        if old != new:
            changes.append(f"{node}'s address {old or 'none'} -> {new or 'none'}")
    return changes


def live_change_refusal(resource: str, mount_point: str, lines: Sequence[str] | None,
                        wanted: ResourceIdentity, is_up: bool) -> str | None:
    """Why the resource file must not be rewritten now, or None. A file
    that is missing or empty (a power loss right after it was written left
    it so on the lab: it holds nothing), or ours and the resource down, may
    be written."""
    if lines is None or not any(text.strip() for text in lines):
        return None
    if lines[0] != MANAGED_MARK:
        return (f"{resource}: its resource file was not written by twonode (no '{MANAGED_MARK}' line): "
                "not overwritten. Move it away if twonode is to manage this resource. Nothing was changed.")
    if not is_up:
        return None
    changes = identity_changes(parse_resource_file(lines), wanted)
    if not changes:
        return None
    return (f"{resource} is up, and group_data changes its identity ({'; '.join(changes)}): the deploy "
            f"never applies that to a live resource. To do it: unmount {mount_point} on both nodes, run "
            f"`drbdadm down {resource}` on both, run the deploy (it writes the new file, brings the "
            "resource up with its data and mounts it). Nothing was changed.")
