"""Fact parsers on outputs captured from the lab guests (tests/fixtures,
see its README for the command, node and state of each file); every fact
on the converged lab. The DRBD, network and o2cb facts' own cases are in
test_facts_drbd.py, test_facts_network.py and test_facts_ocfs2.py."""

import subprocess

import pytest

from captured import CONVERGED_STATES, FIX, converged, fact_reads, fx, lines
from facts.drbd import DrbdResources
from facts.drbd_metadata import DrbdGenerations
from facts.blockdev import DeviceSignatures, parse_wipefs_listing
from facts.libvirt import Virsh, parse_virsh, parse_virsh_list, split_virsh_sections
from facts.lvm import VolumeGroups, parse_lvm_fullreport
from facts.network import NetworkInterfaces
from facts.nfs import NfsExports, parse_exportfs_v
from facts.os_release import NodeOsRelease
from facts.ocfs2 import O2cbNode, O2cbStack
from facts.systemd import UnitState, UnitStates
from twonode.loader import load_cluster


# --- block devices and LVM ------------------------------------------------

@pytest.mark.parametrize("state,types", [
    ("lv_empty", set()), ("lv_xfs", {"xfs"}), ("lv_ext4", {"ext4"}), ("lv_drbdmd", {"drbd"}),
    ("lv_ptable_dos", {"dos"}),
    # After mkfs.ocfs2 through DRBD, the backing LV shows DRBD only.
    ("lv_drbd_ocfs2", {"drbd"}),
])
def test_signatures(state, types):
    sigs = wipefs_signatures(fx(f"blockdev/{state}_fiori__wipefs_n_J.txt"))
    assert {s.type for s in sigs} == types


def signatures_of(output: list[str], devices: tuple[str, ...]):
    fact = DeviceSignatures()
    fact.command(devices=devices)
    return fact.process(output)


def test_device_signatures_fact_marks_missing_devices():
    # wipefs of one device names it by its basename.
    out = ["@@/dev/vg0/t_ext4", "exists", "@@/dev/vg0/nope", "@@wipefs0",
           *lines("blockdev/lv_ext4_fiori__wipefs_n_J.txt"), "@@rc0 0"]
    res = signatures_of(out, ("/dev/vg0/t_ext4", "/dev/vg0/nope"))
    assert res["/dev/vg0/t_ext4"].exists and not res["/dev/vg0/t_ext4"].is_blank
    assert "ext4 at offset" in res["/dev/vg0/t_ext4"].describe()
    assert not res["/dev/vg0/nope"].exists


def test_a_device_wipefs_could_not_read_is_never_blank():
    devices = ("/dev/vg0/small", "/dev/vg0/pub")
    failed = ["@@/dev/vg0/small", "exists", "@@/dev/vg0/pub", "exists", "@@wipefs0", "@@rc0 1"]
    for res in (signatures_of(failed, devices),
                # No answer at all (cut output): unknown too.
                signatures_of(failed[:4], devices)):
        assert all(c.exists and not c.is_blank and c.error for c in res.values())
        assert "unknown contents" in res["/dev/vg0/pub"].describe()


def test_a_signature_wipefs_names_otherwise_makes_the_listing_unknown():
    # The ext4 fixture's signature is named "t_ext4": not one of these.
    out = ["@@/dev/vg0/small", "exists", "@@wipefs0", *lines("blockdev/lv_ext4_fiori__wipefs_n_J.txt"), "@@rc0 0"]
    res = signatures_of(out, ("/dev/vg0/small",))
    assert not res["/dev/vg0/small"].is_blank and "t_ext4" in res["/dev/vg0/small"].error


def test_devices_with_one_basename_get_separate_wipefs():
    fact = DeviceSignatures()
    command = fact.command(devices=("/dev/vg0/data", "/dev/vg1/data", "/dev/drbd0"))
    assert fact.groups == [("/dev/vg0/data", "/dev/drbd0"), ("/dev/vg1/data",)]
    assert command.count('wipefs --no-act --json "$@"') == 2


def test_when_the_listing_fails_each_device_is_read_alone():
    # wipefs cannot open a DRBD Secondary: the listing of both fails, then
    # the LV is read alone and keeps its signatures; only the DRBD device
    # is unknown.
    devices = ("/dev/vg0/t_ext4", "/dev/drbd_small")
    out = ["@@/dev/vg0/t_ext4", "exists", "@@/dev/drbd_small", "exists", "@@wipefs0", "@@rc0 1",
           "@@wipefs:/dev/vg0/t_ext4", *lines("blockdev/lv_ext4_fiori__wipefs_n_J.txt"), "@@rc:/dev/vg0/t_ext4 0",
           "@@wipefs:/dev/drbd_small", "@@rc:/dev/drbd_small 1"]
    res = signatures_of(out, devices)
    assert res["/dev/vg0/t_ext4"].error is None and {s.type for s in res["/dev/vg0/t_ext4"].signatures} == {"ext4"}
    assert res["/dev/drbd_small"].error == "wipefs exit 1" and not res["/dev/drbd_small"].is_blank


def test_ocfs2_on_the_drbd_device():
    assert {s.type for s in wipefs_signatures(fx("blockdev/drbd_after_mkfs_ocfs2_fiori__wipefs_n_J_drbd_device.txt"))} == {"ocfs2"}


def test_lvm_volume_groups_fact():
    vgs = VolumeGroups().process(lines("facts/converged_fiori__VolumeGroups.txt"))
    assert set(vgs) == {"vg0"}
    vg = vgs["vg0"]
    assert vg.size_bytes > vg.free_bytes > 0 and vg.extent_bytes == 4 * 1024**2
    assert set(vg.lvs) == {"local", "small", "vmpool0", "pub"}
    assert vg.lvs["vmpool0"].size_bytes == 3 * 1024**3 and vg.lvs["small"].path == "/dev/vg0/small"


def test_lvm_a_vg_without_lvs_and_no_vg_at_all():
    vgs = parse_lvm_fullreport(fx("lvm/vg0_and_empty_vg_fiori__lvm_fullreport.txt"))
    assert set(vgs) == {"vg0", "emptyvg"} and vgs["emptyvg"].lvs == {}
    assert vgs["emptyvg"].free_bytes == vgs["emptyvg"].size_bytes == 60 * 1024**2
    assert set(vgs["vg0"].lvs) == {"local", "small", "vmpool0", "pub"}
    assert parse_lvm_fullreport(fx("lvm/no_vg_seen_fiori__lvm_fullreport.txt")) == {}


def wipefs_signatures(text: str):
    return tuple(sig for _, sig in parse_wipefs_listing(text))


@pytest.mark.parametrize("node", ["fiori", "torchio"])
@pytest.mark.parametrize("state", CONVERGED_STATES)
def test_converged_facts(state, node):
    def fact(cls, name=None):
        return converged(node, name or cls.__name__, state)

    drbd = fact(DrbdResources)
    assert set(drbd) == {"drbd_small", "drbd_vmpool0", "drbd_pub"}
    assert all(st.is_converged and not st.split_brain for st in drbd.values())
    metadata = fact(DrbdGenerations)
    assert set(metadata) == set(drbd)
    assert all(md.present and not md.never_used and md.consistent and not md.error for md in metadata.values())
    backing = fact(DeviceSignatures, "DeviceSignatures_backing")
    # DRBD's metadata at the end; the larger LVs also show the OCFS2
    # superblock DRBD passes through at the start.
    assert all("drbd" in {s.type for s in c.signatures} <= {"drbd", "ocfs2"} for c in backing.values())
    devices = fact(DeviceSignatures, "DeviceSignatures_drbd")
    assert all({s.type for s in c.signatures} == {"ocfs2"} for c in devices.values())
    o2cb = fact(O2cbStack, "O2cb")
    assert o2cb.enabled_at_boot and o2cb.is_online("ocfs2") and o2cb.registered_nodes == ("fiori", "torchio")
    assert o2cb.registered == (O2cbNode("fiori", 1, "192.168.3.6", 7777), O2cbNode("torchio", 2, "192.168.3.7", 7777))
    net = fact(NetworkInterfaces)
    assert net.mismatches({"eth1": net.nics["eth1"].mac}) == []
    # Reached through the lab's port forward: eth0, the management NIC.
    assert net.management_address == "10.0.2.15" and net.management_nic().name == "eth0"
    exports = fact(NfsExports)
    assert {"/vol/small/home", "/vol/pub", "/vol/small"} <= set(exports)
    units = fact(UnitStates)
    assert units["drbd.service"] == units["nfs-server.service"] == UnitState(running=True, enabled=True)
    if CONVERGED_STATES[state] == "bookworm":
        # o2cb's unit is generated from its init script: pyinfra does not call that enabled.
        assert units["o2cb.service"] == UnitState(running=True, enabled=False)
    else:
        # A unit of its own, which the deploy enables; the deploy brings the
        # stack online itself (`service o2cb online`), the unit runs at boot.
        assert units["o2cb.service"] == UnitState(running=False, enabled=True)
        assert fact(NodeOsRelease).codename == "trixie"
        # o2cb came online with the timeouts derived from the example's fence.
        wanted = load_cluster(FIX.parents[1] / "inventory.py").o2cb_timeouts
        assert (o2cb.live_dead_threshold, o2cb.live_idle_timeout_ms) == (wanted.dead_threshold, wanted.idle_timeout_ms)
    assert units["twonode-no-such.service"] == UnitState(running=False, enabled=False)
    libvirt_objects = fact(Virsh)
    pools, nets = libvirt_objects.pools, libvirt_objects.networks
    assert {p.name: (p.active, p.autostart, p.persistent, p.target) for p in pools.values()} == {
        "vmpool0": (True, False, True, "/vol/vmpool0"),
        "isoimages": (True, False, True, "/vol/pub/computing/software/isoimages/os")}
    assert {n.name: (n.active, n.autostart, n.target, n.address) for n in nets.values()} == {
        "192.168.10.0": (True, True, "virbr0", "192.168.10.1/24")}


# --- NFS ------------------------------------------------------------------

def test_exports_in_force():
    assert parse_exportfs_v(fx("nfs/nothing_exported_fiori__exportfs_v.txt")) == {}
    exports = parse_exportfs_v(fx("nfs/two_exports_fiori__exportfs_v.txt"))
    assert len(exports) == 2 and all(p.startswith("/vol/small") for p in exports)
    for clients in exports.values():
        for options in clients.values():
            assert "no_subtree_check" in options


def test_exports_with_a_long_path_wrap():
    text = "/vol/pub/computing/software/isoimages\n\t\t192.168.10.8(sync,wdelay,hide,no_subtree_check,sec=sys,ro)\n"
    assert parse_exportfs_v(text) == {"/vol/pub/computing/software/isoimages": {
        "192.168.10.8": ("sync", "wdelay", "hide", "no_subtree_check", "sec=sys", "ro")}}


# --- libvirt ----------------------------------------------------------------

def test_pools():
    rows = parse_virsh_list(lines("libvirt/configured_fiori__virsh_q_pool-list_all_details.txt"))
    assert rows["vmpool0"] == {"active": True, "autostart": True, "persistent": True}
    inactive = parse_virsh_list(lines("libvirt/pool_defined_inactive_fiori__virsh_q_pool-list_all_details.txt"))
    assert inactive["vmpool0"]["active"] is False and inactive["vmpool0"]["persistent"] is True
    off = parse_virsh_list(lines("libvirt/pool_autostart_disabled_fiori__virsh_q_pool-list_all_details.txt"))
    assert off["vmpool0"]["autostart"] is False


def test_virsh_section_marks_share_a_line_with_what_follows():
    # virsh -q prints its echo without a line end (see the fixture).
    sections = split_virsh_sections(lines("facts/converged_fiori__Virsh.txt"))
    assert {"pools", "nets", "pool:vmpool0", "net:192.168.10.0"} <= set(sections)
    assert sections["pool:vmpool0"][0].startswith("<pool ")


@pytest.mark.parametrize("node", ["fiori", "torchio"])
def test_no_pools_at_all(node):
    # The small test cluster defines no pool: the empty pool list puts the
    # next mark on the same line ("@@pools@@nets 192.168.10.0 ..."). Read
    # wrongly, the network looked undefined and the deploy defined it again.
    fact = Virsh()
    fact.command(pools=(), networks=("192.168.10.0",))
    found = fact.process(lines(f"libvirt/small_converged_{node}__Virsh.txt"))
    assert found.pools == {}
    net = found.networks["192.168.10.0"]
    assert (net.active, net.autostart, net.target, net.address) == (True, True, "virbr0", "192.168.10.1/24")


def test_pool_target_and_network_address_from_xml():
    sections = {
        "pools": lines("libvirt/configured_fiori__virsh_q_pool-list_all_details.txt"),
        "pool:vmpool0": lines("libvirt/configured_fiori__virsh_pool-dumpxml_vmpool0.txt"),
    }
    assert parse_virsh(sections, "pool")["vmpool0"].target == "/vol/vmpool0"
    sections = {"nets": lines("libvirt/configured_fiori__virsh_q_net-list_all.txt"),
                "net:192.168.10.0": lines("libvirt/configured_fiori__virsh_net-dumpxml_inactive.txt")}
    net = parse_virsh(sections, "net")["192.168.10.0"]
    assert (net.target, net.address, net.active) == ("virbr0", "192.168.10.1/24", True)


def cls_default(name: str):
    cls, _ = fact_reads()[name]
    return cls().default() if hasattr(cls, "default") else None


@pytest.mark.parametrize("name", list(fact_reads()))
def test_fact_values_print_as_json_in_pyinfra_cli(name):
    # `pyinfra inventory.py fact facts.drbd.DrbdResources` serialises with this encoder.
    import json

    from pyinfra_cli.util import json_encode

    # Debian 13's capture: every fact of the converged lab (12's has no
    # NodeOsRelease); the NFS server's, of the small cluster where fiori
    # serves; the node's identity, of the small cluster's checkpoint.
    value = converged("fiori", name, {"NfsServer": "nfs-single", "NodeIdentity": "converged-small-trixie"}.get(
        name, "converged-trixie"))
    assert value != cls_default(name)
    assert json.loads(json.dumps(value, default=json_encode))


# --- a cluster with nothing of a kind: the list facts read nothing, validly -

@pytest.mark.parametrize("fact, kwargs", [
    (DrbdGenerations, {"resources": ()}),
    (DeviceSignatures, {"devices": ()}),
], ids=["DrbdGenerations", "DeviceSignatures"])
def test_an_empty_list_is_a_valid_shell_command(fact, kwargs):
    # A cluster whose replicated volumes were all removed from group_data
    # read these with nothing to list; "; true" is a syntax error (seen on
    # the lab, test_6).
    result = subprocess.run(["sh", "-c", fact().command(**kwargs)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert fact().process(result.stdout.splitlines()) == {}


def test_virsh_domains_on_the_lab_a_vm_running_on_fiori_and_defined_on_both():
    # Captured on the small cluster: tiny started on fiori (its lease taken
    # by the hook), the same XML defined on torchio.
    from facts.libvirt import VirshDomains, lease_path
    fiori = VirshDomains().process(lines("libvirt/tiny_on_fiori_fiori__VirshDomains.txt"))
    torchio = VirshDomains().process(lines("libvirt/tiny_on_fiori_torchio__VirshDomains.txt"))
    disk = "/vol/small/vms/tiny.qcow2"
    assert fiori.domains["tiny"].state == "running" and fiori.domains["tiny"].is_active
    assert torchio.domains["tiny"].state == "shut off" and not torchio.domains["tiny"].is_active
    for state in (fiori, torchio):
        tiny = state.domains["tiny"]
        assert (tiny.persistent, tiny.autostart, tiny.disks) == (True, False, (disk,))
        # One lease file, the same on both nodes (OCFS2), named as the hook names it.
        assert list(state.leases) == [lease_path("/vol/small", disk)]
        assert (state.leases[lease_path("/vol/small", disk)].node, state.leases[lease_path("/vol/small", disk)].vm) == (
            "fiori", "tiny")
