"""Which operating system a node runs, from os-release(5)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass


@dataclass(frozen=True)
class OsRelease(JsonDataclass):
    #: ``ID``: debian, ubuntu...
    id: str
    #: ``VERSION_ID``: "12", "13"; empty on Debian testing and unstable.
    version_id: str
    #: ``VERSION_CODENAME``: bookworm, trixie...
    codename: str
    #: ``PRETTY_NAME``, for messages.
    pretty_name: str


def parse_os_release(lines: list[str]) -> OsRelease:
    """os-release(5) is shell-compatible ``KEY=value`` lines, values
    optionally quoted."""
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value]
        values[key] = words[0] if words else ""
    return OsRelease(id=values.get("ID", "linux"), version_id=values.get("VERSION_ID", ""),
                     codename=values.get("VERSION_CODENAME", ""),
                     pretty_name=values.get("PRETTY_NAME", values.get("NAME", "Linux")))


class NodeOsRelease(FactBase[OsRelease]):
    """
    The node's ``/etc/os-release`` (or ``/usr/lib/os-release``, where
    os-release(5) says to look when the first is missing).

    .. code:: python

        OsRelease(id="debian", version_id="13", codename="trixie",
                  pretty_name="Debian GNU/Linux 13 (trixie)")
    """

    def command(self) -> str:
        return "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release"

    def process(self, output: list[str]) -> OsRelease:
        return parse_os_release(output)
