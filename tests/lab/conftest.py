"""End-to-end tests on the lab's QEMU guests (lab/lab.sh): real DRBD, OCFS2,
NFS and libvirt. Marked ``lab``; the lab is started when it is not up.

Each module states the lab state it needs and gets there itself (a reset
costs a boot: about 30 s under TCG), so the modules can run alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab" / "lab.sh"
PYINFRA = Path(sys.executable).with_name("pyinfra")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


class Lab:
    def run(self, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
        return subprocess.run([str(LAB), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def ensure_up(self) -> None:
        result = self.run("up")
        assert result.returncode == 0, result.stderr

    def reset(self) -> None:
        result = self.run("reset")
        assert result.returncode == 0, result.stderr

    def kill(self, node: str) -> None:
        self.run("kill", node)

    def start(self, node: str) -> None:
        result = self.run("start", node)
        assert result.returncode == 0, result.stderr

    def ssh(self, node: str, command: str, check: bool = True, timeout: int = 600) -> str:
        result = self.run("ssh", node, command, timeout=timeout)
        if check:
            assert result.returncode == 0, f"{node}: {command}: {result.stderr}{result.stdout}"
        return result.stdout

    def pyinfra(self, *args: str, inventory: str = "lab/inventory.py", timeout: int = 3600) -> "Run":
        result = subprocess.run(
            [str(PYINFRA), "-y", inventory, *args],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return Run(result.returncode, result.stdout + result.stderr)

    def deploy(self, target: str = "deploy.py", *args: str, inventory: str = "lab/inventory.py") -> "Run":
        return self.pyinfra(*args, target, inventory=inventory)


SMALL = "tests/lab/small/inventory.py"


def proc_drbd_states(text: str) -> list[tuple[str, str, str]]:
    """(cs, ro, ds) of each device in /proc/drbd."""
    return re.findall(r"\d+: cs:(\S+) ro:(\S+) ds:(\S+)", text)


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
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (debootstrap, chroot)")
    lab = Lab()
    lab.ensure_up()
    return lab
