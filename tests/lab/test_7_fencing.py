"""Fencing: the cluster link cut under load, on both nodes at once.

Both nodes have /vol/small mounted and a writer each, logging every
acknowledged (fsync'd) write to the node's own root disk. The link stays
down 125 s (longer than o2cb takes to call a node dead). Exactly one node
must serve throughout; the other is powered off by the survivor's fence
agent through the lab BMC and boots while the link is still down: it waits
Secondary and unmounted, fences nobody, the status shows it waiting, and
it joins by itself when the link returns; no split
brain; every acknowledged write of either node is there.
"""

import re
import time

import pytest

from conftest import SMALL, measurements, proc_drbd_states, wait_until
from checkpoints import converged_problems  # lab/checkpoints.py
from linkcut import (acked, boot_id, cut_link, longest_pause, lost, start_writers, stop_writers,  # lab/linkcut.py
                     waits_for_peer)

CUT_SECONDS = 125  # longer than o2cb takes to call a node dead, and the fenced node to boot


@pytest.fixture(scope="module")
def cut(lab):
    lab.restore("converged-small")
    before = lab.bmc_actions()
    lab.boots = {node: boot_id(lab.ssh, node) for node in ("fiori", "torchio")}
    start_writers(lab.ssh)
    time.sleep(20)
    cut_link(lab.ssh)
    lab.cut_at = time.time()
    # torchio, fenced, boots while fiori's end of the link is still down.
    wait_until(lambda: boot_id(lab.ssh, "torchio") != lab.boots["torchio"] and waits_for_peer(lab.ssh, "torchio"),
               timeout=600)
    time.sleep(20)  # well past where the old degr-wfc-timeout promoted a lone node
    lab.waiting = {
        "drbd": proc_drbd_states(lab.ssh("torchio", "cat /proc/drbd")),
        "mounts": lab.ssh("torchio", "findmnt -n -o TARGET -t ocfs2 || true"),
        "status": lab.pyinfra("tasks/status.py", inventory=SMALL).output,
        "fence handler": lab.ssh("torchio", "journalctl -q -b -t twonode-fence --no-pager -o cat"),
    }
    time.sleep(max(0.0, lab.cut_at + CUT_SECONDS - time.time()))
    # Only fiori's end is down now: torchio's came up with its boot.
    lab.ssh("fiori", "ip link set eth1 up")
    lab.bmc_requests = lab.bmc_actions()[len(before):]
    return lab


def test_exactly_one_node_served_and_the_other_was_powered_off_by_it(cut):
    assert re.search(r"torchio ForceOff requested", cut.bmc_requests), cut.bmc_requests
    assert "fiori ForceOff" not in cut.bmc_requests, cut.bmc_requests
    assert boot_id(cut.ssh, "fiori") == cut.boots["fiori"]
    assert "fenced-peer drbd_small" in cut.ssh("fiori", "cat /var/lib/twonode/events")
    # fiori went on writing while torchio was away.
    during = [n for n, t in acked(cut.ssh, "fiori") if cut.cut_at + 60 < t < cut.cut_at + CUT_SECONDS]
    assert during, "fiori acknowledged no write during the cut"


def test_the_fenced_node_booted_with_the_link_down_and_waited(cut):
    # Secondary, unmounted, not Primary on its own (DRBD's become-primary-on
    # both would promote it after degr-wfc-timeout, and it would mount
    # alone), and the status says why and what the operator may do.
    assert cut.waiting["drbd"] in ([("WFConnection", "Secondary/Unknown", "Consistent/DUnknown")],
                                   [("WFConnection", "Secondary/Unknown", "UpToDate/DUnknown")]), cut.waiting
    assert "/vol/small" not in cut.waiting["mounts"], cut.waiting
    assert "torchio waits for fiori (Secondary, not mounted): drbd_small." in cut.waiting["status"], cut.waiting
    assert "on torchio: twonode-activate --alone" in cut.waiting["status"], cut.waiting
    # It tried to fence nobody: its fence-peer handler never ran this boot.
    assert cut.waiting["fence handler"].strip() == "", cut.waiting


def test_the_fenced_node_came_back_and_joined_by_itself(cut):
    wait_until(lambda: not converged_problems("torchio", cut.ssh), timeout=600)
    assert boot_id(cut.ssh, "torchio") != cut.boots["torchio"]
    for node in ("fiori", "torchio"):
        assert "Split-Brain" not in cut.ssh(node, "dmesg"), node


def test_every_acknowledged_write_survived(cut):
    stop_writers(cut.ssh)
    time.sleep(3)
    missing = {node: lost(cut.ssh, node) for node in ("fiori", "torchio")}
    assert all(acked(cut.ssh, node) for node in ("fiori", "torchio"))
    # The freeze fiori's writer saw (a benchmark figure, not a limit).
    times = [t for _, t in acked(cut.ssh, "fiori")]
    measurements.append(
        f"test_7 link cut: acknowledged writes {len(times)} on fiori, "
        f"{len(acked(cut.ssh, 'torchio'))} on torchio; lost {sum(map(len, missing.values()))}; "
        f"longest pause between two acknowledged writes on fiori (I/O frozen by fencing and o2cb): "
        f"{longest_pause(times):.0f} s")
    assert missing == {"fiori": [], "torchio": []}
