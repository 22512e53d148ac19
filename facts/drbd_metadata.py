"""A DRBD resource's on-disk metadata: its generation identifiers, read
with drbd-utils where it is installed and from the superblock itself where
it is not yet (a node reinstalled with its data disks kept)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .sections import section_text
from .serial import JsonDataclass

#: The current-UUID that ``create-md`` writes: the device never held data.
INITIAL_UUID = "0000000000000004"


@dataclass(frozen=True)
class DrbdMetadata(JsonDataclass):
    """A resource's generation identifiers (``drbdadm get-gi``: the kernel's
    while the resource is up, the on-disk metadata's while it is down)."""

    #: DRBD's internal metadata is present.
    present: bool
    #: The current data-generation UUID, upper-case hex ("0000000000000004"
    #: right after create-md: the device never held replicated data).
    current_uuid: str | None = None
    #: The data-consistency flag: False on a side whose sync never finished.
    consistent: bool | None = None
    #: What the command printed instead of identifiers or "no metadata":
    #: what the device holds is unknown.
    error: str | None = None

    @property
    def never_used(self) -> bool:
        return self.present and self.current_uuid == INITIAL_UUID

    @property
    def is_partial(self) -> bool:
        """A sync into this side began (the peer handed it a generation)
        and did not finish: a partial copy, never to be promoted."""
        return self.present and not self.never_used and self.consistent is False


_GI = re.compile(r"^([0-9A-Fa-f]{16}):(?:[0-9A-Fa-f]{16}:){3}([01]):")
_NO_METADATA = "No valid meta data found"


def parse_get_gi(text: str) -> DrbdMetadata:
    """Parse ``get-gi`` (``CURRENT:BITMAP:HIST1:HIST2:consistent:...``, e.g.
    ``0000000000000004:0000...:0:0:0:0:0:0:0``); warnings before the line
    (drbdmeta on an attached device) are skipped. No output, or drbdmeta's
    "No valid meta data found", is no metadata; anything else is an error
    that is kept, never read as "no metadata"."""
    for line in text.splitlines():
        match = _GI.match(line.strip())
        if match:
            return DrbdMetadata(present=True, current_uuid=match.group(1).upper(),
                                consistent=match.group(2) == "1")
    said = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if not said or said == _NO_METADATA:
        return DrbdMetadata(present=False)
    return DrbdMetadata(present=False, error=said)


#: The marker before a raw superblock's bytes in DrbdGenerations' output.
RAW_SUPERBLOCK = "raw-superblock"
#: DRBD 8.4's on-disk metadata magics (drbd_int.h: DRBD_MD_MAGIC_08 and
#: DRBD_MD_MAGIC_84_UNCLEAN, which 8.4 writes while the activity log may
#: hold extents); DRBD_MD_MAGIC_09, DRBD 9's, is not metadata this tool reads.
MD_MAGICS_84 = frozenset({0x8374026B, 0x8374026C})
MD_MAGIC_09 = 0x8374026D
#: struct meta_data_on_disk's flags: MDF_CONSISTENT.
MDF_CONSISTENT = 1 << 0


def parse_superblock(od_output: str) -> DrbdMetadata:
    """The first 64 bytes of internal metadata's superblock (the device's
    last 4 KiB), as ``od -A n -t x1`` prints them: big-endian
    ``la_size_sect`` (u64), ``uuid[4]`` (current, bitmap, two history),
    ``device_uuid``, a reserved u64, ``flags`` (u32), ``magic`` (u32).
    What ``drbdmeta ... get-gi`` prints is read from the same bytes
    (tests/fixtures/drbd84/reinstalled_torchio__*). Fewer bytes than that
    is an error (what the device holds is unknown), never "no metadata"."""
    try:
        raw = bytes(int(b, 16) for b in od_output.split())
    except ValueError:
        raw = b""
    if len(raw) != 64:
        said = " ".join(od_output.split())[:200]
        return DrbdMetadata(present=False, error=f"the metadata superblock could not be read ({said or 'no output'})")
    flags, magic = int.from_bytes(raw[56:60], "big"), int.from_bytes(raw[60:64], "big")
    if magic == MD_MAGIC_09:
        return DrbdMetadata(present=False, error="DRBD 9 metadata (magic 0x8374026D): not DRBD 8.4's")
    if magic not in MD_MAGICS_84:
        return DrbdMetadata(present=False)
    return DrbdMetadata(present=True, current_uuid=raw[8:16].hex().upper(), consistent=bool(flags & MDF_CONSISTENT))


class DrbdGenerations(FactBase[dict[str, DrbdMetadata]]):
    """
    The generation identifiers of each given resource, by resource name:
    the kernel's (``drbdadm get-gi``) where the minor exists, else the
    backing device's on-disk metadata (``drbdmeta``, which works before the
    resource file exists); nothing where the backing device is missing.
    Where drbd-utils is not installed yet, the metadata's superblock itself
    (``parse_superblock``): a node reinstalled with its data disks kept (a
    rolling upgrade) must be seen to hold DRBD metadata in the very run
    that installs drbd-utils, or the LV's "drbd" signature reads as foreign
    data and the deploy refuses it.

    .. code:: python

        {"drbd_small": DrbdMetadata(present=True, current_uuid="0000000000000004", consistent=False)}
    """

    default = dict

    def command(self, resources: tuple[tuple[str, int, str], ...]) -> str:
        # (resource, minor, backing device). --force: drbdmeta never prompts
        # (get-gi only reads).
        parts = []
        for res, minor, dev in resources:
            q_res, q_dev = shlex.quote(res), shlex.quote(dev)
            parts.append(
                f"echo @@{q_res}; if [ -e /sys/block/drbd{int(minor)} ]; then drbdadm get-gi {q_res} 2>&1; "
                f"elif [ -b {q_dev} ] && command -v drbdmeta >/dev/null; then "
                f"drbdmeta --force {int(minor)} v08 {q_dev} internal get-gi 2>&1; "
                f"elif [ -b {q_dev} ]; then echo {RAW_SUPERBLOCK}; s=$(blockdev --getsize64 {q_dev}) && "
                f"dd if={q_dev} bs=4096 skip=$((s / 4096 - 1)) count=1 iflag=direct 2>/dev/null "
                f"| od -A n -t x1 -N 64 -v; fi"
            )
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict[str, DrbdMetadata]:
        result = {}
        for res, text in section_text(output).items():
            if not res:
                continue
            marker, _, rest = text.partition("\n")
            result[res] = parse_superblock(rest) if marker.strip() == RAW_SUPERBLOCK else parse_get_gi(text)
        return result
