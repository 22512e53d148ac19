"""`make deploy` after `make test`: the guests a lab test left (its own
cluster) are reset to bare Debian before the example is deployed; a lab
the tests did not touch is deployed as it is (twonode/lab.py, Makefile)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def decide(lab_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "twonode.lab"], cwd=ROOT, capture_output=True, text=True,
                          env={"TWONODE_LAB_DIR": str(lab_dir), "PATH": "/usr/bin:/bin"})


def test_a_lab_the_tests_left_is_reset_once_and_an_untouched_one_is_kept(tmp_path):
    assert decide(tmp_path).returncode == 0
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "left-by-tests").write_text("tests/lab/test_12_nfs.py\n")
    first = decide(tmp_path)
    assert first.returncode == 3 and "what tests/lab/test_12_nfs.py left" in first.stdout, first
    # Forgotten once reset: the deploy that follows, and the next, keep it.
    assert decide(tmp_path).returncode == 0
    # Another lab's mark is that lab's.
    (tmp_path / "run-c").mkdir()
    (tmp_path / "run-c" / "left-by-tests").write_text("tests/lab/test_6_live_changes.py\n")
    assert decide(tmp_path).returncode == 0
