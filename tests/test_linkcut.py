"""lab/linkcut.py's counting, on what a node's log and volume can hold
after a power loss (the lab procedure itself runs in test_7)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

import linkcut  # noqa: E402


def fake_ssh(logs: dict[str, str], files: dict[str, dict[int, str]]):
    """A node's /root/acked, and which files under /vol/small/w-NODE hold
    what (as fiori reads them)."""
    def ssh(node: str, command: str) -> str:
        if command.startswith("cat /root/acked"):
            return logs.get(node, "")
        # As `grep -r '' .` prints them; an empty file prints nothing.
        writer = command.split("/vol/small/w-")[1].split()[0]
        return "".join(f"./{i}:{content}\n" for i, content in files.get(writer, {}).items() if content)
    return ssh


def test_a_line_cut_short_by_the_power_loss_is_not_an_acknowledged_write():
    ssh = fake_ssh({"torchio": "1 100.0\n2 100.2\n3"}, {})
    assert linkcut.acked(ssh, "torchio") == [(1, 100.0), (2, 100.2)]


def test_lost_counts_only_acknowledged_writes_missing_or_wrong():
    logs = {"fiori": "1 10.0\n2 10.2\n3 10.4\n"}
    # 2 holds another node's content, 3 is gone, 4 was written but never
    # acknowledged (not in the log): only 2 and 3 are lost.
    files = {"fiori": {1: "fiori 1", 2: "torchio 2", 4: "fiori 4"}}
    assert linkcut.lost(fake_ssh(logs, files), "fiori") == [2, 3]
    # An empty file (created, never written) is lost too.
    assert linkcut.lost(fake_ssh(logs, {"fiori": {1: "fiori 1", 2: "fiori 2", 3: ""}}), "fiori") == [3]
    assert linkcut.lost(fake_ssh(logs, {"fiori": {1: "fiori 1", 2: "fiori 2", 3: "fiori 3"}}), "fiori") == []


def test_nothing_acknowledged_nothing_lost():
    assert linkcut.lost(fake_ssh({}, {}), "torchio") == []


def test_longest_pause_is_the_largest_gap():
    assert linkcut.longest_pause([1.0, 1.2, 84.2, 84.4]) == 83.0
    assert linkcut.longest_pause([5.0]) == 0.0
