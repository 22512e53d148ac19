"""What stands in the way of retiring a volume (twonode/retire.py), on the
example cluster: every refusal names the obstacle and the fix."""

from pathlib import Path

import pytest

from captured import lines
from facts.drbd import parse_proc_drbd
from twonode.loader import load_cluster
from twonode.retire import RetireSide, fstab_mount_point, retire_problems, under

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = load_cluster(ROOT / "inventory.py", ROOT)
UP = parse_proc_drbd("\n".join(lines("drbd84/connected_primary_primary_fiori__proc_drbd.txt")))[0]


def both(**kwargs):
    defaults = dict(configured=True, kernel=UP, mount_point="/vol/old", mounted=True)
    return tuple(RetireSide(n, **{**defaults, **kwargs}) for n in ("fiori", "torchio"))


def test_a_volume_out_of_group_data_and_unused_can_be_retired():
    assert retire_problems(EXAMPLE, "old", both()) == []
    # Half done (an earlier run stopped after the unmount on one node): still.
    half = (RetireSide("fiori", configured=True), both()[1])
    assert retire_problems(EXAMPLE, "old", half) == []


def test_a_volume_still_in_group_data_is_never_retired():
    [problem] = retire_problems(EXAMPLE, "pub", both(mount_point="/vol/pub"))
    assert "pub is still in group_data's replicated_volumes: remove it there first" in problem


def test_both_nodes_must_be_reachable():
    sides = (both()[0], RetireSide("torchio", reachable=False))
    assert retire_problems(EXAMPLE, "old", sides) == [
        "torchio cannot be reached: a volume is retired on both nodes at once"]


def test_nothing_to_retire_is_said():
    [problem] = retire_problems(EXAMPLE, "old", (RetireSide("fiori"), RetireSide("torchio")))
    assert "no node has a volume old" in problem and "nothing to retire" in problem


@pytest.mark.parametrize("mount_point, expected", [
    ("/vol/pub", ["group_data still exports /vol/pub, on old: remove the export first",
                  "group_data still has the pool isoimages on old (/vol/pub/computing/software/isoimages/os): "
                  "remove the pool first"]),
    ("/vol/vmpool0", ["group_data still has the pool vmpool0 on old (/vol/vmpool0): remove the pool first"]),
])
def test_exports_and_pools_left_in_group_data_on_the_volume_are_refused(mount_point, expected):
    assert retire_problems(EXAMPLE, "old", both(mount_point=mount_point)) == expected


def test_a_vm_or_an_admins_export_on_the_volume_is_refused_by_name():
    sides = (RetireSide("fiori", configured=True, mount_point="/vol/old",
                        vm_disks=(("web1", "/vol/old/web1.qcow2"),)),
             RetireSide("torchio", configured=True, mount_point="/vol/old",
                        admin_exports=("/vol/old/x 10.0.0.0/8(ro)",)))
    assert retire_problems(EXAMPLE, "old", sides) == [
        "fiori: VM web1 has its disk /vol/old/web1.qcow2 on old: move it to another volume or undefine it first",
        "torchio: /etc/exports exports from old (/vol/old/x 10.0.0.0/8(ro)): remove the line first",
    ]


def test_the_mount_point_is_the_deploys_fstab_line_for_the_device():
    fstab = ("# /etc/fstab", "/dev/vg0/local /vol/local xfs defaults 0 2",
             "/dev/drbd_old /vol/old ocfs2 noauto,_netdev 0 0")
    assert fstab_mount_point(fstab, "/dev/drbd_old") == "/vol/old"
    assert fstab_mount_point(fstab, "/dev/drbd_older") is None
    assert fstab_mount_point(None, "/dev/drbd_old") is None


def test_under_is_a_path_prefix_not_a_string_prefix():
    assert under("/vol/old", "/vol/old") and under("/vol/old/a", "/vol/old/")
    assert not under("/vol/older", "/vol/old")
