"""A node's server dies and is rebuilt, as production replaces one: torchio
loses power while both nodes write; fiori fences it and serves on alone.
The server comes back rebuilt: new blank disks (the installer's VG only)
and new NICs, so new MACs. The admin writes the new MACs into group_data
and runs the deploy, with fiori still writing.

The rebuilt system disk is the lab's provisioned one (bare Debian with the
deploy's packages, installed by the deploy's own operation): test_1 proves
the installation from bare Debian on both releases; here it would only
add ten minutes of package scripts under TCG to every CI run.
"""

import time

import pytest

from conftest import mount_id, variant, wait_until
from checkpoints import converged_problems, root_disk  # lab/checkpoints.py
from linkcut import acked, lost, start_writers, stop_writers  # lab/linkcut.py

NEW_MACS = {"eth1": "52:54:00:01:02:01", "eth2": "52:54:00:01:02:02"}  # lab.sh replace's
# The survivor's share: its mount (a new ID after any unmount), its exports.
SURVIVOR = mount_id("/vol/small") + "; exportfs -v"


def with_new_macs(c):
    next(n for n in c["nodes"] if n["name"] == "torchio")["nics"] = dict(NEW_MACS)


@pytest.fixture(scope="module")
def replaced(lab, tmp_path_factory):
    lab.restore("converged-small")
    lab.ssh("fiori", "head -c 16M /dev/urandom > /vol/small/known && sync")
    lab.known = lab.ssh("fiori", "sha256sum /vol/small/known").split()[0]
    lab.survivor = lab.ssh("fiori", SURVIVOR)
    lab.inventory = variant(tmp_path_factory.mktemp("macs"), with_new_macs)
    start_writers(lab.ssh)
    try:
        time.sleep(5)
        # What torchio acknowledged: its log goes with its root disk.
        lab.torchio_acked = acked(lab.ssh, "torchio")
        lab.kill("torchio")
        lost_at = time.time()
        # fiori fences torchio and o2cb calls it dead: then fiori writes again.
        wait_until(lambda: max((t for _, t in acked(lab.ssh, "fiori")), default=0) > lost_at + 5, timeout=300)
        result = lab.run("replace", "torchio", str(root_disk("provisioned")), timeout=900)
        assert result.returncode == 0, result.stderr
        t0 = time.monotonic()
        lab.run_ = lab.deploy(inventory=lab.inventory)
        lab.rejoin_seconds = time.monotonic() - t0
    finally:
        stop_writers(lab.ssh)
    time.sleep(3)
    return lab


def test_the_rebuilt_node_joins_from_the_survivor_and_ends_primary_and_mounted(replaced):
    lab = replaced
    assert lab.run_.returncode == 0, lab.run_
    for node in ("fiori", "torchio"):
        assert converged_problems(node, lab.ssh) == [], node
    # It synced from fiori, as the target: its metadata was new.
    log = lab.ssh("torchio", "dmesg | grep drbd_small")
    assert "Began resync as SyncTarget" in log, log
    print(f"\nrejoin of a rebuilt node (256 MiB volume): {lab.rejoin_seconds:.0f} s for the deploy")


def test_the_rebuilt_node_has_its_new_nics_under_the_old_names(replaced):
    links = replaced.ssh("torchio", "ip -o link show eth1; ip -o -4 addr show eth1")
    assert NEW_MACS["eth1"] in links and "192.168.3.7/24" in links, links


def test_every_acknowledged_write_and_the_checksum_are_on_both_nodes(replaced):
    lab = replaced
    for node in ("fiori", "torchio"):
        assert lab.ssh(node, "sha256sum /vol/small/known").split()[0] == lab.known
    # fiori's writes, read on the rebuilt node; torchio's, those it had
    # acknowledged a moment before its power loss, read on fiori.
    assert lost(lab.ssh, "fiori", "torchio") == []
    assert lab.torchio_acked and lost(lab.ssh, "torchio", "fiori", lab.torchio_acked) == []


def test_the_survivor_was_never_unmounted_demoted_or_unexported(replaced):
    lab = replaced
    assert lab.ssh("fiori", SURVIVOR) == lab.survivor
    assert "Primary -> Secondary" not in lab.ssh("fiori", "dmesg | grep 'drbd_small.*role(' || true")


def test_then_nothing_changes(replaced):
    again = replaced.deploy(inventory=replaced.inventory)
    assert again.returncode == 0 and again.changed_ops == [], again
