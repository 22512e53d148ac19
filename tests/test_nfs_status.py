"""Who serves NFS, as the status task, its JSON and the metrics say it:
the NfsServer fact on outputs captured on the lab (mode single: fiori
serving with its grace period over, torchio waiting; then torchio right
after a planned move, in its grace period), and the real metrics script
on the same files."""

import json
import os
from datetime import datetime
import subprocess
from pathlib import Path

from captured import converged, fx
from twonode.loader import load_cluster
from twonode.report import nfs_document, render_nfs, render_status, status_document
from test_status import seen_converged

ROOT = Path(__file__).resolve().parents[1]


def server(node, state):
    return converged(node, "NfsServer", state=state)


def test_the_fact_reads_who_serves_since_when_and_the_grace_period():
    fiori, torchio = server("fiori", "nfs-single"), server("torchio", "nfs-single")
    assert (fiori.serving, fiori.since, fiori.in_grace) == (True, "2026-12-06T21:48:07Z", False)
    assert (torchio.serving, torchio.since, torchio.in_grace) == (False, None, None)
    moved = server("torchio", "nfs-moved")
    assert (moved.serving, moved.in_grace) == (True, True)
    assert not server("fiori", "nfs-moved").serving


def with_nfs(state):
    seen = seen_converged()
    for node in ("fiori", "torchio"):
        seen[node]["nfs_server"] = server(node, state)
    return seen


def test_the_table_and_the_json_say_the_same_server():
    c = load_cluster(ROOT / "inventory.py", ROOT)
    for state, node, grace in (("nfs-single", "fiori", "grace period over"),
                               ("nfs-moved", "torchio", "in its grace period")):
        seen = with_nfs(state)
        doc = json.loads(json.dumps(status_document(c, seen)))["nfs"]
        assert doc["mode"] == "single" and doc["serving"] == node and doc["since"], doc
        assert doc["in_grace"] == (grace == "in its grace period")
        line = render_nfs(c, seen)
        assert line.startswith(f"NFS: {node} serves 192.168.10.1/24 since {doc['since']}, {grace}"), line
        assert line in render_status(c, seen)


def test_nobody_or_both_serving_is_said_plainly():
    c = load_cluster(ROOT / "inventory.py", ROOT)
    seen = with_nfs("nfs-single")
    seen["fiori"]["nfs_server"] = server("torchio", "nfs-single")  # nobody
    assert render_nfs(c, seen).startswith("NFS: nobody serves 192.168.10.1/24")
    assert nfs_document(c, seen)["serving"] is None
    seen["fiori"]["nfs_server"] = server("fiori", "nfs-single")
    seen["torchio"]["nfs_server"] = server("torchio", "nfs-moved")  # both
    assert render_nfs(c, seen).startswith("NFS: BOTH fiori and torchio say they serve")
    seen["torchio"] = None
    assert nfs_document(c, seen)["unknown"] == ["torchio"]


def metrics(tmp_path, node, state) -> list[str]:
    """The metrics script's NFS lines for ``node``'s captured state."""
    sections = fx(f"facts/{state}_{node}__NfsServer.txt").split("@@grace\n")
    serving = tmp_path / f"{node}-serving"
    body = sections[0].removeprefix("@@serving\n")
    if body.strip():
        serving.write_text(body)
    grace = tmp_path / f"{node}-grace"
    grace.write_text(sections[1])
    conf = tmp_path / "nfs-server.conf"
    conf.write_text("NODE=x\n")
    out = tmp_path / node
    out.mkdir()
    env = {**os.environ, "TWONODE_PROC_DRBD": "/dev/null", "TWONODE_VOLUMES": "/dev/null",
           "TWONODE_MOUNTS": "/dev/null", "TWONODE_VERIFY_STATE": "/dev/null", "TWONODE_NOW": "0",
           "TWONODE_NFS_CONF": str(conf), "TWONODE_NFS_SERVING": str(serving), "TWONODE_NFS_GRACE": str(grace)}
    subprocess.run(["sh", str(ROOT / "templates/drbd/metrics.sh"), str(out)], env=env, check=True,
                   capture_output=True)
    return [line for line in (out / "twonode.prom").read_text().splitlines() if line.startswith("twonode_nfs")]


def test_the_metrics_say_what_the_status_says(tmp_path):
    since = server("fiori", "nfs-single").since
    epoch = int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp())
    assert metrics(tmp_path, "fiori", "nfs-single") == [
        "twonode_nfs_serving 1", "twonode_nfs_in_grace 0", f"twonode_nfs_serving_since_seconds {epoch}"]
    assert metrics(tmp_path, "torchio", "nfs-single") == ["twonode_nfs_serving 0", "twonode_nfs_in_grace 0"]
    moved_dir = tmp_path / "moved"
    moved_dir.mkdir()
    assert metrics(moved_dir, "torchio", "nfs-moved")[:2] == ["twonode_nfs_serving 1", "twonode_nfs_in_grace 1"]
