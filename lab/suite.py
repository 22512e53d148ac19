#!/usr/bin/env python3
"""`make test`: the unit tests, then the lab modules in two labs side by side.

    .venv/bin/python lab/suite.py            # what `make test` runs
    .venv/bin/python lab/suite.py --lanes    # which module runs in which lab

Why two labs: the guests run under TCG, one host core each, and the machine
has two. The failure scenarios (link cuts, power loss, BMC down) spend most
of their time waiting on the cluster's own clocks (o2cb's 60 s, DRBD's
grace, a node's boot), when their guests leave a core idle; the bare
bring-up (test_1) is the opposite, 12 minutes of package installation and
deploys that keep both cores busy. So test_1 runs in a second lab
(``TWONODE_LAB_INSTANCE=b``: its own guests, ports and BMC; lab/lab.sh)
while the other modules run in the first, one after the other as before.

The second lab runs at a lower CPU priority (``nice``): when both labs want
the cores, the scenarios whose timing matters (fencing must end within
o2cb's 60 s) get them, and test_1, which asserts no timing, takes what is
left. Its guests still get a share (nice 10: about a tenth of a core when
both labs are busy, far from ``nice 19``'s near-nothing), so their own o2cb
heartbeats and DRBD pings keep running.

Each lab's pytest prints its own module table; lines are prefixed with the
lab they come from. The exit status is non-zero when either lab fails; a
module that hangs is ended by pytest-timeout, not by CI's limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab" / "lab.sh"
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]

#: Modules run in the second lab, at lower priority: CPU-bound, no timing
#: asserted. Every other module under tests/lab runs in the first lab.
SECOND_LAB = ("tests/lab/test_1_bringup.py",)
SECOND_LAB_NICE = 10
#: pytest-timeout of one test in the second lab (tests/lab/conftest.py):
#: test_1's deploy from bare Debian, 12 minutes alone, may take twice that
#: beside the first lab's busiest modules.
SECOND_LAB_TEST_TIMEOUT = 2700


def lanes() -> dict[str, list[str]]:
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "lab").glob("test_*.py"))
    return {
        "lab": [m for m in modules if m not in SECOND_LAB],
        "lab-b": [m for m in modules if m in SECOND_LAB],
    }


def stream(name: str, process: subprocess.Popen, width: int) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(f"{name:<{width}} | {line}")
        sys.stdout.flush()


def main() -> int:
    if sys.argv[1:] == ["--lanes"]:
        for name, modules in lanes().items():
            print(name, " ".join(modules))
        return 0
    t0 = time.monotonic()
    unit = subprocess.run([*PYTEST, "-m", "not lab"], cwd=ROOT)
    if unit.returncode != 0:
        return unit.returncode
    # The image (and the host's qemu and debootstrap) before either lab
    # starts: both need it, and only one may install packages on the host.
    if os.geteuid() == 0:  # without root the lab tests skip themselves
        subprocess.run([str(LAB), "image"], cwd=ROOT, check=True)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # -v: a line per test as it ends (without it a module's dots end their
    # line only when the module does: no sign of life for a quarter hour).
    commands = {}
    for name, modules in lanes().items():
        if not modules:
            continue
        if name == "lab-b":
            commands[name] = (["nice", "-n", str(SECOND_LAB_NICE), *PYTEST, "-v", *modules],
                              {**env, "TWONODE_LAB_INSTANCE": "b",
                               "TWONODE_LAB_TEST_TIMEOUT": str(SECOND_LAB_TEST_TIMEOUT)})
        else:
            commands[name] = ([*PYTEST, "-v", *modules], {**env, "TWONODE_LAB_INSTANCE": ""})
    width = max(map(len, commands))
    processes, readers = {}, []
    for name, (argv, lane_env) in commands.items():
        processes[name] = subprocess.Popen(argv, cwd=ROOT, env=lane_env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True, bufsize=1)
        readers.append(threading.Thread(target=stream, args=(name, processes[name], width)))
        readers[-1].start()
    codes = {name: p.wait() for name, p in processes.items()}
    for reader in readers:
        reader.join()
    # The second lab is only the suite's: its guests stop with it.
    subprocess.run([str(LAB), "down"], cwd=ROOT, env={**env, "TWONODE_LAB_INSTANCE": "b"})

    print(f"\nlab suite: {time.monotonic() - t0:.0f} s in all (unit tests included); "
          + ", ".join(f"{name} {'passed' if code == 0 else f'FAILED (exit {code})'}"
                      for name, code in codes.items()))
    return next((code for code in codes.values() if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main())
