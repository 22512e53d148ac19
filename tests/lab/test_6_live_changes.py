"""group_data changed on a live cluster, as an admin would edit it: the
deploy refuses what it cannot do safely, with the steps, and changes
nothing. Starts from the converged small cluster, volumes mounted.
"""

import runpy
import textwrap

import pytest

from conftest import ROOT, SMALL, proc_drbd_states


@pytest.fixture(scope="module")
def live(lab):
    lab.restore("converged-small")
    return lab


def variant(tmp_path, edit) -> str:
    """An inventory for the lab guests whose group_data is the small
    cluster's, edited by ``edit(cluster)``."""
    cluster = runpy.run_path(str(ROOT / "tests/lab/small/group_data/all.py"))["cluster"]
    edit(cluster)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(f"cluster = {cluster!r}\n")
    inventory = tmp_path / "inventory.py"
    inventory.write_text(textwrap.dedent("""\
        from twonode.lab import lab_hosts

        nodes = lab_hosts(__file__)
    """))
    return str(inventory)


def state(lab):
    """What a refused change must leave alone: DRBD states (not the I/O
    counters: the o2cb heartbeat writes all the time), mounts, cluster.conf
    and the resource file."""
    return {node: (proc_drbd_states(lab.ssh(node, "cat /proc/drbd")),
                   lab.ssh(node, "findmnt -n -o TARGET -t ocfs2; cat /etc/ocfs2/cluster.conf /etc/drbd.d/*.res"))
            for node in ("fiori", "torchio")}


def test_swapping_the_node_order_never_renumbers_a_live_o2cb(live, tmp_path):
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, lambda c: c["nodes"].reverse()))
    assert run.returncode != 0, run
    assert "o2cb runs with nodes 1:fiori@192.168.3.6:7777, 2:torchio@192.168.3.7:7777" in run.output, run
    assert "group_data gives 1:torchio@192.168.3.7:7777, 2:fiori@192.168.3.6:7777" in run.output, run
    assert "Beginning operation run" not in run.output, run
    assert state(live) == before


def test_removing_a_volume_from_group_data_tears_nothing_down(live, tmp_path):
    def remove_the_volume(c):
        c["replicated_volumes"] = []
        c["nfs"]["exports"] = []
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, remove_the_volume))
    assert run.returncode == 0, run
    assert "drbd_small is up but not in group_data: left as it is" in run.output, run
    assert state(live) == before
    for node in ("fiori", "torchio"):
        assert "/vol/small" in state(live)[node][1] and "resource drbd_small" in state(live)[node][1]


def test_the_volume_put_back_is_managed_again_and_then_nothing_changes(live):
    run = live.deploy(inventory=SMALL)
    assert run.returncode == 0 and "not in group_data" not in run.output, run
    assert "/vol/small/home" in live.ssh("fiori", "exportfs -v")
    again = live.deploy(inventory=SMALL)
    assert again.returncode == 0 and again.changed_ops == [], again
