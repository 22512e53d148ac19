"""The cluster link cut under load, as production meets it: one procedure
for the fencing test (tests/lab/test_7_fencing.py, which asserts on it) and
the benchmark (bench/bench.py --link-cut, which measures it).

A writer on each node writes small files to /vol/small, fsync-ing each, and
appends the number of every acknowledged write (fsync'd too) to a log on
the node's own root disk: that log holds exactly what the node promised.
The link (eth1) goes down on both nodes at once, as a switch or cable
failure takes it. Afterwards the files are counted against the logs.

``ssh`` is a callable ``(node, command) -> stdout`` that fails on a
non-zero exit (the test's ``lab.ssh``, checkpoints.ssh).
"""

from __future__ import annotations

import threading
from typing import Callable

Ssh = Callable[[str, str], str]
NODES = ("fiori", "torchio")

# One file per write, fsync'd, then its number appended (and fsync'd) to a
# log on the node's root disk: the log holds exactly the acknowledged writes.
# Two writes a second: the pauses measured are tens of seconds, and under
# emulation each write costs both guests CPU (five a second took a fifth of
# each guest's core, beside the scenarios' own).
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
    time.sleep(0.5)
"""


def start_writers(ssh: Ssh, nodes: tuple[str, ...] = NODES) -> None:
    for node in nodes:
        ssh(node, f"rm -f /root/acked /root/stop; cat > /root/writer.py <<'EOF'\n{WRITER}\nEOF\n"
                  f"setsid python3 /root/writer.py {node} >/root/writer.log 2>&1 < /dev/null &")


def stop_writers(ssh: Ssh, nodes: tuple[str, ...] = NODES) -> None:
    for node in nodes:
        try:
            ssh(node, "touch /root/stop")
        except Exception:  # a node still booting: its writer is gone anyway
            pass


def cut_link(ssh: Ssh) -> None:
    """eth1 down on both nodes at once."""
    threads = [threading.Thread(target=ssh, args=(node, "ip link set eth1 down")) for node in NODES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def boot_id(ssh: Ssh, node: str) -> str:
    return ssh(node, "cat /proc/sys/kernel/random/boot_id").strip()


def waits_for_peer(ssh: Ssh, node: str) -> bool:
    """twonode-activate has said, this boot, that the node waits for its peer."""
    return "waiting for the peer" in ssh(node, "journalctl -b -t twonode-activate --no-pager || true")


def acked(ssh: Ssh, node: str) -> list[tuple[int, float]]:
    """(number, time) of every write the node acknowledged. A line cut short
    by the power loss (a fenced node) was never acknowledged."""
    rows = [line.split() for line in ssh(node, "cat /root/acked 2>/dev/null || true").splitlines()]
    return [(int(r[0]), float(r[1])) for r in rows if len(r) == 2 and r[0].isdigit()]


def lost(ssh: Ssh, node: str, reader: str = "fiori",
         acknowledged: list[tuple[int, float]] | None = None) -> list[int]:
    """The acknowledged writes of ``node`` (its log, or ``acknowledged``
    read from it earlier) that ``reader`` does not find with their content."""
    numbers = {n for n, _ in (acked(ssh, node) if acknowledged is None else acknowledged)}
    if not numbers:
        return []
    # One grep reads every file ("./NUMBER:CONTENT" per line): a shell loop
    # of `cat`s took a minute under TCG.
    held = ssh(reader, f"cd /vol/small/w-{node} && grep -r '' . || true")
    present = set()
    for line in held.splitlines():
        name, _, content = line.removeprefix("./").partition(":")
        if name.isdigit() and content == f"{node} {name}":
            present.add(int(name))
    return sorted(numbers - present)


def longest_pause(times: list[float]) -> float:
    """The longest gap between two acknowledged writes: how long I/O froze."""
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)
