"""A split brain is detected, recorded and reported, and nothing is discarded,
not even when one node reconnects as Secondary (as every node does at boot).

Fencing is turned off first (a live change of group_data: fencing mode
"none"), as where it is disabled or failed. Both nodes Primary; the cluster
link is cut; each node writes its own data
to the device; the link comes back. DRBD's after-sb-2pri policy is
`disconnect`: both go StandAlone. The deploy must stop with a report, the
status must show the split brain with the recovery commands, and both
nodes' data must still be there. (The OCFS2 volume is unmounted first:
writing raw data under a mounted OCFS2 would test OCFS2's fencing instead.)
"""

import json
import re

import pytest

from conftest import proc_drbd_states

# The same cluster with fencing off: with fencing, the cut below ends with
# one node powered off (test_7), not in a split brain.
NOFENCE = "tests/lab/small_nofence/inventory.py"

DEV = "/dev/drbd_small"
# A 1 MiB region past OCFS2's first metadata, written by each node through
# DRBD, read back from the backing LV (same offset: DRBD's metadata is at
# its end), which a Secondary also lets read.
WRITE = f"head -c 1M /dev/urandom | dd of={DEV} bs=1M seek=100 oflag=direct status=none"
READ = "dd if=/dev/vg0/small bs=1M skip=100 count=1 iflag=direct status=none | sha256sum"


@pytest.fixture(scope="module")
def split(lab):
    lab.restore("converged-small")
    run = lab.deploy(inventory=NOFENCE)
    assert run.returncode == 0, run
    assert "fencing" not in lab.ssh("fiori", "drbdsetup show drbd_small"), "fencing still on"
    for node in ("fiori", "torchio"):
        lab.ssh(node, "umount /vol/small")
    for node in ("fiori", "torchio"):
        lab.ssh(node, "ip link set eth1 down")
    for node in ("fiori", "torchio"):
        lab.ssh(node, "i=0; until grep -q cs:WFConnection /proc/drbd; do i=$((i+1)); [ $i -lt 120 ]; sleep 1; done")
    sums = {}
    for node in ("fiori", "torchio"):
        lab.ssh(node, WRITE)
        sums[node] = lab.ssh(node, READ)
    assert sums["fiori"] != sums["torchio"]
    for node in ("fiori", "torchio"):
        lab.ssh(node, "ip link set eth1 up")
    for node in ("fiori", "torchio"):
        lab.ssh(node, "i=0; until grep -q cs:StandAlone /proc/drbd; do i=$((i+1)); [ $i -lt 180 ]; sleep 1; done")
    lab.sums = sums
    return lab


def test_both_nodes_standalone_with_split_brain_in_the_log(split):
    for node in ("fiori", "torchio"):
        states = proc_drbd_states(split.ssh(node, "cat /proc/drbd"))
        assert states[0][0] == "StandAlone", states
        assert "Split-Brain detected" in split.ssh(node, "dmesg")


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
    # What a boot does: torchio Secondary, then connecting. The seed's
    # after-sb-1pri discard-secondary threw torchio's changes away here
    # ("Split-Brain detected, 1 primaries, automatically solved").
    unresolved = "grep -c 'Split-Brain detected but unresolved'"
    before = int(split.ssh("torchio", f"dmesg | {unresolved}"))
    split.ssh("torchio", "drbdadm secondary drbd_small && drbdadm connect drbd_small")
    split.ssh("fiori", "drbdadm connect drbd_small")
    split.ssh("torchio", f"i=0; until [ $(dmesg | {unresolved}) -gt {before} ]; do "
                         "i=$((i+1)); [ $i -lt 120 ]; sleep 1; done")
    log = split.ssh("torchio", "dmesg")
    assert "automatically solved" not in log, log
    states = proc_drbd_states(split.ssh("torchio", "i=0; until grep -q cs:StandAlone /proc/drbd; do "
                                                   "i=$((i+1)); [ $i -lt 60 ]; sleep 1; done; cat /proc/drbd"))
    assert states == [("StandAlone", "Secondary/Unknown", "UpToDate/DUnknown")], states


def test_nothing_was_discarded(split):
    for node in ("fiori", "torchio"):
        assert split.ssh(node, READ) == split.sums[node]
