"""What twonode records on a node about DRBD: the events its handlers see
(split brain, fencing, blocks found out of sync) and each online verify's
result."""

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


#: A verify's RESULT (templates/drbd/verify.sh).
VERIFY_IN_SYNC = "in-sync"
VERIFY_OUT_OF_SYNC = "out-of-sync"
VERIFY_SKIPPED = "skipped"
VERIFY_INTERRUPTED = "interrupted"
VERIFY_OUTCOMES = (VERIFY_IN_SYNC, VERIFY_OUT_OF_SYNC, VERIFY_SKIPPED, VERIFY_INTERRUPTED)


@dataclass(frozen=True)
class VerifyResult(JsonDataclass):
    """One line of the verify file: ``TIME NODE RESOURCE RESULT KIB STATE``."""

    time: str
    node: str
    resource: str
    #: in-sync, out-of-sync, skipped (not Connected and UpToDate on both
    #: nodes) or interrupted (the connection dropped during the verify).
    result: str
    #: Out-of-sync KiB DRBD counted when the verify ended.
    out_of_sync_kib: int
    #: ``connection,disk/peer-disk`` when it ended (or ``verify-refused``).
    state: str

    @property
    def is_clean(self) -> bool:
        return self.result == VERIFY_IN_SYNC


def parse_verify_results(lines: list[str]) -> list[VerifyResult]:
    results = []
    for line in lines:
        parts = line.split()
        if len(parts) != 6 or parts[3] not in VERIFY_OUTCOMES or not parts[4].isdigit():
            raise ValueError(f"a verify line is not 'TIME NODE RESOURCE RESULT KIB STATE': {line!r}")
        time, node, resource, result, kib, state = parts
        results.append(VerifyResult(time, node, resource, result, int(kib), state))
    return results


def latest_by_resource(results: list[VerifyResult]) -> dict[str, VerifyResult]:
    """Each resource's newest result (the file lists them oldest first)."""
    return {r.resource: r for r in results}


class VerifyResults(FactBase[list[VerifyResult]]):
    """
    The online verifies twonode-verify ran on this node (``path``, written
    by /usr/local/lib/twonode/drbd-verify), oldest first; empty where none
    ran (the timer runs on first_node only).

    .. code:: python

        [VerifyResult(time="2026-11-28T14:02:11Z", node="fiori", resource="drbd_small",
                      result="out-of-sync", out_of_sync_kib=4, state="Connected,UpToDate/UpToDate")]
    """

    default = list

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null; true"

    def process(self, output: list[str]) -> list[VerifyResult]:
        return parse_verify_results([line for line in output if line.strip()])
