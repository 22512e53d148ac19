"""Fencing: the cluster link cut under load, on both nodes at once.

Both nodes have /vol/small mounted and a writer each, logging every
acknowledged (fsync'd) write to the node's own root disk. The link stays
down 125 s (longer than o2cb takes to call a node dead). Exactly one node
must serve throughout; the other is powered off by the survivor's fence
agent through the lab BMC and boots while the link is still down: it waits
Secondary and unmounted, fences nobody, the status shows it waiting, and
it joins by itself when the link returns; no split
brain; every acknowledged write of either node is there.

Then (with TWONODE_FULL=1) first_node hangs: fiori's CPUs stop (QMP stop)
while both nodes write, and it stays powered, so torchio's agent has a real
power-off to do after race_delay (the small cluster's 20 s), and a slow
BMC: the agent is held for AGENT_HELD seconds, so that the fence lands
later than Debian's o2cb timeouts allow (about 34 s after the hang: o2net's
30-s idle timeout, then the quorum's 66 s, against the heartbeat's 62 s
after torchio's I/O resumes) and within what the cluster's derived
timeouts hold (twonode/model/o2cb_timing.py). torchio keeps its boot and
writes on, fiori is powered off, on again by the handler, and joins;
nothing acknowledged is lost.
"""

import re
import time

import pytest

from conftest import FULL, SMALL, measurements, proc_drbd_states, wait_until
from checkpoints import converged_problems  # lab/checkpoints.py
from linkcut import (acked, boot_id, cut_link, longest_pause, lost, start_writers, stop_writers,  # lab/linkcut.py
                     waits_for_peer)

CUT_SECONDS = 125  # longer than o2cb takes to call a node dead, and the fenced node to boot
# Seconds torchio's fence agent is stopped once it runs: a BMC that answers
# slowly. The agent then takes about agent_time (15 s), the most the
# cluster's o2cb timeouts are derived for, and the fence lands past 34 s.
AGENT_HELD = 8
# The longest fence Debian's o2cb timeouts (31, 30 s) survive, measured.
DEBIAN_O2CB_FENCE_LIMIT = 34


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


@pytest.fixture(scope="module")
def hung(lab):
    lab.restore("converged-small")
    lab.race_delay = int(re.search(r"delay=(\d+)", lab.ssh("torchio", "cat /etc/twonode/fence/handler.conf"))[1])
    before = lab.bmc_actions()
    lab.boots = {node: boot_id(lab.ssh, node) for node in ("fiori", "torchio")}
    start_writers(lab.ssh)
    time.sleep(10)
    # The slow BMC: the first fence agent torchio starts is stopped for
    # AGENT_HELD s, then goes on.
    lab.ssh("torchio", "nohup sh -c 'until pid=$(pgrep -of \"[f]ence_redfish\"); do sleep 0.2; done; "
            f"kill -STOP $pid; sleep {AGENT_HELD}; kill -CONT $pid' >/dev/null 2>&1 &")
    assert lab.run("freeze", "fiori").returncode == 0
    lab.landed = wait_until(lambda: fence_landed(lab), timeout=300)
    # torchio writes on; fiori, powered on again by the handler, joins.
    wait_until(lambda: max((t for _, t in acked(lab.ssh, "torchio")), default=0) > lab.landed + 5, timeout=300)
    wait_until(lambda: not converged_problems("fiori", lab.ssh), timeout=900)
    stop_writers(lab.ssh)
    time.sleep(3)
    lab.bmc_requests = lab.bmc_actions()[len(before):]
    return lab


def fence_log(lab) -> str:
    """torchio's fence handler this boot, each line with its epoch time."""
    return lab.ssh("torchio", "journalctl -q -b -t twonode-fence --no-pager -o short-unix")


def fence_landed(lab) -> float:
    """When torchio's handler logged fiori powered off (torchio's clock)."""
    lines = [line for line in fence_log(lab).splitlines() if "fiori is powered off" in line]
    assert lines, "torchio's handler has not logged the fence this boot: did o2cb restart torchio?"
    return float(lines[0].split()[0])


@FULL
def test_a_hung_first_node_is_fenced_by_a_slow_agent_inside_the_derived_o2cb_timeouts(hung):
    log = fence_log(hung)
    assert f"waiting {hung.race_delay} s before fencing fiori" in log, log
    assert re.search(r"fiori ForceOff requested", hung.bmc_requests), hung.bmc_requests
    assert "torchio ForceOff" not in hung.bmc_requests, hung.bmc_requests
    # torchio survived o2cb: the same boot, and it wrote on after the fence.
    assert boot_id(hung.ssh, "torchio") == hung.boots["torchio"]
    assert boot_id(hung.ssh, "fiori") != hung.boots["fiori"]
    times = [t for _, t in acked(hung.ssh, "torchio")]
    # torchio's writes were held from fiori's hang (its last write before)
    # until the fence landed: the span o2cb's heartbeat write hung too.
    # Longer than Debian's o2cb timeouts survive: the derived ones held it.
    held = hung.landed - max(t for t in times if t < hung.landed - hung.race_delay)
    measurements.append(
        f"test_7 fiori (first_node) hung, race_delay {hung.race_delay}, agent held {AGENT_HELD} s: torchio's "
        f"writes held {held:.0f} s until its fence landed (Debian's o2cb timeouts allow about "
        f"{DEBIAN_O2CB_FENCE_LIMIT}), longest pause {longest_pause(times):.0f} s")
    assert held > DEBIAN_O2CB_FENCE_LIMIT, f"the fence landed {held:.0f} s after the hang: no slower than Debian's allow"


@FULL
def test_after_the_hang_nothing_acknowledged_was_lost(hung):
    for node in ("fiori", "torchio"):
        assert "Split-Brain" not in hung.ssh(node, "dmesg"), node
    assert all(acked(hung.ssh, node) for node in ("fiori", "torchio"))
    assert {node: lost(hung.ssh, node) for node in ("fiori", "torchio")} == {"fiori": [], "torchio": []}
