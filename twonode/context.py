"""Where a task is: which cluster, which node, how to reach the peer.

Task modules are pyinfra deploy files, executed once per host; this module is
imported once per run, so what is read about BOTH nodes (the DRBD planning
input) is cached here and read once, not once per host.
"""

from __future__ import annotations

from gevent.lock import Semaphore
from pyinfra import host, state
from pyinfra.api.exceptions import PyinfraError

from .loader import cluster_of
from .model import Cluster, Node
from .planner import Presence


class DeployStopped(PyinfraError):
    """A guard found something that must not be touched; nothing was run."""


def cluster() -> Cluster:
    return cluster_of(host)


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


_run_cache: dict = {}
_run_locks: dict = {}


def once_per_run(key, compute):
    """Compute a cross-host value once per pyinfra run (state object).

    pyinfra prepares the hosts in concurrent greenlets, and reading a fact
    yields to the other one: a lock makes the second host wait for the
    first's result instead of reading everything again."""
    full_key = (id(state), key)
    lock = _run_locks.setdefault(full_key, Semaphore())
    with lock:
        if full_key not in _run_cache:
            _run_cache[full_key] = compute()
    return _run_cache[full_key]

