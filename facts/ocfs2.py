"""Facts about the o2cb cluster stack and OCFS2 mounts."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import split_sections


@dataclass(frozen=True)
class O2cbNode(JsonDataclass):
    """One node as the running cluster stack knows it (configfs)."""

    name: str
    number: int | None = None
    address: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class O2cbStatus(JsonDataclass):
    #: ocfs2-tools is installed (the ``o2cb`` command exists).
    installed: bool
    #: ``O2CB_ENABLED=true`` in /etc/default/o2cb: the cluster starts at boot.
    enabled_at_boot: bool
    #: Clusters the kernel has registered (``o2cb cluster-status``).
    online_clusters: tuple[str, ...]
    #: Node names registered under /sys/kernel/config/cluster/<name>/node.
    registered_nodes: tuple[str, ...]
    #: Those nodes with their numbers, addresses and port, sorted by name.
    registered: tuple[O2cbNode, ...] = ()
    #: The running cluster's heartbeat dead threshold and o2net idle
    #: timeout (configfs), as o2cb took them from /etc/default/o2cb when it
    #: came online; None while it is offline.
    live_dead_threshold: int | None = None
    live_idle_timeout_ms: int | None = None

    def is_online(self, cluster: str) -> bool:
        return cluster in self.online_clusters

    def live_nodes_differ(self, cluster: str, wanted: tuple[O2cbNode, ...]) -> str | None:
        """How the running stack's nodes differ from ``wanted`` (names,
        numbers, addresses and port, as a whole), or None: the same, or
        not running (then cluster.conf may be written freely)."""
        if not self.is_online(cluster) or not self.registered:
            return None
        by_name = sorted(wanted, key=lambda n: n.name)
        if list(self.registered) == by_name:
            return None

        def show(nodes):
            return ", ".join(f"{n.number}:{n.name}@{n.address}:{n.port}"
                             for n in sorted(nodes, key=lambda n: n.number or 0))
        return f"o2cb runs with nodes {show(self.registered)}; group_data gives {show(wanted)}"

    def live_timeouts_differ(self, cluster: str, dead_threshold: int, idle_timeout_ms: int) -> str | None:
        """How the running cluster's timeouts differ from those given, or
        None: the same, or not running (then the defaults file may change)."""
        if not self.is_online(cluster) or self.live_dead_threshold is None:
            return None
        live = (self.live_dead_threshold, self.live_idle_timeout_ms)
        if live == (dead_threshold, idle_timeout_ms):
            return None
        return (f"o2cb runs with dead_threshold {live[0]} and idle_timeout_ms {live[1]}; group_data gives "
                f"{dead_threshold} and {idle_timeout_ms}")


_NODE_ATTR = re.compile(r"/node/([^/]+)/(num|ipv4_address|ipv4_port):(.*)$")


def parse_o2cb_nodes(lines: list[str]) -> tuple[O2cbNode, ...]:
    """Parse ``grep -H`` of configfs' node attributes
    (``/sys/kernel/config/cluster/ocfs2/node/fiori/num:1``)."""
    found: dict[str, dict] = {}
    for line in lines:
        match = _NODE_ATTR.search(line.strip())
        if not match:
            continue
        name, attr, value = match.groups()
        if attr == "ipv4_address":
            found.setdefault(name, {})["address"] = value
        else:
            found.setdefault(name, {})["number" if attr == "num" else "port"] = int(value)
    return tuple(O2cbNode(name=name, **attrs) for name, attrs in sorted(found.items()))


_ONLINE = re.compile(r"^Cluster '([^']+)' is online")


def parse_o2cb(sections: dict[str, list[str]]) -> O2cbStatus:
    installed = any(line == "installed" for line in sections.get("installed", []))
    enabled = any(
        re.match(r"^\s*O2CB_ENABLED=\"?true\"?\s*$", line) for line in sections.get("default", [])
    )
    online = tuple(m.group(1) for line in sections.get("status", []) if (m := _ONLINE.match(line.strip())))
    nodes = tuple(sorted(line.strip() for line in sections.get("nodes", []) if line.strip()))
    live = parse_o2cb_timeouts(sections.get("timeouts", []))
    return O2cbStatus(installed=installed, enabled_at_boot=enabled, online_clusters=online, registered_nodes=nodes,
                      registered=parse_o2cb_nodes(sections.get("attrs", [])),
                      live_dead_threshold=live.get("dead_threshold"), live_idle_timeout_ms=live.get("idle_timeout_ms"))


_TIMEOUT_ATTR = re.compile(r"/(dead_threshold|idle_timeout_ms):(\d+)$")


def parse_o2cb_timeouts(lines: list[str]) -> dict[str, int]:
    """Parse ``grep -H`` of the cluster's configfs timeouts
    (``/sys/kernel/config/cluster/ocfs2/heartbeat/dead_threshold:31``)."""
    return {m.group(1): int(m.group(2)) for line in lines if (m := _TIMEOUT_ATTR.search(line.strip()))}


class O2cbStack(FactBase[O2cbStatus]):
    """
    The o2cb cluster stack on this node: installed, enabled at boot (its
    ``defaults`` file, /etc/default/o2cb on Debian), online, and the nodes
    and timeouts registered in configfs for ``cluster``.

    .. code:: python

        O2cbStatus(installed=True, enabled_at_boot=True, online_clusters=("ocfs2",),
                   registered_nodes=("fiori", "torchio"), live_dead_threshold=27,
                   live_idle_timeout_ms=49000)
    """

    def command(self, cluster: str, defaults: str) -> str:
        live = f"/sys/kernel/config/cluster/{shlex.quote(cluster)}"
        nodes = f"{live}/node"
        return (
            "echo @@installed; command -v o2cb >/dev/null && echo installed; "
            f"echo @@default; cat {shlex.quote(defaults)} 2>/dev/null; "
            "echo @@status; command -v o2cb >/dev/null && o2cb cluster-status 2>&1; "
            f"echo @@nodes; ls {nodes} 2>/dev/null; "
            f"echo @@attrs; grep -sH . {nodes}/*/num {nodes}/*/ipv4_address {nodes}/*/ipv4_port; "
            f"echo @@timeouts; grep -sH . {live}/heartbeat/dead_threshold {live}/idle_timeout_ms; true"
        )

    def process(self, output: list[str]) -> O2cbStatus:
        return parse_o2cb(split_sections(output))
