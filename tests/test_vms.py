"""Emptying a node (twonode/vms.py): nothing moves unless everything can,
and a second run finds nothing to move. DRBD states are the lab's
/proc/drbd (tests/fixtures/drbd84)."""

from pathlib import Path

import pytest

from facts.drbd import DrbdResources
from facts.libvirt import Domain
from twonode.loader import load_cluster
from twonode.vms import Move, peer_problems, plan_moves

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
SMALL = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
MOUNTED = {"/vol/small": {"type": "ocfs2"}}


def drbd(name: str) -> dict:
    proc = (FIX / "drbd84" / f"{name}__proc_drbd.txt").read_text().splitlines()
    show = (FIX / "drbd84" / f"{name}__drbdsetup_show.txt").read_text().splitlines()
    return DrbdResources().process(["@@proc", *proc, "@@json", "@@show", *show, "@@dmesg"])


CONVERGED = {"fiori": drbd("connected_primary_primary_fiori"), "torchio": drbd("connected_primary_primary_torchio")}


def vm(name="tiny", state="running", disk="/vol/small/vms/tiny.qcow2") -> Domain:
    return Domain(name=name, state=state, persistent=True, autostart=False, disks=(disk,))


def test_every_running_vm_moves_with_its_definition_over_the_cluster_names():
    here = {"tiny": vm(), "web": vm("web", disk="/vol/small/vms/web.qcow2"), "off": vm("off", "shut off")}
    moves, problems = plan_moves(SMALL, "fiori", "torchio", here, {})
    assert problems == [] and moves == [Move("tiny", "fiori", "torchio"), Move("web", "fiori", "torchio")]
    assert moves[0].command("-cluster") == (
        "virsh migrate --live --auto-converge --timeout 300 --timeout-suspend --persistent --undefinesource tiny "
        "qemu+ssh://torchio-cluster/system")


def test_a_second_run_finds_nothing_to_move():
    assert plan_moves(SMALL, "fiori", "torchio", {}, {"tiny": vm()}) == ([], [])
    assert plan_moves(SMALL, "fiori", "torchio", {}, {"tiny": vm()}, only="tiny") == ([], [])


def test_one_vm_with_a_local_disk_stops_every_move():
    here = {"tiny": vm(), "local": vm("local", disk="/var/lib/libvirt/images/local.qcow2")}
    moves, problems = plan_moves(SMALL, "fiori", "torchio", here, {})
    assert moves == []
    assert problems == ["VM local has a disk outside the replicated volumes (/var/lib/libvirt/images/local.qcow2): "
                        "it cannot move; shut it down on fiori, or move its disk to a replicated volume"]


def test_an_unknown_vm_is_named_with_the_known_ones():
    moves, problems = plan_moves(SMALL, "fiori", "torchio", {"tiny": vm()}, {}, only="tinny")
    assert moves == [] and problems == ["there is no VM 'tinny' on fiori (VMs on the nodes: tiny)"]


def test_a_vm_running_on_both_nodes_moves_nowhere():
    moves, problems = plan_moves(SMALL, "fiori", "torchio", {"tiny": vm()}, {"tiny": vm()})
    assert moves == [] and "runs on both nodes" in problems[0]


def test_a_healthy_peer_has_no_problem():
    assert peer_problems(SMALL, "torchio", True, CONVERGED, MOUNTED, True) == []


@pytest.mark.parametrize("change, expected", [
    (dict(reachable=False), "torchio cannot be reached"),
    (dict(mounts={}), "/vol/small is not mounted on torchio"),
    (dict(leases=False), "torchio has no VM leases"),
    (dict(drbd={**CONVERGED, "torchio": drbd("link_down_primary_wfconnection_torchio")}),
     "drbd_small on torchio is WFConnection Primary/Unknown UpToDate/DUnknown, not Connected Primary/Primary"),
    (dict(drbd={**CONVERGED, "torchio": {}}), "drbd_small is down on torchio"),
])
def test_an_unhealthy_peer_is_named_with_why(change, expected):
    args = dict(reachable=True, drbd=CONVERGED, mounts=MOUNTED, leases=True) | change
    problems = peer_problems(SMALL, "torchio", args["reachable"], args["drbd"], args["mounts"], args["leases"])
    assert any(p.startswith(expected) for p in problems), problems


def test_in_a_half_upgraded_pair_vms_move_to_the_newer_release_only():
    from twonode.releases import BOOKWORM, TRIXIE
    from twonode.vms import release_problem

    assert release_problem("fiori", BOOKWORM, "torchio", TRIXIE) is None
    assert release_problem("fiori", TRIXIE, "torchio", TRIXIE) is None
    backwards = release_problem("fiori", TRIXIE, "torchio", BOOKWORM)
    assert "fiori runs Debian 13 (trixie) and torchio Debian 12 (bookworm)" in backwards
    assert "upgrade torchio too" in backwards
    # It is one of the peer's problems: nothing moves.
    assert peer_problems(SMALL, "torchio", True, CONVERGED, MOUNTED, True, backwards) == [backwards]
