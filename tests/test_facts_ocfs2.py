"""The o2cb fact on outputs captured from the lab guests, and its live
node list against group_data."""

import pytest

from captured import FIX, lines
from facts.ocfs2 import O2cbNode, O2cbStatus, parse_o2cb, parse_o2cb_nodes


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
