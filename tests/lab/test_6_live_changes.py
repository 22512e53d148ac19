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


def test_a_release_twonode_does_not_know_is_refused_before_anything_runs(live, tmp_path):
    # fiori as the next Debian testing would say it is (no VERSION_ID), and
    # a group_data change pending: nothing of it may reach either node.
    live.ssh("fiori", "cp /etc/os-release /root/os-release.lab && "
                      "sed -i 's/trixie/forky/g; s/bookworm/forky/g; /^VERSION_ID=/d' /etc/os-release")
    try:
        before = state(live)
        export = {"path": "/vol/small/pending", "clients": [{"host": "192.168.10.0/24", "options": ["ro"]}]}
        run = live.deploy(inventory=variant(tmp_path, lambda c: c["nfs"]["exports"].append(export)))
        assert run.returncode != 0, run
        assert "fiori: it runs Debian GNU/Linux" in run.output and "VERSION_CODENAME=forky" in run.output, run
        assert "twonode deploys Debian 12 (bookworm) and Debian 13 (trixie) only" in run.output, run
        assert "Beginning operation run" not in run.output, run
        assert state(live) == before
        for node in ("fiori", "torchio"):  # not even on the node twonode knows
            assert live.ssh(node, "test -e /vol/small/pending && echo there || echo absent").strip() == "absent"
    finally:
        live.ssh("fiori", "mv /root/os-release.lab /etc/os-release")
    again = live.deploy(inventory=SMALL)
    assert again.returncode == 0 and again.changed_ops == [], again


NEW_VOLUME = {"name": "new", "size": "256m", "mount_point": "/vol/new", "fs_type": "mail",
              "minor": 1, "port": 7791}


def test_never_used_metadata_beside_a_filesystem_is_refused(live, tmp_path):
    # Somebody's XFS on an LV (smaller than the LV, as after an lvextend,
    # so drbdmeta's own check lets it through), then create-md over it: its
    # identifiers say "never used", which alone would pass for a new side.
    for node in ("fiori", "torchio"):
        live.ssh(node, "lvcreate -q -y -L 320m -n extra vg0 && mkfs.xfs -q -d size=300m /dev/vg0/extra && "
                       "drbdmeta --force 9 v08 /dev/vg0/extra internal create-md >/dev/null 2>&1")
    signatures = live.ssh("fiori", "wipefs --no-act --noheadings /dev/vg0/extra")
    assert "xfs" in signatures and "drbd" in signatures, signatures
    extra = dict(NEW_VOLUME, name="extra", mount_point="/vol/extra", minor=9, port=7799, size="320m")
    run = live.deploy(inventory=variant(tmp_path, lambda c: c["replicated_volumes"].append(extra)))
    assert run.returncode != 0, run
    assert "beside DRBD metadata that never held replicated data" in run.output, run
    assert "Beginning operation run" not in run.output, run
    assert live.ssh("fiori", "wipefs --no-act --noheadings /dev/vg0/extra") == signatures
    for node in ("fiori", "torchio"):
        live.ssh(node, "lvremove -q -y vg0/extra")


RECONNECTS = "dmesg | grep -c 'drbd_small: conn(' || true"


def test_a_volume_inserted_at_the_top_leaves_the_live_one_alone(live, tmp_path):
    resfile = {node: live.ssh(node, "sha256sum /etc/drbd.d/drbd_small.res") for node in ("fiori", "torchio")}
    reconnects = {node: live.ssh(node, RECONNECTS) for node in ("fiori", "torchio")}
    run = live.deploy(inventory=variant(tmp_path, lambda c: c["replicated_volumes"].insert(0, NEW_VOLUME)))
    assert run.returncode == 0, run
    assert not [op for op in run.started_ops if "drbd_small" in op], run.started_ops
    for node in ("fiori", "torchio"):
        assert live.ssh(node, "sha256sum /etc/drbd.d/drbd_small.res") == resfile[node]
        states = proc_drbd_states(live.ssh(node, "cat /proc/drbd"))
        assert states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] * 2, states
        assert {"/vol/small", "/vol/new"} <= set(live.ssh(node, "findmnt -n -o TARGET -t ocfs2").split())
        # drbd_small never left Connected: no adjust, no reconnect.
        assert live.ssh(node, RECONNECTS) == reconnects[node]


def with_new_volume(c):
    c["replicated_volumes"].insert(0, NEW_VOLUME)


def test_removing_a_volume_from_group_data_tears_nothing_down(live, tmp_path):
    def remove_the_volumes(c):
        c["replicated_volumes"] = []
        c["nfs"]["exports"] = []
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, remove_the_volumes))
    assert run.returncode == 0, run
    for name in ("drbd_small", "drbd_new"):
        assert f"{name} is up but not in group_data: left as it is" in run.output, run
    assert state(live) == before
    for node in ("fiori", "torchio"):
        assert "/vol/small" in state(live)[node][1] and "resource drbd_small" in state(live)[node][1]


def test_the_volumes_put_back_are_managed_again_and_then_nothing_changes(live, tmp_path):
    inventory = variant(tmp_path, with_new_volume)
    run = live.deploy(inventory=inventory)
    assert run.returncode == 0 and "not in group_data" not in run.output, run
    assert "/vol/small/home" in live.ssh("fiori", "exportfs -v")
    again = live.deploy(inventory=inventory)
    assert again.returncode == 0 and again.changed_ops == [], again
