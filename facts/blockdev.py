"""Facts about what a block device holds, read before anything destructive."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase
from pyinfra.facts.server import Mounts

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
    #: wipefs could not read the device: what it holds is unknown.
    error: str | None = None

    @property
    def is_blank(self) -> bool:
        return self.exists and not self.signatures and self.error is None

    def describe(self) -> str:
        if not self.exists:
            return "no such block device"
        if self.error:
            return f"unknown contents ({self.error})"
        if not self.signatures:
            return "no signature"
        return ", ".join(f"{s.type} at offset {s.offset}" + (f" (label {s.label})" if s.label else "")
                         for s in self.signatures)


def parse_wipefs_listing(text: str) -> list[tuple[str, Signature]]:
    """Parse ``wipefs --no-act --json`` of one or more devices into
    (device basename, signature) pairs (empty output: no signature)."""
    text = text.strip()
    if not text:
        return []
    data = json.loads(text)
    return [
        (s.get("device") or "", Signature(type=s.get("type") or "unknown", offset=s.get("offset", "?"),
                                          label=s.get("label") or None, uuid=s.get("uuid") or None))
        for s in data.get("signatures", [])
    ]


def _by_unique_basename(devices: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Split ``devices`` so that no two in a group share a basename: wipefs
    names each device of a multi-device listing by its basename only."""
    groups: list[list[str]] = []
    for dev in devices:
        group = next((g for g in groups if all(os.path.basename(d) != os.path.basename(dev) for d in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(dev)
    return [tuple(g) for g in groups]


class DeviceSignatures(FactBase[dict[str, DeviceContents]]):
    """
    Every signature on each given device, as ``wipefs -n`` (which lists all
    of them, where ``blkid`` stops at an ambivalent first match) reports it.
    A device wipefs fails to read has an ``error`` and is never blank.

    .. code:: python

        {
            "/dev/vg0/small": DeviceContents(exists=True, signatures=(
                Signature(type="ocfs2", offset="0x2000", label=None, uuid="..."),)),
            "/dev/vg0/new": DeviceContents(exists=False),
        }
    """

    default = dict
    #: twonode/snapshot.py reads the devices several tasks ask for in one go.
    merge_by = "devices"

    def command(self, devices: tuple[str, ...]) -> str:
        # One wipefs for all the devices (a process costs ~30 ms under TCG):
        # the shell keeps the ones that exist, wipefs lists their signatures
        # by basename. When it fails (one device it cannot open, e.g. a DRBD
        # Secondary), each device is read alone, so that only the one that
        # failed is unknown.
        self.groups = _by_unique_basename(tuple(devices))
        parts = [f"echo @@{shlex.quote(dev)}; [ -b {shlex.quote(dev)} ] && echo exists" for dev in devices]
        for index, group in enumerate(self.groups):
            quoted = " ".join(shlex.quote(d) for d in group)
            parts.append(
                f"set --; for d in {quoted}; do [ -b \"$d\" ] && set -- \"$@\" \"$d\"; done; "
                f"if [ $# -gt 0 ]; then echo @@wipefs{index}; wipefs --no-act --json \"$@\"; rc=$?; "
                f"echo \"@@rc{index} $rc\"; if [ $rc -ne 0 ]; then for d; do "
                f"echo \"@@wipefs:$d\"; wipefs --no-act --json \"$d\"; echo \"@@rc:$d $?\"; done; fi; fi"
            )
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict[str, DeviceContents]:
        sections = split_sections(output)
        found: dict[str, tuple[Signature, ...]] = {}
        errors: dict[str, str] = {}

        def read(listing: str, rc_mark: str, group: tuple[str, ...]) -> bool:
            """Place one wipefs listing's signatures; False if it failed."""
            rc = next((name.split()[-1] for name in sections if name.startswith(f"{rc_mark} ")), None)
            try:
                signatures = parse_wipefs_listing("\n".join(sections.get(listing, []))) if rc == "0" else None
            except ValueError:
                signatures = None
            by_name = {os.path.basename(d): d for d in group}
            unknown = {name for name, _ in signatures or () if name not in by_name}
            if signatures is None or unknown:
                # A signature that cannot be placed makes every device of
                # the listing unknown, never blank.
                why = (f"wipefs named {', '.join(sorted(unknown))}" if unknown
                       else f"wipefs exit {rc}" if rc else "wipefs gave no answer")
                errors.update((d, why) for d in group)
                return False
            for name, sig in signatures:
                found[by_name[name]] = found.get(by_name[name], ()) + (sig,)
            return True

        for index, group in enumerate(getattr(self, "groups", ())):
            if not read(f"wipefs{index}", f"rc{index}", group):
                for dev in group:
                    if f"wipefs:{dev}" in sections:
                        errors.pop(dev, None)
                        read(f"wipefs:{dev}", f"rc:{dev}", (dev,))
        result: dict[str, DeviceContents] = {}
        for dev in (d for group in getattr(self, "groups", ()) for d in group):
            exists = sections.get(dev, []) == ["exists"]
            result[dev] = DeviceContents(
                exists=exists,
                signatures=found.get(dev, ()) if exists else (),
                error=errors.get(dev) if exists else None,
            )
        return result


class LinuxMounts(Mounts):
    """pyinfra's Mounts, without first asking the host for its kernel (one
    round trip): the nodes are Debian."""

    _kernel = "Linux"

    def command(self) -> str:
        return "cat /proc/self/mountinfo"
