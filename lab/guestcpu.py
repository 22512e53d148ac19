"""Host CPU time of a lab's guests, per test module.

The suite is CPU-bound (docs/benchmarks.md): its length is the CPU its
scenarios take, not their wall time, much of which is waiting on the
cluster's clocks beside other labs at work. tests/lab/conftest.py prints,
beside each module's wall time, what its lab's QEMU processes used: the
place to look for a scenario to make cheaper.

A QEMU process lives for one boot or restore, so the processes are read
every few seconds from the lab's pid files: what one used before it was
first seen counts to the module then running (it started within the last
interval), and what it used after its last reading is lost (at most one
interval's worth, per process).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int, proc: Path = Path("/proc")) -> int | None:
    """utime + stime of ``pid``, in clock ticks; None once it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: fields count from
    # its closing one (state is the first after it, utime the 12th).
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


class GuestCpu:
    """Guest CPU seconds of the lab whose pid files are in ``run_dir``,
    summed per module (``module`` is the one running now)."""

    def __init__(self, run_dir: Path, nodes: tuple[str, ...], proc: Path = Path("/proc")):
        self.run_dir, self.nodes, self.proc = run_dir, nodes, proc
        self.module: str | None = None
        self.seconds: dict[str, float] = {}
        self._last: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pids(self) -> list[int]:
        pids = []
        for node in self.nodes:
            try:
                pids.append(int((self.run_dir / f"{node}.pid").read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        return pids

    def _read(self, module: str | None) -> None:
        """What each guest used since its last reading, counted to ``module``
        (to nobody: None)."""
        for pid in self._pids():
            ticks = cpu_ticks(pid, self.proc)
            if ticks is None:
                continue
            used = ticks - self._last.get(pid, 0)
            self._last[pid] = ticks
            if module is not None and used > 0:
                self.seconds[module] = self.seconds.get(module, 0.0) + used / TICKS

    def sample(self) -> None:
        self._read(self.module)

    def start(self, interval: float = 2.0) -> None:
        """Reads every ``interval`` seconds from now on; what the guests
        already running used before counts to nobody."""
        self._read(None)

        def loop() -> None:
            while not self._stop.wait(interval):
                self.sample()

        self._thread = threading.Thread(target=loop, name="guest-cpu", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
