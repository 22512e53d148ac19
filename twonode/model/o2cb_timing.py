"""o2cb's timeouts, derived from the time a fence takes.

While a node fences its peer, DRBD holds every write on it (``fencing
resource-and-stonith``), o2cb's disk heartbeat included, from the moment
the peer stops answering until the fence has landed: ``F`` seconds. Two of
o2cb's clocks run meanwhile on that node:

- **Its own heartbeat write.** A node whose heartbeat write has hung for
  ``(dead_threshold - 1) x 2`` s fences itself (o2hb's write timeout). The
  write in flight when the peer stopped may have started one heartbeat
  interval (2 s) earlier, so ``(dead_threshold - 1) x 2 > F + 2 + margin``.
- **The quorum.** o2net drops the silent peer after ``idle_timeout`` and
  decides ``(dead_threshold + 2) x 2`` s later. Of two nodes, the one that
  is not the lowest-numbered (first_node's peer) then restarts itself,
  unless its heartbeat has called the peer dead by then, which it does
  ``dead_threshold x 2`` s after its I/O resumes. So ``F + 2 x
  dead_threshold < idle_timeout + 2 x (dead_threshold + 2)``: the threshold
  cancels, and ``idle_timeout > F + margin``. With Debian's 30 s the fence
  had to land within about 34 s of the loss, seen on the lab.

The longest ``F`` is first_node's peer's fence of a lost first_node: DRBD's
detection (ping-int 3 s and its 0.5-s timeout), race_delay, then the agent.
A shorter dead threshold shortens every pause of the survivor's writes
(``F + 2 x dead_threshold``), so the default is the least that works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Seconds until DRBD notices a silent peer: ping-int (3 s, in
#: templates/drbd/resource.res.j2) and its ping timeout, rounded up.
DRBD_DETECTION = 4
#: o2cb's disk heartbeat: one write every 2 s (O2HB_REGION_TIMEOUT_MS).
HEARTBEAT_INTERVAL = 2
#: Seconds kept free beyond the longest fence, on each of o2cb's clocks.
MARGIN = 10


@dataclass(frozen=True)
class O2cbTimeouts:
    """What /etc/default/o2cb sets, and the kernel takes at ``o2cb online``."""

    #: O2CB_HEARTBEAT_THRESHOLD: heartbeat intervals (2 s) until a silent
    #: node is dead.
    dead_threshold: int
    #: O2CB_IDLE_TIMEOUT_MS: how long o2net keeps a silent connection.
    idle_timeout_ms: int

    @property
    def heartbeat_write_timeout(self) -> int:
        """Seconds a node's own heartbeat write may hang before o2cb fences it."""
        return (self.dead_threshold - 1) * HEARTBEAT_INTERVAL

    @property
    def dead_after(self) -> int:
        """Seconds of a peer's silence on disk before the heartbeat calls it dead."""
        return self.dead_threshold * HEARTBEAT_INTERVAL


#: Debian's /etc/default/o2cb, kept where no fence runs (fencing "none").
DEBIAN = O2cbTimeouts(dead_threshold=31, idle_timeout_ms=30000)


def longest_fence(race_delay: int, agent_time: int) -> int:
    """Seconds from first_node's loss until its peer's fence has landed:
    the longest that the peer's writes are held."""
    return DRBD_DETECTION + race_delay + agent_time


def least_timeouts(fence: int) -> O2cbTimeouts:
    """The shortest o2cb timeouts under which a fence that lands ``fence``
    seconds after the loss takes down only the lost node."""
    dead_threshold = math.ceil((fence + HEARTBEAT_INTERVAL + MARGIN) / HEARTBEAT_INTERVAL) + 1
    return O2cbTimeouts(dead_threshold, (fence + MARGIN) * 1000)


def pause(fence: int, timeouts: O2cbTimeouts) -> int:
    """Seconds the survivor's writes hang when the peer is lost and the
    fence lands ``fence`` s later: the fence, then the heartbeat's count."""
    return fence + timeouts.dead_after
