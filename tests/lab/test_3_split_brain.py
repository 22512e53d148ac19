"""A split brain is detected and reported, and nothing is discarded.

Both nodes Primary; the cluster link is cut; each node writes its own data
to the device; the link comes back. DRBD's after-sb-2pri policy is
`disconnect`: both go StandAlone. The deploy must stop with a report, the
status must show the split brain with the recovery commands, and both
nodes' data must still be there. (The OCFS2 volume is unmounted first:
writing raw data under a mounted OCFS2 would test OCFS2's fencing instead.)
"""

import pytest

from conftest import SMALL, proc_drbd_states

DEV = "/dev/drbd_small"
# A 1 MiB region past OCFS2's first metadata, written by each node.
WRITE = f"head -c 1M /dev/urandom | dd of={DEV} bs=1M seek=100 oflag=direct status=none"
READ = f"dd if={DEV} bs=1M skip=100 count=1 status=none | sha256sum"


@pytest.fixture(scope="module")
def split(lab):
    lab.restore("converged-small")
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
    run = split.deploy(inventory=SMALL)
    assert run.returncode != 0
    assert "split brain on" in run.output and "Nothing is discarded automatically" in run.output, run
    assert "Beginning operation run" not in run.output


def test_status_reports_recovery_for_the_chosen_node(split):
    run = split.pyinfra("--data", "discard_node=torchio", "tasks/status.py", inventory=SMALL)
    assert run.returncode == 0, run
    assert "SPLIT BRAIN" in run.output
    assert "discard torchio's changes" in run.output and "discard fiori's changes" not in run.output
    assert "drbdadm connect --discard-my-data drbd_small" in run.output


def test_nothing_was_discarded(split):
    for node in ("fiori", "torchio"):
        assert split.ssh(node, READ) == split.sums[node]
