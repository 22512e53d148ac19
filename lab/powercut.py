"""A power loss that loses what the disk had not flushed, for the lab.

QEMU's ``blklogwrites`` filter (``-blockdev driver=blklogwrites,
file=DISK,log=LOG``) passes every guest write through to the disk and
appends it to LOG, in the format of Linux's dm-log-writes: a superblock
(magic, version, entry count, sector size), then per request one sector of
header (sector, sector count, flags: flush, FUA, discard, mark) and its
data. QEMU rewrites the superblock's entry count only when it logs a
flush, so the count always ends at the guest's last completed flush.

A real drive keeps unflushed writes in a volatile cache and loses them
with the power. So the disk as the guest would find it after a power cut
is the disk as it was when logging began, with the log replayed up to the
last flush (``replay``); anything the guest was told was durable (an
fsync, a journal commit, DRBD's flushes) is there, and nothing else need
be. Replaying further, to any entry after the last flush, gives the other
states a drive may legally leave (``entries`` lists them all).

    python3 lab/powercut.py replay BASE LOG TARGET [--upto N]
    python3 lab/powercut.py show LOG
"""

from __future__ import annotations

import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

MAGIC = 0x6a736677736872
FLUSH, FUA, DISCARD, MARK = 1, 2, 4, 8
_SUPER = struct.Struct("<QQQI")
_ENTRY = struct.Struct("<QQQQ")


@dataclass(frozen=True)
class Entry:
    #: Where on the disk, in log sectors.
    sector: int
    nr_sectors: int
    flags: int
    #: Where its data starts in the log (bytes); a mark's text is data too.
    data_offset: int
    data_len: int

    @property
    def is_flush(self) -> bool:
        return bool(self.flags & FLUSH)


@dataclass(frozen=True)
class Log:
    sector_size: int
    #: Entries up to and including the last flush QEMU recorded.
    flushed: int
    #: Every entry found, flushed or not (the log's tail may hold more).
    entries: tuple[Entry, ...]


def read_log(path: Path) -> Log:
    with open(path, "rb") as f:
        magic, version, nr_entries, sector_size = _SUPER.unpack(f.read(_SUPER.size))
        if magic != MAGIC or version != 1:
            raise ValueError(f"{path}: not a dm-log-writes log (magic {magic:#x}, version {version})")
        entries = []
        offset = sector_size
        while True:
            f.seek(offset)
            header = f.read(_ENTRY.size)
            if len(header) < _ENTRY.size:
                break
            sector, nr_sectors, flags, data_len = _ENTRY.unpack(header)
            if (sector, nr_sectors, flags, data_len) == (0, 0, 0, 0) or flags & ~(FLUSH | FUA | DISCARD | MARK | 16):
                break
            data = offset + sector_size
            # A write's data is its sectors; a flush or discard has none
            # in the log; a mark's text is data_len bytes, sector-rounded.
            stored = 0 if flags & (FLUSH | DISCARD) else (
                nr_sectors * sector_size if nr_sectors else -(-data_len // sector_size) * sector_size)
            entries.append(Entry(sector, nr_sectors, flags, data, stored))
            offset = data + stored
    return Log(sector_size=sector_size, flushed=min(nr_entries, len(entries)), entries=tuple(entries))


def replay(base: Path, log_path: Path, target: Path, upto: int | None = None) -> int:
    """``target`` := ``base`` (a raw image) with the log's first ``upto``
    entries applied (default: up to the last flush). Returns how many."""
    log = read_log(log_path)
    upto = log.flushed if upto is None else upto
    if not 0 <= upto <= len(log.entries):
        raise ValueError(f"{log_path}: {upto} entries asked, {len(log.entries)} in the log")
    shutil.copyfile(base, target)
    with open(log_path, "rb") as src, open(target, "r+b") as dst:
        for entry in log.entries[:upto]:
            if entry.flags & (FLUSH | MARK):
                continue
            at = entry.sector * log.sector_size
            length = entry.nr_sectors * log.sector_size
            dst.seek(at)
            if entry.flags & DISCARD:
                dst.write(bytes(length))
                continue
            src.seek(entry.data_offset)
            dst.write(src.read(length))
    return upto


def main(argv: list[str]) -> int:
    if argv[:1] == ["show"] and len(argv) == 2:
        log = read_log(Path(argv[1]))
        print(f"sector size {log.sector_size}, {len(log.entries)} entries, {log.flushed} up to the last flush")
        return 0
    if argv[:1] == ["replay"] and len(argv) in (4, 6):
        upto = int(argv[5]) if len(argv) == 6 and argv[4] == "--upto" else None
        n = replay(Path(argv[1]), Path(argv[2]), Path(argv[3]), upto)
        print(f"{argv[3]}: {argv[1]} with {n} entries of {argv[2]}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
