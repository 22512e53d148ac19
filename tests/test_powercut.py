"""The power cut that loses the disk's unflushed writes (lab/powercut.py),
on a log that QEMU's blklogwrites wrote (tests/fixtures/powercut, see its
README): a write, a write-zeroes and a discard before a flush, one write
after it, then the process killed."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
import powercut  # noqa: E402

FIX = Path(__file__).parent / "fixtures" / "powercut"
KIB = 1024


@pytest.fixture
def base(tmp_path):
    """The disk as logging began: 64 KiB of zeros (a fresh file)."""
    path = tmp_path / "base.raw"
    path.write_bytes(bytes(64 * KIB))
    return path


def test_the_log_ends_its_flushed_part_at_the_last_flush():
    log = powercut.read_log(FIX / "log.raw")
    assert log.sector_size == 512
    assert len(log.entries) == 8 and log.flushed == 7
    assert log.entries[log.flushed - 1].is_flush
    assert not any(e.is_flush for e in log.entries[log.flushed:])


def test_the_replay_keeps_what_was_flushed_and_loses_the_rest(base, tmp_path):
    target = tmp_path / "after-cut.raw"
    assert powercut.replay(base, FIX / "log.raw", target) == 7
    disk = target.read_bytes()
    assert disk[:512] == bytes(512)                       # discarded, then flushed
    assert disk[512:4 * KIB] == b"\xab" * (4 * KIB - 512)  # written, then flushed
    assert disk[16 * KIB:16 * KIB + 512] == bytes(512)    # zeroed, then flushed
    assert disk[16 * KIB + 512:17 * KIB] == b"\x11" * 512
    assert disk[8 * KIB:8 * KIB + 512] == bytes(512)      # written after the last flush: lost


def test_replaying_everything_gives_the_disk_qemu_wrote_through(base, tmp_path):
    # What a kill of QEMU leaves today (the host's page cache keeps it all).
    target = tmp_path / "all.raw"
    assert powercut.replay(base, FIX / "log.raw", target, upto=8) == 8
    assert target.read_bytes() == (FIX / "disk.raw").read_bytes()
    assert target.read_bytes()[8 * KIB:8 * KIB + 512] == b"\xcd" * 512


def test_a_file_that_is_no_log_is_refused(tmp_path):
    other = tmp_path / "x"
    other.write_bytes(bytes(4096))
    with pytest.raises(ValueError, match="not a dm-log-writes log"):
        powercut.read_log(other)
