"""`make test`'s labs (lab/suite.py): the bare bring-up in a lab of its own,
the scenarios split over two more."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lab"))

import suite  # noqa: E402


def test_every_lab_module_is_placed_in_exactly_one_lab_of_the_default_release():
    # A new module would otherwise fall to the first lab and lengthen it by
    # its whole time: place it where the labs' times stay even (CONTRIBUTING.md).
    placed = [m for lane in suite.LANES if lane.release is None for m in lane.modules]
    assert sorted(placed) == suite.lab_modules()


def test_debian_12_has_a_lab_of_its_own_for_the_bring_up_and_its_reboot():
    others = [lane for lane in suite.LANES if lane.release is not None]
    assert [(lane.release, lane.modules) for lane in others] == [("bookworm", ("test_1_bringup",))]
    # CI's time does not hold it: TWONODE_FULL=1 runs it.
    assert others[0].full_only
    # It waits for a lab of scenarios to end: started with the others, it
    # took the CPU a fencing scenario needed (and two bare bring-ups at once
    # starved each other).
    assert others[0].after in {lane.name for lane in suite.LANES if lane.release is None}


def test_an_unplaced_module_still_runs_in_the_first_lab(monkeypatch):
    present = suite.lab_modules()
    monkeypatch.setattr(suite, "lab_modules", lambda: sorted([*present, "test_99_new"]))
    lanes = suite.lanes()
    assert lanes["lab"][-1] == "tests/lab/test_99_new.py"
    default = [lane.name for lane in suite.LANES if lane.release is None]
    assert sum(len(lanes[name]) for name in default) == len(suite.lab_modules())


def test_the_bare_bring_up_runs_alone_at_low_priority_and_the_labs_are_distinct():
    lanes = {lane.name: lane for lane in suite.LANES}
    assert lanes["lab-b"].modules == ("test_1_bringup",) and lanes["lab-b"].nice > 0
    # The labs with a bare bring-up yield to the failure scenarios.
    assert all(lane.nice == 0 for lane in suite.LANES if "test_1_bringup" not in lane.modules)
    assert len({lane.instance for lane in suite.LANES}) == len(suite.LANES)


def stream_of_lab_c(output: str, logs, monkeypatch, failures: list[str], **kwargs) -> None:
    """suite.stream() over ``output``, as lab c's pytest would print it."""
    monkeypatch.setattr(suite, "LOGS", logs)
    process = suite.subprocess.Popen(["printf", "%s", output], stdout=suite.subprocess.PIPE, text=True)
    suite.stream("lab-c", process, 5, failures, **kwargs)
    process.wait()


def test_a_labs_failed_tests_are_kept_for_the_end_and_its_output_logged(tmp_path, monkeypatch, capsys):
    # pytest's own short summary, as a failing lab prints it (-rfE).
    output = ("tests/lab/test_3_split_brain.py::test_a PASSED\n"
              "=========================== short test summary info ============================\n"
              "FAILED tests/lab/test_3_split_brain.py::test_b - AssertionError: no resync\n"
              "ERROR tests/lab/test_5_interrupted.py::test_c - TimeoutError\n")
    failures: list[str] = []
    stream_of_lab_c(output, tmp_path, monkeypatch, failures)
    assert failures == ["FAILED tests/lab/test_3_split_brain.py::test_b - AssertionError: no resync",
                        "ERROR tests/lab/test_5_interrupted.py::test_c - TimeoutError"]
    assert (tmp_path / "lab-c.log").read_text() == output
    assert "lab-c | FAILED tests/lab/test_3" in capsys.readouterr().out


def _fault_log(tmp_path, *faults: tuple[str, str | None]):
    import json
    log = tmp_path / "lab.faults.jsonl"
    log.write_text("".join(json.dumps({"module": module, "test": f"tests/lab/{module}.py::t", "node": "fiori",
                                       "emulator_mark": mark, "lines": []}) + "\n" for module, mark in faults))
    return log


FAILED_4 = "FAILED tests/lab/test_4_reboot.py::test_x - conftest.GuestFault: guest kernel fault"
FAILED_7 = "FAILED tests/lab/test_7_fencing.py::test_y - AssertionError: lost writes"


def test_a_module_that_failed_on_an_emulator_fault_alone_runs_once_more(tmp_path):
    log = _fault_log(tmp_path, ("test_4_reboot", "EFLAGS 9f9cc402 has reserved bits no CPU sets"))
    assert suite.retry_after_emulator_faults([FAILED_4], log) == ["tests/lab/test_4_reboot.py"]


def test_no_retry_for_a_fault_without_the_emulators_mark_or_beside_another_failure(tmp_path):
    plain = _fault_log(tmp_path, ("test_4_reboot", None))
    assert suite.retry_after_emulator_faults([FAILED_4], plain) == []
    emulated = _fault_log(tmp_path, ("test_4_reboot", "EFLAGS 9f9cc402 has reserved bits no CPU sets"))
    # A product failure in another module of the lab: no retry hides it.
    assert suite.retry_after_emulator_faults([FAILED_4, FAILED_7], emulated) == []
    assert suite.retry_after_emulator_faults([FAILED_7], tmp_path / "none.jsonl") == []


def test_a_labs_module_times_are_kept_for_the_end(tmp_path, monkeypatch):
    # tests/lab/conftest.py's table, between pytest's section rules.
    output = ("tests/lab/test_3_split_brain.py::test_a PASSED\n"
              "================== lab module times (wall; host CPU of the lab's guests) ==================\n"
              "\n"
              "test_3_split_brain                  243 s     301 CPU-s\n"
              "all lab modules                     243 s     301 CPU-s\n"
              "======================== 1 passed in 250.00s (0:04:10) =========================\n")
    times: list[str] = []
    stream_of_lab_c(output, tmp_path, monkeypatch, [], times=times)
    assert times == ["test_3_split_brain                  243 s     301 CPU-s",
                     "all lab modules                     243 s     301 CPU-s"]
