"""From a node's facts to the planner's decision (twonode/drbd_plans.py's
views_from_facts, then plan_resource), on fact sets captured on the lab:
the converged example cluster on Debian 12 and 13, a link whose secrets
differed, and a split brain. The pair situations of tests/test_planner.py
are hand-made views; this is the glue that builds them from real facts."""

from pathlib import Path

import pytest

from captured import CONVERGED_STATES, converged
from facts.drbd import DrbdResources
from twonode.drbd_plans import views_from_facts
from twonode.loader import load_cluster
from twonode.planner import BringUpPath, Step, plan_resource

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
NODES = ("fiori", "torchio")


def views(state: str, kernels: dict | None = None) -> dict[str, dict]:
    """Each node's views of the example cluster's resources, from the
    converged capture of ``state``; ``kernels`` replaces a node's DRBD
    kernel state with another capture's."""
    c = load_cluster(ROOT / "inventory.py", ROOT)
    result = {}
    for node in NODES:
        kernel = (kernels or {}).get(node) or converged(node, "DrbdResources", state)
        result[node] = views_from_facts(
            c, node, kernel=kernel,
            backing=converged(node, "DeviceSignatures_backing", state),
            devices=converged(node, "DeviceSignatures_drbd", state),
            generations=converged(node, "DrbdGenerations", state),
            vg=converged(node, "VolumeGroups", state).get(c.volume_group),
            sizes={})
    return result


def plans(node_views: dict[str, dict]) -> dict:
    c = load_cluster(ROOT / "inventory.py", ROOT)
    return {vol.resource: plan_resource(vol.resource, vol.device, node_views["fiori"][vol.resource],
                                        node_views["torchio"][vol.resource], c.first)
            for vol in c.replicated_volumes}


@pytest.mark.parametrize("state", CONVERGED_STATES)
def test_the_converged_cluster_is_left_as_it_is(state):
    for resource, plan in plans(views(state)).items():
        assert plan.path is BringUpPath.CONVERGED and not plan.has_steps, (resource, plan)
        assert plan.format_on is None and plan.up_on == set(NODES)


def test_after_a_failed_authentication_the_node_that_came_back_is_promoted_once_up_to_date():
    # fiori served on as Primary; torchio, back with another secret, stayed
    # Secondary and Outdated. tasks/drbd.py connects them with one secret
    # first; the plan promotes torchio only (its PRIMARY waits for UpToDate).
    kernels = {node: converged(node, "DrbdResources", "auth-failed") for node in NODES}
    small = plans(views("converged-trixie", kernels))["drbd_small"]
    assert small.path is BringUpPath.RESUME, small
    assert small.steps == {"fiori": (), "torchio": (Step.PRIMARY,)}


def test_a_split_brain_is_reported_and_nothing_is_planned():
    proc = (FIX / "drbd84" / "split_brain_standalone_fiori__proc_drbd.txt").read_text().splitlines()
    show = (FIX / "drbd84" / "split_brain_standalone_fiori__drbdsetup_show.txt").read_text().splitlines()
    dmesg = (FIX / "drbd84" / "split_brain_standalone_fiori__dmesg_split-brain.txt").read_text().splitlines()
    fiori = DrbdResources().process(["@@proc", *proc, "@@json", "@@show", *show, "@@dmesg", *dmesg])
    small = plans(views("converged", {"fiori": fiori}))["drbd_small"]
    assert small.path is BringUpPath.SPLIT_BRAIN and not small.has_steps
    assert "split brain on fiori" in small.reason and "tasks/status.py" in small.reason
