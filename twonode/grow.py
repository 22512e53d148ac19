"""Growing a replicated volume online, decided from the facts of BOTH nodes.

Pure functions, like the bring-up planner (twonode/planner.py). Raising a
volume's ``size`` in group_data grows, in this order, each layer that is
smaller than the one below it:

1. the LV, on each node where it is smaller than configured (tasks/drbd.py);
2. the DRBD device, by ``drbdadm resize`` on one node (tasks/drbd.py);
3. the OCFS2 filesystem, by ``tunefs.ocfs2 -S`` on one node (tasks/ocfs2.py).

Each step is decided from what the layers hold, not from a record of an
earlier run, so a run interrupted between any two steps converges on the
next. A grow starts only on a converged resource (connected, Primary and
UpToDate on both nodes); a volume is never shrunk.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sides import NodeView

MIB = 1024 * 1024
#: The largest OCFS2 cluster: a filesystem short of its device by less
#: than this already covers it.
FILESYSTEM_SLACK = MIB


def metadata_allowance(lv_bytes: int) -> int:
    """More than DRBD 8.4's internal metadata on an LV of ``lv_bytes``:
    a bitmap bit per 4 KiB (lv/32768 bytes) plus the 4 KiB superblock and
    the 32 KiB activity log (44 KiB on the lab's 256 MiB LV)."""
    return lv_bytes // 32768 + MIB


@dataclass(frozen=True)
class GrowPlan:
    #: Nodes whose LV is extended to the configured size.
    lvextend_on: tuple[str, ...] = ()
    #: The node that runs ``drbdadm resize`` (None: nobody).
    resize_on: str | None = None
    #: The node that grows the filesystem (None: nobody).
    grow_filesystem_on: str | None = None
    #: Why the grow cannot be done now: the deploy stops with it.
    refusal: str | None = None

    @property
    def has_steps(self) -> bool:
        return bool(self.lvextend_on or self.resize_on or self.grow_filesystem_on)


NOTHING = GrowPlan()


def _human(size: int) -> str:
    return f"{size / MIB:.0f} MiB" if size < 1024 * MIB else f"{size / 1024 / MIB:.2f} GiB"


def _extended(lv_bytes: int, wanted: int, extent: int) -> int:
    """The LV's size after ``lvextend --size=wanted``: whole extents."""
    return max(lv_bytes, -(-wanted // extent) * extent)


def plan_grow(resource: str, size: str, wanted: int, sides: tuple[NodeView, NodeView], creating: frozenset[str],
              first: str) -> GrowPlan:
    """What this run grows of ``resource`` (configured as ``size``, i.e.
    ``wanted`` bytes) on the two nodes; ``first`` runs the one-node steps.
    ``creating``: the nodes where this run creates the resource's metadata
    on the LV (the planner proved it blank or ours): it may simply grow
    before create-md.

    A side the run cannot see (down, or left out with --limit) has no
    kernel state and no sizes: a grow then waits for it."""
    ordered = sorted(sides, key=lambda s: s.node != first)
    extent = max(s.extent_bytes for s in ordered)
    shrink = [s for s in ordered if s.lv_bytes is not None and s.lv_bytes > wanted + extent]
    if shrink:
        s = shrink[0]
        return GrowPlan(refusal=(
            f"{resource}: size {size} is smaller than its LV on {s.node} ({_human(s.lv_bytes)}): a replicated "
            f"volume is never shrunk (OCFS2 cannot shrink, and DRBD would cut off its end). Set its size in "
            f"group_data back to at least {_human(s.lv_bytes)}. Nothing was changed."))

    short_lvs = tuple(s.node for s in ordered
                      if s.lv_bytes is not None and s.node not in creating and s.lv_bytes + extent <= wanted)
    if all(s.kernel is None for s in ordered) or creating:
        # Not yet brought up (or being brought up): nothing above the LVs to
        # grow. A blank LV grows before create-md (tasks/drbd.py); one that
        # already holds data waits for the bring-up to finish, and is refused
        # below on the next run if the resource is not converged by then.
        if short_lvs and not creating:
            return _not_converged(resource, size, short_lvs, ordered)
        return NOTHING

    lv_after = [_extended(s.lv_bytes, wanted, extent) if s.node in short_lvs else s.lv_bytes
                for s in ordered if s.lv_bytes is not None]
    devices = [s.sizes.device_bytes for s in ordered if s.sizes.device_bytes is not None]
    smallest_lv = min(lv_after) if len(lv_after) == 2 else None
    resize = bool(smallest_lv and devices and min(devices) + metadata_allowance(smallest_lv) < smallest_lv)
    filesystems = [s.sizes.filesystem_bytes for s in ordered if s.sizes.filesystem_bytes is not None]
    grow_filesystem = bool(filesystems) and (
        resize or bool(devices) and min(devices) - min(filesystems) >= FILESYSTEM_SLACK)
    if not (short_lvs or resize or grow_filesystem):
        return NOTHING
    if not all(s.kernel is not None and s.kernel.is_converged for s in ordered):
        return _not_converged(resource, size, short_lvs, ordered)
    # Checked before either LV grows: one LV grown alone would wait there.
    for s in ordered:
        needed = _extended(s.lv_bytes, wanted, extent) - s.lv_bytes if s.node in short_lvs else 0
        if s.vg_free_bytes is not None and needed > s.vg_free_bytes:
            return GrowPlan(refusal=(
                f"{resource}: size {size} needs {_human(needed)} more on {s.node}, whose volume group has "
                f"{_human(s.vg_free_bytes)} free. Add space to the volume group (pvcreate, vgextend) or "
                "choose a smaller size. Nothing was changed."))
    return GrowPlan(lvextend_on=short_lvs, resize_on=first if resize else None,
                    grow_filesystem_on=first if grow_filesystem else None)


def _not_converged(resource: str, size: str, short_lvs: tuple[str, ...], sides: list[NodeView]) -> GrowPlan:
    states = "; ".join(
        f"{s.node}: " + (f"{s.kernel.connection}, {s.kernel.role}/{s.kernel.peer_role}, "
                         f"{s.kernel.disk}/{s.kernel.peer_disk}" if s.kernel else "not up or not reachable")
        for s in sides)
    what = f"its LV on {', '.join(short_lvs)} is smaller" if short_lvs else "it is not fully grown"
    return GrowPlan(refusal=(
        f"{resource}: size {size}: {what}, and a replicated volume grows only while connected, Primary and "
        f"UpToDate on both nodes ({states}). Bring both nodes back (or put the old size back in group_data "
        "to deploy without the grow), then run again. Nothing was changed."))
