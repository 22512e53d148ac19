"""A live resource's identity (minor, backing LV, addresses and port) is
read back from the resource file the deploy wrote, and a change to it is
refused with the steps (twonode/drbd_identity.py)."""

import copy
import runpy
from pathlib import Path

import jinja2
import pytest

from twonode.loader import validate
from twonode.paths import lv_path
from twonode.drbd_identity import (
    MANAGED_MARK,
    identity_of,
    live_change_refusal,
    parse_resource_file,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = runpy.run_path(str(REPO / "group_data" / "all.py"))["cluster"]


def rendered(raw: dict, index: int = 0) -> tuple[str, ...]:
    """The resource file the deploy writes for volume ``index``: the real template."""
    c = validate(raw)
    template = jinja2.Environment().from_string((REPO / "templates/drbd/resource.res.j2").read_text())
    vol = c.replicated_volumes[index]
    return tuple(template.render(vol=vol, drbd=c.drbd, nodes=c.nodes,
                                 disk=lv_path(c.volume_group, vol.name)).splitlines())


def wanted(raw: dict, index: int = 0):
    c = validate(raw)
    return identity_of(c.replicated_volumes[index], c.nodes, c.volume_group)


def test_the_written_file_reads_back_as_its_identity():
    identity = parse_resource_file(rendered(EXAMPLE, 1))
    assert identity == wanted(EXAMPLE, 1)
    assert identity.minor == 1 and identity.disk == "/dev/vg0/vmpool0"
    assert identity.addresses == {"fiori": "192.168.3.6:7791", "torchio": "192.168.3.7:7791"}


def edited(change) -> dict:
    raw = copy.deepcopy(EXAMPLE)
    change(raw)
    return raw


@pytest.mark.parametrize("change, shown", [
    (lambda c: c["replicated_volumes"][0].update(minor=5), "minor 0 -> 5"),
    (lambda c: c["replicated_volumes"][0].update(port=7800),
     "fiori's address 192.168.3.6:7790 -> 192.168.3.6:7800"),
    (lambda c: c["nodes"][1].update(cluster_address="192.168.3.17"),
     "torchio's address 192.168.3.7:7790 -> 192.168.3.17:7790"),
    (lambda c: c.update(volume_group="vg1"), "backing LV /dev/vg0/small -> /dev/vg1/small"),
], ids=["minor", "port", "cluster-address", "volume-group"])
def test_a_new_identity_for_a_live_resource_is_refused_with_the_steps(change, shown):
    why = live_change_refusal("drbd_small", "/vol/small", rendered(EXAMPLE), wanted(edited(change)), is_up=True)
    assert why and shown in why
    assert "unmount /vol/small on both nodes" in why and "drbdadm down drbd_small" in why


def test_the_same_identity_with_other_settings_is_not_refused():
    # A handler or a resync rate may change on a live resource (drbdadm adjust).
    raw = edited(lambda c: c.update(drbd={"resync_min_rate": "20M"}))
    assert live_change_refusal("drbd_small", "/vol/small", rendered(EXAMPLE), wanted(raw), is_up=True) is None


def test_a_resource_that_is_down_may_take_its_new_identity():
    raw = edited(lambda c: c["replicated_volumes"][0].update(minor=5))
    assert live_change_refusal("drbd_small", "/vol/small", rendered(EXAMPLE), wanted(raw), is_up=False) is None


def test_a_missing_file_is_written():
    assert live_change_refusal("drbd_small", "/vol/small", None, wanted(EXAMPLE), is_up=False) is None


def test_a_file_not_written_by_twonode_is_never_overwritten():
    lines = rendered(EXAMPLE)[1:]
    assert lines[0] != MANAGED_MARK
    for is_up in (True, False):
        why = live_change_refusal("drbd_small", "/vol/small", lines, wanted(EXAMPLE), is_up=is_up)
        assert why and "not written by twonode" in why


def test_an_empty_file_left_by_a_power_loss_is_written_again():
    # Seen on the lab (test_5): torchio lost power right after the file's
    # rename; ext4 brought it back empty.
    for is_up in (True, False):
        assert live_change_refusal("drbd_small", "/vol/small", (), wanted(EXAMPLE), is_up=is_up) is None
        assert live_change_refusal("drbd_small", "/vol/small", ("",), wanted(EXAMPLE), is_up=is_up) is None
