"""Read both nodes' DRBD-related facts once per run and plan each resource.

Only reading happens here; every decision is the planner's
(twonode/planner.py).
"""

from __future__ import annotations

import dataclasses

import gevent

from pyinfra import host, logger, state
from pyinfra.context import ctx_host, ctx_state

from facts.blockdev import DeviceSignatures
from facts.drbd import DrbdResources
from facts.drbd_metadata import DrbdGenerations
from facts.lvm import VolumeGroups
from facts.sizes import VolumeSize, VolumeSizes
from .context import DeployStopped, cluster, host_of, presence_of
from .grow import plan_grow
from .model import Cluster, size_to_bytes
from .planner import ResourcePlan, Step, plan_resource
from .sides import NodeView, Presence
from . import reads
from .snapshot import fact, once_per_run, prefetch


def node_views(name: str) -> dict[str, NodeView]:
    """One node's view of every replicated resource (one round trip)."""
    c = cluster()
    presence = presence_of(name)
    if presence is not Presence.ACTIVE:
        return {v.resource: NodeView(node=name, presence=presence) for v in c.replicated_volumes}
    h = host_of(name)
    prefetch(*reads.drbd_plan(c), on=h)
    return views_from_facts(
        c, name,
        kernel=fact(DrbdResources, on=h),
        backing=fact(DeviceSignatures, devices=reads.backing_devices(c), on=h),
        devices=fact(DeviceSignatures, devices=reads.drbd_devices(c), on=h),
        generations=fact(DrbdGenerations, resources=reads.drbd_generations(c), on=h),
        vg=fact(VolumeGroups, on=h).get(c.volume_group),
        sizes=fact(VolumeSizes, volumes=reads.volume_sizes(c), on=h),
    )


def views_from_facts(c: Cluster, name: str, kernel: dict, backing: dict, devices: dict, generations: dict,
                     vg, sizes: dict) -> dict[str, NodeView]:
    """A reachable node's view of every replicated resource, from its facts
    (the planner's input; tests/test_drbd_plans.py feeds it captures)."""
    views = {}
    for vol, backing_dev in zip(c.replicated_volumes, reads.backing_devices(c)):
        found, on_device = backing.get(backing_dev), devices.get(vol.device)
        views[vol.resource] = NodeView(
            node=name,
            backing=found if found is not None and found.exists else None,
            metadata=generations.get(vol.resource),
            kernel=kernel.get(vol.resource),
            device=on_device if on_device is not None and on_device.exists else None,
            lv_bytes=lv.size_bytes if vg is not None and (lv := vg.lvs.get(vol.name)) is not None else None,
            extent_bytes=vg.extent_bytes if vg is not None else 0,
            vg_free_bytes=vg.free_bytes if vg is not None else None,
            sizes=sizes.get(vol.resource, VolumeSize()),
        )
    return views


def bring_up_alone() -> str | None:
    """The node the operator allowed to come up alone (--data bring_up_alone=NODE)."""
    alone = host.data.get("bring_up_alone")
    names = [n.name for n in cluster().nodes]
    if alone is not None and alone not in names:
        raise DeployStopped(f"bring_up_alone={alone!r} is not a node of this cluster: use one of {names}")
    return alone


def _compute() -> dict[str, ResourcePlan]:
    c = cluster()
    a, b = (n.name for n in c.nodes)
    alone = bring_up_alone()
    # Both nodes at once: their reads do not wait for each other. pyinfra's
    # state and host are greenlet-local: the new greenlets get them too.
    st, here = state._get_module(), host._get_module()

    def views_of(name: str) -> dict[str, NodeView]:
        with ctx_state.use(st), ctx_host.use(host_of(name) or here):
            return node_views(name)

    greenlets = {name: gevent.spawn(views_of, name) for name in (a, b)}
    gevent.joinall(list(greenlets.values()), raise_error=True)
    views = {name: g.value for name, g in greenlets.items()}
    plans = {}
    for vol, backing_dev in zip(c.replicated_volumes, reads.backing_devices(c)):
        plan = plan_resource(vol.resource, backing_dev, views[a][vol.resource], views[b][vol.resource],
                             c.first, alone)
        plan = dataclasses.replace(plan, grow=plan_grow(
            vol.resource, vol.size, size_to_bytes(vol.size), (views[a][vol.resource], views[b][vol.resource]),
            frozenset(plan.nodes_with(Step.CREATE_MD)), c.first))
        plans[vol.resource] = plan
        logger.info(f"--> {plan.path.value}: {plan.reason}")
    return plans


def drbd_plans() -> dict[str, ResourcePlan]:
    """{resource: plan}, computed once per run from both nodes' facts."""
    return once_per_run("drbd-plans", _compute)


def plans_or_stop() -> dict[str, ResourcePlan]:
    """drbd_plans(), or the deploy stops with every stopping plan's report
    (a refusal, a split brain, a StandAlone): the DRBD and OCFS2 work
    both stop there."""
    plans = drbd_plans()
    stopping = [p.reason for p in plans.values() if p.stops] + [p.grow.refusal for p in plans.values()
                                                                 if p.grow.refusal]
    if stopping:
        raise DeployStopped("\n".join(stopping))
    return plans
