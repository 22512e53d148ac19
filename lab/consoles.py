"""The lab guests' serial consoles, read for kernel faults.

A guest whose kernel panics or oopses has stopped being a test subject:
whatever the test asserts next fails for the guest's sake, not the
product's. tests/lab/conftest.py watches both consoles while a lab test
runs and ends the test at once with what this module finds (the fault's
first lines, and whether it bears the mark of an emulator fault);
lab/suite.py runs a module again once when its only failures came with
such a mark, and says so in its summary.

An emulator fault is a fault no real CPU could report. The guests run
under QEMU's TCG (software emulation), and its rare faults show as
register values outside the architecture: EFLAGS with a reserved bit set
(bits 3, 5, 15 and 22-31 always read 0, bit 1 always reads 1), or a debug
exception (#DB) in kernel code nobody debugs.

What is not a fault: o2cb fencing its own node (OCFS2's "very sorry to be
fencing this system" panic or restart is the product at work, and some
lab tests cause it on purpose), and soft lockup warnings (a guest starved
of the host's CPU for a while).
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: The first line of a kernel fault report.
FAULT_START = re.compile(
    r"Kernel panic - not syncing|BUG: kernel NULL pointer dereference|BUG: unable to handle"
    r"|general protection fault|Oops: |kernel BUG at ")
#: Faults that are the cluster at work, not a broken guest.
EXPECTED = re.compile(r"ocfs2 is very sorry to be fencing this system")
EFLAGS = re.compile(r"EFLAGS: ([0-9a-f]{8})")
#: The bits of EFLAGS that always read 0 (3, 5, 15, 22-31) and 1 (bit 1).
EFLAGS_ZERO_BITS = (1 << 3) | (1 << 5) | (1 << 15) | (0x3FF << 22)
EFLAGS_ONE_BITS = 1 << 1
#: A debug exception taken in the kernel (no debugger is attached to the guests).
KERNEL_DEBUG_TRAP = re.compile(r"\basm_exc_debug\b|\bexc_debug_kernel\b")

#: Lines of a report kept (the register dump and the start of the trace).
REPORT_LINES = 40


@dataclass(frozen=True)
class Fault:
    node: str
    #: The report's first lines, the timestamps as the console has them.
    lines: tuple[str, ...]
    #: Why it is most likely the emulator's, or None.
    emulator_mark: str | None

    def summary(self) -> str:
        kind = (f"with the mark of an emulator fault ({self.emulator_mark})" if self.emulator_mark
                else "with no mark of an emulator fault")
        return (f"guest kernel fault on {self.node}, {kind}: the test cannot go on with this guest; "
                "it says nothing about twonode.\n" + "\n".join(self.lines))


def impossible_eflags(value: int) -> bool:
    return bool(value & EFLAGS_ZERO_BITS) or not value & EFLAGS_ONE_BITS


def emulator_mark(lines: list[str]) -> str | None:
    for line in lines:
        m = EFLAGS.search(line)
        if m and impossible_eflags(int(m.group(1), 16)):
            return f"EFLAGS {m.group(1)} has reserved bits no CPU sets"
        if KERNEL_DEBUG_TRAP.search(line):
            return "a debug exception (#DB) in the kernel, with no debugger attached"
    return None


def find_fault(node: str, text: str) -> Fault | None:
    """The first kernel fault in console ``text``, with its report's
    first lines; None when there is none (or only o2cb's self-fence)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if FAULT_START.search(line) and not EXPECTED.search(line):
            report = lines[i:i + REPORT_LINES]
            if any(EXPECTED.search(r) for r in report[:3]):
                continue
            return Fault(node, tuple(report), emulator_mark(report))
    return None


class GuestFault(Exception):
    """A guest's kernel faulted (lab/consoles.py): the test ends at once."""


class ConsoleWatch:
    """Reads the nodes' consoles every two seconds, from where they ended
    when the test began (a guest started again by QEMU truncates its
    console: then from the top).
    On a fault it waits a moment for the rest of the report, keeps it, and
    interrupts the test: SIGUSR1 to this process, whose handler raises
    GuestFault in the test's own thread, wherever it waits (a command
    under subprocess.run is killed by it)."""

    def __init__(self, run_dir: Path, nodes: tuple[str, ...]) -> None:
        self.run_dir, self.nodes = run_dir, nodes
        self.offsets: dict[str, int] = {}
        #: Each console's size at the last read.
        self.seen: dict[str, int] = {}
        self.fault: Fault | None = None
        self.armed = False
        self.lock = threading.Lock()
        self.closed = threading.Event()
        signal.signal(signal.SIGUSR1, self._interrupt)
        threading.Thread(target=self._watch, daemon=True).start()

    def close(self) -> None:
        """Ends the watching thread."""
        self.closed.set()

    def arm(self) -> None:
        """Watch from the consoles' current ends: a fault a test before
        this one caused (or survived) is not this test's."""
        with self.lock:
            self.offsets = {node: self._size(node) for node in self.nodes}
            self.seen = dict(self.offsets)
            self.fault, self.armed = None, True

    def disarm(self) -> None:
        with self.lock:
            self.armed = False

    def _console(self, node: str) -> Path:
        return self.run_dir / f"{node}.console"

    def _size(self, node: str) -> int:
        try:
            return self._console(node).stat().st_size
        except OSError:
            return 0

    def _new_text(self, node: str) -> str:
        size = self._size(node)
        if size < self.seen.get(node, 0):  # truncated by a new QEMU
            self.offsets[node] = 0
        self.seen[node] = size
        try:
            with open(self._console(node), "rb") as f:
                f.seek(self.offsets.get(node, 0))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _watch(self) -> None:
        while not self.closed.wait(2):
            with self.lock:
                if not self.armed or self.fault:
                    continue
                for node in self.nodes:
                    if find_fault(node, self._new_text(node)):
                        time.sleep(3)  # the rest of the report
                        self.fault = find_fault(node, self._new_text(node))
                        os.kill(os.getpid(), signal.SIGUSR1)
                        break

    def _interrupt(self, signum, frame) -> None:
        if self.fault is not None and self.armed:
            self.armed = False
            raise GuestFault(self.fault.summary())
