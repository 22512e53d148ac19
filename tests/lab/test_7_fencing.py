"""Fencing (issue 10): the cluster link cut under load, on both nodes at once.

Both nodes have /vol/small mounted and a writer each, logging every
acknowledged (fsync'd) write to the node's own root disk. The link stays
down 125 s (longer than o2cb takes to call a node dead). Exactly one node
must serve throughout; the other is powered off by the survivor's fence
agent through the lab BMC and boots while the link is still down: it waits
Secondary and unmounted, fences nobody, the status shows it waiting (issue
10, proof 3), and it joins by itself when the link returns; no split
brain; every acknowledged write of either node is there.
"""

import re
import threading
import time

import pytest

from conftest import SMALL, measurements, proc_drbd_states, wait_until

CUT_SECONDS = 125  # the issue asks for at least 120 s
# One file per write, fsync'd, then its number appended (and fsync'd) to a
# log on the node's root disk: the log holds exactly the acknowledged writes.
WRITER = r"""
import os, sys, time
node, d = sys.argv[1], f"/vol/small/w-{sys.argv[1]}"
os.makedirs(d, exist_ok=True)
log = os.open("/root/acked", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
i = 0
while not os.path.exists("/root/stop"):
    i += 1
    fd = os.open(f"{d}/{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, f"{node} {i}\n".encode()); os.fsync(fd); os.close(fd)
    os.write(log, f"{i} {time.time():.3f}\n".encode()); os.fsync(log)
    time.sleep(0.2)
"""


def boot_id(lab, node):
    return lab.ssh(node, "cat /proc/sys/kernel/random/boot_id").strip()


def acked(lab, node):
    """(number, time) of every write the node acknowledged."""
    rows = [line.split() for line in lab.ssh(node, "cat /root/acked 2>/dev/null || true").splitlines()]
    return [(int(n), float(t)) for n, t in rows if n.isdigit()]


@pytest.fixture(scope="module")
def cut(lab):
    lab.restore("converged-small")
    bmc_log = lab.bmc_log()
    before = bmc_log.read_text() if bmc_log.exists() else ""
    lab.boots = {node: boot_id(lab, node) for node in ("fiori", "torchio")}
    for node in ("fiori", "torchio"):
        lab.ssh(node, f"rm -f /root/acked /root/stop; cat > /root/writer.py <<'EOF'\n{WRITER}\nEOF\n"
                      f"setsid python3 /root/writer.py {node} >/root/writer.log 2>&1 < /dev/null &")
    time.sleep(20)
    # Both ends at once, as a switch or cable failure does.
    threads = [threading.Thread(target=lab.ssh, args=(node, "ip link set eth1 down")) for node in ("fiori", "torchio")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lab.cut_at = time.time()
    # torchio, fenced, boots while fiori's end of the link is still down.
    wait_until(lambda: boot_id(lab, "torchio") != lab.boots["torchio"] and "waiting for the peer" in lab.ssh(
        "torchio", "journalctl -b -t twonode-activate --no-pager || true"), timeout=600)
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
    lab.bmc_requests = bmc_log.read_text()[len(before):]
    return lab


def test_exactly_one_node_served_and_the_other_was_powered_off_by_it(cut):
    assert re.search(r"torchio ForceOff requested", cut.bmc_requests), cut.bmc_requests
    assert "fiori ForceOff" not in cut.bmc_requests, cut.bmc_requests
    assert boot_id(cut, "fiori") == cut.boots["fiori"]
    assert "fenced-peer drbd_small" in cut.ssh("fiori", "cat /var/lib/twonode/events")
    # fiori went on writing while torchio was away.
    during = [n for n, t in acked(cut, "fiori") if cut.cut_at + 60 < t < cut.cut_at + CUT_SECONDS]
    assert during, "fiori acknowledged no write during the cut"


def test_the_fenced_node_booted_with_the_link_down_and_waited(cut):
    # Secondary, unmounted, not Primary on its own (before issue 10,
    # become-primary-on both promoted it after degr-wfc-timeout and it
    # mounted alone), and the status says why and what the operator may do.
    assert cut.waiting["drbd"] in ([("WFConnection", "Secondary/Unknown", "Consistent/DUnknown")],
                                   [("WFConnection", "Secondary/Unknown", "UpToDate/DUnknown")]), cut.waiting
    assert "/vol/small" not in cut.waiting["mounts"], cut.waiting
    assert "torchio waits for fiori (Secondary, not mounted): drbd_small." in cut.waiting["status"], cut.waiting
    assert "on torchio: twonode-activate --alone" in cut.waiting["status"], cut.waiting
    # It tried to fence nobody: its fence-peer handler never ran this boot.
    assert cut.waiting["fence handler"].strip() == "", cut.waiting


def test_the_fenced_node_came_back_and_joined_by_itself(cut):
    def joined():
        states = proc_drbd_states(cut.ssh("torchio", "cat /proc/drbd"))
        mounted = "/vol/small" in cut.ssh("torchio", "findmnt -n -o TARGET -t ocfs2 || true")
        return states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] and mounted
    wait_until(joined, timeout=600)
    assert boot_id(cut, "torchio") != cut.boots["torchio"]
    for node in ("fiori", "torchio"):
        assert "Split-Brain" not in cut.ssh(node, "dmesg"), node


def test_every_acknowledged_write_survived(cut):
    for node in ("fiori", "torchio"):
        cut.ssh(node, "touch /root/stop", check=False)
    time.sleep(3)
    lost = {}
    for node in ("fiori", "torchio"):
        numbers = [n for n, _ in acked(cut, node)]
        assert numbers, node
        present = cut.ssh("fiori", f"cd /vol/small/w-{node} && for i in $(seq {max(numbers)}); do "
                                   f"[ \"$(cat $i 2>/dev/null)\" = '{node} '$i ] || echo $i; done")
        lost[node] = [int(n) for n in present.split() if int(n) in set(numbers)]
    # The freeze fiori's writer saw (a benchmark figure, not a limit).
    times = [t for _, t in acked(cut, "fiori")]
    measurements.append(
        f"test_7 link cut: acknowledged writes {len(times)} on fiori, "
        f"{len(acked(cut, 'torchio'))} on torchio; lost {sum(map(len, lost.values()))}; "
        f"longest pause between two acknowledged writes on fiori (I/O frozen by fencing and o2cb): "
        f"{max(b - a for a, b in zip(times, times[1:])):.0f} s")
    assert lost == {"fiori": [], "torchio": []}
