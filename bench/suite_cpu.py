#!/usr/bin/env python3
"""Where the CPU of a command goes, per lab: the guests' QEMU processes of
each lab (named ``twonode[-X]-NODE``), the host's pyinfra runs, and the
rest; and how busy the host was. Sampled every 5 s from /proc (a process
that lives less than that is counted only in the host's total).

    python3 bench/suite_cpu.py -- make test

Under TCG the guests are the cost: the suite cannot end before its CPU
seconds divided by the cores, nor before its longest lab's modules one
after the other (docs/benchmarks.md, "The test suite (`make test`, what
CI runs)").
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def category(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    if b"-name" in argv:
        name = argv[argv.index(b"-name") + 1].decode()
        if name.startswith("twonode"):
            lab = name.removeprefix("twonode").rsplit("-", 1)[0].lstrip("-") or "first"
            return f"lab {lab}: guests"
    if any(b"pyinfra" in a for a in argv[:2]):
        return "host: pyinfra"
    return "host: other"


def host_busy() -> float:
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / HZ  # all but idle and iowait


def main() -> int:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    if not argv:
        print(__doc__)
        return 2
    start, busy0 = time.monotonic(), host_busy()
    baseline: dict[int, float] = {}  # CPU a process had before the command started
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            baseline[int(d)] = cpu_seconds(int(d))
        except OSError:
            pass
    command = subprocess.Popen(argv)
    live: dict[int, tuple[str, float]] = {}
    ended: Counter[str] = Counter()
    while True:
        seen = set()
        for d in filter(str.isdigit, os.listdir("/proc")):
            pid = int(d)
            try:
                used = cpu_seconds(pid) - baseline.get(pid, 0.0)
                kind = live[pid][0] if pid in live else category(pid)
            except OSError:
                continue
            live[pid] = (kind, used)
            seen.add(pid)
        for pid in set(live) - seen:
            kind, used = live.pop(pid)
            ended[kind] += used
        if command.poll() is not None:
            break
        time.sleep(5)
    totals = ended.copy()
    for kind, used in live.values():
        totals[kind] += used
    wall, busy = time.monotonic() - start, host_busy() - busy0
    cores = os.cpu_count() or 1
    print("\n| where | CPU seconds | share of the host's busy time |\n|---|---|---|")
    for kind, used in sorted(totals.items()):
        if used >= 1:
            print(f"| {kind} | {used:.0f} | {100 * used / busy:.0f} % |")
    print(f"| **host busy** ({cores} cores, {wall:.0f} s) | {busy:.0f} | {100 * busy / (cores * wall):.0f} % of all |")
    print(f"\nfloor at this CPU: {busy / cores:.0f} s (busy seconds / cores); the command took {wall:.0f} s")
    return command.returncode


if __name__ == "__main__":
    sys.exit(main())
