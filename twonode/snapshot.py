"""Facts read once per host and run, many per round trip.

A task names up front what it will look at (``prefetch``); one batched
command (facts/batch.py) reads it all, and ``fact()`` answers from that
reading. Anything not prefetched is read on first use and kept too, so a
fact several tasks need (DebPackages, Mounts, VolumeGroups...) costs one
round trip per run, not one per task. The reads of a fact that lists
items (paths, units, devices) are merged: every path the run checks costs
one command, not one each.

Keeping the readings for the whole run is sound because pyinfra prepares
every operation (where facts are read) before it executes any: all reads
see the node as it was when the run started, exactly as separate reads
would. The one exception, a fact read again at execution time, does not
use this module.
"""

from __future__ import annotations

from typing import TypeVar

from gevent.lock import Semaphore
from pyinfra import host, state
from pyinfra.api import FactBase

from facts.batch import UNREAD, FactBatch


# Task modules are pyinfra deploy files, executed once per host; this
# module is imported once per run, so what is read about BOTH nodes (the
# DRBD planning input) and each host's readings are kept here for the run.
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


def first_time(key) -> bool:
    """True the first time ``key`` is asked for in this pyinfra run: for an
    operation that two tasks of one run would otherwise both emit."""
    seen = once_per_run("first-time", set)
    if key in seen:
        return False
    seen.add(key)
    return True


def _merge_by(cls) -> str | None:
    """The argument listing the items of a fact that answers {item: value}
    (facts/path_states.py, facts/systemd.py, facts/blockdev.py)."""
    return getattr(cls, "merge_by", None)


def key(cls, **kwargs) -> tuple:
    """A hashable name for one fact read; list arguments become tuples."""
    return cls, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))


def _store(h) -> dict:
    return once_per_run(("snapshot", h.name), dict)


def _lock(h) -> Semaphore:
    return once_per_run(("snapshot-lock", h.name), Semaphore)


def prefetch(*wanted: tuple, on=None) -> None:
    """Read every ``key(...)`` of ``wanted`` not read yet, in one command,
    on the current host or ``on``."""
    h = on or host
    with _lock(h):
        store = _store(h)
        todo = [k for k in dict.fromkeys(wanted) if k not in store]
        if not todo:
            return
        reads = merged(todo)
        for read, value in zip(reads, h.get_fact(FactBatch, wanted=tuple(reads))):
            if value is UNREAD:
                continue
            for k in reads[read]:
                store[k] = value if k == read else _part(value, _items(k))


def _items(k: tuple) -> tuple:
    return dict(k[1])[_merge_by(k[0])]


def _part(value: dict, items: tuple) -> dict:
    return {item: value[item] for item in items if item in value}


def merged(keys: list[tuple]) -> dict[tuple, list[tuple]]:
    """One read for all ``keys`` of a fact that takes a list (the same
    other arguments): {read: [the keys it answers]}, in first-asked order.
    Every path, unit or device of a run then costs one command, not one
    each."""
    groups: dict[tuple, list[tuple]] = {}
    for k in keys:
        by = _merge_by(k[0])
        # A listing fact's keys share a group when their other arguments do.
        group = k if by is None else (k[0], tuple((name, v) for name, v in k[1] if name != by))
        groups.setdefault(group, []).append(k)
    result = {}
    for group, members in groups.items():
        cls = members[0][0]
        by = _merge_by(cls)
        if by is None:
            result[group] = members
        else:
            items = tuple(dict.fromkeys(i for k in members for i in _items(k)))
            result[key(cls, **dict(group[1]), **{by: items})] = members
    return result


T = TypeVar("T")


def fact(cls: type[FactBase[T]], on=None, **kwargs) -> T:
    """The fact's value as read at the start of this run, on the current
    host or ``on``."""
    return read(key(cls, **kwargs), on=on)


def read(k: tuple, on=None):
    """The value of one ``key(...)``, as fact() gives it."""
    h = on or host
    with _lock(h):
        store = _store(h)
        if k not in store:
            store[k] = h.get_fact(k[0], **dict(k[1]))
        return store[k]
