"""lab/guestcpu.py: a lab's guest CPU, summed per module across QEMU
processes that come and go (a restore or a boot starts new ones)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from guestcpu import TICKS, GuestCpu, cpu_ticks  # noqa: E402


def write_stat(proc: Path, pid: int, utime: int, stime: int) -> None:
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    # A name with a space and a parenthesis, as QEMU's thread names may be.
    (proc / str(pid) / "stat").write_text(
        f"{pid} (qemu (x) y) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 3 0 5 0 0\n")


def test_ticks_are_read_past_a_name_with_spaces(tmp_path):
    write_stat(tmp_path, 7, 120, 30)
    assert cpu_ticks(7, tmp_path) == 150
    assert cpu_ticks(8, tmp_path) is None


def test_processes_that_come_and_go_are_summed_per_module(tmp_path):
    proc, run = tmp_path / "proc", tmp_path / "run"
    run.mkdir()
    (run / "fiori.pid").write_text("11\n")
    (run / "torchio.pid").write_text("12\n")
    write_stat(proc, 11, 1000, 0)
    write_stat(proc, 12, 500, 0)
    meter = GuestCpu(run, ("fiori", "torchio"), proc)
    meter.module = "test_a"
    meter.start(interval=3600)  # sampled by hand below
    try:
        # What the guests used before the start counts to nobody.
        assert meter.seconds == {}
        write_stat(proc, 11, 1000 + 2 * TICKS, 0)
        meter.sample()
        assert meter.seconds == {"test_a": 2.0}
        # A restore: both guests are new processes, seen first in test_b.
        meter.module = "test_b"
        (run / "fiori.pid").write_text("21\n")
        (run / "torchio.pid").write_text("22\n")
        write_stat(proc, 21, 3 * TICKS, 0)
        write_stat(proc, 22, 0, TICKS)
        meter.sample()
        write_stat(proc, 21, 4 * TICKS, TICKS)
        meter.sample()
        assert meter.seconds == {"test_a": 2.0, "test_b": 6.0}
        # A guest stopped: no pid file, nothing read, nothing fails.
        (run / "torchio.pid").unlink()
        meter.sample()
        assert meter.seconds == {"test_a": 2.0, "test_b": 6.0}
    finally:
        meter.stop()
