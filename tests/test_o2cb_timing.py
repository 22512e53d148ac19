"""o2cb's timeouts against the clocks they race (twonode/model/o2cb_timing.py).

The two clocks are written out here from o2cb's kernel code, apart from the
module's formula: a node whose own heartbeat write hangs (dead_threshold -
1) x 2 s fences itself; o2net drops a silent peer after idle_timeout, its
quorum decides (dead_threshold + 2) x 2 s later, and first_node's peer
survives that decision only if its heartbeat, counting from the moment the
fence lands and its I/O resumes, has called the peer dead first.
"""

import copy
import runpy
from pathlib import Path

from twonode.model import Cluster
from twonode.model.o2cb_timing import (DEBIAN, DRBD_DETECTION, HEARTBEAT_INTERVAL, MARGIN, O2cbTimeouts,
                                       least_timeouts, longest_fence, pause)

EXAMPLE = runpy.run_path(str(Path(__file__).resolve().parents[1] / "group_data" / "all.py"))["cluster"]


def write_slack(fence: int, t: O2cbTimeouts) -> int:
    """Seconds between the fence landing and the survivor's own heartbeat
    write timing out (that write may have started one interval before the loss)."""
    return (t.dead_threshold - 1) * HEARTBEAT_INTERVAL - HEARTBEAT_INTERVAL - fence


def quorum_slack(fence: int, t: O2cbTimeouts) -> float:
    """Seconds between the heartbeat calling the lost node dead and the
    quorum deciding, when the peer's last message came at the loss."""
    decision = t.idle_timeout_ms / 1000 + (t.dead_threshold + 2) * HEARTBEAT_INTERVAL
    dead = fence + t.dead_threshold * HEARTBEAT_INTERVAL
    return decision - dead


def test_debian_defaults_against_what_the_lab_measured():
    # A hung first_node, race_delay 34: the fence landed 43 s after the hang
    # and o2cb's quorum restarted the survivor. race_delay 20: 29 and 33 s,
    # and the survivor served on.
    assert quorum_slack(43, DEBIAN) < 0
    assert quorum_slack(33, DEBIAN) > 0 and quorum_slack(29, DEBIAN) > 0


def test_the_least_timeouts_hold_every_fence_with_the_margin_and_no_more():
    for fence in range(5, 190):  # every fence that race_delay and agent_time allow
        least = least_timeouts(fence)
        assert MARGIN <= write_slack(fence, least) < MARGIN + HEARTBEAT_INTERVAL, fence
        assert MARGIN <= quorum_slack(fence, least) <= MARGIN + 4, fence
        shorter = O2cbTimeouts(least.dead_threshold - 1, least.idle_timeout_ms)
        assert write_slack(fence, shorter) < MARGIN, fence


def test_the_example_cluster_runs_the_least_timeouts():
    c = Cluster.model_validate(copy.deepcopy(EXAMPLE))
    fence = DRBD_DETECTION + c.fencing.race_delay + c.fencing.agent_time
    assert c.longest_fence == longest_fence(c.fencing.race_delay, c.fencing.agent_time) == fence
    assert c.o2cb_timeouts == least_timeouts(fence)
    assert write_slack(fence, c.o2cb_timeouts) >= MARGIN and quorum_slack(fence, c.o2cb_timeouts) >= MARGIN


def test_a_longer_timeout_in_group_data_is_taken():
    raw = copy.deepcopy(EXAMPLE)
    raw["o2cb"] = {"dead_threshold": 61, "idle_timeout_ms": 90000}
    assert Cluster.model_validate(raw).o2cb_timeouts == O2cbTimeouts(61, 90000)


def test_without_fencing_debian_s_timeouts_stay():
    raw = copy.deepcopy(EXAMPLE)
    raw["fencing"] = {"mode": "none"}
    c = Cluster.model_validate(raw)
    assert c.longest_fence is None and c.o2cb_timeouts == DEBIAN


def test_real_bmc_defaults_pause_less_than_debian_s():
    # The model's defaults (agent 10 s, race_delay 15 s): the survivor of
    # first_node's loss pauses for the fence and the heartbeat's count.
    fence = longest_fence(15, 10)
    assert pause(fence, least_timeouts(fence)) < pause(fence, DEBIAN)
