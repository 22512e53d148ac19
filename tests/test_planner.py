"""The DRBD bring-up planner, driven through every pair of node situations.

Each node is in one of the situations below (what the facts can show);
every ordered pair, with either node named first, is planned and checked
against the rules that keep data safe. A few pairs are then pinned to the
exact path and steps the seed procedure prescribes.
"""

import itertools

import pytest

from facts.blockdev import DeviceContents, Signature
from facts.drbd import INITIAL_UUID, DrbdMetadata, DrbdState
from twonode.planner import Content, NodeView, Path, Step, content_of, plan_resource

RES, DEV = "drbd_small", "/dev/vg0/small"
BLANK_LV = DeviceContents(exists=True)
XFS_LV = DeviceContents(exists=True, signatures=(Signature("xfs", "0x0"),))
OCFS2_LV = DeviceContents(exists=True, signatures=(Signature("ocfs2", "0x2000"),))


def kernel(role="Secondary", peer_role="Secondary", cs="Connected", ds="UpToDate", pds="UpToDate", sb=False):
    return DrbdState(minor=0, resource=RES, role=role, peer_role=peer_role, connection=cs,
                     disk=ds, peer_disk=pds, split_brain=sb)


# name -> (view factory, content it must be classified as; None: unreachable)
SITUATIONS = {
    "unreachable": (lambda n: NodeView(n, reachable=False), None),
    "no-lv": (lambda n: NodeView(n), Content.BLANK),
    "blank-lv": (lambda n: NodeView(n, backing=BLANK_LV, metadata=DrbdMetadata(False)), Content.BLANK),
    "foreign-xfs": (lambda n: NodeView(n, backing=XFS_LV, metadata=DrbdMetadata(False)), Content.FOREIGN),
    "fresh-md-down": (lambda n: NodeView(n, backing=BLANK_LV, metadata=DrbdMetadata(True, INITIAL_UUID)),
                      Content.FRESH),
    "data-md-down": (lambda n: NodeView(n, backing=OCFS2_LV, metadata=DrbdMetadata(True, "2B9C6A1F3D5E7A01")),
                     Content.HAS_DATA),
    "up-fresh-pair": (lambda n: NodeView(n, backing=BLANK_LV, kernel=kernel(ds="Inconsistent", pds="Inconsistent")),
                      Content.FRESH),
    "up-fresh-alone": (lambda n: NodeView(n, backing=BLANK_LV, kernel=kernel(
        cs="WFConnection", peer_role="Unknown", ds="Inconsistent", pds="DUnknown")), Content.FRESH),
    "up-converged": (lambda n: NodeView(n, backing=OCFS2_LV, kernel=kernel("Primary", "Primary")),
                     Content.HAS_DATA),
    "up-primary-alone": (lambda n: NodeView(n, backing=OCFS2_LV, kernel=kernel(
        "Primary", "Unknown", cs="WFConnection", pds="DUnknown")), Content.HAS_DATA),
    "up-secondary": (lambda n: NodeView(n, backing=OCFS2_LV, kernel=kernel()), Content.HAS_DATA),
    "up-sync-target": (lambda n: NodeView(n, backing=OCFS2_LV, kernel=kernel(
        peer_role="Primary", cs="SyncTarget", ds="Inconsistent")), Content.HAS_DATA),
    "up-split-brain": (lambda n: NodeView(n, backing=OCFS2_LV, kernel=kernel(
        "Primary", "Unknown", cs="StandAlone", pds="DUnknown", sb=True)), Content.HAS_DATA),
    "up-standalone": (lambda n: NodeView(n, backing=OCFS2_LV, kernel=kernel(
        "Primary", "Unknown", cs="StandAlone", pds="DUnknown")), Content.HAS_DATA),
}
PAIRS = [(a, b, first) for a, b in itertools.product(SITUATIONS, repeat=2) for first in ("fiori", "torchio")]
NEW = {Content.BLANK, Content.FRESH}


def plan_pair(a, b, first):
    va, vb = SITUATIONS[a][0]("fiori"), SITUATIONS[b][0]("torchio")
    return va, vb, plan_resource(RES, DEV, va, vb, first)


@pytest.mark.parametrize("name", SITUATIONS)
def test_content_classification(name):
    factory, expected = SITUATIONS[name]
    if expected is not None:
        assert content_of(factory("fiori")) is expected


@pytest.mark.parametrize("a,b,first", PAIRS, ids=[f"{a}+{b}-first:{f}" for a, b, f in PAIRS])
def test_every_pair_is_safe(a, b, first):
    va, vb, plan = plan_pair(a, b, first)
    views = {v.node: v for v in (va, vb)}
    reachable = [v for v in views.values() if v.reachable]
    contents = {v.node: content_of(v) for v in reachable}

    # Only reachable nodes get steps.
    assert set(plan.steps) <= {v.node for v in reachable}

    # Foreign data anywhere: refuse, and touch nothing on either node.
    if Content.FOREIGN in contents.values():
        assert plan.path is Path.REFUSE and not plan.steps
        assert DEV in plan.reason and "xfs" in plan.reason
        return
    # Split brain or StandAlone: reported, never acted on.
    if any(v.kernel is not None and v.kernel.is_standalone for v in reachable):
        assert plan.path in (Path.SPLIT_BRAIN, Path.STANDALONE) and not plan.steps
        return

    for node, steps in plan.steps.items():
        view, content = views[node], contents[node]
        # Destructive steps only where nothing but our own unused metadata is.
        if Step.WIPE_ENDS in steps:
            assert content is Content.BLANK
        if Step.CREATE_MD in steps:
            assert content in NEW and not view.is_up
        # A resource already up is never re-created or re-attached.
        if view.is_up:
            assert not {Step.WIPE_ENDS, Step.CREATE_MD, Step.UP} & set(steps)
        # Promotion only after waiting for UpToDate, unless forced alone.
        if Step.PRIMARY in steps:
            assert steps.index(Step.WAIT_UPTODATE) < steps.index(Step.PRIMARY)
        assert len(steps) == len(set(steps))

    # Clearing the bitmap (skipping the sync) only when BOTH sides never held
    # data, and on exactly one node: the first.
    clearing = [n for n, s in plan.steps.items() if Step.NEW_UUID_CLEAR_BITMAP in s]
    if clearing:
        assert len(reachable) == 2 and set(contents.values()) <= NEW
        assert clearing == [first]
    # Forcing primary only for a lone node that holds no data yet.
    forcing = [n for n, s in plan.steps.items() if Step.PRIMARY_FORCE in s]
    if forcing:
        assert len(reachable) == 1 and contents[forcing[0]] in NEW

    # The plan does not depend on which argument a node was passed as.
    assert plan_resource(RES, DEV, vb, va, first) == plan


@pytest.mark.parametrize("a,b", [("no-lv", "no-lv"), ("blank-lv", "no-lv"), ("fresh-md-down", "blank-lv")])
def test_both_new_follows_the_seed(a, b):
    _, _, plan = plan_pair(a, b, "fiori")
    assert plan.path is Path.BOTH_NEW
    assert plan.steps["fiori"][-3:] == (Step.NEW_UUID_CLEAR_BITMAP, Step.WAIT_UPTODATE, Step.PRIMARY)
    assert plan.steps["torchio"][-2:] == (Step.WAIT_UPTODATE, Step.PRIMARY)
    assert Step.NEW_UUID_CLEAR_BITMAP not in plan.steps["torchio"]


def test_interrupted_both_new_resumes_with_the_bitmap_clear():
    _, _, plan = plan_pair("up-fresh-pair", "up-fresh-pair", "torchio")
    assert plan.path is Path.BOTH_NEW
    assert plan.steps["torchio"] == (Step.NEW_UUID_CLEAR_BITMAP, Step.WAIT_UPTODATE, Step.PRIMARY)
    assert plan.steps["fiori"] == (Step.WAIT_UPTODATE, Step.PRIMARY)


def test_first_node_alone_forces_primary():
    _, _, plan = plan_pair("no-lv", "unreachable", "fiori")
    assert plan.path is Path.FIRST_ALONE
    assert plan.steps == {"fiori": (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP, Step.PRIMARY_FORCE)}


def test_second_node_joins_and_waits_for_sync():
    _, _, plan = plan_pair("up-primary-alone", "no-lv", "fiori")
    assert plan.path is Path.JOIN
    assert plan.steps["fiori"] == ()
    assert plan.steps["torchio"] == (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP, Step.WAIT_UPTODATE, Step.PRIMARY)


def test_converged_does_nothing():
    _, _, plan = plan_pair("up-converged", "up-converged", "fiori")
    assert plan.path is Path.CONVERGED and not any(plan.steps.values())


def test_rebooted_node_is_brought_up_and_promoted():
    _, _, plan = plan_pair("up-primary-alone", "data-md-down", "fiori")
    assert plan.path is Path.RESUME
    assert plan.steps["torchio"] == (Step.UP, Step.WAIT_UPTODATE, Step.PRIMARY)


def test_lone_node_with_data_is_not_forced():
    _, _, plan = plan_pair("data-md-down", "unreachable", "fiori")
    assert plan.path is Path.RESUME
    assert Step.PRIMARY_FORCE not in plan.steps["fiori"]
