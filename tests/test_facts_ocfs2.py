"""The o2cb fact on outputs captured from the lab guests, and its live
node list against group_data."""

from pathlib import Path

import pytest

from captured import FIX, lines
from facts.ocfs2 import O2cbNode, O2cbStatus, parse_o2cb, parse_o2cb_nodes
from facts.sections import split_sections
from twonode.loader import load_cluster

ROOT = Path(__file__).resolve().parents[1]


def test_o2cb_offline_and_online():
    offline = parse_o2cb({"installed": ["installed"],
                          "default": lines("ocfs2/o2cb_disabled_fiori__cat_etc_default_o2cb.txt"),
                          "status": lines("ocfs2/o2cb_disabled_fiori__o2cb_cluster-status.txt")})
    assert offline.installed and not offline.enabled_at_boot and not offline.is_online("ocfs2")
    online_status = next(FIX.glob("ocfs2/*online*o2cb_cluster-status.txt"))
    online = parse_o2cb({"installed": ["installed"], "default": ["O2CB_ENABLED=true"],
                         "status": online_status.read_text().splitlines(),
                         "nodes": lines("ocfs2/mounted_both_fiori__ls_sys_cluster_nodes.txt")})
    assert online.enabled_at_boot and online.is_online("ocfs2")
    assert online.registered_nodes == ("fiori", "torchio")


# The O2cb fact's configfs section on the converged lab (captured).
O2CB_ATTRS = lines("facts/converged_fiori__O2cb.txt")[lines("facts/converged_fiori__O2cb.txt").index("@@attrs") + 1:]
FIORI, TORCHIO = O2cbNode("fiori", 1, "192.168.3.6", 7777), O2cbNode("torchio", 2, "192.168.3.7", 7777)


def live(attrs=O2CB_ATTRS, online=("ocfs2",)):
    return O2cbStatus(installed=True, enabled_at_boot=True, online_clusters=online,
                      registered_nodes=("fiori", "torchio"), registered=parse_o2cb_nodes(attrs))


def test_configfs_node_attributes():
    assert len(O2CB_ATTRS) == 6
    assert parse_o2cb_nodes(O2CB_ATTRS) == (FIORI, TORCHIO)


def test_the_same_nodes_in_any_order_of_reading_do_not_differ():
    assert live().live_nodes_differ("ocfs2", (TORCHIO, FIORI)) is None


@pytest.mark.parametrize("wanted, shown", [
    ((O2cbNode("fiori", 2, "192.168.3.6", 7777), O2cbNode("torchio", 1, "192.168.3.7", 7777)), "1:torchio"),
    ((O2cbNode("fiori", 1, "192.168.3.16", 7777), TORCHIO), "192.168.3.16"),
    ((O2cbNode("fiori", 1, "192.168.3.6", 7778), O2cbNode("torchio", 2, "192.168.3.7", 7778)), "7778"),
    ((FIORI, O2cbNode("pitti", 2, "192.168.3.7", 7777)), "2:pitti"),
], ids=["swapped-order", "new-address", "new-port", "renamed"])
def test_a_live_stack_differs_by_number_address_port_or_name(wanted, shown):
    differs = live().live_nodes_differ("ocfs2", wanted)
    assert differs and "o2cb runs with nodes 1:fiori@192.168.3.6:7777, 2:torchio@192.168.3.7:7777" in differs
    assert shown in differs.split("group_data gives")[1]


def test_a_stack_that_is_not_running_never_differs():
    swapped = (O2cbNode("fiori", 2, "192.168.3.6", 7777), O2cbNode("torchio", 1, "192.168.3.7", 7777))
    assert live(online=()).live_nodes_differ("ocfs2", swapped) is None
    assert live(attrs=[]).live_nodes_differ("ocfs2", swapped) is None


# The O2cb fact on the converged small test cluster (tests/lab/small: the
# lab's fencing, agent_time 15 and race_delay 20), which o2cb took its
# timeouts from when it came online.
SMALL_FIORI = "facts/converged-small-trixie_fiori__O2cb.txt"


def test_the_running_timeouts_are_read_from_configfs():
    status = parse_o2cb(split_sections(lines(SMALL_FIORI)))
    assert status.is_online("ocfs2")
    assert (status.live_dead_threshold, status.live_idle_timeout_ms) == (27, 49000)


def test_the_running_timeouts_are_what_the_small_cluster_derives():
    small = load_cluster(ROOT / "tests" / "lab" / "small" / "inventory.py")
    status = parse_o2cb(split_sections(lines(SMALL_FIORI)))
    wanted = small.o2cb_timeouts
    assert status.live_timeouts_differ("ocfs2", wanted.dead_threshold, wanted.idle_timeout_ms) is None
    # ...and it tells the difference from Debian's, which o2cb ran before.
    differs = status.live_timeouts_differ("ocfs2", 31, 30000)
    assert differs == ("o2cb runs with dead_threshold 27 and idle_timeout_ms 49000; "
                       "group_data gives 31 and 30000")


def test_an_offline_stack_has_no_running_timeouts_and_never_differs():
    offline = parse_o2cb({"installed": ["installed"],
                          "status": lines("ocfs2/o2cb_disabled_fiori__o2cb_cluster-status.txt"),
                          "timeouts": []})
    assert offline.live_dead_threshold is None and offline.live_timeouts_differ("ocfs2", 31, 30000) is None
