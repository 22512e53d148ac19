"""The replicated data's integrity and the replication link's
authentication, as production meets them.

Online verify: blocks that differ between the nodes while DRBD thinks them
in sync (a disk that returned wrong data, a write behind DRBD's back). A
test writes other bytes straight to torchio's backing LV, at offset 0: the
OCFS1 compatibility header that mkfs.ocfs2 writes and OCFS2 never reads
(its superblock is at block 2), so neither node's filesystem meets them.
Both nodes write to the mounted volume throughout. The verify runs as its
timer runs it, the status must report the blocks, the operator runs the
commands the status gives for torchio, and a second verify finds nothing;
no acknowledged write is lost and fiori never stops serving.

Shared secret: the admin rotates it with both nodes up and writing (the
link must not drop), and while torchio is down for maintenance (fiori
serving and writing on). torchio comes back with the old one: it
cannot connect, and the status says why. The next deploy gives it the new
secret: it connects, resyncs only what fiori wrote meanwhile, and is
Primary and mounted again.
"""

import json
import os
import re
import time
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import SMALL, mount_id, proc_drbd_states, wait_until
from checkpoints import converged_problems  # lab/checkpoints.py
from linkcut import acked, lost, start_writers, stop_writers  # lab/linkcut.py

# The OCFS1 header's first sector, on the backing LV (DRBD's metadata is at
# its end, so the offsets are the device's).
CORRUPT = "dd if=/dev/urandom of=/dev/vg0/small bs=512 count=1 conv=notrunc oflag=direct status=none"
HEADER = "dd if=/dev/vg0/small bs=4096 count=1 iflag=direct status=none | sha256sum"
SERVING = mount_id("/vol/small") + "; exportfs -v"


def status_json(lab) -> dict:
    run = lab.pyinfra("--data", "format=json", "tasks/status.py", inventory=SMALL)
    assert run.returncode == 0, run
    return json.loads(next(line for line in run.output.splitlines() if line.startswith("{")))


def metric(lab, node: str, name: str, **labels) -> float | None:
    """One sample of the node's Prometheus textfile, through Prometheus'
    own parser (None: not there). Refreshed first, as its timer does (every
    ten minutes in the small cluster: tests/lab/small)."""
    text = lab.ssh(node, "systemctl start twonode-metrics.service; "
                         "cat /var/lib/prometheus/node-exporter/twonode.prom 2>/dev/null || true")
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(text) for s in family.samples}
    return found.get((name, tuple(sorted(labels.items()))))


def run_as_given(lab, command: dict) -> None:
    """One command of the status's resync list, where it says."""
    if command["on"] == "pyinfra":
        args = command["run"].split()
        assert args[:2] == ["pyinfra", "inventory.py"], command
        run = lab.pyinfra(*args[2:], inventory=SMALL)
        assert run.returncode == 0, run
    else:
        lab.ssh(command["on"], command["run"])


def is_serving(lab, node: str) -> bool:
    return proc_drbd_states(lab.ssh(node, "cat /proc/drbd"))[0] == ("Connected", "Primary/Primary",
                                                                     "UpToDate/UpToDate") \
        and "/vol/small" in lab.ssh(node, "findmnt -n -o TARGET -t ocfs2 || true")


def resync_kib(lab, node: str) -> list[int]:
    """What each resync as SyncTarget this boot copied, KiB (kernel log)."""
    return [int(k) for k in re.findall(r"Began resync as SyncTarget \(will sync (\d+) KB",
                                       lab.ssh(node, "dmesg | grep drbd_small || true"))]


# --- Online verify ----------------------------------------------------------

@pytest.fixture(scope="module")
def verified(lab):
    lab.restore("converged-small")
    lab.serving = lab.ssh("fiori", SERVING)
    lab.synced_before = resync_kib(lab, "torchio")
    start_writers(lab.ssh)
    try:
        time.sleep(3)
        lab.ssh("torchio", CORRUPT)
        lab.headers = {node: lab.ssh(node, HEADER) for node in ("fiori", "torchio")}
        # As the timer starts it: a oneshot unit, which fails when blocks differ.
        lab.first_verify = lab.run("ssh", "fiori", "systemctl start twonode-verify", timeout=600)
        lab.found = status_json(lab)
        lab.metric_found = wait_until(lambda: metric(lab, "fiori", "twonode_drbd_verify_out_of_sync_bytes",
                                                     resource="drbd_small"), timeout=150, interval=10)
        # The operator overwrites torchio's copy. Emptying torchio moves
        # its workload away: here, its writer.
        commands = next(v for v in lab.found["verify"]["volumes"] if v["resource"] == "drbd_small")
        lab.commands = (commands["resync_commands"] or {}).get("torchio")
        assert lab.commands, lab.found["verify"]
        stop_writers(lab.ssh, ("torchio",))
        time.sleep(1)
        lab.torchio_acked = acked(lab.ssh, "torchio")
        for command in lab.commands[:-1]:
            run_as_given(lab, command)
        wait_until(lambda: is_serving(lab, "torchio"), timeout=300)
        second = lab.commands[-1]
        lab.second_verify = lab.run("ssh", second["on"], second["run"], timeout=600)
        lab.after = status_json(lab)
    finally:
        stop_writers(lab.ssh)
    time.sleep(2)
    return lab


def test_the_timer_runs_the_verify_on_one_node_only_and_metrics_on_both(verified):
    lab = verified
    assert lab.ssh("fiori", "systemctl is-enabled twonode-verify.timer").strip() == "enabled"
    assert lab.ssh("torchio", "systemctl is-enabled twonode-verify.timer || true").strip() != "enabled"
    for node in ("fiori", "torchio"):
        assert lab.ssh(node, "systemctl is-active twonode-metrics.timer").strip() == "active"
        assert metric(lab, node, "twonode_ocfs2_mounted", resource="drbd_small", mount_point="/vol/small") == 1


def test_the_verify_finds_the_changed_blocks_and_the_status_reports_them(verified):
    lab = verified
    assert lab.headers["fiori"] != lab.headers["torchio"]
    assert lab.first_verify.returncode != 0, lab.first_verify
    last = next(v for v in lab.found["verify"]["volumes"] if v["resource"] == "drbd_small")["last"]
    assert (last["node"], last["result"]) == ("fiori", "out-of-sync"), last
    assert last["out_of_sync_kib"] >= 4, last
    # What monitoring sees: the same amount, in bytes.
    assert lab.metric_found == last["out_of_sync_kib"] * 1024
    print(f"\nverify found {last['out_of_sync_kib']} KiB out of sync")


def test_after_the_operators_commands_a_second_verify_finds_none(verified):
    lab = verified
    assert lab.second_verify.returncode == 0, lab.second_verify
    last = next(v for v in lab.after["verify"]["volumes"] if v["resource"] == "drbd_small")
    assert (last["last"]["result"], last["last"]["out_of_sync_kib"], last["resync_commands"]) == \
        ("in-sync", 0, None), last
    assert len({lab.ssh(node, HEADER) for node in ("fiori", "torchio")}) == 1
    # Only what differed and what fiori wrote meanwhile was copied.
    copied = resync_kib(lab, "torchio")[len(lab.synced_before):]
    assert copied and max(copied) < 32 * 1024, copied


def test_no_acknowledged_write_is_lost_and_fiori_served_throughout(verified):
    lab = verified
    for node in ("fiori", "torchio"):
        assert converged_problems(node, lab.ssh) == [], node
    assert lost(lab.ssh, "fiori", "torchio") == []
    assert lab.torchio_acked and lost(lab.ssh, "torchio", "fiori", lab.torchio_acked) == []
    assert lab.ssh("fiori", SERVING) == lab.serving
    # torchio's disconnect, as a Secondary, fenced nobody.
    assert "fence" not in lab.ssh("fiori", "cat /var/lib/twonode/events 2>/dev/null || true")


# --- The shared secret -----------------------------------------------------

NEW_SECRET = "cm90YXRlZC1zZWNyZXQtZm9yLXRoZS1sYWI"


@contextmanager
def new_secret(directory):
    """The admin's new secret, in a private file outside the repository,
    for the deploys run inside."""
    path = directory / "drbd-secret"
    path.write_text(NEW_SECRET + "\n")
    path.chmod(0o600)
    old = os.environ.get("TWONODE_DRBD_SECRET_FILE")
    os.environ["TWONODE_DRBD_SECRET_FILE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TWONODE_DRBD_SECRET_FILE", None)
        else:
            os.environ["TWONODE_DRBD_SECRET_FILE"] = old


@pytest.fixture(scope="module")
def rotated(lab, tmp_path_factory):
    lab.restore("converged-small")
    lab.serving = lab.ssh("fiori", SERVING)
    start_writers(lab.ssh)
    try:
        time.sleep(3)
        # Maintenance: torchio shut down cleanly, fiori serves on.
        lab.run("ssh", "torchio", "systemctl poweroff", timeout=60)
        wait_until(lambda: lab.run("running", "torchio").returncode != 0, timeout=300)
        with new_secret(tmp_path_factory.mktemp("secret")):
            lab.while_away = lab.deploy(inventory=SMALL)
            lab.start("torchio")
            wait_until(lambda: "Authentication of peer failed" in lab.ssh("fiori", "dmesg | grep drbd_small"),
                       timeout=300)
            lab.refused = status_json(lab)
            lab.refused_text = lab.pyinfra("tasks/status.py", inventory=SMALL)
            lab.metric_refused = wait_until(lambda: metric(lab, "torchio", "twonode_drbd_auth_failed",
                                                           resource="drbd_small"), timeout=150, interval=10)
            lab.rejoin = lab.deploy(inventory=SMALL)
            wait_until(lambda: is_serving(lab, "torchio"), timeout=300)
            lab.again = lab.deploy(inventory=SMALL)
    finally:
        stop_writers(lab.ssh)
    time.sleep(2)
    return lab


def test_the_deploy_while_torchio_is_away_changes_fiori_without_dropping_anything(rotated):
    lab = rotated
    run = lab.while_away
    assert run.returncode == 1 and run.unreachable() == ["torchio"] and run.failed_ops == [], run
    assert any(op.endswith("drbd: apply the changed configuration of drbd_small") for op in run.changed_ops), \
        run.changed_ops


def test_the_node_with_the_old_secret_cannot_connect_and_the_status_says_why(rotated):
    lab = rotated
    small = {r["node"]: r for r in lab.refused["resources"] if r["resource"] == "drbd_small"}
    assert small["torchio"]["connection"] == "StandAlone" and small["torchio"]["auth_failed"] is True, small
    assert small["fiori"]["role"] == "Primary" and small["fiori"]["auth_failed"] is True, small
    assert "AUTHENTICATION FAILED" in lab.refused_text.output, lab.refused_text
    assert lab.metric_refused == 1


def test_with_the_new_secret_it_connects_and_resyncs_only_what_changed(rotated):
    lab = rotated
    assert lab.rejoin.returncode == 0, lab.rejoin
    for node in ("fiori", "torchio"):
        assert converged_problems(node, lab.ssh) == [], node
    copied = resync_kib(lab, "torchio")
    assert copied and max(copied) < 32 * 1024, copied  # the volume: 256 MiB
    # fiori's writes, on torchio; torchio's, acknowledged before it shut
    # down (its log is on its root disk), on fiori.
    assert lost(lab.ssh, "fiori", "torchio") == []
    assert acked(lab.ssh, "torchio") and lost(lab.ssh, "torchio", "fiori") == []
    assert lab.ssh("fiori", SERVING) == lab.serving


def test_the_secret_is_in_root_only_files_and_never_in_the_output(rotated):
    lab = rotated
    for node in ("fiori", "torchio"):
        assert lab.ssh(node, "stat -c %a /etc/drbd.d/drbd_small.res").strip() == "600"
        assert NEW_SECRET in lab.ssh(node, "cat /etc/drbd.d/drbd_small.res")
    for run in (lab.while_away, lab.rejoin, lab.again, lab.refused_text):
        assert NEW_SECRET not in run.output and "twonode-lab-replication-secret" not in run.output


def test_then_nothing_changes(rotated):
    assert rotated.again.returncode == 0 and rotated.again.changed_ops == [], rotated.again


def test_a_rotation_with_both_nodes_up_keeps_the_link_and_the_mounts(lab, tmp_path):
    """The common case: both nodes up and writing. DRBD takes the new secret
    as a net-option (it checks it when connecting): no disconnect."""
    lab.restore("converged-small")
    served = {node: lab.ssh(node, SERVING) for node in ("fiori", "torchio")}
    events = {node: lab.ssh(node, "dmesg | grep -c 'drbd_small.*conn(' || true") for node in ("fiori", "torchio")}
    start_writers(lab.ssh)
    try:
        with new_secret(tmp_path):
            run = lab.deploy(inventory=SMALL)
    finally:
        stop_writers(lab.ssh)
    assert run.returncode == 0, run
    assert NEW_SECRET not in run.output
    for node in ("fiori", "torchio"):
        # In force on the running connection, which never changed state.
        assert f'shared-secret   \t"{NEW_SECRET}";' in lab.ssh(node, "drbdsetup show drbd_small")
        assert lab.ssh(node, "dmesg | grep -c 'drbd_small.*conn(' || true") == events[node]
        assert lab.ssh(node, SERVING) == served[node]
        assert converged_problems(node, lab.ssh) == [], node
    assert lost(lab.ssh, "fiori", "torchio") == [] and lost(lab.ssh, "torchio", "fiori") == []
