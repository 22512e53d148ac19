"""`make test`'s two labs (lab/suite.py): the bare bring-up in the second,
the scenarios in the first."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lab"))

import suite  # noqa: E402


def test_the_second_labs_modules_exist():
    # A renamed module would otherwise fall back to the first lab, silently
    # making the suite as long as both labs' modules together.
    for module in suite.SECOND_LAB:
        assert (ROOT / module).is_file(), module


def test_the_bare_bring_up_runs_in_the_second_lab_and_the_scenarios_in_the_first():
    lanes = suite.lanes()
    assert lanes["lab-b"] == ["tests/lab/test_1_bringup.py"]
    assert "tests/lab/test_7_fencing.py" in lanes["lab"]
