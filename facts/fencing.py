"""What the node knows of its PEER's BMC: the last answer to the fence
agent's ``status`` (templates/drbd/fence-peer.sh check, run by the deploy
and hourly by twonode-fence-check.timer)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase


@dataclass(frozen=True)
class FenceCheck:
    """One answer of the peer's BMC."""

    #: When it was asked (epoch seconds).
    at: int
    #: "on", "off", "failed" (no answer, a refused login, an agent error) or
    #: "not-peer" (the BMC answered for a system whose UUID is not the peer's).
    result: str
    #: When it last answered "on" (epoch seconds; 0: never).
    last_on: int

    @property
    def proves_fencing(self) -> bool:
        """The BMC answered, took the password, and names a system that is
        on (and, where it reports one, has the peer's UUID): a fence through
        it would power the peer off."""
        return self.result == "on"


def parse_fence_check(lines) -> FenceCheck | None:
    """The file's line ``EPOCH RESULT LAST_ON``; None when there is no file
    or no such line (never asked yet)."""
    for line in lines or ():
        fields = line.split()
        if len(fields) == 3 and fields[0].isdigit() and fields[2].isdigit() \
                and fields[1] in ("on", "off", "failed", "not-peer"):
            return FenceCheck(int(fields[0]), fields[1], int(fields[2]))
    return None


class FenceChecked(FactBase[FenceCheck | None]):
    """
    The last answer of the peer's BMC to the agent's status, read from
    ``path`` (/var/lib/twonode/fence-check); None where it was never asked.

    .. code:: python

        FenceCheck(at=1796600000, result="on", last_on=1796600000)
    """

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null; true"

    def process(self, output: list[str]) -> FenceCheck | None:
        return parse_fence_check(output)
