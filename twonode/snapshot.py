"""Facts read once per host and run, many per round trip.

A task names up front what it will look at (``prefetch``); one batched
command (facts/batch.py) reads it all, and ``fact()`` answers from that
reading. Anything not prefetched is read on first use and kept too, so a
fact several tasks need (DebPackages, Mounts, VolumeGroups...) costs one
round trip per run, not one per task.

Keeping the readings for the whole run is sound because pyinfra prepares
every operation (where facts are read) before it executes any: all reads
see the node as it was when the run started, exactly as separate reads
would. The one exception, a fact read again at execution time, does not
use this module.
"""

from __future__ import annotations

from typing import Any

from gevent.lock import Semaphore
from pyinfra import host

from facts.batch import UNREAD, FactBatch
from .context import once_per_run


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
        for k, value in zip(todo, h.get_fact(FactBatch, wanted=tuple(todo))):
            if value is not UNREAD:
                store[k] = value


def fact(cls, on=None, **kwargs) -> Any:
    """The fact's value as read at the start of this run, on the current
    host or ``on``."""
    h = on or host
    k = key(cls, **kwargs)
    with _lock(h):
        store = _store(h)
        if k not in store:
            store[k] = h.get_fact(cls, **kwargs)
        return store[k]
