"""Which DRBD bring-up path applies, decided from the facts of BOTH nodes.

Pure functions: no pyinfra, no I/O, so tests can drive every combination.
The drbd task turns a :class:`ResourcePlan` into operations in three phases
that pyinfra runs in lockstep across the two hosts:

1. both nodes: wipe the ends of a blank backing LV, ``create-md``, ``up``;
2. one node only: wait for the connection, ``new-current-uuid --clear-bitmap``;
3. both nodes: wait until up to date, ``primary`` (``primary --force`` alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from facts.blockdev import DeviceContents
from facts.drbd import DS_DUNKNOWN, DS_INCONSISTENT, DrbdMetadata, DrbdState


class Content(Enum):
    """What a node's side of a resource holds."""

    #: No backing LV yet (this run creates it) or an LV without any signature.
    BLANK = "blank"
    #: DRBD metadata written by create-md, never held data (initial UUID).
    FRESH = "fresh"
    #: DRBD metadata of a device that holds replicated data.
    HAS_DATA = "has-data"
    #: Signatures but no DRBD metadata: somebody else's data. Never touched.
    FOREIGN = "foreign"


class Step(Enum):
    # Phase 1, per node
    WIPE_ENDS = "wipe-ends"
    CREATE_MD = "create-md"
    UP = "up"
    # Phase 2, one node
    NEW_UUID_CLEAR_BITMAP = "new-current-uuid --clear-bitmap"
    # Phase 3, per node
    WAIT_UPTODATE = "wait-uptodate"
    PRIMARY = "primary"
    PRIMARY_FORCE = "primary --force"


PHASE_1 = (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP)
PHASE_2 = (Step.NEW_UUID_CLEAR_BITMAP,)
PHASE_3 = (Step.WAIT_UPTODATE, Step.PRIMARY, Step.PRIMARY_FORCE)


class Path(Enum):
    CONVERGED = "converged"
    BOTH_NEW = "both-new"
    FIRST_ALONE = "first-alone"
    JOIN = "join"
    RESUME = "resume"
    REFUSE = "refuse"
    SPLIT_BRAIN = "split-brain"
    STANDALONE = "standalone"


#: Paths that stop the DRBD and OCFS2 work with a report.
STOPPING_PATHS = frozenset({Path.REFUSE, Path.SPLIT_BRAIN, Path.STANDALONE})


@dataclass(frozen=True)
class NodeView:
    """Everything the planner knows about one node's side of one resource."""

    node: str
    reachable: bool = True
    #: Contents of the backing LV; None when the LV does not exist yet.
    backing: DeviceContents | None = None
    #: On-disk metadata, read while the resource is down; None if not read.
    metadata: DrbdMetadata | None = None
    #: The kernel's state; None when the resource is not up.
    kernel: DrbdState | None = None

    @property
    def is_up(self) -> bool:
        return self.kernel is not None


def content_of(view: NodeView) -> Content:
    kernel = view.kernel
    if kernel is not None:
        # Up: the kernel tells. Inconsistent on both sides with no sync
        # running is a pair create-md just made; anything else holds data
        # (or is receiving it).
        if kernel.disk == DS_INCONSISTENT and kernel.peer_disk in (DS_INCONSISTENT, DS_DUNKNOWN) \
                and not kernel.is_in_resync and not kernel.is_primary:
            return Content.FRESH
        return Content.HAS_DATA
    if view.metadata is not None and view.metadata.present:
        return Content.FRESH if view.metadata.never_used else Content.HAS_DATA
    if view.backing is None or not view.backing.exists or view.backing.is_blank:
        return Content.BLANK
    return Content.FOREIGN


@dataclass(frozen=True)
class ResourcePlan:
    path: Path
    steps: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    #: Why this path; for a stopping path, the report for the operator.
    reason: str = ""
    #: Nodes where the resource is up in the kernel (when planned).
    up_on: frozenset[str] = frozenset()

    def is_up_on(self, node: str) -> bool:
        return node in self.up_on

    def steps_for(self, node: str) -> tuple[Step, ...]:
        return self.steps.get(node, ())

    @property
    def stops(self) -> bool:
        return self.path in STOPPING_PATHS


def _bring_up(view: NodeView, content: Content) -> tuple[Step, ...]:
    """Phase-1 steps that get a blank or fresh side attached and connecting."""
    if view.is_up:
        return ()
    if content is Content.BLANK:
        return (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP)
    if content is Content.FRESH:
        # Our own never-used metadata: writing it again is harmless.
        return (Step.CREATE_MD, Step.UP)
    return (Step.UP,)


def _promote(view: NodeView) -> tuple[Step, ...]:
    if view.kernel is not None and view.kernel.is_primary:
        return ()
    return (Step.WAIT_UPTODATE, Step.PRIMARY)


def plan_resource(resource: str, device: str, a: NodeView, b: NodeView, first: str) -> ResourcePlan:
    """Decide the bring-up of one replicated resource from both nodes' views.

    ``a`` and ``b`` are the two nodes (in any order); ``first`` names the
    node that runs one-node-only actions when both are new. A node with
    ``reachable=False`` is one this run cannot see (down, or left out).
    """
    views = [v for v in (a, b) if v.reachable]
    contents = {v.node: content_of(v) for v in views}

    foreign = [v for v in views if contents[v.node] is Content.FOREIGN]
    if foreign:
        found = "; ".join(f"{v.node}:{device} holds {v.backing.describe()}" for v in foreign)
        return ResourcePlan(
            Path.REFUSE,
            reason=(
                f"{resource}: refusing to create DRBD metadata: {found}, and no DRBD metadata. "
                "That is data this tool did not create. Nothing was changed on either node. "
                "Move the data away and wipe the LV yourself (wipefs -a) if it is not needed, "
                "or point the volume at another LV."
            ),
        )

    for v in views:
        if v.kernel is not None and v.kernel.split_brain:
            return ResourcePlan(
                Path.SPLIT_BRAIN,
                reason=(
                    f"{resource}: split brain on {v.node} (connection {v.kernel.connection}). "
                    "Nothing is discarded automatically; see `pyinfra inventory.py tasks/status.py` "
                    "for the recovery commands for the node whose changes you choose to discard."
                ),
            )
    for v in views:
        if v.kernel is not None and v.kernel.is_standalone:
            return ResourcePlan(
                Path.STANDALONE,
                reason=(
                    f"{resource}: {v.node} is StandAlone (disconnected and not trying to connect: an "
                    "operator's disconnect, or data the peer does not recognise). Check the kernel "
                    "log (dmesg | grep drbd); `drbdadm connect` it once you know why."
                ),
            )

    if len(views) == 2:
        va, vb = views
        ca, cb = contents[va.node], contents[vb.node]
        if all(v.kernel is not None and v.kernel.is_converged for v in views):
            return ResourcePlan(Path.CONVERGED, reason=f"{resource}: Primary/Primary, UpToDate on both nodes")
        new = {Content.BLANK, Content.FRESH}
        if ca in new and cb in new:
            steps = {v.node: _bring_up(v, contents[v.node]) for v in views}
            # Neither side ever held data, so declaring them in sync loses
            # nothing and spares a full resync.
            steps[first] += (Step.NEW_UUID_CLEAR_BITMAP,)
            for v in views:
                steps[v.node] += (Step.WAIT_UPTODATE, Step.PRIMARY)
            return ResourcePlan(
                Path.BOTH_NEW, steps,
                reason=f"{resource}: new on both nodes: no resync; {first} clears the bitmap",
            )
        if (ca in new) != (cb in new):
            joiner = va if ca in new else vb
            holder = vb if joiner is va else va
            steps = {
                joiner.node: _bring_up(joiner, contents[joiner.node]) + _promote(joiner),
                holder.node: _bring_up(holder, Content.HAS_DATA) + _promote(holder),
            }
            return ResourcePlan(
                Path.JOIN, steps,
                reason=f"{resource}: {joiner.node} joins and syncs from {holder.node}",
            )
        steps = {v.node: _bring_up(v, Content.HAS_DATA) + _promote(v) for v in views}
        return ResourcePlan(Path.RESUME, steps, reason=f"{resource}: data on both nodes: bring up and promote")

    if not views:
        return ResourcePlan(Path.RESUME, reason=f"{resource}: no node reachable")
    (v,) = views
    content = contents[v.node]
    if content in (Content.BLANK, Content.FRESH):
        steps = _bring_up(v, content)
        if not (v.kernel is not None and v.kernel.is_primary):
            steps += (Step.PRIMARY_FORCE,)
        return ResourcePlan(
            Path.FIRST_ALONE, {v.node: steps},
            reason=f"{resource}: only {v.node} reachable: it comes up alone as primary; the peer joins later",
        )
    return ResourcePlan(
        Path.RESUME, {v.node: _bring_up(v, Content.HAS_DATA) + _promote(v)},
        reason=f"{resource}: only {v.node} reachable: bring up and promote its data",
    )

