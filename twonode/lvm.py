"""The LVs under the volumes: created when missing, grown when smaller
than configured, never shrunk; a missing volume group stops the deploy."""

from __future__ import annotations

from shlex import quote

from pyinfra import host, logger
from pyinfra.operations import server

from facts.lvm import VolumeGroup
from .context import DeployStopped
from .model import size_to_bytes


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


def extend_command(vg: str, name: str, size: str) -> str:
    return f"lvextend --size={size_to_bytes(size)}b {quote(f'{vg}/{name}')}"


def ensure_lv(vg: VolumeGroup, name: str, size: str, area: str, grow: bool = True) -> str | None:
    """Create the LV if missing; grow it (if ``grow``) when smaller than
    configured; never shrink (a warning). Returns LV_CREATED or LV_GROWN
    when this run does so, else None."""
    wanted = size_to_bytes(size)
    lv = vg.lvs.get(name)
    if lv is None:
        # --wipesignatures: the extents come from free space, whose stale
        # contents belong to nobody; without it lvcreate would prompt.
        server.shell(
            name=f"{area}: create LV {vg.name}/{name} ({size})",
            commands=[f"lvcreate --yes --wipesignatures y --name={quote(name)} --size={wanted}b {quote(vg.name)}"],
        )
        return LV_CREATED
    # Sizes are rounded up to whole extents by LVM.
    if lv.size_bytes + vg.extent_bytes <= wanted:
        if not grow:  # a replicated volume's: twonode/grow.py decides
            return None
        server.shell(name=f"{area}: grow LV {vg.name}/{name} to {size}",
                     commands=[extend_command(vg.name, name, size)])
        return LV_GROWN
    if lv.size_bytes > wanted + vg.extent_bytes:
        logger.warning(
            f"{host.name}: LV {vg.name}/{name} is {lv.size_bytes} bytes, more than the configured "
            f"{size}: left as it is (shrinking is never done automatically)"
        )
    return None
