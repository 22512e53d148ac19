"""Facts about libvirt storage pools and networks (``virsh``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import split_sections


@dataclass(frozen=True)
class VirshObject(JsonDataclass):
    """A pool or a network."""

    name: str
    active: bool
    autostart: bool
    persistent: bool
    #: A pool's target path; a network's bridge.
    target: str | None = None
    #: A network's address/prefix, e.g. "192.168.10.1/24".
    address: str | None = None


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "active", "running")


def parse_virsh_list(lines: list[str]) -> dict[str, dict[str, bool]]:
    """Parse ``virsh -q pool-list --all --details`` / ``net-list --all``
    rows into {name: {active, autostart, persistent}}."""
    rows = {}
    for line in lines:
        cols = line.split()
        if len(cols) < 4:
            continue
        name, state, autostart, persistent = cols[:4]
        rows[name] = {"active": _yes(state), "autostart": _yes(autostart), "persistent": _yes(persistent)}
    return rows


_PATH = re.compile(r"<path>([^<]+)</path>")
_BRIDGE = re.compile(r"<bridge name=['\"]([^'\"]+)['\"]")
_IP = re.compile(r"<ip address=['\"]([^'\"]+)['\"] (?:netmask=['\"]([^'\"]+)['\"]|prefix=['\"](\d+)['\"])")


def _prefix(netmask: str) -> int:
    return sum(bin(int(octet)).count("1") for octet in netmask.split("."))


def parse_virsh(sections: dict[str, list[str]], kind: str) -> dict[str, VirshObject]:
    rows = parse_virsh_list(sections.get(f"{kind}s", []))
    result = {}
    for name, row in rows.items():
        xml = "\n".join(sections.get(f"{kind}:{name}", []))
        target = address = None
        if kind == "pool":
            m = _PATH.search(xml)
            target = m.group(1) if m else None
        else:
            m = _BRIDGE.search(xml)
            target = m.group(1) if m else None
            m = _IP.search(xml)
            if m:
                address = f"{m.group(1)}/{m.group(3) or _prefix(m.group(2))}"
        result[name] = VirshObject(name=name, target=target, address=address, **row)
    return result


_LIST = {"pool": "pool-list --all --details", "net": "net-list --all"}
_DUMP = {"pool": "pool-dumpxml", "net": "net-dumpxml --inactive"}


class _VirshFact(FactBase):
    kind = ""
    default = dict
    requires_command = "virsh"

    def command(self) -> str:
        kind = self.kind
        # One virsh for the list and every definition (virsh runs the
        # commands of one argument in one connection, and has `echo` for the
        # section marks, printed without a line end under -q: sed adds it):
        # each virsh costs a process and a connection to libvirtd, a fifth
        # of a second under TCG.
        return (
            f"c='echo @@{kind}s; {_LIST[kind]}'; "
            f"for n in $(virsh -q {kind}-list --all --name); do "
            f"c=\"$c; echo @@{kind}:$n; {_DUMP[kind]} $n\"; done; "
            f"virsh -q \"$c\" | sed -E 's/^(@@[^ <]+) ?/\\1\\n/'; true"
        )

    def process(self, output: list[str]) -> dict[str, VirshObject]:
        return parse_virsh(split_sections(output), self.kind)


class VirshPools(_VirshFact):
    """
    libvirt storage pools (qemu:///system) with state, autostart,
    persistence and target path.

    .. code:: python

        {"vmpool0": VirshObject(name="vmpool0", active=True, autostart=False,
                                persistent=True, target="/vol/vmpool0")}
    """

    kind = "pool"


class VirshNetworks(_VirshFact):
    """
    libvirt networks with state, autostart, persistence, bridge and address.

    .. code:: python

        {"192.168.10.0": VirshObject(name="192.168.10.0", active=True, autostart=True,
                                     persistent=True, target="virbr0",
                                     address="192.168.10.1/24")}
    """

    kind = "net"
