"""A split brain is detected, recorded and reported, and nothing is discarded,
not even when one node reconnects as Secondary (as every node does at boot).

Fencing is turned off first (a live change of group_data: fencing mode
"none"), as where it is disabled or failed. Both nodes Primary, /vol/small
mounted on both, a writer on each; the cluster link loses its carrier on
both nodes from the host (a switch or cable failure). With no fence, DRBD
keeps writing on both sides; o2cb on each node calls the other dead (about
a minute), replays its journal and lets the writers go on: the two copies
part. The link comes back: DRBD's after-sb-2pri policy is `disconnect`, so
both go StandAlone and keep serving. The deploy must stop with a report,
the status must show the split brain with the recovery commands, and every
write either node acknowledged must still be on that node's copy.
"""

import json
import re
import time

import pytest

from conftest import measurements, proc_drbd_states, wait_until
from linkcut import acked, longest_pause, lost, start_writers, stop_writers  # lab/linkcut.py

# The same cluster with fencing off: with fencing, the cut below ends with
# one node powered off (test_7), not in a split brain.
NOFENCE = "tests/lab/small_nofence/inventory.py"

NODES = ("fiori", "torchio")


def wrote_since(lab, node: str, moment: float) -> bool:
    return max((t for _, t in acked(lab.ssh, node)), default=0) > moment


@pytest.fixture(scope="module")
def split(lab):
    lab.restore("converged-small")
    run = lab.deploy(inventory=NOFENCE)
    assert run.returncode == 0, run
    assert "fencing" not in lab.ssh("fiori", "drbdsetup show drbd_small"), "fencing still on"
    start_writers(lab.ssh)
    time.sleep(10)
    for node in NODES:
        assert lab.run("link", node, "down").returncode == 0
    lab.cut_at = time.time()
    # Each node goes on writing alone once o2cb has called the other dead.
    wait_until(lambda: all(wrote_since(lab, n, lab.cut_at + 5) for n in NODES), timeout=420)
    time.sleep(10)
    for node in NODES:
        assert lab.run("link", node, "up").returncode == 0
    lab.back_at = time.time()
    for node in NODES:
        lab.ssh(node, "i=0; until grep -q cs:StandAlone /proc/drbd; do i=$((i+1)); [ $i -lt 180 ]; sleep 1; done")
    # Both serve on after the split is found.
    wait_until(lambda: all(wrote_since(lab, n, lab.back_at + 5) for n in NODES), timeout=120)
    stop_writers(lab.ssh)
    time.sleep(3)
    lab.acked = {node: acked(lab.ssh, node) for node in NODES}
    for node in NODES:
        times = [t for _, t in lab.acked[node]]
        measurements.append(f"test_3 link cut without fencing: longest pause between two acknowledged writes "
                            f"on {node}: {longest_pause(times):.0f} s")
    return lab


def test_both_nodes_standalone_with_split_brain_in_the_log(split):
    for node in NODES:
        states = proc_drbd_states(split.ssh(node, "cat /proc/drbd"))
        assert states == [("StandAlone", "Primary/Unknown", "UpToDate/DUnknown")], states
        assert "Split-Brain detected but unresolved" in split.ssh(node, "dmesg")
        assert "/vol/small" in split.ssh(node, "findmnt -n -o TARGET -t ocfs2")


def test_deploy_stops_with_a_report(split):
    run = split.deploy(inventory=NOFENCE)
    assert run.returncode != 0
    assert "split brain on" in run.output and "Nothing is discarded automatically" in run.output, run
    assert "Beginning operation run" not in run.output


def test_status_reports_recovery_for_the_chosen_node(split):
    run = split.pyinfra("--data", "discard_node=torchio", "tasks/status.py", inventory=NOFENCE)
    assert run.returncode == 0, run
    assert "SPLIT BRAIN" in run.output
    assert "discard torchio's changes" in run.output and "discard fiori's changes" not in run.output
    assert "drbdadm connect --discard-my-data drbd_small" in run.output


def test_the_split_brain_is_recorded_on_both_nodes_without_mail(split):
    # No mail transport on the nodes: the journal and the event file tell.
    for node in ("fiori", "torchio"):
        assert "DRBD split-brain on drbd_small" in split.ssh(node, "journalctl -t twonode --no-pager")
        events = split.ssh(node, "cat /var/lib/twonode/events").split()
        assert events[1:] == [node, "split-brain", "drbd_small"], events
    run = split.pyinfra("tasks/status.py", inventory=NOFENCE)
    assert run.returncode == 0, run
    assert "DRBD events" in run.output, run.output
    for node in ("fiori", "torchio"):
        assert re.search(rf"^\S+Z\s+{node}\s+split-brain\s+drbd_small$", run.output, re.M), run.output


def test_the_status_for_machines_says_the_same_in_json(split):
    run = split.pyinfra("--data", "format=json", "tasks/status.py", inventory=NOFENCE)
    assert run.returncode == 0, run
    [line] = [text for text in run.output.splitlines() if text.startswith("{")]
    doc = json.loads(line)
    for node in ("fiori", "torchio"):
        [small] = [r for r in doc["resources"] if r["resource"] == "drbd_small" and r["node"] == node]
        assert (small["connection"], small["split_brain"]) == ("StandAlone", True), small
        assert doc["nodes"][node]["reachable"] and doc["nodes"][node]["o2cb"]["online"]
    assert sorted((e["node"], e["event"], e["resource"]) for e in doc["events"]) == [
        ("fiori", "split-brain", "drbd_small"), ("torchio", "split-brain", "drbd_small")]


def test_a_node_that_reconnects_as_secondary_keeps_its_changes(split):
    # What a boot does: torchio unmounted and Secondary, then connecting.
    # The seed's after-sb-1pri discard-secondary threw torchio's changes
    # away here ("Split-Brain detected, 1 primaries, automatically solved").
    # Its NFS server first, as a shutdown stops it: split from fiori with
    # fencing off, torchio took the lock too and serves from its own copy
    # (the status says BOTH), which keeps the volume busy.
    unresolved = "grep -c 'Split-Brain detected but unresolved'"
    before = int(split.ssh("torchio", f"dmesg | {unresolved}"))
    split.ssh("torchio", "systemctl stop twonode-nfs && umount /vol/small && drbdadm secondary drbd_small && "
                         "drbdadm connect drbd_small")
    split.ssh("fiori", "drbdadm connect drbd_small")
    split.ssh("torchio", f"i=0; until [ $(dmesg | {unresolved}) -gt {before} ]; do "
                         "i=$((i+1)); [ $i -lt 120 ]; sleep 1; done")
    log = split.ssh("torchio", "dmesg")
    assert "automatically solved" not in log, log
    states = proc_drbd_states(split.ssh("torchio", "i=0; until grep -q cs:StandAlone /proc/drbd; do "
                                                   "i=$((i+1)); [ $i -lt 60 ]; sleep 1; done; cat /proc/drbd"))
    assert states == [("StandAlone", "Secondary/Unknown", "UpToDate/DUnknown")], states
    # Still StandAlone: the operator may use its copy again.
    split.ssh("torchio", "drbdadm primary drbd_small && mount /vol/small && systemctl start twonode-nfs")


def test_nothing_was_discarded(split):
    # Every write a node acknowledged, before, during and after the split,
    # is on that node's own copy.
    for node in NODES:
        assert split.acked[node], node
        assert lost(split.ssh, node, reader=node, acknowledged=split.acked[node]) == [], node
