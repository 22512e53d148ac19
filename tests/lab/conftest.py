"""End-to-end tests on the lab's QEMU guests (lab/lab.sh): real DRBD, OCFS2,
NFS and libvirt. Marked ``lab``; the lab is started when it is not up.

Each module states the lab state it needs and gets there itself, so the
modules can run alone: from bare Debian (``lab.reset()``, test_1 only), or
from a cached checkpoint (``lab.restore(NAME)``, lab/checkpoints.py) that
this tree built and that is verified before the module relies on it. What a
module asserts is always reached by the deploy it runs, not by the
checkpoint it starts from.

Every wait is bounded (pytest-timeout, and a timeout on every command); a
failing lab test gets the guests' last console lines and DRBD states in its
report, and the session ends with a table of each module's time.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from twonode.lab import FULL_ENV, TESTS_MARK, bmc_credentials_dir, bmc_dir, run_dir

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab" / "lab.sh"
PYINFRA = Path(sys.executable).with_name("pyinfra")
sys.path.insert(0, str(ROOT / "lab"))

import checkpoints  # noqa: E402  (lab/checkpoints.py)
import consoles  # noqa: E402  (lab/consoles.py)
import guestcpu  # noqa: E402  (lab/guestcpu.py)
from checkpoints import SMALL, proc_drbd_states  # noqa: E402,F401  (used by the modules)

#: A scenario that runs on demand only (TWONODE_FULL=1): CI's time does not hold it.
FULL = pytest.mark.skipif(os.environ.get(FULL_ENV) != "1",
                          reason=f"{FULL_ENV}=1 runs it (CI's time does not hold it)")

#: Seconds one lab test (its fixtures included) may take before it is
#: failed: a hung guest ends the test, never the CI run. lab/suite.py gives
#: the second lab, which runs at a lower priority, more.
#: Set to 1: the lab tests are skipped on purpose (otherwise a lab that
#: cannot run fails them).
SKIP_ENV = "TWONODE_SKIP_LAB"

LAB_TEST_TIMEOUT = int(os.environ.get("TWONODE_LAB_TEST_TIMEOUT", "1500"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)
            item.add_marker(pytest.mark.timeout(LAB_TEST_TIMEOUT))
    # The unit tests first: a broken parser fails in seconds, not after the lab.
    items.sort(key=lambda item: item.get_closest_marker("lab") is not None)


# --- Each module's time, printed at the end of the session.

_module_started: dict[str, float] = {}
_module_seconds: dict[str, float] = {}


#: The lab's guest CPU per module (lab/guestcpu.py): from the first lab test on.
_guest_cpu: guestcpu.GuestCpu | None = None


def pytest_runtest_setup(item):
    global _guest_cpu
    _module_started.setdefault(item.module.__name__, time.monotonic())
    if item.get_closest_marker("lab") is not None:
        if _guest_cpu is None:
            _guest_cpu = guestcpu.GuestCpu(run_dir(), checkpoints.NODES)
            _guest_cpu.start()
        _guest_cpu.module = item.module.__name__
    if item.module.__name__ in _faulted_modules:
        pytest.skip("a guest's kernel faulted earlier in this module (see that test's report)")


def pytest_runtest_teardown(item, nextitem):
    # A module skipped by its mark (pytestmark skipif) never reached our
    # setup hook: it has no start, and no time worth printing.
    name = item.module.__name__
    if name in _module_started and (nextitem is None or nextitem.module.__name__ != name):
        _module_seconds[name] = time.monotonic() - _module_started[name]


#: Measurements the lab tests make (printed at the end, never asserted on
#: time): e.g. how long I/O froze on the survivor of a link cut.
measurements: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if measurements:
        terminalreporter.section("lab measurements")
        for line in measurements:
            terminalreporter.write_line(line)
    lab_modules = {m: s for m, s in _module_seconds.items() if m.startswith("test_") and m[5].isdigit()}
    if not lab_modules:
        return
    # Beside each module's wall time, its guests' CPU: the suite is
    # CPU-bound, so that is what a module costs the others.
    cpu: dict[str, float] = {}
    if _guest_cpu is not None:
        _guest_cpu.stop()
        cpu = _guest_cpu.seconds
    terminalreporter.section("lab module times (wall; host CPU of the lab's guests)")
    for module, seconds in lab_modules.items():
        terminalreporter.write_line(f"{module:<32} {seconds:6.0f} s {cpu.get(module, 0):7.0f} CPU-s")
    terminalreporter.write_line(f"{'all lab modules':<32} {sum(lab_modules.values()):6.0f} s "
                                f"{sum(cpu.get(m, 0) for m in lab_modules):7.0f} CPU-s")


# --- What the guests said, on failure.

def _guest_report() -> str:
    lines = []
    for node in checkpoints.NODES:
        console = run_dir() / f"{node}.console"
        try:
            tail = console.read_text(errors="replace").splitlines()[-25:]
        except OSError as error:
            tail = [str(error)]
        lines += [f"--- {node}: last console lines", *tail]
        try:
            result = subprocess.run([str(LAB), "ssh", node, "cat /proc/drbd; findmnt -t ocfs2 || true"],
                                    capture_output=True, text=True, timeout=30)
            lines += [f"--- {node}: /proc/drbd and OCFS2 mounts", result.stdout + result.stderr]
        except subprocess.TimeoutExpired:
            lines.append(f"--- {node}: no answer over SSH within 30 s")
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.get_closest_marker("lab") is not None and call.when != "teardown":
        report.sections.append(("guests", _guest_report()))


# --- The guests' consoles, watched for kernel faults while a lab test runs.

_watch: consoles.ConsoleWatch | None = None


def _record_fault(item, fault: consoles.Fault) -> None:
    """For lab/suite.py (TWONODE_FAULT_LOG): which module met which fault."""
    path = os.environ.get("TWONODE_FAULT_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"module": item.module.__name__, "test": item.nodeid, "node": fault.node,
                                  "emulator_mark": fault.emulator_mark, "lines": fault.lines[:8]}) + "\n")


#: Modules whose guests faulted: their later tests are skipped, as the
#: guests they build on are gone.
_faulted_modules: set[str] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _watch
    lab_test = item.get_closest_marker("lab") is not None
    if lab_test:
        _watch = _watch or consoles.ConsoleWatch(run_dir(), checkpoints.NODES)
        _watch.arm()
    try:
        yield
    finally:
        if lab_test:
            _watch.disarm()
            if _watch.fault is not None:
                _faulted_modules.add(item.module.__name__)
                _record_fault(item, _watch.fault)


class Lab:
    def run(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run([str(LAB), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def ensure_up(self) -> None:
        result = self.run("up")
        assert result.returncode == 0, result.stderr

    def mark(self) -> None:
        """The guests now hold a test's work: `make deploy` resets them
        before it deploys the example (twonode/lab.py)."""
        run_dir().mkdir(parents=True, exist_ok=True)
        (run_dir() / TESTS_MARK).write_text(f"{os.environ.get('PYTEST_CURRENT_TEST', 'a lab test').split('::')[0]}\n")

    def reset(self) -> None:
        """Bare Debian guests (fresh disks from the base image)."""
        self.mark()
        result = self.run("reset")
        assert result.returncode == 0, result.stderr

    def restore(self, checkpoint: str) -> None:
        """Both guests in a verified checkpoint (lab/checkpoints.py)."""
        self.mark()
        checkpoints.restore(checkpoint)

    def bmc_log(self) -> Path:
        """Every action the lab BMC (lab/bmc.py) was asked for, one per line."""
        return bmc_dir() / "bmc.log"

    def bmc_actions(self) -> str:
        """The BMC's log so far: empty before its first action (a fence
        that finds the node off asks for none; the log is made by the first)."""
        return self.bmc_log().read_text() if self.bmc_log().exists() else ""

    def bmc_password(self) -> str:
        return (bmc_credentials_dir() / "password").read_text().strip()

    def kill(self, node: str) -> None:
        self.run("kill", node)

    def start(self, node: str) -> None:
        result = self.run("start", node)
        assert result.returncode == 0, result.stderr

    def ssh(self, node: str, command: str, check: bool = True, timeout: int = 300) -> str:
        result = self.run("ssh", node, command, timeout=timeout)
        if check:
            assert result.returncode == 0, f"{node}: {command}: {result.stderr}{result.stdout}"
        return result.stdout

    def pyinfra(self, *args: str, inventory: str = "lab/inventory.py", timeout: int | None = None) -> "Run":
        # Bounded by the test's own timeout: test_1's bring-up from bare
        # Debian took over 20 minutes beside the other labs' busiest modules
        # (its lab's tests get TWONODE_LAB_TEST_TIMEOUT=3600, lab/suite.py).
        timeout = timeout or max(1200, LAB_TEST_TIMEOUT - 300)
        result = subprocess.run(
            [str(PYINFRA), "-y", inventory, *args],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return Run(result.returncode, result.stdout + result.stderr)

    def deploy(self, target: str = "deploy.py", *args: str, inventory: str = "lab/inventory.py") -> "Run":
        return self.pyinfra(*args, target, inventory=inventory)


def wait_until(check, timeout=900, interval=5):
    """``check()``'s first true value, polled; an AssertionError (SSH not
    back yet) counts as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out; last: {last}")


def nfs_servers(lab) -> list[str]:
    """The nodes that say they serve the cluster's NFS (twonode-nfs, nfs.mode
    single): exactly one, on a healthy cluster. A node that cannot be asked
    (powered off) serves nobody."""
    return [node for node in ("fiori", "torchio")
            if lab.ssh(node, "cat /run/twonode/nfs-server 2>/dev/null || true", check=False).split()[:1] == [node]]


def variant(tmp_path, edit, inventory: str = SMALL) -> str:
    """An inventory for the lab guests whose group_data is ``inventory``'s
    (the small cluster's by default), edited by ``edit(cluster)``."""
    cluster = runpy.run_path(str(ROOT / Path(inventory).parent / "group_data" / "all.py"))["cluster"]
    edit(cluster)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(f"cluster = {cluster!r}\n")
    inventory = tmp_path / "inventory.py"
    inventory.write_text(textwrap.dedent("""\
        from twonode.lab import lab_hosts

        nodes = lab_hosts(__file__)
    """))
    return str(inventory)


def mount_id(mount_point: str) -> str:
    """Shell: the mount ID of ``mount_point``, a new one after any unmount."""
    return f"awk '$5 == \"{mount_point}\" {{print $1}}' /proc/self/mountinfo"


class Run:
    def __init__(self, returncode: int, output: str):
        self.returncode, self.output = returncode, output

    def _ops_reporting(self, status: str) -> list[str]:
        """Operations for which some host printed `status` ("Success" for a
        change, "Error" for a failure)."""
        found, current = [], None
        for line in self.output.splitlines():
            m = re.match(r"--> Starting (?:serial )?operation: (.*)", line)
            if m:
                current = m.group(1).strip()
            elif current and re.match(rf"\s+\[[^\]]+\]\s+{status}", line) and current not in found:
                found.append(current)
        return found

    @property
    def started_ops(self) -> list[str]:
        """Every operation pyinfra prepared (and started), changed or not."""
        return list(dict.fromkeys(re.findall(r"--> Starting (?:serial )?operation: (.*)", self.output)))

    @property
    def changed_ops(self) -> list[str]:
        return self._ops_reporting("Success")

    @property
    def failed_ops(self) -> list[str]:
        return self._ops_reporting("Error")

    def unreachable(self) -> list[str]:
        return re.findall(r"\[(\w+)\]\s+Could not connect", self.output)

    def __repr__(self) -> str:
        return f"Run(rc={self.returncode}, output=...{self.output[-3000:]})"


@pytest.fixture(scope="session")
def lab() -> Lab:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the lab tests are skipped on purpose")
    if os.geteuid() != 0:
        # A run that cannot reach the lab proves nothing: it fails, unless
        # skipping was asked for by name.
        pytest.fail(f"the lab needs root (debootstrap, chroot, QEMU): run as root, or set {SKIP_ENV}=1 to "
                    "run the unit tests alone and say so", pytrace=False)
    # Not booted here: every module starts with lab.reset() or lab.restore(),
    # which stop whatever runs; a boot now would be thrown away (a minute).
    return Lab()
