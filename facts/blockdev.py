"""Facts about what a block device holds, read before anything destructive."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import split_sections


@dataclass(frozen=True)
class Signature(JsonDataclass):
    """One signature ``wipefs`` finds (a filesystem, partition table, RAID,
    LVM or DRBD superblock...)."""

    type: str
    offset: str
    label: str | None = None
    uuid: str | None = None


@dataclass(frozen=True)
class DeviceContents(JsonDataclass):
    #: The path is a block device.
    exists: bool
    signatures: tuple[Signature, ...] = ()

    @property
    def is_blank(self) -> bool:
        return self.exists and not self.signatures

    def describe(self) -> str:
        if not self.exists:
            return "no such block device"
        if not self.signatures:
            return "no signature"
        return ", ".join(f"{s.type} at offset {s.offset}" + (f" (label {s.label})" if s.label else "")
                         for s in self.signatures)


def parse_wipefs_json(text: str) -> tuple[Signature, ...]:
    """Parse ``wipefs --no-act --json`` (empty output: no signature)."""
    text = text.strip()
    if not text:
        return ()
    data = json.loads(text)
    return tuple(
        Signature(type=s.get("type") or "unknown", offset=s.get("offset", "?"),
                  label=s.get("label") or None, uuid=s.get("uuid") or None)
        for s in data.get("signatures", [])
    )


class DeviceSignatures(FactBase):
    """
    Every signature on each given device, as ``wipefs -n`` (which lists all
    of them, where ``blkid`` stops at an ambivalent first match) reports it.

    .. code:: python

        {
            "/dev/vg0/small": DeviceContents(exists=True, signatures=(
                Signature(type="ocfs2", offset="0x2000", label=None, uuid="..."),)),
            "/dev/vg0/new": DeviceContents(exists=False),
        }
    """

    default = dict

    def command(self, devices: tuple[str, ...]) -> str:
        parts = [
            f"echo @@{dev}; if [ -b {dev} ]; then echo exists; wipefs --no-act --json {dev}; fi"
            for dev in devices
        ]
        return "; ".join(parts) + "; true"

    def process(self, output: list[str]) -> dict[str, DeviceContents]:
        result: dict[str, DeviceContents] = {}
        for dev, lines in split_sections(output).items():
            if not dev:
                continue
            exists = bool(lines) and lines[0] == "exists"
            result[dev] = DeviceContents(
                exists=exists, signatures=parse_wipefs_json("\n".join(lines[1:])) if exists else ()
            )
        return result
