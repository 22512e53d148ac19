"""What a node must offer before the first deploy, checked from its facts
(tasks/check.py reads them and prints the result; nothing is changed).

Each check passes, fails with the fix, or is left for later with why (the
cluster address, for one, exists only once the deploy has configured it).
Pure functions of the cluster description and one node's facts, so that
tests drive them on captured outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from facts.lvm import VolumeGroup
from facts.network import NetworkState
from facts.os_release import OsRelease
from facts.reach import PASSES

from .model import Cluster, Node
from .model.base import size_to_bytes
from .releases import UnsupportedRelease, release_of

PASS, FAIL, LATER = "pass", "FAIL", "later"


@dataclass(frozen=True)
class Check:
    what: str
    #: PASS, FAIL, or LATER (not checkable yet; ``detail`` says why).
    result: str
    #: What was found; for a failure, also the fix.
    detail: str


@dataclass(frozen=True)
class NodeFacts:
    """What tasks/check.py reads on one node."""

    uid: int
    hostname: str
    os_release: OsRelease
    network: NetworkState
    volume_groups: dict[str, VolumeGroup]
    #: TcpReach of peer_targets(): {"address:port": "open" | "refused" | ...}.
    reach: dict[str, str]


def peer_ports(c: Cluster) -> dict[int, str]:
    """Each TCP port a node connects to on its peer's cluster address, with
    what uses it."""
    ports = {vol.port: f"DRBD, volume {vol.name}" for vol in c.replicated_volumes}
    if c.replicated_volumes:
        ports[c.o2cb.port] = "o2cb"
    ports[22] = "SSH (live migration)"
    return ports


def bmc_target(c: Cluster, node: Node) -> str | None:
    """The peer's BMC, ``address:port``, where it speaks TCP (IPMI is UDP:
    the deploy's own check asks it)."""
    peer = c.peer(node.name)
    if not c.fences or peer.bmc is None or peer.bmc.agent == "fence_ipmilan":
        return None
    return f"{peer.bmc.address}:{peer.bmc.port}"


def peer_targets(c: Cluster, node: Node, cluster_ports: bool = True) -> tuple[str, ...]:
    """What TcpReach tries from ``node``: the peer's cluster ports (only
    when ``cluster_ports``: see ports_waiting) and its BMC."""
    peer = c.peer(node.name)
    targets = [f"{peer.cluster_address}:{port}" for port in peer_ports(c)] if cluster_ports else []
    bmc = bmc_target(c, node)
    return tuple(targets + ([bmc] if bmc else []))


def node_checks(c: Cluster, node: Node, facts: NodeFacts, peer: NodeFacts | None) -> list[Check]:
    """``peer``: the peer's facts, None when it is not in this run (down,
    or left out with --limit)."""
    return [
        _privileges(facts),
        _hostname(node, facts),
        _release(facts),
        _volume_group(c, facts),
        _nics(c, node, facts),
        *_peer_reach(c, node, facts, peer),
    ]


def _privileges(facts: NodeFacts) -> Check:
    if facts.uid == 0:
        return Check("root", PASS, "pyinfra runs commands as root")
    return Check("root", FAIL, f"commands run as uid {facts.uid}: twonode runs its commands as the SSH "
                                "user and needs root. Connect as root (ssh_user 'root' in the inventory)")


def _hostname(node: Node, facts: NodeFacts) -> Check:
    if facts.hostname == node.name:
        return Check("host name", PASS, f"uname -n says {node.name}")
    return Check("host name", FAIL, f"uname -n says {facts.hostname!r}, group_data names the node {node.name!r}: "
                                     "o2cb finds itself by that name. Set the node's host name (hostnamectl "
                                     f"set-hostname {node.name}) or fix nodes[].name")


def _release(facts: NodeFacts) -> Check:
    os = facts.os_release
    try:
        release = release_of(os.id, os.codename, os.version_id, os.pretty_name)
    except UnsupportedRelease as error:
        return Check("release", FAIL, str(error).replace(" Nothing was changed.", ""))
    return Check("release", PASS, release.name)


def _volume_group(c: Cluster, facts: NodeFacts) -> Check:
    vg = facts.volume_groups.get(c.volume_group)
    if vg is None:
        listed = ", ".join(sorted(facts.volume_groups)) or "none"
        return Check("volume group", FAIL, f"{c.volume_group!r} not found (vgs lists: {listed}): create it "
                                            "(pvcreate, vgcreate) or set volume_group")
    # The LVs still to be created; a raised size of one that exists is the
    # grow planner's to check (twonode/grow.py), with what it would grow.
    needed = sum(size_to_bytes(v.size) for v in (*c.local_volumes, *c.replicated_volumes) if v.name not in vg.lvs)
    gib = 1024 ** 3
    if needed > vg.free_bytes:
        return Check("volume group", FAIL, f"{vg.name} has {vg.free_bytes / gib:.1f} GiB free and the volumes "
                                            f"not created yet need {needed / gib:.1f} GiB: extend it (vgextend) "
                                            "or make them smaller")
    return Check("volume group", PASS, f"{vg.name}: {vg.free_bytes / gib:.1f} GiB free, "
                                        f"{needed / gib:.1f} GiB needed for the volumes not created yet")


def _nics(c: Cluster, node: Node, facts: NodeFacts) -> Check:
    missing = [f"no NIC has MAC {mac} (nics names it {name})" for name, mac in node.nics.items()
               if facts.network.name_of(mac) is None]
    problems = missing + facts.network.management_conflicts(c.cluster_network.interface, node.nics)
    if problems:
        return Check("NICs", FAIL, "; ".join(problems))
    management = facts.network.management_nic()
    return Check("NICs", PASS, f"every MAC of nics is there; the management address is on "
                               f"{management.name if management else 'a NIC nics leaves alone'}")


def _cluster_address_here(node: Node, facts: NodeFacts) -> bool:
    return facts.network.nic_with_address(str(node.cluster_address)) is not None


def ports_waiting(c: Cluster, node: Node, facts: NodeFacts, peer: NodeFacts | None) -> str | None:
    """Why the peer's ports cannot be tried from ``node`` now, or None.
    Both cluster addresses must exist: a node that comes up alone, or
    beside a rebuilt peer, would otherwise be stopped by its own preflight."""
    other = c.peer(node.name)
    if not _cluster_address_here(node, facts):
        return (f"{node.cluster_address} is not on this node yet (the deploy configures "
                f"{c.cluster_network.interface}): check again after the first deploy")
    if peer is None:
        return f"{other.name} is not in this run"
    if not _cluster_address_here(other, peer):
        return f"{other.cluster_address} is not on {other.name} yet (the deploy configures it)"
    return None


def _peer_reach(c: Cluster, node: Node, facts: NodeFacts, peer_facts: NodeFacts | None) -> list[Check]:
    peer = c.peer(node.name)
    checks = []
    waiting = ports_waiting(c, node, facts, peer_facts)
    if waiting:
        checks.append(Check(f"ports on {peer.name}", LATER, waiting))
    else:
        blocked = []
        for port, use in peer_ports(c).items():
            found = facts.reach.get(f"{peer.cluster_address}:{port}", "not tried")
            if found not in PASSES:
                blocked.append(f"TCP {port} ({use}): {found}")
        if blocked:
            checks.append(Check(f"ports on {peer.name}", FAIL,
                                f"from {node.cluster_address} to {peer.cluster_address}: " + "; ".join(blocked)
                                + ". Let the cluster network pass these (a firewall drops them, or the peer "
                                "is down)"))
        else:
            checks.append(Check(f"ports on {peer.name}", PASS,
                                f"{peer.cluster_address}: TCP {', '.join(map(str, peer_ports(c)))} reached"))
    bmc = bmc_target(c, node)
    if bmc is not None:
        found = facts.reach.get(bmc, "not tried")
        if found in PASSES:
            checks.append(Check(f"{peer.name}'s BMC", PASS, f"{bmc} reached (the deploy then asks its agent "
                                                            "for the power state, first of all)"))
        else:
            checks.append(Check(f"{peer.name}'s BMC", FAIL, f"{bmc}: {found}. This node must reach its peer's "
                                                            "BMC to fence it: route or open the management "
                                                            "network to it, or fix nodes[].bmc.address"))
    return checks


def render(results: dict[str, list[Check]]) -> str:
    """One table for both nodes, then what failed, with the fixes."""
    width = max((len(ch.what) for checks in results.values() for ch in checks), default=0)
    lines = ["twonode preflight (nothing was changed)"]
    for node, checks in results.items():
        lines.append(f"  {node}")
        for ch in checks:
            lines.append(f"    {ch.what:<{width}}  {ch.result:<5}  {ch.detail}")
    return "\n".join(lines)


def failures(results: dict[str, list[Check]]) -> list[str]:
    return [f"{node}: {ch.what}: {ch.detail}" for node, checks in results.items() for ch in checks
            if ch.result == FAIL]
