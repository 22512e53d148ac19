"""The DRBD events (split brain, fencing) twonode's handlers record on a node."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass


@dataclass(frozen=True)
class DrbdEvent(JsonDataclass):
    """One line of the event file: ``TIME NODE EVENT RESOURCE``."""

    time: str
    node: str
    event: str
    resource: str


def parse_events(lines: list[str]) -> list[DrbdEvent]:
    events = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"a DRBD event line is not 'TIME NODE EVENT RESOURCE': {line!r}")
        events.append(DrbdEvent(*parts))
    return events


class DrbdEvents(FactBase[list[DrbdEvent]]):
    """
    The DRBD events (split brain, fencing) this node recorded in ``path``
    (twonode's event handler writes it), oldest first; empty when none ever
    happened. The journal has them too (tag twonode).

    .. code:: python

        [DrbdEvent(time="2026-11-27T06:40:12Z", node="fiori", event="split-brain",
                   resource="drbd_small")]
    """

    default = list

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null; true"

    def process(self, output: list[str]) -> list[DrbdEvent]:
        return parse_events([line for line in output if line.strip()])
