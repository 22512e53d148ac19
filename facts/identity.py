"""Whom commands run as on a node, its host name (the preflight's first
questions, tasks/check.py), and the machine's own identity, which its BMC
reports too (the fence check, tasks/fencing.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass

#: What a firmware leaves in the field when nobody set it: these name no machine.
PLACEHOLDER_UUIDS = frozenset({
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    # A board vendor's default, found on many machines at once.
    "03000200-0400-0500-0006-000700080009",
})
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def machine_uuid(text: str) -> str:
    """The machine's SMBIOS UUID in lower case; "" when there is none, or
    only a placeholder."""
    value = text.strip().lower()
    return value if UUID.fullmatch(value) and value not in PLACEHOLDER_UUIDS else ""


@dataclass(frozen=True)
class Identity(JsonDataclass):
    #: The user id commands run as (0: root).
    uid: int
    #: ``uname -n``: the name o2cb finds the node by.
    hostname: str
    #: The machine's SMBIOS UUID (/sys/class/dmi/id/product_uuid), which its
    #: BMC reports as the system's UUID; "" when it has none.
    machine_uuid: str = ""


class NodeIdentity(FactBase[Identity]):
    """
    Whom the commands run as, the node's host name and its machine UUID.

    .. code:: python

        Identity(uid=0, hostname="fiori", machine_uuid="8bb135ae-5331-516a-94a8-ec29cc38eb28")
    """

    def command(self) -> str:
        # product_uuid is readable by root only: empty for anyone else.
        return "id -u; uname -n; cat /sys/class/dmi/id/product_uuid 2>/dev/null || echo"

    def process(self, output: list[str]) -> Identity:
        uid, hostname, uuid = (list(output) + ["", "", ""])[:3]
        return Identity(uid=int(uid) if uid.strip().isdigit() else -1, hostname=hostname.strip(),
                        machine_uuid=machine_uuid(uuid))
