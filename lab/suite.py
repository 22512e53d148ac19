#!/usr/bin/env python3
"""`make test`: the unit tests and the lab modules in three labs, all at once.

    .venv/bin/python lab/suite.py            # what `make test` runs
    .venv/bin/python lab/suite.py --lanes    # which module runs in which lab

Why several labs: the guests run under TCG, one host core each, and the
machine has two. The failure scenarios (link cuts, power loss, BMC down)
spend most of their time waiting on the cluster's own clocks (o2cb's 60 s,
DRBD's grace, a node's boot): run one after the other in one lab, they left
the host's cores idle 57 % of the time. The bare bring-up (test_1) is the
opposite, package installation and deploys that keep both cores busy. So
test_1 runs in a lab of its own, and the scenarios are split over two more
labs (``TWONODE_LAB_INSTANCE``: each its own guests, ports and BMC;
lab/lab.sh), by their measured times (docs/benchmarks.md). Those three run
Debian 13; with TWONODE_FULL=1 a fourth runs test_1 on Debian 12 from its
``provisioned`` checkpoint (tests/lab/test_1_bringup.py; bare then too,
CONTRIBUTING.md).

The test_1 labs run at a lower CPU priority (``nice``): when the labs want
more than the cores, the scenarios whose timing matters (fencing must end
within o2cb's 60 s) get them, and test_1, which asserts no timing, takes
what is left. Its guests still get a share, so that SSH, their o2cb
heartbeats and DRBD pings keep running: nice 5. At nice 10 a guest got 5 %
of a core while the other labs' four guests were busy, its sshd took 33 s
to send its banner and pyinfra could not connect; at nice 5 it gets 14 %.

The checkpoints are shared: the first lab that needs one builds it while
another of the same release that needs it waits (lab/checkpoints.py). Each
lab's pytest prints its own module table; lines are prefixed with the lab
they come from, and each lab's whole output is kept in ``lab-logs/LAB.log``.
The labs' times and failed tests are listed again at the very end: CI keeps
only the tail of the output. A module whose only failure was a guest's
kernel fault with an emulator's mark (lab/consoles.py) runs once more, and
the summary says so. The exit status is non-zero when any lab fails; a
module that hangs is ended by pytest-timeout, not by CI's limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab" / "lab.sh"
LOGS = ROOT / "lab-logs"
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]


@dataclass(frozen=True)
class Lane:
    name: str
    #: TWONODE_LAB_INSTANCE of its lab.
    instance: str
    #: Its modules, in the order they run (tests/lab/NAME.py).
    modules: tuple[str, ...]
    nice: int = 0
    #: pytest-timeout of one test, when not tests/lab/conftest.py's.
    test_timeout: int | None = None
    #: The guests' Debian release (TWONODE_LAB_RELEASE), when not the default.
    release: str | None = None
    #: The lab whose end this one waits for before it starts.
    after: str | None = None
    #: Run only with TWONODE_FULL=1 (CONTRIBUTING.md): CI's time does not hold it.
    full_only: bool = False


#: Placed by the last measured run (docs/benchmarks.md), every lab busy
#: beside the others: the suite is CPU-bound, so the labs end together when
#: each holds a similar share of the CPU, and the scenarios whose timing
#: matters most run where the fewest labs are still at work.
LANES = (
    # test_4 last: its survivor waits race_delay before it fences, and must
    # still be inside o2cb's dead threshold when the fence lands; early, beside
    # lab b's package installation and lab c's deploys, it was not.
    Lane("lab", "", ("test_2_alone_then_join", "test_9_vms", "test_10_replace_node", "test_4_reboot")),
    # test_timeout: the bare bring-up's deploy, at nice 5 beside the other
    # labs, takes 2900 to 3000 s here (docs/benchmarks.md), and CI's machine
    # may be slower; a hang guard, not a measure: CI's own 90 minutes are
    # the limit.
    Lane("lab-b", "b", ("test_1_bringup",), nice=5, test_timeout=4800),
    # converged-small built here first; test_5 runs with TWONODE_FULL=1 only.
    Lane("lab-c", "c", ("test_3_split_brain", "test_5_interrupted", "test_6_live_changes", "test_12_nfs",
                        "test_7_fencing", "test_8_bmc_unreachable", "test_11_integrity")),
    # Debian 12 beside the default 13 (docs/concepts.md, "Debian 12 and 13"): the
    # bring-up from the provisioned checkpoint, a node's first reboot, and
    # the rolling upgrade, once lab-c is done. Started with the others, its
    # guests took enough CPU from the first lab's that test_4's survivor,
    # which waits race_delay before it fences, did not serve on (with
    # TWONODE_FULL=1 it is a second bare bring-up, which must not start
    # beside the first either).
    # With TWONODE_FULL=1 only: measured on a fresh clone, the suite with it
    # took the machine's two cores for over 90 minutes (docs/benchmarks.md).
    Lane("lab-d", "d", ("test_1_bringup",), nice=5, test_timeout=4800, release="bookworm", after="lab-c",
         full_only=True),
)


def lab_modules() -> list[str]:
    return sorted(p.stem for p in (ROOT / "tests" / "lab").glob("test_*.py"))


def lanes() -> dict[str, list[str]]:
    """Each lab's module paths; a module no lane of the default release
    names runs in the first lab (tests/test_suite_lanes.py asks that every
    one be placed)."""
    placed = {m for lane in LANES if lane.release is None for m in lane.modules}
    present = set(lab_modules())
    paths = {lane.name: [f"tests/lab/{m}.py" for m in lane.modules if m in present] for lane in LANES}
    paths[LANES[0].name] += [f"tests/lab/{m}.py" for m in lab_modules() if m not in placed]
    return paths


#: The heading of the table of module times that tests/lab/conftest.py prints.
TIMES = " lab module times"


def stream(name: str, process: subprocess.Popen, width: int, failures: list[str], mode: str = "w",
           times: list[str] | None = None) -> None:
    """Copies a lab's output to ours (prefixed) and to its log; keeps the
    lines of pytest's short summary (``-rfE``) that name a failed test, and
    those of its table of module times (``times``)."""
    assert process.stdout is not None
    in_times = False
    with open(LOGS / f"{name}.log", mode) as log:
        for line in process.stdout:
            log.write(line)
            log.flush()
            sys.stdout.write(f"{name:<{width}} | {line}")
            sys.stdout.flush()
            if line.startswith(("FAILED ", "ERROR ")):
                failures.append(line.rstrip("\n"))
            if line.startswith("="):
                in_times = TIMES in line
            elif in_times and times is not None and line.strip():
                times.append(line.rstrip("\n"))


def module_of(failure: str) -> str:
    """The module a short-summary line names: "FAILED tests/lab/test_4_reboot.py::test_x - ..." """
    return failure.split()[1].split("::")[0]


def emulator_faults(fault_log: Path) -> dict[str, dict]:
    """The modules (tests/lab/NAME.py) whose guests met a kernel fault with
    an emulator's mark (tests/lab/conftest.py writes the log), each with
    its first such fault."""
    faults: dict[str, dict] = {}
    if fault_log.exists():
        for line in fault_log.read_text().splitlines():
            fault = json.loads(line)
            if fault["emulator_mark"]:
                faults.setdefault(f"tests/lab/{fault['module']}.py", fault)
    return faults


def retry_after_emulator_faults(failures: list[str], fault_log: Path) -> list[str]:
    """The modules to run once more: those that failed only because a
    guest met an emulator fault, when no other module of the lab failed.
    None after a second fault (the log is read once per lab and run)."""
    failed = {module_of(line) for line in failures}
    faulted = emulator_faults(fault_log)
    if not failed or not failed <= set(faulted):
        return []
    return sorted(failed)


def main() -> int:
    if sys.argv[1:] == ["--lanes"]:
        for name, modules in lanes().items():
            print(name, " ".join(modules))
        return 0
    t0 = time.monotonic()
    if os.environ.get("TWONODE_SKIP_LAB") == "1":
        unit = subprocess.run([*PYTEST, "-m", "not lab"], cwd=ROOT)
        if unit.returncode == 0:
            print("lab suite: TWONODE_SKIP_LAB=1: unit tests only, every lab test skipped on purpose")
        return unit.returncode
    # The default release's image (and the host's qemu and debootstrap)
    # before any lab starts: most labs need it, and only one may install
    # host packages. The other release's lab builds its own as it starts
    # (lab.sh, under its build lock), beside the labs already running.
    subprocess.run([str(LAB), "image"], cwd=ROOT, check=True)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # -v: a line per test as it ends (without it a module's dots end their
    # line only when the module does: no sign of life for a quarter hour).
    # -rfE: the short summary names each failed test with its message.
    commands = {}
    paths = lanes()
    for lane in LANES:
        if not paths[lane.name]:
            continue
        if lane.full_only and os.environ.get("TWONODE_FULL") != "1":
            print(f"{lane.name}: not run ({', '.join(lane.modules)} on {lane.release or 'the default release'}): "
                  "TWONODE_FULL=1 runs it (CONTRIBUTING.md)", flush=True)
            continue
        lane_env = {**env, "TWONODE_LAB_INSTANCE": lane.instance}
        if lane.release:
            lane_env["TWONODE_LAB_RELEASE"] = lane.release
        if lane.test_timeout:
            lane_env["TWONODE_LAB_TEST_TIMEOUT"] = str(lane.test_timeout)
        nice = ["nice", "-n", str(lane.nice)] if lane.nice else []
        commands[lane.name] = ([*nice, *PYTEST, "-v", "-rfE", *paths[lane.name]], lane_env)
    width = max(map(len, commands))
    LOGS.mkdir(exist_ok=True)
    failures: dict[str, list[str]] = {name: [] for name in commands}
    ended = {name: threading.Event() for name in commands}
    codes: dict[str, int] = {}
    retried: dict[str, list[str]] = {}
    #: Each lab's own time, from its start (after the lab it waits for) to its guests' stop.
    seconds: dict[str, float] = {}
    #: Each lab's module times, wall and its guests' CPU (repeated at the end).
    times: dict[str, list[str]] = {name: [] for name in commands}

    def run(lane: Lane) -> None:
        argv, lane_env = commands[lane.name]
        fault_log = LOGS / f"{lane.name}.faults.jsonl"
        fault_log.unlink(missing_ok=True)
        lane_env = {**lane_env, "TWONODE_FAULT_LOG": str(fault_log)}
        if lane.after in ended:
            ended[lane.after].wait()
            print(f"{lane.name:<{width}} | (starts now: {lane.after} has ended)", flush=True)
        started = time.monotonic()
        try:
            process = subprocess.Popen(argv, cwd=ROOT, env=lane_env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, bufsize=1)
            stream(lane.name, process, width, failures[lane.name], times=times[lane.name])
            codes[lane.name] = process.wait()
            # A guest's kernel that met an emulator fault (lab/consoles.py)
            # says nothing about twonode: its modules run once more, from
            # their start, and the summary says so. A fault in the retry
            # fails the lab like any failure.
            again = retry_after_emulator_faults(failures[lane.name], fault_log) if codes[lane.name] else []
            if again:
                faults = emulator_faults(fault_log)
                retried[lane.name] = [f"{m} ({faults[m]['node']}: {faults[m]['emulator_mark']})" for m in again]
                print(f"{lane.name:<{width}} | (emulator fault: running {' '.join(again)} once more)", flush=True)
                failures[lane.name].clear()
                fault_log.unlink(missing_ok=True)
                nice = argv[:argv.index(sys.executable)]
                process = subprocess.Popen([*nice, *PYTEST, "-v", "-rfE", *again], cwd=ROOT, env=lane_env,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
                stream(lane.name, process, width, failures[lane.name], mode="a")
                codes[lane.name] = process.wait()
        finally:
            # Every lab's guests stop as soon as its modules end, the
            # first's too: a guest left running takes CPU from the labs still
            # at work (test_9 ends with a tiny VM, TCG inside TCG, on fiori:
            # a fifth of a core, measured, for the rest of the run).
            subprocess.run([str(LAB), "down"], cwd=ROOT, env=lane_env)
            seconds[lane.name] = time.monotonic() - started
            ended[lane.name].set()

    # The unit tests run beside the labs, not before them: most of their
    # time is spent waiting (scripts' timeouts and retries), which the labs'
    # first restores and boots fill, and a failure still fails the suite.
    UNIT = "unit"
    width = max(width, len(UNIT))
    failures[UNIT] = []

    def run_units() -> None:
        started = time.monotonic()
        process = subprocess.Popen([*PYTEST, "-m", "not lab", "-rfE"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        stream(UNIT, process, width, failures[UNIT])
        codes[UNIT] = process.wait()
        seconds[UNIT] = time.monotonic() - started

    threads = [threading.Thread(target=run_units)]
    threads += [threading.Thread(target=run, args=(lane,)) for lane in LANES if lane.name in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = {name: codes.get(name, 1) for name in (UNIT, *commands)}

    print(f"\nlab suite: {time.monotonic() - t0:.0f} s in all (unit tests included); "
          + ", ".join(f"{name} {seconds.get(name, 0):.0f} s {'passed' if code == 0 else f'FAILED (exit {code})'}"
                      for name, code in codes.items()))
    # Where the CPU went: the suite is CPU-bound, so a module's guest CPU
    # is what it costs the others (lab/guestcpu.py).
    for name, lines in times.items():
        for line in lines:
            print(f"{name:<{width}} | {line}")
    for name, modules in retried.items():
        print(f"{name}: RETRIED once after an emulator fault in a guest's kernel: {'; '.join(modules)}"
              f" ({LOGS.name}/{name}.log has both runs)")
    for name, code in codes.items():
        if code != 0:
            print(f"{name} ({LOGS.name}/{name}.log):")
            for line in failures[name] or ["(no test failed: pytest itself ended with this code)"]:
                print(f"  {line}")
    return next((code for code in codes.values() if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main())
