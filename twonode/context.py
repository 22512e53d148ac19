"""Where a task is: which cluster, which node, how to reach the peer."""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api.exceptions import PyinfraError

from .loader import ClusterConfigError, validate
from .model import Cluster, Node
from .sides import Presence
from .snapshot import once_per_run


class DeployStopped(PyinfraError):
    """A guard found something that must not be touched; nothing was run."""


def cluster() -> Cluster:
    """The validated cluster of this run (inventory.py validated it before
    any connection; validated once more per run, from what pyinfra gives
    the host)."""
    raw = host.data.get("cluster")
    if raw is None:
        raise ClusterConfigError(f"{host.name}: no cluster in host data: run with the project's inventory")
    return once_per_run(("cluster", repr(raw)), lambda: validate(raw))


def node_name(h=None) -> str:
    h = h or host
    return h.data.get("node_name") or h.name


def this_node() -> Node:
    return cluster().node(node_name())


def host_of(name: str):
    """The pyinfra host of a node, or None if the inventory lacks it."""
    for h in state.inventory:
        if node_name(h) == name:
            return h
    return None


def presence_of(name: str) -> Presence:
    """Whether this run sees node ``name``: active, unreachable (in the
    inventory, connection failed) or excluded (left out with --limit)."""
    h = host_of(name)
    if h is None:
        return Presence.EXCLUDED
    if h in state.failed_hosts:
        return Presence.UNREACHABLE
    if h in state.active_hosts:
        return Presence.ACTIVE
    return Presence.EXCLUDED
