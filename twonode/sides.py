"""What one node's side of a DRBD resource holds, from that node's facts
(pure functions): the planner's (twonode/planner.py) first question, and
the guard of every destructive step. A side whose contents are not known
for certain is never "blank"."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from facts.blockdev import DeviceContents
from facts.drbd_metadata import DrbdMetadata
from facts.drbd_state import DS_INCONSISTENT, DrbdState
from facts.sizes import VolumeSize


class Content(Enum):
    """What a node's side of a resource holds."""

    #: No backing LV yet (this run creates it) or an LV without any signature.
    BLANK = "blank"
    #: Only DRBD metadata written by create-md: the generation identifiers
    #: say it never held data (the initial UUID), and no other signature.
    FRESH = "fresh"
    #: DRBD metadata of a device that holds replicated data.
    HAS_DATA = "has-data"
    #: A sync into this side began and did not finish: a partial copy.
    #: Never promoted, never declared in sync.
    PARTIAL = "partial"
    #: Signatures that are not ours: somebody else's data. Never touched.
    FOREIGN = "foreign"
    #: The DRBD metadata could not be read: unknown, never touched.
    UNREADABLE = "unreadable"


class Presence(Enum):
    """Whether this run sees a node."""

    ACTIVE = "active"
    #: In the run, but the connection failed: down, or only unreachable by SSH.
    UNREACHABLE = "unreachable"
    #: Left out of this run (``--limit``): its state is unknown.
    EXCLUDED = "excluded"


@dataclass(frozen=True)
class NodeView:
    """Everything the planner knows about one node's side of one resource."""

    node: str
    presence: Presence = Presence.ACTIVE
    #: Contents of the backing LV; None when the LV does not exist yet.
    backing: DeviceContents | None = None
    #: Generation identifiers (kernel's when up, on-disk when down); None if not read.
    metadata: DrbdMetadata | None = None
    #: The kernel's state; None when the resource is not up.
    kernel: DrbdState | None = None
    #: Contents of the DRBD device (/dev/drbd_NAME) where it could be read.
    device: DeviceContents | None = None
    #: The backing LV's size, its volume group's extent and free space (for a grow).
    lv_bytes: int | None = None
    extent_bytes: int = 0
    vg_free_bytes: int | None = None
    #: The DRBD device's and the filesystem's sizes.
    sizes: VolumeSize = VolumeSize()

    @property
    def reachable(self) -> bool:
        return self.presence is Presence.ACTIVE

    @property
    def is_up(self) -> bool:
        return self.kernel is not None


def _foreign_signatures(backing: DeviceContents | None, allowed: frozenset[str]) -> bool:
    if backing is None or not backing.exists:
        return False
    return backing.error is not None or bool({s.type for s in backing.signatures} - allowed)


def content_of(view: NodeView) -> Content:
    meta, kernel = view.metadata, view.kernel
    if meta is not None and meta.error:
        return Content.UNREADABLE
    if meta is not None and meta.never_used:
        # create-md's metadata alone; anything beside it was put there by
        # somebody else (an LV that held a filesystem before create-md).
        return Content.FOREIGN if _foreign_signatures(view.backing, frozenset({"drbd"})) else Content.FRESH
    if kernel is not None:
        # Up and Inconsistent, no sync running, not Primary: never "fresh"
        # on the kernel's word alone. The identifiers above decide; here a
        # sync began (or nothing proves otherwise): a partial copy.
        if kernel.disk == DS_INCONSISTENT and not kernel.is_in_resync and not kernel.is_primary:
            return Content.PARTIAL
        return Content.HAS_DATA
    if meta is not None and meta.present:
        return Content.PARTIAL if meta.is_partial else Content.HAS_DATA
    if view.backing is None or not view.backing.exists or view.backing.is_blank:
        return Content.BLANK
    return Content.FOREIGN
