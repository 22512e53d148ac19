"""Facts about libvirt (``virsh``): storage pools and networks; VMs and
their disk leases."""

from __future__ import annotations

import hashlib
import re
import shlex
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
    #: A network's MTU, when its definition sets one.
    mtu: int | None = None
    #: A network's bridge MAC.
    mac: str | None = None


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
_MAC = re.compile(r"<mac address=['\"]([0-9a-fA-F:]+)['\"]")
_MTU = re.compile(r"<mtu size=['\"](\d+)['\"]")
_IP = re.compile(r"<ip address=['\"]([^'\"]+)['\"] (?:netmask=['\"]([^'\"]+)['\"]|prefix=['\"](\d+)['\"])")


def _prefix(netmask: str) -> int:
    return sum(bin(int(octet)).count("1") for octet in netmask.split("."))


def parse_virsh(sections: dict[str, list[str]], kind: str) -> dict[str, VirshObject]:
    rows = parse_virsh_list(sections.get(f"{kind}s", []))
    result = {}
    for name, row in rows.items():
        xml = "\n".join(sections.get(f"{kind}:{name}", []))
        target = address = mtu = mac = None
        if kind == "pool":
            m = _PATH.search(xml)
            target = m.group(1) if m else None
        else:
            m = _BRIDGE.search(xml)
            target = m.group(1) if m else None
            m = _IP.search(xml)
            if m:
                address = f"{m.group(1)}/{m.group(3) or _prefix(m.group(2))}"
            m = _MTU.search(xml)
            mtu = int(m.group(1)) if m else None
            m = _MAC.search(xml)
            mac = m.group(1).lower() if m else None
        result[name] = VirshObject(name=name, target=target, address=address, mtu=mtu, mac=mac, **row)
    return result


@dataclass(frozen=True)
class VirshObjects(JsonDataclass):
    pools: dict[str, VirshObject]
    networks: dict[str, VirshObject]


_MARK = re.compile(r"^@@([^ <@]+) ?")


def split_virsh_sections(output: list[str]) -> dict[str, list[str]]:
    """virsh's ``echo`` prints no line end under -q: a section mark shares
    its line with what follows, even the next mark when a list is empty
    ("@@pools@@nets 192.168.10.0 active yes yes"). So a mark ends at a
    space, a ``<`` or the next ``@@`` (names with "@" are not supported)."""
    lines = []
    for line in output:
        marked = False
        while (m := _MARK.match(line)):
            lines.append(f"@@{m.group(1)}")
            line, marked = line[m.end():], True
        if line or not marked:
            lines.append(line)
    return split_sections(lines)


class Virsh(FactBase[VirshObjects]):
    """
    libvirt's storage pools and networks (qemu:///system): state,
    autostart, persistence of every one; the target path of the pools
    named in ``pools`` and the bridge and address of the networks named in
    ``networks`` (the others have None there).

    .. code:: python

        VirshObjects(
            pools={"vmpool0": VirshObject(name="vmpool0", active=True, autostart=False,
                                          persistent=True, target="/vol/vmpool0")},
            networks={"192.168.10.0": VirshObject(name="192.168.10.0", active=True, autostart=True,
                                                  persistent=True, target="virbr0",
                                                  address="192.168.10.1/24")})
    """

    requires_command = "virsh"

    @staticmethod
    def default() -> VirshObjects:
        return VirshObjects(pools={}, networks={})

    def command(self, pools: tuple[str, ...] = (), networks: tuple[str, ...] = ()) -> str:
        # One virsh process (a process and a connection to libvirtd cost a
        # quarter of a second under TCG): virsh runs all the commands of
        # its argument in one connection, and goes on past a definition
        # that does not exist (its error goes to /dev/null).
        commands = ["echo @@pools", "pool-list --all --details", "echo @@nets", "net-list --all"]
        commands += [c for name in pools for c in (f"echo @@pool:{name}", f"pool-dumpxml {name}")]
        commands += [c for name in networks for c in (f"echo @@net:{name}", f"net-dumpxml --inactive {name}")]
        return f"virsh -q {shlex.quote('; '.join(commands))} 2>/dev/null; true"

    def process(self, output: list[str]) -> VirshObjects:
        sections = split_virsh_sections(output)
        return VirshObjects(pools=parse_virsh(sections, "pool"), networks=parse_virsh(sections, "net"))


# --- VMs and their disk leases (templates/libvirt/qemu-hook.sh).

@dataclass(frozen=True)
class Domain(JsonDataclass):
    """A libvirt domain as one node sees it."""

    name: str
    #: virsh's state: "running", "paused", "shut off", ...
    state: str
    #: Defined on this node (not only running from a transient definition).
    persistent: bool
    autostart: bool
    #: Every disk's source path, in the domain's order.
    disks: tuple[str, ...]

    @property
    def is_active(self) -> bool:
        """It has a QEMU process on this node (running, paused, ...)."""
        return self.state != "shut off"


@dataclass(frozen=True)
class DiskLease(JsonDataclass):
    """What a lease file says: the node whose holder took it, when, for which VM."""

    node: str
    since: str
    vm: str
    #: The VM's UUID (None in a lease written before leases held it).
    uuid: str | None = None


@dataclass(frozen=True)
class VmState(JsonDataclass):
    domains: dict[str, Domain]
    #: Lease file path -> its last holder's record (a lease is held only
    #: while its holder's unit runs; the record stays after).
    leases: dict[str, DiskLease]


def lease_path(mount_point: str, disk: str) -> str:
    """Where the qemu hook keeps ``disk``'s lease: sha256 of its path, as
    ``printf %s PATH | sha256sum | cut -c1-32`` in the hook."""
    return f"{mount_point.rstrip('/')}/.twonode-leases/{hashlib.sha256(disk.encode()).hexdigest()[:32]}"


def parse_domain(name: str, lines: list[str]) -> Domain:
    """``virsh -q dominfo NAME`` ("Key: value" lines), then ``@@disks`` and
    ``virsh -q domblklist --details NAME`` (type, device, target, source)."""
    info, disks, in_disks = {}, [], False
    for line in lines:
        if line.strip() == "@@disks":
            in_disks = True
        elif in_disks:
            cols = line.split(None, 3)
            if len(cols) == 4 and cols[1] == "disk" and cols[3] != "-":
                disks.append(cols[3])
        elif ":" in line:
            k, v = line.split(":", 1)
            info[k.strip().lower()] = v.strip()
    return Domain(name=name, state=info.get("state", "unknown"), persistent=info.get("persistent") == "yes",
                  autostart=info.get("autostart") == "enable", disks=tuple(disks))


class VirshDomains(FactBase[VmState]):
    """
    Every libvirt domain of this node (state, persistence, autostart, disk
    paths), and the VM leases on the given replicated mount points.

    .. code:: python

        VmState(
            domains={"tiny": Domain(name="tiny", state="running", persistent=True, autostart=False,
                                    disks=("/vol/small/vms/tiny.qcow2",))},
            leases={"/vol/small/.twonode-leases/f9a6...": DiskLease(node="fiori",
                    since="2026-11-27T20:02:33Z", vm="tiny")})
    """

    requires_command = "virsh"

    @staticmethod
    def default() -> VmState:
        return VmState(domains={}, leases={})

    def command(self, mount_points: tuple[str, ...] = ()) -> str:
        leases = " ".join(shlex.quote(f"{mp.rstrip('/')}/.twonode-leases") for mp in mount_points)
        return (
            "virsh -q list --all --name 2>/dev/null | while IFS= read -r d; do [ -n \"$d\" ] || continue; "
            "echo \"@@vm:$d\"; virsh -q dominfo \"$d\" </dev/null 2>/dev/null; echo @@disks; "
            "virsh -q domblklist --details \"$d\" </dev/null 2>/dev/null; done; "
            f"for dir in {leases or '/nonexistent'}; do for f in \"$dir\"/*; do "
            "[ -f \"$f\" ] && { echo \"@@lease:$f\"; head -n 1 \"$f\"; }; done; done; true"
        )

    def process(self, output: list[str]) -> VmState:
        # A domain's own lines may hold "@@disks": the sections are cut by
        # their "@@vm:" and "@@lease:" marks only.
        domains, leases, current, lines = {}, {}, None, []

        def close():
            if current and current.startswith("vm:"):
                domains[current[3:]] = parse_domain(current[3:], lines)
            elif current and current.startswith("lease:"):
                # "TOKEN NODE SINCE UUID VM", or "TOKEN NODE SINCE VM" as
                # holders wrote it before the UUID.
                fields = " ".join(lines).split()
                if len(fields) == 5:
                    leases[current[6:]] = DiskLease(node=fields[1], since=fields[2], vm=fields[4], uuid=fields[3])
                elif len(fields) == 4:
                    leases[current[6:]] = DiskLease(node=fields[1], since=fields[2], vm=fields[3])

        for line in output:
            if line.startswith(("@@vm:", "@@lease:")):
                close()
                current, lines = line[2:], []
            else:
                lines.append(line)
        close()
        return VmState(domains=domains, leases=leases)
