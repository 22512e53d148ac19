"""Which DRBD bring-up path applies, decided from the facts of BOTH nodes.

Pure functions: no pyinfra, no I/O, so tests can drive every combination.
Every decision of the bring-up is made here: the path, each node's steps,
which node formats the filesystem, whether a lone node may come up alone.
The drbd and ocfs2 tasks turn a :class:`ResourcePlan` into operations in
three phases that pyinfra runs in lockstep across the two hosts:

1. both nodes: wipe the ends of a blank backing LV, ``create-md``, ``up``;
2. one node only: wait for the connection, ``new-current-uuid --clear-bitmap``;
3. both nodes: wait until up to date, ``primary`` (``primary --force`` alone);

then ``mkfs.ocfs2`` on ``format_on`` only, and the mounts on both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum

from .grow import NOTHING, GrowPlan
from .sides import Content, NodeView, Presence, content_of


class Step(Enum):
    # Phase 1, per node
    WIPE_ENDS = "wipe-ends"
    CREATE_MD = "create-md"
    UP = "up"
    # Phase 2, one node
    NEW_UUID_CLEAR_BITMAP = "new-current-uuid --clear-bitmap"
    # Phase 3, per node: PRIMARY waits until the disk is UpToDate first.
    PRIMARY = "primary"
    PRIMARY_FORCE = "primary --force"


class BringUpPath(Enum):
    """A resource's bring-up path."""

    CONVERGED = "converged"
    BOTH_NEW = "both-new"
    FIRST_ALONE = "first-alone"
    JOIN = "join"
    RESUME = "resume"
    REFUSE = "refuse"
    SPLIT_BRAIN = "split-brain"
    STANDALONE = "standalone"


#: Paths that stop the DRBD and OCFS2 work with a report.
STOPPING_PATHS = frozenset({BringUpPath.REFUSE, BringUpPath.SPLIT_BRAIN, BringUpPath.STANDALONE})


@dataclass(frozen=True)
class ResourcePlan:
    path: BringUpPath
    steps: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    #: Why this path; for a stopping path, the report for the operator.
    reason: str = ""
    #: Nodes where the resource is up in the kernel.
    up_on: frozenset[str] = frozenset()
    #: The one node that runs mkfs.ocfs2 on the DRBD device (None: nobody).
    format_on: str | None = None
    #: Neither side ever held data before this run.
    is_new: bool = False
    #: What this run grows (twonode/grow.py): set by drbd_plans.
    grow: GrowPlan = NOTHING

    def is_up_on(self, node: str) -> bool:
        return node in self.up_on

    def nodes_with(self, step: Step) -> tuple[str, ...]:
        return tuple(node for node, steps in self.steps.items() if step in steps)

    @property
    def has_steps(self) -> bool:
        return any(self.steps.values())

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
    return (Step.PRIMARY,)


def _refuse(reason: str) -> ResourcePlan:
    return ResourcePlan(BringUpPath.REFUSE, reason=reason)


def _format_on(views: list[NodeView], first: str, new: bool) -> str | None:
    """A new volume is formatted by ``first`` (or the lone node); an old one
    only where the DRBD device reads blank (an earlier run stopped before
    mkfs), by the first such node in the cluster's order."""
    active = sorted((v for v in views if v.reachable), key=lambda v: v.node != first)
    if new:
        return active[0].node if active else None
    blank = [v for v in active if v.device is not None and v.device.is_blank]
    return blank[0].node if blank else None


def plan_resource(resource: str, device: str, a: NodeView, b: NodeView, first: str,
                  alone: str | None = None) -> ResourcePlan:
    """Decide the bring-up of one replicated resource from both nodes' views.

    ``a`` and ``b`` are the two nodes (in any order); ``first`` names the
    node that runs one-node-only actions when both are new; ``alone`` names
    a node the operator allowed to come up alone (its peer proven down by
    the operator: an SSH failure proves nothing).
    """
    plan = _plan(resource, device, a, b, first, alone)
    return dataclasses.replace(plan, up_on=frozenset(v.node for v in (a, b) if v.reachable and v.is_up))


def _plan(resource: str, device: str, a: NodeView, b: NodeView, first: str, alone: str | None) -> ResourcePlan:
    views = [v for v in (a, b) if v.reachable]
    contents = {v.node: content_of(v) for v in views}

    unreadable = [v for v in views if contents[v.node] is Content.UNREADABLE]
    if unreadable:
        found = "; ".join(f"{v.node}: {v.metadata.error}" for v in unreadable)
        return _refuse(
            f"{resource}: cannot read the DRBD metadata of {device} ({found}). Nothing was changed on "
            "either node. Do not wipe it: it may hold this cluster's data. Check the LV (lvs, dmesg) "
            f"and `drbdadm get-gi {resource}` on that node, then run again."
        )
    foreign = [v for v in views if contents[v.node] is Content.FOREIGN]
    if foreign:
        found = "; ".join(f"{v.node}:{device} holds {v.backing.describe()}" for v in foreign)
        beside = any(v.metadata is not None and v.metadata.present for v in foreign)
        return _refuse(
            f"{resource}: refusing to create DRBD metadata: {found}"
            + (", beside DRBD metadata that never held replicated data" if beside else ", and no DRBD metadata")
            + ". That is data this tool did not create. Nothing was changed on either node. "
            "Move the data away and wipe the LV yourself (wipefs -a) if it is not needed, "
            "or point the volume at another LV."
        )
    # The DRBD device: only signatures count (a Secondary cannot be opened:
    # that error says nothing about what it holds).
    not_ocfs2 = [v for v in views if v.device is not None and {s.type for s in v.device.signatures} - {"ocfs2"}]
    if not_ocfs2:
        found = "; ".join(f"{v.node}: {v.device.describe()}" for v in not_ocfs2)
        return _refuse(f"{resource}: the DRBD device holds something other than OCFS2 ({found}): "
                       "refusing to format or mount it. Nothing was changed.")

    for v in views:
        if v.kernel is not None and v.kernel.split_brain:
            return ResourcePlan(
                BringUpPath.SPLIT_BRAIN,
                reason=(
                    f"{resource}: split brain on {v.node} (connection {v.kernel.connection}). "
                    "Nothing is discarded automatically; see `pyinfra inventory.py tasks/status.py` "
                    "for the recovery commands for the node whose changes you choose to discard."
                ),
            )
    # A StandAlone after a failed authentication is not: the secrets
    # differed, the resource files now give both nodes the same one, and
    # tasks/drbd.py connects them again before any step below.
    for v in views:
        if v.kernel is not None and v.kernel.is_standalone and not v.kernel.auth_failed:
            return ResourcePlan(
                BringUpPath.STANDALONE,
                reason=(
                    f"{resource}: {v.node} is StandAlone (disconnected and not trying to connect: an "
                    "operator's disconnect, or data the peer does not recognise). Check the kernel "
                    "log (dmesg | grep drbd); `drbdadm connect` it once you know why."
                ),
            )

    new = {Content.BLANK, Content.FRESH}
    complete = [v for v in views if contents[v.node] is Content.HAS_DATA]
    partial = [v for v in views if contents[v.node] is Content.PARTIAL]
    if partial and not complete:
        names = sorted(v.node for v in partial)
        others = sorted({a.node, b.node} - set(names)) or names
        return _refuse(
            f"{resource}: {' and '.join(names)} {'holds' if len(names) == 1 else 'hold'} only a partial "
            f"copy (a sync from {' or '.join(others)} began and did not finish): the deploy never promotes "
            f"it, nor declares it in sync. Bring back the node with the complete data so the sync can "
            "finish, then run again. Nothing was changed."
        )

    if len(views) == 2:
        va, vb = views
        ca, cb = contents[va.node], contents[vb.node]
        if all(v.kernel is not None and v.kernel.is_converged for v in views):
            return ResourcePlan(BringUpPath.CONVERGED, reason=f"{resource}: Primary/Primary, UpToDate on both nodes",
                                format_on=_format_on(views, first, False))
        if ca in new and cb in new:
            steps = {v.node: _bring_up(v, contents[v.node]) for v in views}
            # Neither side ever held data, so declaring them in sync loses
            # nothing and spares a full resync.
            steps[first] += (Step.NEW_UUID_CLEAR_BITMAP,)
            for v in views:
                steps[v.node] += (Step.PRIMARY,)
            return ResourcePlan(
                BringUpPath.BOTH_NEW, steps, format_on=_format_on(views, first, True), is_new=True,
                reason=f"{resource}: new on both nodes: no resync; {first} clears the bitmap",
            )
        if (ca in new) != (cb in new) or partial:
            joiner = next(v for v in views if contents[v.node] in new or contents[v.node] is Content.PARTIAL)
            holder = vb if joiner is va else va
            steps = {
                joiner.node: _bring_up(joiner, contents[joiner.node]) + _promote(joiner),
                holder.node: _bring_up(holder, Content.HAS_DATA) + _promote(holder),
            }
            return ResourcePlan(
                BringUpPath.JOIN, steps, format_on=_format_on(views, first, False),
                reason=f"{resource}: {joiner.node} joins and syncs from {holder.node}",
            )
        steps = {v.node: _bring_up(v, Content.HAS_DATA) + _promote(v) for v in views}
        return ResourcePlan(BringUpPath.RESUME, steps, format_on=_format_on(views, first, False),
                            reason=f"{resource}: data on both nodes: bring up and promote")

    if not views:
        return ResourcePlan(BringUpPath.RESUME, reason=f"{resource}: no node reachable")
    (v,) = views
    peer = b if v is a else a
    content = contents[v.node]
    if content in new:
        if peer.presence is Presence.EXCLUDED:
            # Left out with --limit is not the same as down: its data is
            # unknown, and a lone primary here would fork the data.
            return _refuse(
                f"{resource}: {peer.node} is not part of this run (--limit?) and {v.node} would come up "
                "alone as primary: run against both nodes."
            )
        if alone != v.node:
            # SSH failing proves nothing about the cluster network: a peer
            # alive there with data would meet an unrelated lone Primary.
            return _refuse(
                f"{resource}: {peer.node} cannot be reached, and {v.node}'s side is new: coming up alone "
                f"would make {v.node} the only copy, with an empty filesystem. If {peer.node} is really "
                f"down and holds no data of this volume, run again with --data bring_up_alone={v.node}; "
                f"otherwise make {peer.node} reachable. Nothing was changed."
            )
        steps = _bring_up(v, content)
        if not (v.kernel is not None and v.kernel.is_primary):
            steps += (Step.PRIMARY_FORCE,)
        return ResourcePlan(
            BringUpPath.FIRST_ALONE, {v.node: steps}, format_on=v.node, is_new=True,
            reason=f"{resource}: only {v.node} reachable, and the operator allowed it alone: it comes up "
                   "as primary; the peer joins later",
        )
    return ResourcePlan(
        BringUpPath.RESUME, {v.node: _bring_up(v, Content.HAS_DATA) + _promote(v)},
        format_on=_format_on(views, first, False),
        reason=f"{resource}: only {v.node} reachable: bring up and promote its data",
    )
