"""Facts about network interfaces and their persistent names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import section_text


@dataclass(frozen=True)
class Nic(JsonDataclass):
    name: str
    mac: str
    #: Kernel operational state: "UP", "DOWN", "UNKNOWN"...
    state: str
    #: IPv4 addresses with prefix, e.g. ("192.168.3.6/24",).
    ipv4: tuple[str, ...] = ()


def parse_ip_addr_json(text: str) -> dict[str, Nic]:
    """Parse ``ip -j addr show``."""
    nics = {}
    for link in json.loads(text or "[]"):
        if link.get("link_type") not in ("ether", None):
            continue
        name = link["ifname"]
        nics[name] = Nic(
            name=name,
            mac=link.get("address", "").lower(),
            state=link.get("operstate", "UNKNOWN"),
            ipv4=tuple(
                f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("family") == "inet"
            ),
        )
    return nics


_RULE_MAC = re.compile(r'ATTR\{address\}=="([0-9a-fA-F:]{17})"')
_RULE_NAME = re.compile(r'NAME="([^"]+)"')


def parse_persistent_net_rules(text: str) -> dict[str, str]:
    """MAC → name from a udev ``70-persistent-net.rules`` (continuation
    lines joined)."""
    rules = {}
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            continue
        mac, name = _RULE_MAC.search(line), _RULE_NAME.search(line)
        if mac and name:
            rules[mac.group(1).lower()] = name.group(1)
    return rules


@dataclass(frozen=True)
class NetworkState(JsonDataclass):
    #: Interfaces as the kernel names them now.
    nics: dict[str, Nic]
    #: MAC → name pinned by /etc/udev/rules.d/70-persistent-net.rules.
    udev_rules: dict[str, str]

    def name_of(self, mac: str) -> str | None:
        return next((n.name for n in self.nics.values() if n.mac == mac.lower()), None)

    def mismatches(self, wanted: dict[str, str]) -> list[str]:
        """For wanted {name: mac}, what differs from the names in force."""
        problems = []
        for name, mac in wanted.items():
            actual = self.name_of(mac)
            if actual is None:
                problems.append(f"no NIC with MAC {mac} (wanted as {name})")
            elif actual != name:
                problems.append(f"NIC {mac} is named {actual}, not {name}")
        return problems


class NetworkInterfaces(FactBase):
    """
    Ethernet interfaces in force (name, MAC, state, IPv4) and the persistent
    names pinned by udev rules.

    .. code:: python

        NetworkState(nics={"eth1": Nic(name="eth1", mac="52:54:00:00:01:01", state="UP",
                                        ipv4=("192.168.3.6/24",))},
                     udev_rules={"52:54:00:00:01:01": "eth1"})
    """

    def command(self) -> str:
        return (
            "echo @@ip; ip -j addr show; "
            "echo @@rules; cat /etc/udev/rules.d/70-persistent-net.rules 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> NetworkState:
        parts = section_text(output)
        return NetworkState(
            nics=parse_ip_addr_json(parts.get("ip", "")),
            udev_rules=parse_persistent_net_rules(parts.get("rules", "")),
        )
