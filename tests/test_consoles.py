"""lab/consoles.py: a guest kernel fault is found on its console, and an
emulator fault is told from any other, on a panic captured on the lab
(``echo c > /proc/sysrq-trigger`` in a Debian 13 guest)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lab"))

import consoles  # noqa: E402

CAPTURED = (ROOT / "tests/fixtures/consoles/trixie__sysrq-crash.console").read_text()


def test_a_real_panic_is_found_with_its_first_lines_and_no_emulator_mark():
    fault = consoles.find_fault("torchio", CAPTURED)
    assert fault is not None and fault.node == "torchio"
    assert "Kernel panic - not syncing: sysrq triggered crash" in fault.lines[0]
    assert any("EFLAGS: 00000202" in line for line in fault.lines)
    assert fault.emulator_mark is None
    assert "no mark of an emulator fault" in fault.summary()


def test_a_console_without_a_fault_has_none():
    booted = CAPTURED[:CAPTURED.index("sysrq: Trigger a crash")]
    assert consoles.find_fault("torchio", booted) is None


# The same report with what a TCG fault leaves: the register values below
# are the ones reported of a guest panic under QEMU's TCG (a NULL pointer
# dereference in net_rx_action); the rest is the real capture.
@pytest.mark.parametrize("eflags", ["9f9cc402", "00000200", "00010226", "00408202"])
def test_eflags_no_cpu_can_report_mark_an_emulator_fault(eflags):
    fault = consoles.find_fault("fiori", CAPTURED.replace("EFLAGS: 00000202", f"EFLAGS: {eflags}"))
    assert fault.emulator_mark == f"EFLAGS {eflags} has reserved bits no CPU sets"
    assert "with the mark of an emulator fault" in fault.summary()


@pytest.mark.parametrize("eflags", ["00000202", "00010246", "00000286", "00050002"])
def test_eflags_a_cpu_reports_do_not(eflags):
    assert not consoles.impossible_eflags(int(eflags, 16))


def test_a_debug_exception_in_the_kernel_marks_an_emulator_fault():
    text = CAPTURED.replace(" dump_stack_lvl+0x5d/0x80", " asm_exc_debug+0x1f/0x30")
    assert "debug exception" in consoles.find_fault("fiori", text).emulator_mark


def test_o2cb_fencing_its_own_node_is_the_cluster_at_work_not_a_fault():
    # fs/ocfs2/cluster/quorum.c, o2quo_fence_self() with the panic method.
    fenced = CAPTURED.replace("Kernel panic - not syncing: sysrq triggered crash",
                              "Kernel panic - not syncing: *** ocfs2 is very sorry to be fencing this system "
                              "by panicing ***")
    assert consoles.find_fault("fiori", fenced) is None


def test_a_soft_lockup_of_a_starved_guest_is_not_a_fault():
    booted = CAPTURED[:CAPTURED.index("sysrq: Trigger a crash")]
    starved = booted + "[  212.1] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [kworker/0:1:51]\n"
    assert consoles.find_fault("fiori", starved) is None


def test_the_watch_ends_a_waiting_test_at_once_with_the_fault(tmp_path):
    import signal
    import threading
    import time

    booted = CAPTURED[:CAPTURED.index("[  113.024393] sysrq")]
    console = tmp_path / "fiori.console"
    # A panic from before the test (an earlier test's) is not this test's.
    console.write_text(CAPTURED)
    previous = signal.getsignal(signal.SIGUSR1)
    watch = consoles.ConsoleWatch(tmp_path, ("fiori", "torchio"))
    try:
        watch.arm()
        # QEMU started again (truncates), the guest boots and panics.
        console.write_text(booted)
        threading.Timer(4.5, lambda: console.write_text(CAPTURED)).start()
        t0 = time.monotonic()
        with pytest.raises(consoles.GuestFault, match="sysrq triggered crash"):
            time.sleep(60)
        assert time.monotonic() - t0 < 15
    finally:
        watch.close()
        signal.signal(signal.SIGUSR1, previous)
