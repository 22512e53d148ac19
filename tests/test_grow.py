"""The online grow of a replicated volume (twonode/grow.py), from the sizes
the lab printed (tests/fixtures/sizes, lvm) at each stage of a real grow of
the 256 MiB volume to 384 MiB, and the DRBD states it saw."""

import itertools

import pytest

from captured import lines
from facts.drbd import parse_proc_drbd
from facts.sizes import VolumeSize, VolumeSizes
from twonode.grow import NOTHING, metadata_allowance, plan_grow
from twonode.sides import NodeView

MIB = 1024 * 1024
EXTENT = 4 * MIB
LV_256, LV_384 = 256 * MIB, 384 * MIB


def sizes(state: str, node: str = "fiori") -> dict[str, VolumeSize]:
    fact = VolumeSizes()
    fact.command(volumes=(("drbd_small", 0, "/dev/drbd_small"), ("drbd_gone", 7, "/dev/drbd_gone")))
    return fact.process(lines(f"sizes/{state}_{node}__VolumeSizes.txt"))


def drbd(state: str, node: str):
    return parse_proc_drbd("\n".join(lines(f"drbd84/{state}_{node}__proc_drbd.txt")))[0]


BEFORE = sizes("small_256m_converged")["drbd_small"]
GROWN = sizes("small_grown_384m")["drbd_small"]
CONVERGED = {n: drbd("connected_primary_primary", n) for n in ("fiori", "torchio")}
#: The device resized, the filesystem not yet grown: what the lab held in between.
RESIZED = VolumeSize(device_bytes=GROWN.device_bytes, filesystem_bytes=BEFORE.filesystem_bytes)


def sides(lv, size, kernels=CONVERGED, **torchio):
    """Both nodes with the same LV size and sizes; ``torchio`` overrides."""
    both = dict(lv_bytes=lv, sizes=size, extent_bytes=EXTENT)
    return (NodeView("fiori", kernel=kernels["fiori"], **both),
            NodeView("torchio", **{**both, "kernel": kernels["torchio"], **torchio}))


def plan(wanted, pair, size="384m", creating=frozenset()):
    return plan_grow("drbd_small", size, wanted, pair, frozenset(creating), first="fiori")


def test_the_fact_reads_device_and_filesystem_sizes_and_nothing_where_the_device_is_not_up():
    assert BEFORE == VolumeSize(device_bytes=268390400, filesystem_bytes=268390400)
    assert GROWN == VolumeSize(device_bytes=402604032, filesystem_bytes=402604032)
    assert sizes("small_grown_384m")["drbd_gone"] == VolumeSize()
    # DRBD 8.4 refuses to open a Secondary device: its size, no filesystem's.
    assert sizes("small_grown_384m_secondary", "torchio")["drbd_small"] == VolumeSize(402604032, None)


def test_the_metadata_allowance_covers_drbds_internal_metadata_as_the_lab_measured_it():
    for lv, device in ((LV_256, BEFORE.device_bytes), (LV_384, GROWN.device_bytes)):
        assert lv - device < metadata_allowance(lv)
    # ...and is small beside any grow LVM can make (an extent).
    assert metadata_allowance(LV_384) < EXTENT


def test_a_raised_size_grows_every_layer_lvs_on_both_nodes_and_the_rest_on_one():
    grow = plan(LV_384, sides(LV_256, BEFORE))
    assert grow.lvextend_on == ("fiori", "torchio")
    assert grow.resize_on == "fiori" and grow.grow_filesystem_on == "fiori" and grow.refusal is None


@pytest.mark.parametrize("stage, pair, expected", [
    # Interrupted after the LVs grew on one node only, on both, after the
    # DRBD resize: each run takes up what is left.
    ("one LV grown", sides(LV_256, BEFORE, lv_bytes=LV_384), (("fiori",), "fiori", "fiori")),
    ("both LVs grown", sides(LV_384, BEFORE), ((), "fiori", "fiori")),
    ("DRBD resized", sides(LV_384, RESIZED), ((), None, "fiori")),
])
def test_a_grow_interrupted_between_any_two_steps_is_taken_up_where_it_stopped(stage, pair, expected):
    grow = plan(LV_384, pair)
    assert (grow.lvextend_on, grow.resize_on, grow.grow_filesystem_on) == expected, stage


def test_a_grown_volume_and_an_unchanged_one_plan_nothing():
    assert plan(LV_384, sides(LV_384, GROWN)) == NOTHING
    assert plan(LV_256, sides(LV_256, BEFORE), size="256m") == NOTHING
    # A size that LVM rounds up to the next extent is already there.
    assert plan(LV_384 - MIB, sides(LV_384, GROWN), size="383m") == NOTHING


def test_the_filesystem_size_read_on_one_node_is_enough():
    pair = sides(LV_384, RESIZED, sizes=VolumeSize(RESIZED.device_bytes, None))
    assert plan(LV_384, pair).grow_filesystem_on == "fiori"


@pytest.mark.parametrize("pair", [sides(LV_384, GROWN), sides(LV_384, BEFORE), sides(LV_256, BEFORE)])
def test_a_smaller_size_is_refused_with_the_size_to_put_back(pair):
    lv = pair[0].lv_bytes
    grow = plan(128 * MIB, pair, size="128m")
    assert not grow.has_steps
    assert "drbd_small: size 128m is smaller than its LV on fiori" in grow.refusal
    assert f"back to at least {lv // MIB} MiB" in grow.refusal and "Nothing was changed" in grow.refusal


NOT_CONVERGED = {
    "peer unreachable": dict(lv_bytes=None, sizes=VolumeSize(), kernel=None),
    "peer WFConnection": dict(kernel=drbd("link_down_primary_wfconnection", "torchio")),
    "syncing": dict(kernel=drbd("syncing_mid", "torchio")),
    "split brain": dict(kernel=drbd("split_brain_standalone", "torchio")),
}


@pytest.mark.parametrize("case", NOT_CONVERGED)
def test_a_grow_waits_for_both_nodes_connected_and_up_to_date_and_says_so(case):
    kernel = {"fiori": drbd("link_down_primary_wfconnection", "fiori") if case != "syncing" else CONVERGED["fiori"],
              "torchio": CONVERGED["torchio"]}
    for pair in (sides(LV_256, BEFORE, kernels=kernel, **NOT_CONVERGED[case]),
                 sides(LV_384, RESIZED, kernels=kernel, **NOT_CONVERGED[case])):
        grow = plan(LV_384, pair)
        assert not grow.has_steps, case
        assert "grows only while connected, Primary and UpToDate on both nodes" in grow.refusal
        assert "fiori: " in grow.refusal and "torchio: " in grow.refusal


@pytest.mark.parametrize("case", NOT_CONVERGED)
def test_a_node_away_stops_nothing_when_there_is_nothing_to_grow(case):
    pair = sides(LV_384, GROWN, kernels={"fiori": drbd("link_down_primary_wfconnection", "fiori"),
                                        "torchio": CONVERGED["torchio"]}, **NOT_CONVERGED[case])
    assert plan(LV_384, pair) == NOTHING


def test_a_blank_lv_being_brought_up_grows_before_create_md_not_here():
    down = {"fiori": None, "torchio": None}
    # Both new: the task grows the blank LVs with ensure_lv; nothing above them exists.
    assert plan(LV_384, sides(LV_256, VolumeSize(), kernels=down), creating={"torchio"}) == NOTHING
    # Neither up and not being created: data under them, a grow must wait.
    refused = plan(LV_384, sides(LV_256, VolumeSize(), kernels=down))
    assert "its LV on fiori, torchio is smaller" in refused.refusal


def test_every_plan_either_refuses_or_only_grows_every_short_lv():
    """Every combination of stages and states: a plan with steps never
    comes with a refusal, extends exactly the LVs left short, and never
    grows the filesystem on a device that is not growing or grown."""
    stages = [(LV_256, BEFORE), (LV_384, BEFORE), (LV_384, RESIZED), (LV_384, GROWN)]
    kernels = [CONVERGED["torchio"], None, *(k["kernel"] for k in NOT_CONVERGED.values() if k["kernel"])]
    for (a, b, k, wanted) in itertools.product(stages, stages, kernels, (LV_256, LV_384)):
        pair = (NodeView("fiori", lv_bytes=a[0], sizes=a[1], kernel=CONVERGED["fiori"], extent_bytes=EXTENT),
                NodeView("torchio", lv_bytes=b[0], sizes=b[1], kernel=k, extent_bytes=EXTENT))
        grow = plan(wanted, pair)
        assert not (grow.has_steps and grow.refusal)
        if grow.has_steps:
            assert k is not None and k.is_converged
            assert set(grow.lvextend_on) == {s.node for s in pair if s.lv_bytes + EXTENT <= wanted}
        if grow.grow_filesystem_on and not grow.resize_on:
            assert min(a[1].device_bytes, b[1].device_bytes) > min(a[1].filesystem_bytes, b[1].filesystem_bytes)


def test_a_grow_the_volume_group_cannot_hold_is_refused_before_either_lv_grows():
    # torchio's VG has 64 MiB free, the grow needs 128 MiB there (fiori: plenty).
    pair = sides(LV_256, BEFORE, vg_free_bytes=64 * MIB)
    grow = plan(LV_384, pair)
    assert not grow.has_steps
    assert grow.refusal == ("drbd_small: size 384m needs 128 MiB more on torchio, whose volume group has 64 MiB "
                            "free. Add space to the volume group (pvcreate, vgextend) or choose a smaller size. "
                            "Nothing was changed.")
    # Exactly enough is enough; a node whose LV is grown already needs none.
    assert plan(LV_384, sides(LV_256, BEFORE, vg_free_bytes=128 * MIB)).lvextend_on == ("fiori", "torchio")
    assert plan(LV_384, sides(LV_256, BEFORE, lv_bytes=LV_384, vg_free_bytes=0)).lvextend_on == ("fiori",)


def test_the_deploy_grows_the_lvs_before_drbd_and_drbd_before_the_filesystem():
    # pyinfra runs a deploy's operations in the order the code emits them:
    # the LVs' step, then DRBD's resize (tasks/drbd.py), then the
    # filesystem's (tasks/ocfs2.py, a later task of deploy.py).
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    drbd = (root / "tasks/drbd.py").read_text()
    assert 0 < drbd.index("grow.lvextend_on, f\"{AREA}: {res}: grow LV") < drbd.index("grow the DRBD device")
    deploy = (root / "deploy.py").read_text()
    assert deploy.index('"drbd", "ocfs2"') > 0
    assert "grow_filesystem_on" in (root / "tasks/ocfs2.py").read_text()
