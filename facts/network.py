"""Facts about network interfaces and their persistent names."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import section_text


@dataclass(frozen=True)
class Vxlan(JsonDataclass):
    """A VXLAN link's tunnel: its id, its ends and UDP port, the NIC under it."""

    id: int
    local: str | None
    remote: str | None
    port: int | None
    device: str | None


@dataclass(frozen=True)
class Nic(JsonDataclass):
    name: str
    mac: str
    #: Kernel operational state: "UP", "DOWN", "UNKNOWN"...
    state: str
    #: IPv4 addresses with prefix, e.g. ("192.168.3.6/24",).
    ipv4: tuple[str, ...] = ()
    mtu: int | None = None
    #: The bridge it is a port of.
    master: str | None = None
    #: Its tunnel, if it is a VXLAN link.
    vxlan: Vxlan | None = None


def _vxlan(link: dict) -> Vxlan | None:
    info = link.get("linkinfo") or {}
    if info.get("info_kind") != "vxlan":
        return None
    data = info.get("info_data") or {}
    return Vxlan(id=data.get("id", 0), local=data.get("local"), remote=data.get("remote"),
                 port=data.get("port"), device=data.get("link"))


def parse_ip_addr_json(text: str) -> dict[str, Nic]:
    """Parse ``ip -d -j addr show`` (without -d: no tunnel details)."""
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
            mtu=link.get("mtu"),
            master=link.get("master"),
            vxlan=_vxlan(link),
        )
    return nics


def parse_ssh_connection(text: str) -> str | None:
    """The node's own address in sshd's ``SSH_CONNECTION`` ("client_ip
    client_port server_ip server_port"): where the deploy reaches it."""
    fields = text.split()
    return fields[2] if len(fields) == 4 else None


@dataclass(frozen=True)
class NetworkState(JsonDataclass):
    #: Interfaces as the kernel names them now.
    nics: dict[str, Nic]
    #: The address this SSH session reached the node at (None: unknown).
    management_address: str | None = None

    def name_of(self, mac: str) -> str | None:
        return next((n.name for n in self.nics.values() if n.mac == mac.lower()), None)

    def nic_with_address(self, address: str | None) -> Nic | None:
        """The NIC that carries the IPv4 ``address`` (no prefix), if any."""
        return next((n for n in self.nics.values() if any(a.split("/")[0] == address for a in n.ipv4)), None)

    def management_nic(self) -> Nic | None:
        """The NIC that carries the management address."""
        if self.management_address is None:
            return None
        return self.nic_with_address(self.management_address)

    def management_conflicts(self, cluster_interface: str, pinned: dict[str, str]) -> list[str]:
        """What the cluster network or the udev pins ({name: mac}) would do
        to the NIC the deploy connects through: each would cut the deploy
        off mid-run or at the next boot."""
        nic = self.management_nic()
        if nic is None:
            return []
        problems = []
        where = f"{nic.name} ({nic.mac}) carries the management address {self.management_address}"
        if cluster_interface == nic.name:
            problems.append(f"{where}, and cluster_network.interface is {nic.name}: give the cluster "
                            "network a NIC of its own")
        for name, mac in pinned.items():
            if mac == nic.mac:
                problems.append(f"{where}, and nics pins it as {name}: leave the management NIC out of nics")
            elif name == nic.name:
                problems.append(f"{where}, and nics gives its name {name} to {mac}: the rename at the "
                                "next boot would move the management address; pick another name")
        return problems

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


class NetworkInterfaces(FactBase[NetworkState]):
    """
    Ethernet interfaces in force (name, MAC, state, IPv4, MTU, bridge,
    VXLAN tunnel), and the address
    this SSH session reached the node at. Whether the udev rules that pin
    the names are current is the managed file's business (PathStates); a
    name not in force is seen here, after the boot that should apply it.

    .. code:: python

        NetworkState(nics={"eth1": Nic(name="eth1", mac="52:54:00:00:01:01", state="UP",
                                        ipv4=("192.168.3.6/24",))},
                     management_address="10.0.2.15")
    """

    def command(self) -> str:
        return (
            "echo @@ip; ip -d -j addr show; "
            'echo @@ssh; echo "${SSH_CONNECTION:-}"; true'
        )

    def process(self, output: list[str]) -> NetworkState:
        parts = section_text(output)
        return NetworkState(
            nics=parse_ip_addr_json(parts.get("ip", "")),
            management_address=parse_ssh_connection(parts.get("ssh", "")),
        )
