"""How big a replicated volume is at each layer above its LV: the DRBD
device, and the OCFS2 filesystem on it. What an online grow compares
(twonode/grow.py)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .sections import split_sections
from .serial import JsonDataclass

#: debugfs.ocfs2's ``stat //global_bitmap``: the bitmap of every cluster of
#: the filesystem; its size is the filesystem's ("... Group: 0 (root)   Size: N").
_BITMAP_SIZE = re.compile(r"\bGroup: .*\bSize: (\d+)\s*$")


@dataclass(frozen=True)
class VolumeSize(JsonDataclass):
    #: The DRBD device's size in bytes; None when the resource is not up.
    device_bytes: int | None = None
    #: The OCFS2 filesystem's size in bytes (its global bitmap); None when
    #: it cannot be read here: no filesystem yet, or the device is
    #: Secondary (DRBD 8.4 refuses to open it even read-only).
    filesystem_bytes: int | None = None


def filesystem_size_read(device: str) -> str:
    """Shell: the line of the OCFS2 filesystem's global bitmap on ``device``
    that gives its size (debugfs.ocfs2, the superblock read raw, mounted or
    not); nothing when there is no OCFS2 to read. Only its first "Size:"
    line is kept: the bitmap's chain listing runs long on big volumes."""
    return (f"debugfs.ocfs2 -R 'stat //global_bitmap' {shlex.quote(device)} 2>/dev/null "
            "| sed -n '/Size:/{p;q}'")


def parse_sector_count(lines: list[str]) -> int | None:
    """/sys/block/drbdN/size: 512-byte sectors."""
    text = "".join(lines).strip()
    return int(text) * 512 if text.isdigit() else None


def parse_bitmap_size(lines: list[str]) -> int | None:
    for line in lines:
        match = _BITMAP_SIZE.search(line)
        if match:
            return int(match.group(1))
    return None


class VolumeSizes(FactBase[dict[str, VolumeSize]]):
    """
    The DRBD device's and the OCFS2 filesystem's size of each given
    ``(resource, minor, device)``, in bytes.

    .. code:: python

        {"drbd_small": VolumeSize(device_bytes=268390400, filesystem_bytes=268390400)}
    """

    default = dict

    def command(self, volumes: tuple[tuple[str, int, str], ...]) -> str:
        # The device's size from sysfs (no open of the device).
        parts = []
        for resource, minor, device in volumes:
            parts.append(f"echo @@{shlex.quote(resource)}; cat /sys/block/drbd{int(minor)}/size 2>/dev/null")
            parts.append(f"echo @@{shlex.quote(resource)}:fs; [ -b {shlex.quote(device)} ] && "
                         + filesystem_size_read(device))
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict[str, VolumeSize]:
        sections = split_sections(output)
        return {
            name: VolumeSize(device_bytes=parse_sector_count(lines),
                             filesystem_bytes=parse_bitmap_size(sections.get(f"{name}:fs", [])))
            for name, lines in sections.items() if name and not name.endswith(":fs")
        }
