"""The DRBD bring-up planner, driven through every pair of node situations.

Each node is in one of the situations below (what the facts can show).
Every unordered pair, with the variants that can change the outcome (which
node is first where both are new, the operator's leave for a lone new
node), is planned and checked twice: against the procedure's outcome, a
table of the path for each pair of kinds of situation and the steps each
node takes, and against the rules that keep data safe. A few pairs are
then pinned to the exact path and steps the seed procedure prescribes, and
each hole a review found has its own test.
"""

import itertools

import pytest

from facts.blockdev import DeviceContents, Signature
from facts.drbd_metadata import INITIAL_UUID, DrbdMetadata
from facts.drbd_state import DrbdState
from twonode.planner import BringUpPath, Step, plan_resource
from twonode.sides import Content, NodeView, Presence, content_of

RES, DEV = "drbd_small", "/dev/vg0/small"
BLANK_LV = DeviceContents(exists=True)
XFS_LV = DeviceContents(exists=True, signatures=(Signature("xfs", "0x0"),))
DRBD_LV = DeviceContents(exists=True, signatures=(Signature("drbd", "0x3fff000"),))
XFS_AND_DRBD_LV = DeviceContents(exists=True, signatures=(Signature("xfs", "0x0"), Signature("drbd", "0x3fff000")))
OCFS2_LV = DeviceContents(exists=True, signatures=(Signature("ocfs2", "0x2000"), Signature("drbd", "0x3fff000")))
OCFS2_DEV = DeviceContents(exists=True, signatures=(Signature("ocfs2", "0x2000"),))
EXT4_DEV = DeviceContents(exists=True, signatures=(Signature("ext4", "0x438"),))
BLANK_DEV = DeviceContents(exists=True)
SECONDARY_DEV = DeviceContents(exists=True, error="wipefs: error: /dev/drbd_small: probing initialization failed")

# Generation identifiers, as get-gi prints them (tests/test_facts.py reads the real outputs).
NEVER_USED = DrbdMetadata(True, INITIAL_UUID, consistent=False)
WITH_DATA = DrbdMetadata(True, "2B9C6A1F3D5E7A01", consistent=True)
PARTIAL = DrbdMetadata(True, "0EB6334CE0A1C6C2", consistent=False)
UNREADABLE = DrbdMetadata(False, error="open(/dev/vg0/small) failed: Input/output error")
NO_MD = DrbdMetadata(False)


def kernel(role="Secondary", peer_role="Secondary", cs="Connected", ds="UpToDate", pds="UpToDate", sb=False,
           auth=False):
    return DrbdState(minor=0, resource=RES, role=role, peer_role=peer_role, connection=cs,
                     disk=ds, peer_disk=pds, split_brain=sb, auth_failed=auth)


def view(node, **kwargs):
    return NodeView(node, **kwargs)


# name -> (view factory, content it must be classified as; None: not seen)
SITUATIONS = {
    "unreachable": (lambda n: view(n, presence=Presence.UNREACHABLE), None),
    "excluded": (lambda n: view(n, presence=Presence.EXCLUDED), None),
    "no-lv": (lambda n: view(n), Content.BLANK),
    "blank-lv": (lambda n: view(n, backing=BLANK_LV, metadata=NO_MD), Content.BLANK),
    "foreign-xfs": (lambda n: view(n, backing=XFS_LV, metadata=NO_MD), Content.FOREIGN),
    "fresh-md-down": (lambda n: view(n, backing=DRBD_LV, metadata=NEVER_USED), Content.FRESH),
    "fresh-md-beside-xfs": (lambda n: view(n, backing=XFS_AND_DRBD_LV, metadata=NEVER_USED), Content.FOREIGN),
    "data-md-down": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA), Content.HAS_DATA),
    "partial-md-down": (lambda n: view(n, backing=OCFS2_LV, metadata=PARTIAL), Content.PARTIAL),
    "unreadable-md": (lambda n: view(n, backing=OCFS2_LV, metadata=UNREADABLE), Content.UNREADABLE),
    "up-fresh-pair": (lambda n: view(n, backing=DRBD_LV, metadata=NEVER_USED, device=SECONDARY_DEV,
                                     kernel=kernel(ds="Inconsistent", pds="Inconsistent")), Content.FRESH),
    "up-fresh-alone": (lambda n: view(n, backing=DRBD_LV, metadata=NEVER_USED, kernel=kernel(
        cs="WFConnection", peer_role="Unknown", ds="Inconsistent", pds="DUnknown")), Content.FRESH),
    # A joining node whose sync source went away mid-sync.
    "up-partial-alone": (lambda n: view(n, backing=OCFS2_LV, metadata=PARTIAL, device=SECONDARY_DEV, kernel=kernel(
        cs="WFConnection", peer_role="Unknown", ds="Inconsistent", pds="DUnknown")), Content.PARTIAL),
    # The same, with the identifiers not read: the kernel's word is not enough.
    "up-inconsistent-no-gi": (lambda n: view(n, backing=OCFS2_LV, kernel=kernel(
        cs="WFConnection", peer_role="Unknown", ds="Inconsistent", pds="DUnknown")), Content.PARTIAL),
    "up-converged": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, device=OCFS2_DEV,
                                    kernel=kernel("Primary", "Primary")), Content.HAS_DATA),
    "up-converged-unformatted": (lambda n: view(n, backing=DRBD_LV, metadata=WITH_DATA, device=BLANK_DEV,
                                                kernel=kernel("Primary", "Primary")), Content.HAS_DATA),
    "up-ext4-on-drbd": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, device=EXT4_DEV,
                                       kernel=kernel("Primary", "Primary")), Content.HAS_DATA),
    "up-primary-alone": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, device=OCFS2_DEV, kernel=kernel(
        "Primary", "Unknown", cs="WFConnection", pds="DUnknown")), Content.HAS_DATA),
    "up-secondary": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, device=SECONDARY_DEV,
                                    kernel=kernel()), Content.HAS_DATA),
    "up-sync-target": (lambda n: view(n, backing=OCFS2_LV, metadata=PARTIAL, device=SECONDARY_DEV, kernel=kernel(
        peer_role="Primary", cs="SyncTarget", ds="Inconsistent")), Content.HAS_DATA),
    "up-split-brain": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, kernel=kernel(
        "Primary", "Unknown", cs="StandAlone", pds="DUnknown", sb=True)), Content.HAS_DATA),
    "up-standalone": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, kernel=kernel(
        "Primary", "Unknown", cs="StandAlone", pds="DUnknown")), Content.HAS_DATA),
    # The peers' shared secrets differed when they last tried to connect
    # (tests/fixtures/facts/auth-failed_*): the one that served on, and the
    # one that came back.
    "up-auth-failed-primary": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, device=OCFS2_DEV, kernel=kernel(
        "Primary", "Unknown", cs="StandAlone", pds="Outdated", auth=True)), Content.HAS_DATA),
    "up-auth-failed-secondary": (lambda n: view(n, backing=OCFS2_LV, metadata=WITH_DATA, device=SECONDARY_DEV,
                                                kernel=kernel(cs="StandAlone", ds="Outdated", pds="DUnknown",
                                                              auth=True)), Content.HAS_DATA),
}
NEW = {Content.BLANK, Content.FRESH}

# --- The procedure's outcome for every pair -----------------------------------
# What each situation is, in the procedure's terms, and what bringing that
# node's side up takes (the seed: a blank LV is zeroed at its ends, then
# create-md and up; our own never-used metadata needs create-md and up; a
# side with data only up; a side already up nothing) and whether it is
# Primary already. Written from the situations' meaning, not read off the
# planner.
UP = (Step.UP,)
MD_UP = (Step.CREATE_MD, Step.UP)
WIPE_MD_UP = (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP)
TRAITS = {
    # situation: (kind, bring-up steps, already Primary)
    "unreachable": ("away", None, False),
    "excluded": ("left-out", None, False),
    "no-lv": ("new", WIPE_MD_UP, False),
    "blank-lv": ("new", WIPE_MD_UP, False),
    "foreign-xfs": ("foreign", None, False),
    "fresh-md-down": ("new", MD_UP, False),
    "fresh-md-beside-xfs": ("foreign", None, False),
    "data-md-down": ("data", UP, False),
    "partial-md-down": ("partial", UP, False),
    "unreadable-md": ("unreadable", None, False),
    "up-fresh-pair": ("new", (), False),
    "up-fresh-alone": ("new", (), False),
    "up-partial-alone": ("partial", (), False),
    "up-inconsistent-no-gi": ("partial", (), False),
    "up-converged": ("converged", (), True),
    "up-converged-unformatted": ("converged", (), True),
    "up-ext4-on-drbd": ("not-ocfs2", None, True),
    "up-primary-alone": ("data", (), True),
    "up-secondary": ("data", (), False),
    "up-sync-target": ("data", (), False),
    "up-split-brain": ("split-brain", None, True),
    "up-standalone": ("standalone", None, True),
    # StandAlone after a failed authentication: connected again by
    # tasks/drbd.py first, then a side with data like any other.
    "up-auth-failed-primary": ("data", (), True),
    "up-auth-failed-secondary": ("data", (), False),
}

P = BringUpPath
#: The path for each unordered pair of kinds. "alone?": first-alone if the
#: operator named the node that is new, refused otherwise.
OUTCOMES_TABLE = """
                 away     left-out  new        data      converged  partial  foreign  unreadable  not-ocfs2  split-brain  standalone
away             resume   resume    alone?     resume    resume     refuse   refuse   refuse      refuse     split-brain  standalone
left-out                  resume    refuse     resume    resume     refuse   refuse   refuse      refuse     split-brain  standalone
new                                 both-new   join      join       refuse   refuse   refuse      refuse     split-brain  standalone
data                                           resume    resume     join     refuse   refuse      refuse     split-brain  standalone
converged                                                converged  join     refuse   refuse      refuse     split-brain  standalone
partial                                                             refuse   refuse   refuse      refuse     split-brain  standalone
foreign                                                                      refuse   refuse      refuse     refuse       refuse
unreadable                                                                            refuse      refuse     refuse       refuse
not-ocfs2                                                                                         refuse     refuse       refuse
split-brain                                                                                                  split-brain  split-brain
standalone                                                                                                                standalone
"""


def _outcomes() -> dict[frozenset, str]:
    rows = [line.split() for line in OUTCOMES_TABLE.strip().splitlines()]
    kinds = rows[0]
    table = {}
    for i, (kind, *cells) in enumerate(rows[1:]):
        for other, cell in zip(kinds[i:], cells):
            table[frozenset((kind, other))] = cell
    return table


OUTCOMES = _outcomes()
UNSEEN = {"away", "left-out"}


def expected_path(a: str, b: str, alone: str | None) -> BringUpPath:
    cell = OUTCOMES[frozenset((TRAITS[a][0], TRAITS[b][0]))]
    if cell == "alone?":
        lone = "fiori" if TRAITS[a][0] == "new" else "torchio"
        return P.FIRST_ALONE if alone == lone else P.REFUSE
    return BringUpPath(cell)


def expected_steps(path: BringUpPath, node: str, situation: str, first: str) -> tuple[Step, ...]:
    _, bring_up, primary = TRAITS[situation]
    if path is P.BOTH_NEW:
        return bring_up + ((Step.NEW_UUID_CLEAR_BITMAP,) if node == first else ()) + (Step.PRIMARY,)
    if path is P.FIRST_ALONE:
        return bring_up + (Step.PRIMARY_FORCE,)
    return bring_up + (() if primary else (Step.PRIMARY,))


# Every unordered pair once (the plan does not depend on which argument a
# node is: checked below), with the variants that can change the outcome:
# which node is first where both are new, and the operator's leave for a
# lone new node.
PAIRS = list(itertools.combinations_with_replacement(SITUATIONS, 2))
CASES = [(a, b, "fiori", None) for a, b in PAIRS]
CASES += [(a, b, "torchio", None) for a, b in PAIRS if TRAITS[a][0] == TRAITS[b][0] == "new"]
CASES += [(a, b, "fiori", alone) for a, b in PAIRS for alone in ("fiori", "torchio")
          if {TRAITS[a][0], TRAITS[b][0]} & UNSEEN and {TRAITS[a][0], TRAITS[b][0]} & {"new"}]


def test_the_outcome_table_covers_every_kind_and_the_situations_are_what_they_say():
    kinds = {kind for kind, _, _ in TRAITS.values()}
    assert set(TRAITS) == set(SITUATIONS)
    assert {frozenset(pair) for pair in itertools.combinations_with_replacement(kinds, 2)} == set(OUTCOMES)
    for name, (kind, _, primary) in TRAITS.items():
        v = SITUATIONS[name][0]("fiori")
        assert (kind in UNSEEN) == (not v.reachable), name
        assert primary == (v.kernel is not None and v.kernel.is_primary), name


@pytest.mark.parametrize("a,b,first,alone", CASES, ids=[f"{a}+{b}-first:{f}-alone:{x}" for a, b, f, x in CASES])
def test_every_pair_takes_the_procedures_path_and_steps(a, b, first, alone):
    _, _, plan = plan_pair(a, b, first, alone)
    path = expected_path(a, b, alone)
    assert plan.path is path, plan.reason
    if plan.stops or path is P.CONVERGED:
        assert not plan.has_steps
        return
    expected = {node: expected_steps(path, node, situation, first)
                for node, situation in (("fiori", a), ("torchio", b)) if TRAITS[situation][0] not in UNSEEN}
    if path is P.RESUME and not expected:
        assert plan.steps == {}
        return
    assert plan.steps == expected
    if path is P.BOTH_NEW:
        assert plan.format_on == first and plan.is_new
    if path is P.FIRST_ALONE:
        assert plan.format_on == alone and plan.is_new


def plan_pair(a, b, first, alone=None):
    va, vb = SITUATIONS[a][0]("fiori"), SITUATIONS[b][0]("torchio")
    return va, vb, plan_resource(RES, DEV, va, vb, first, alone)


@pytest.mark.parametrize("name", SITUATIONS)
def test_content_classification(name):
    factory, expected = SITUATIONS[name]
    if expected is not None:
        assert content_of(factory("fiori")) is expected
    else:
        # A node the run cannot see: no content is read, no step planned,
        # and it is never taken for up.
        assert not factory("fiori").reachable
        _, _, plan = plan_pair(name, "up-converged", "fiori")
        assert "fiori" not in plan.steps and not plan.is_up_on("fiori") and plan.format_on != "fiori"


@pytest.mark.parametrize("a,b,first,alone", CASES, ids=[f"{a}+{b}-first:{f}-alone:{x}" for a, b, f, x in CASES])
def test_every_pair_is_safe(a, b, first, alone):
    va, vb, plan = plan_pair(a, b, first, alone)
    views = {v.node: v for v in (va, vb)}
    seen = [v for v in views.values() if v.reachable]
    contents = {v.node: content_of(v) for v in seen}

    # Only nodes this run sees get steps, or format.
    assert set(plan.steps) <= {v.node for v in seen}
    assert plan.format_on is None or plan.format_on in {v.node for v in seen}
    # Up: the situations whose kernel has the resource ("up-..."), if seen.
    assert plan.up_on == {node for node, name in (("fiori", a), ("torchio", b)) if name.startswith("up-")}

    # Unknown or foreign contents anywhere: refuse, and touch nothing.
    if Content.UNREADABLE in contents.values():
        assert plan.path is BringUpPath.REFUSE and not plan.steps and plan.format_on is None
        # Maybe this cluster's own data: never advise wiping it.
        assert "wipefs" not in plan.reason and "Do not wipe it" in plan.reason
        return
    if Content.FOREIGN in contents.values():
        assert plan.path is BringUpPath.REFUSE and not plan.steps and plan.format_on is None
        assert DEV in plan.reason and "xfs" in plan.reason
        return
    # Something other than OCFS2 on the DRBD device: never formatted or mounted.
    if any(v.device is not None and v.device.signatures and v.device.signatures[0].type == "ext4" for v in seen):
        assert plan.path is BringUpPath.REFUSE and "ext4" in plan.reason
        return
    # Split brain or StandAlone: reported, never acted on (after a failed
    # authentication: connected again by tasks/drbd.py, then as any other).
    if any(v.kernel is not None and v.kernel.is_standalone and not v.kernel.auth_failed for v in seen):
        assert plan.path in (BringUpPath.SPLIT_BRAIN, BringUpPath.STANDALONE) and not plan.steps
        return

    for node, steps in plan.steps.items():
        v, content = views[node], contents[node]
        # Destructive steps only where nothing but our own unused metadata is.
        if Step.WIPE_ENDS in steps:
            assert content is Content.BLANK
        if Step.CREATE_MD in steps:
            assert content in NEW and not v.is_up
        # A resource already up is never re-created or re-attached.
        if v.is_up:
            assert not {Step.WIPE_ENDS, Step.CREATE_MD, Step.UP} & set(steps)
        # Promotion is the last step (tasks/drbd.py waits for UpToDate in it).
        if Step.PRIMARY in steps:
            assert steps[-1] is Step.PRIMARY
        assert len(steps) == len(set(steps))

    # A partial copy is never forced, never declared in sync, and only
    # promoted after its sync from a complete copy finishes.
    for node, content in contents.items():
        if content is Content.PARTIAL:
            assert not {Step.PRIMARY_FORCE, Step.NEW_UUID_CLEAR_BITMAP} & set(plan.steps.get(node, ()))
            if Content.HAS_DATA not in contents.values():
                assert plan.path is BringUpPath.REFUSE and "partial copy" in plan.reason

    # Clearing the bitmap (skipping the sync) only when BOTH sides never held
    # data, and on exactly one node: the first.
    clearing = plan.nodes_with(Step.NEW_UUID_CLEAR_BITMAP)
    if clearing:
        assert len(seen) == 2 and set(contents.values()) <= NEW
        assert clearing == (first,)
    # Forcing primary only for a lone node that holds no data yet, that the
    # operator named, and whose peer is unreachable (not left out).
    forcing = plan.nodes_with(Step.PRIMARY_FORCE)
    if forcing:
        assert len(seen) == 1 and contents[forcing[0]] in NEW and forcing == (alone,)
        peer = vb if forcing[0] == "fiori" else va
        assert peer.presence is Presence.UNREACHABLE
    # A lone new node the operator did not name: refused, with the flag to use.
    if len(seen) == 1 and contents[seen[0].node] in NEW and alone != seen[0].node:
        assert plan.path is BringUpPath.REFUSE and not plan.steps
        peer = vb if seen[0].node == "fiori" else va
        assert ("--limit" if peer.presence is Presence.EXCLUDED else f"bring_up_alone={seen[0].node}") in plan.reason

    # One node formats, and only a device that is new in this run or reads blank.
    if plan.format_on is not None:
        fv = views[plan.format_on]
        assert plan.is_new or (fv.device is not None and fv.device.is_blank)
        if plan.is_new and len(seen) == 2:
            assert plan.format_on == first
    if plan.is_new:
        assert set(contents.values()) <= NEW

    # The plan does not depend on which argument a node was passed as.
    assert plan_resource(RES, DEV, vb, va, first, alone) == plan


@pytest.mark.parametrize("a,b", [("no-lv", "no-lv"), ("blank-lv", "no-lv"), ("fresh-md-down", "blank-lv")])
def test_both_new_follows_the_seed(a, b):
    _, _, plan = plan_pair(a, b, "fiori")
    assert plan.path is BringUpPath.BOTH_NEW and plan.is_new and plan.format_on == "fiori"
    assert plan.steps["fiori"][-2:] == (Step.NEW_UUID_CLEAR_BITMAP, Step.PRIMARY)
    assert plan.steps["torchio"][-1:] == (Step.PRIMARY,)
    assert Step.NEW_UUID_CLEAR_BITMAP not in plan.steps["torchio"]


def test_interrupted_both_new_resumes_with_the_bitmap_clear():
    _, _, plan = plan_pair("up-fresh-pair", "up-fresh-pair", "torchio")
    assert plan.path is BringUpPath.BOTH_NEW and plan.format_on == "torchio"
    assert plan.steps["torchio"] == (Step.NEW_UUID_CLEAR_BITMAP, Step.PRIMARY)
    assert plan.steps["fiori"] == (Step.PRIMARY,)


def test_interrupted_before_mkfs_formats_on_the_first_node_only():
    _, _, plan = plan_pair("up-converged-unformatted", "up-converged-unformatted", "torchio")
    assert plan.path is BringUpPath.CONVERGED and not plan.has_steps and plan.format_on == "torchio"


def test_first_node_alone_needs_the_operators_word():
    _, _, refused = plan_pair("no-lv", "unreachable", "fiori")
    assert refused.path is BringUpPath.REFUSE and not refused.steps
    assert "--data bring_up_alone=fiori" in refused.reason and "torchio cannot be reached" in refused.reason
    _, _, plan = plan_pair("no-lv", "unreachable", "fiori", alone="fiori")
    assert plan.path is BringUpPath.FIRST_ALONE and plan.format_on == "fiori" and plan.is_new
    assert plan.steps == {"fiori": (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP, Step.PRIMARY_FORCE)}


def test_leave_for_the_other_node_is_not_leave_for_this_one():
    _, _, plan = plan_pair("no-lv", "unreachable", "fiori", alone="torchio")
    assert plan.path is BringUpPath.REFUSE


def test_a_node_left_out_with_limit_is_never_taken_for_down():
    _, _, plan = plan_pair("no-lv", "excluded", "fiori", alone="fiori")
    assert plan.path is BringUpPath.REFUSE and "--limit" in plan.reason


def test_second_node_joins_and_waits_for_sync():
    _, _, plan = plan_pair("up-primary-alone", "no-lv", "fiori")
    assert plan.path is BringUpPath.JOIN and plan.format_on is None
    assert plan.steps["fiori"] == ()
    assert plan.steps["torchio"] == (Step.WIPE_ENDS, Step.CREATE_MD, Step.UP, Step.PRIMARY)


def test_half_synced_node_alone_is_never_promoted():
    # torchio was a SyncTarget when fiori went down.
    for alone in (None, "torchio"):
        _, _, plan = plan_pair("unreachable", "up-partial-alone", "fiori", alone)
        assert plan.path is BringUpPath.REFUSE and not plan.steps and plan.format_on is None
        assert "torchio holds only a partial copy" in plan.reason


def test_half_synced_node_resumes_its_sync_when_the_source_is_back():
    _, _, plan = plan_pair("data-md-down", "up-partial-alone", "fiori")
    assert plan.path is BringUpPath.JOIN
    assert plan.steps["torchio"] == (Step.PRIMARY,)
    assert plan.steps["fiori"] == (Step.UP, Step.PRIMARY)


def test_never_used_metadata_beside_a_filesystem_is_foreign():
    # An LV with XFS and create-md's metadata.
    _, _, plan = plan_pair("fresh-md-beside-xfs", "no-lv", "fiori")
    assert plan.path is BringUpPath.REFUSE and "beside DRBD metadata that never held replicated data" in plan.reason


def test_unreadable_metadata_is_refused_without_advice_to_wipe():
    _, _, plan = plan_pair("unreadable-md", "data-md-down", "fiori")
    assert plan.path is BringUpPath.REFUSE and "Input/output error" in plan.reason and "wipefs" not in plan.reason


def test_converged_does_nothing():
    _, _, plan = plan_pair("up-converged", "up-converged", "fiori")
    assert plan.path is BringUpPath.CONVERGED and not plan.has_steps and plan.format_on is None


def test_rebooted_node_is_brought_up_and_promoted():
    _, _, plan = plan_pair("up-primary-alone", "data-md-down", "fiori")
    assert plan.path is BringUpPath.RESUME
    assert plan.steps["torchio"] == (Step.UP, Step.PRIMARY)


def test_lone_node_with_data_is_not_forced():
    _, _, plan = plan_pair("data-md-down", "unreachable", "fiori")
    assert plan.path is BringUpPath.RESUME
    assert Step.PRIMARY_FORCE not in plan.steps["fiori"]


def test_after_a_failed_authentication_the_node_that_came_back_is_promoted_only_once_up_to_date():
    va, vb, plan = plan_pair("up-auth-failed-primary", "up-auth-failed-secondary", "fiori")
    assert not plan.stops and plan.path is BringUpPath.RESUME, plan.reason
    # Step.PRIMARY waits for UpToDate (its resync from fiori) before it promotes.
    assert plan.steps == {"fiori": (), "torchio": (Step.PRIMARY,)}
