"""A node rebooted while the peer keeps the volumes mounted: everything comes
back by itself (DRBD promoted, o2cb online, OCFS2 mounted, NIC names,
exports, networks; pools as configured, autostart off), with no full resync.
Then a node that boots with its cluster link down: it stays Secondary and
unmounted until the link returns, and then joins by itself.
"""

import re
import time

import pytest

from conftest import SMALL, proc_drbd_states, wait_until


@pytest.fixture(scope="module")
def rebooted(lab):
    lab.restore("converged-small")
    lab.ssh("torchio", "head -c 4M /dev/urandom > /vol/small/before-reboot && sync")
    lab.written = lab.ssh("torchio", "sha256sum /vol/small/before-reboot").split()[0]
    lab.ssh("fiori", "systemctl reboot", check=False)
    # Gone, then back.
    wait_until(lambda: lab.run("ssh", "fiori", "true").returncode != 0, timeout=300, interval=2)
    wait_until(lambda: lab.run("ssh", "fiori", "systemctl is-system-running --wait || true").returncode == 0)
    return lab


def test_drbd_comes_back_primary_and_connected(rebooted):
    def converged():
        states = proc_drbd_states(rebooted.ssh("fiori", "cat /proc/drbd"))
        return states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] and states
    wait_until(converged, timeout=600)
    log = rebooted.ssh("fiori", "dmesg")
    assert "-> StandAlone" not in log, log  # dropped the connection
    # The bitmap covers what changed while it was away: no full resync.
    # (Seen on the lab when DRBD was not taken down at shutdown: "will sync
    # 262100 KB [65525 bits set]", the whole 256 MiB volume.)
    synced_kib = [int(kib) for kib in re.findall(r"Began resync as SyncTarget \(will sync (\d+) KB", log)]
    assert sum(synced_kib) < 256 * 1024 // 2, (synced_kib, log)


def test_o2cb_and_the_ocfs2_mount_come_back(rebooted):
    wait_until(lambda: "/vol/small" in rebooted.ssh("fiori", "findmnt -n -o TARGET -t ocfs2 || true"), timeout=600)
    assert "is online" in rebooted.ssh("fiori", "o2cb cluster-status")
    assert rebooted.ssh("fiori", "sha256sum /vol/small/before-reboot").split()[0] == rebooted.written


def test_nic_names_exports_and_networks_come_back(rebooted):
    link = rebooted.ssh("fiori", "ip -br link show eth1")
    assert "52:54:00:00:01:01" in link and "192.168.3.6/24" in rebooted.ssh("fiori", "ip -br addr show eth1")
    wait_until(lambda: "/vol/small/home" in rebooted.ssh("fiori", "exportfs -v"), timeout=300)
    nets = rebooted.ssh("fiori", "virsh -q net-list --all")
    assert re.search(r"^\s*192\.168\.10\.0\s+active\s+yes", nets, re.M), nets


def test_a_deploy_after_the_reboot_changes_nothing(rebooted):
    run = rebooted.deploy(inventory=SMALL)
    assert run.returncode == 0, run
    assert run.changed_ops == [], run.changed_ops


# --- A node that boots with its cluster link down (issue 10, proof 3).

def test_a_node_that_boots_with_its_link_down_stays_secondary_and_unmounted(rebooted):
    # torchio loses power; while it is away fiori's cluster link goes down,
    # so torchio boots unable to see its peer. (Before: become-primary-on
    # both promoted it after degr-wfc-timeout and it mounted alone.)
    fenced = rebooted.ssh("fiori", "journalctl -t twonode-fence --no-pager -o cat | grep -c 'is powered off' || true")
    rebooted.kill("torchio")
    # fiori, Primary, lost its peer: it fences torchio (found off, left off)
    # before it writes on. Power comes back after that, as a BMC's would:
    # started earlier, torchio was powered off again by that fence (seen on
    # the lab).
    wait_until(lambda: int(rebooted.ssh("fiori", "journalctl -t twonode-fence --no-pager -o cat | "
                                                  "grep -c 'is powered off' || true")) > int(fenced), timeout=300)
    assert "Already OFF" in rebooted.ssh("fiori", "journalctl -t twonode-fence --no-pager -o cat | tail -n 1")
    rebooted.ssh("fiori", "ip link set eth1 down")
    rebooted.start("torchio")
    wait_until(lambda: "waiting for the peer" in rebooted.ssh(
        "torchio", "journalctl -b -t twonode-activate --no-pager || true"), timeout=600)
    time.sleep(20)  # well past the old degr-wfc-timeout path
    states = proc_drbd_states(rebooted.ssh("torchio", "cat /proc/drbd"))
    assert states == [("WFConnection", "Secondary/Unknown", "Consistent/DUnknown")] \
        or states == [("WFConnection", "Secondary/Unknown", "UpToDate/DUnknown")], states
    assert "/vol/small" not in rebooted.ssh("torchio", "findmnt -n -o TARGET -t ocfs2 || true")
    run = rebooted.pyinfra("tasks/status.py", inventory=SMALL)
    assert "torchio waits for fiori (Secondary, not mounted): drbd_small." in run.output, run.output
    assert "on torchio: twonode-activate --alone" in run.output, run.output


def test_it_joins_by_itself_when_the_link_returns(rebooted):
    rebooted.ssh("fiori", "ip link set eth1 up")

    def joined():
        states = proc_drbd_states(rebooted.ssh("torchio", "cat /proc/drbd"))
        mounted = "/vol/small" in rebooted.ssh("torchio", "findmnt -n -o TARGET -t ocfs2 || true")
        return states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] and mounted
    wait_until(joined, timeout=600)
    assert rebooted.ssh("torchio", "sha256sum /vol/small/before-reboot").split()[0] == rebooted.written
    assert "every replicated volume is Primary and mounted" in rebooted.ssh(
        "torchio", "journalctl -b -t twonode-activate --no-pager")
