"""Read both nodes' DRBD-related facts once per run and plan each resource."""

from __future__ import annotations

import dataclasses

import gevent

from pyinfra import host, logger, state
from pyinfra.context import ctx_host, ctx_state

from facts.blockdev import DeviceSignatures
from facts.drbd import DrbdBackingMetadata, DrbdResources
from .context import ACTIVE, EXCLUDED, cluster, host_of, once_per_run, status_of
from .planner import Path, NodeView, ResourcePlan, plan_resource
from . import reads
from .snapshot import fact, prefetch


def node_views(name: str) -> dict[str, NodeView]:
    """One node's view of every replicated resource (one round trip; two
    where a resource is down and its backing LV's metadata must be read)."""
    c = cluster()
    status = status_of(name)
    if status != ACTIVE:
        return {v.resource: NodeView(node=name, reachable=False) for v in c.replicated_volumes}
    h = host_of(name)
    devices = reads.backing_devices(c)
    backing_devs = {v.resource: dev for v, dev in zip(c.replicated_volumes, devices)}
    prefetch(*reads.drbd_plan(c), on=h)
    kernel = fact(DrbdResources, on=h)
    contents = fact(DeviceSignatures, devices=devices, on=h)
    down = tuple((backing_devs[v.resource], v.minor) for v in c.replicated_volumes
                 if v.resource not in kernel and contents[backing_devs[v.resource]].exists)
    metadata = fact(DrbdBackingMetadata, devices=down, on=h) if down else {}
    views = {}
    for vol in c.replicated_volumes:
        dev = backing_devs[vol.resource]
        found = contents.get(dev)
        views[vol.resource] = NodeView(
            node=name,
            backing=found if found is not None and found.exists else None,
            metadata=metadata.get(dev),
            kernel=kernel.get(vol.resource),
        )
    return views


def _compute() -> dict[str, ResourcePlan]:
    c = cluster()
    a, b = (n.name for n in c.nodes)
    # Both nodes at once: their reads do not wait for each other. pyinfra's
    # state and host are greenlet-local: the new greenlets get them too.
    st, here = state._get_module(), host._get_module()

    def views_of(name: str) -> dict[str, NodeView]:
        with ctx_state.use(st), ctx_host.use(host_of(name) or here):
            return node_views(name)

    greenlets = {name: gevent.spawn(views_of, name) for name in (a, b)}
    gevent.joinall(list(greenlets.values()), raise_error=True)
    views = {name: g.value for name, g in greenlets.items()}
    first = c.first if status_of(c.first) == ACTIVE else next(
        (n for n in (a, b) if status_of(n) == ACTIVE), c.first
    )
    plans = {}
    for vol in c.replicated_volumes:
        va, vb = views[a][vol.resource], views[b][vol.resource]
        plan = plan_resource(vol.resource, f"/dev/{c.volume_group}/{vol.name}", va, vb, first)
        excluded = [n for n in (a, b) if status_of(n) == EXCLUDED]
        if plan.path is Path.FIRST_ALONE and excluded:
            # Left out with --limit is not the same as down: its data is
            # unknown, and a lone primary here would fork the data.
            (alone,) = plan.steps
            plan = ResourcePlan(
                Path.REFUSE,
                reason=(
                    f"{vol.resource}: {', '.join(excluded)} is not part of this run (--limit?) and "
                    f"{alone} would come up alone as primary: run against both nodes (a node that "
                    "is really down is handled)."
                ),
            )
        up_on = frozenset(v.node for v in (va, vb) if v.kernel is not None)
        plans[vol.resource] = dataclasses.replace(plan, up_on=up_on)
        logger.info(f"--> {plan.path.value}: {plan.reason}")
    return plans


def drbd_plans() -> dict[str, ResourcePlan]:
    """{resource: plan}, computed once per run from both nodes' facts."""
    return once_per_run("drbd-plans", _compute)
