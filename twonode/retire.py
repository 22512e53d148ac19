"""Retiring a replicated volume: what stands in the way, and what each node
still holds of it (pure functions; tasks/retire.py reads the facts).

A volume leaves group_data first (the deploy then leaves it up, unmanaged);
retiring it is a task of its own that names it. Its LV is never removed:
whatever it holds stays until the admin removes it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from facts.drbd_state import DrbdState
from .model import Cluster


def under(path: str, mount_point: str) -> bool:
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def fstab_mount_point(lines: tuple[str, ...] | None, device: str) -> str | None:
    """Where fstab mounts ``device`` (the deploy's line for the volume)."""
    for text in lines or ():
        fields = text.split()
        if len(fields) >= 2 and fields[0] == device:
            return fields[1]
    return None


@dataclass(frozen=True)
class RetireSide:
    """One node's share of the volume to retire."""

    node: str
    reachable: bool = True
    #: The resource file is there.
    configured: bool = False
    #: The kernel's state; None when the resource is not up.
    kernel: DrbdState | None = None
    #: fstab's mount point for the DRBD device (None: no line).
    mount_point: str | None = None
    mounted: bool = False
    #: libvirt pools whose target lies on the volume.
    pools: tuple[str, ...] = ()
    #: (VM, disk) of every VM defined here with a disk on the volume.
    vm_disks: tuple[tuple[str, str], ...] = ()
    #: The admin's /etc/exports lines that export from the volume.
    admin_exports: tuple[str, ...] = ()

    @property
    def holds_anything(self) -> bool:
        return self.configured or self.kernel is not None or self.mount_point is not None


def retire_problems(c: Cluster, name: str, sides: tuple[RetireSide, ...]) -> list[str]:
    """Why ``name`` cannot be retired now; empty when it can."""
    if name in {v.name for v in c.replicated_volumes}:
        return [f"{name} is still in group_data's replicated_volumes: remove it there first (the next deploy "
                "would bring it back), then run this task again"]
    problems = [f"{s.node} cannot be reached: a volume is retired on both nodes at once" for s in sides
                if not s.reachable]
    if problems:
        return problems
    if not any(s.holds_anything for s in sides):
        return [f"no node has a volume {name} (no drbd_{name} resource file, resource or fstab line): "
                "nothing to retire"]
    mount_points = {s.mount_point for s in sides if s.mount_point}
    for mp in sorted(mount_points):
        problems += [f"group_data still exports {e.path}, on {name}: remove the export first"
                     for e in (c.nfs.exports if c.nfs else ()) if under(e.path, mp)]
        problems += [f"group_data still has the pool {p.name} on {name} ({p.target}): remove the pool first"
                     for p in c.libvirt.pools if under(p.target, mp)]
    for s in sides:
        problems += [f"{s.node}: VM {vm} has its disk {disk} on {name}: move it to another volume or undefine "
                     "it first" for vm, disk in s.vm_disks]
        problems += [f"{s.node}: /etc/exports exports from {name} ({line.strip()}): remove the line first"
                     for line in s.admin_exports]
    return problems
