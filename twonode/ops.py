"""Small operation helpers shared by the tasks: each reads the fact it needs
and emits an operation only when something must change."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Mounts
from pyinfra.operations import apt, files, server

from facts.lvm import VolumeGroup
from .context import DeployStopped
from .model import size_to_bytes


def install(packages: list[str], area: str) -> None:
    """Install what is missing; refresh the package lists only then, so a
    converged node sees no change (not even an ``apt-get update``)."""
    installed = host.get_fact(DebPackages)
    missing = [p for p in packages if p not in installed]
    apt.packages(
        name=f"{area}: install {' '.join(packages)}",
        packages=packages,
        no_recommends=True,
        update=bool(missing),
    )


def refuse_unless_blank(device: str, action: str) -> str:
    """Shell that stops the operation when ``device`` holds any signature:
    the last check, right before a destructive command writes (the facts
    read at planning time are the first)."""
    return (
        f"sig=$(wipefs --no-act --noheadings {device}); if [ -n \"$sig\" ]; then "
        f"echo \"refusing to {action} {device}: it holds: $sig\" >&2; exit 1; fi"
    )


def step(wanted: bool, name: str, commands: list[str], **kwargs) -> None:
    """An operation that must keep its place relative to the OTHER node's
    operations: emitted on every host, with no commands where not wanted.

    pyinfra orders operations by a topological sort of each host's own
    sequence, tie-broken by line: an operation that only one host has can
    move ahead of operations of the other host that come before it in the
    code. Seen on the lab: fiori's new-current-uuid (which waits for the
    peer) was scheduled before torchio's `drbdadm up`, and waited in vain.
    """
    server.shell(name=name, commands=commands if wanted else [], **kwargs)


def require_vg(vgs: dict[str, VolumeGroup], name: str) -> VolumeGroup:
    vg = vgs.get(name)
    if vg is None:
        raise DeployStopped(
            f"{host.name}: volume group {name!r} not found (vgs lists: {', '.join(vgs) or 'none'}). "
            "The procedure starts from an installed system with LVM: create the VG "
            "(pvcreate/vgcreate) or set volume_group in group_data/all.py."
        )
    return vg


LV_CREATED = "created"
LV_GROWN = "grown"


def ensure_lv(vg: VolumeGroup, name: str, size: str, area: str, grow: bool = True) -> str | None:
    """Create the LV if missing; grow it (if ``grow``) when smaller than
    configured; never shrink. Returns LV_CREATED or LV_GROWN when this run
    does so, else None."""
    wanted = size_to_bytes(size)
    lv = vg.lvs.get(name)
    if lv is None:
        # --wipesignatures: the extents come from free space, whose stale
        # contents belong to nobody; without it lvcreate would prompt.
        server.shell(
            name=f"{area}: create LV {vg.name}/{name} ({size})",
            commands=[f"lvcreate --yes --wipesignatures y --name={name} --size={wanted}b {vg.name}"],
        )
        return LV_CREATED
    # Sizes are rounded up to whole extents by LVM.
    if lv.size_bytes + vg.extent_bytes <= wanted:
        if not grow:
            logger.warning(f"{host.name}: LV {vg.name}/{name} is smaller than the configured {size}: "
                           "growing it is not automated; left as it is")
            return None
        server.shell(
            name=f"{area}: grow LV {vg.name}/{name} to {size}",
            commands=[f"lvextend --size={wanted}b {vg.name}/{name}"],
        )
        return LV_GROWN
    if lv.size_bytes > wanted + vg.extent_bytes:
        logger.warning(
            f"{host.name}: LV {vg.name}/{name} is {lv.size_bytes} bytes, more than the configured "
            f"{size}: left as it is (shrinking is never done automatically)"
        )
    return None


def fstab_entry(device: str, mount_point: str, fs_type: str, options: str, passno: int, area: str) -> None:
    line = f"{device} {mount_point} {fs_type} {options} 0 {passno}"
    files.line(
        name=f"{area}: fstab entry for {mount_point}",
        path="/etc/fstab",
        line=rf"^\S+\s+{mount_point}\s",
        replace=line,
    )


def mount(mount_point: str, area: str, **kwargs) -> None:
    """Mount from fstab unless already mounted."""
    if mount_point in host.get_fact(Mounts):
        return
    files.directory(name=f"{area}: mount point {mount_point}", path=mount_point)
    server.shell(name=f"{area}: mount {mount_point}", commands=[f"mount {mount_point}"], **kwargs)
