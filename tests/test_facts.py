"""Fact parsers on outputs captured from the lab guests (tests/fixtures,
see its README for the command, node and state of each file) and, for
DRBD 9, on published real outputs."""

import subprocess
import sys
from pathlib import Path

import pytest

from facts.blockdev import DeviceSignatures, parse_wipefs_listing
from facts.drbd import DrbdResources, parse_drbdsetup_show, parse_proc_drbd, parse_status_json, split_brain_minors
from facts.drbd_metadata import (
    INITIAL_UUID, RAW_SUPERBLOCK, DrbdGenerations, DrbdMetadata, parse_get_gi, parse_superblock,
)
from facts.libvirt import Virsh, parse_virsh, parse_virsh_list, split_virsh_sections
from facts.lvm import VolumeGroups, parse_lvm_fullreport
from facts.network import (
    NetworkInterfaces,
    NetworkState,
    parse_ip_addr_json,
    parse_ssh_connection,
)
from facts.nfs import NfsExports, parse_exportfs_v
from facts.os_release import NodeOsRelease
from facts.ocfs2 import O2cbStack, parse_o2cb, O2cbNode, O2cbStatus, parse_o2cb_nodes
from facts.systemd import UnitState, UnitStates

FIX = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIX))
from capture_facts import fact_reads  # noqa: E402


def fx(name: str) -> str:
    path = FIX / name
    return path.read_text() if path.exists() else ""


def lines(name: str) -> list[str]:
    return fx(name).splitlines()


# --- DRBD 8.4: /proc/drbd and drbdsetup show ------------------------------

def drbd84(state: str, node: str = "fiori", dmesg: str | None = None):
    """Feed the DrbdResources fact's process() the way its command would."""
    out = ["@@proc", *lines(f"drbd84/{state}_{node}__proc_drbd.txt"), "@@json",
           "@@show", *lines(f"drbd84/{state}_{node}__drbdsetup_show.txt"), "@@dmesg"]
    if dmesg:
        out += lines(f"drbd84/{dmesg}")
    return DrbdResources().process(out)


def test_converged_pair():
    res = drbd84("connected_primary_primary")
    assert set(res) == {"drbd_small", "drbd_pub"}
    small = res["drbd_small"]
    assert (small.minor, small.role, small.peer_role, small.connection, small.disk, small.peer_disk) == \
        (0, "Primary", "Primary", "Connected", "UpToDate", "UpToDate")
    assert small.is_converged and not small.is_in_resync and small.out_of_sync_kib == 0


def test_fresh_pair_before_new_current_uuid():
    res = drbd84("connected_secondary_secondary_inconsistent")
    assert all((st.connection, st.disk, st.peer_disk) == ("Connected", "Inconsistent", "Inconsistent")
               and not st.is_converged for st in res.values())


def test_alone_primary_waits_for_the_peer():
    st = drbd84("alone_primary_wfconnection")["drbd_small"]
    assert (st.connection, st.role, st.peer_role, st.peer_disk) == ("WFConnection", "Primary", "Unknown", "DUnknown")
    assert st.disk == "UpToDate" and not st.is_in_resync


def test_out_of_sync_counted_while_alone():
    states = parse_proc_drbd(fx("drbd84/alone_primary_wfconnection_oos_fiori__proc_drbd.txt"))
    assert states[0].out_of_sync_kib == 16384


@pytest.mark.parametrize("node,connection,disk", [("fiori", "SyncSource", "UpToDate"),
                                                  ("torchio", "SyncTarget", "Inconsistent")])
def test_sync_in_progress(node, connection, disk):
    st = parse_proc_drbd(fx(f"drbd84/syncing_mid_{node}__proc_drbd.txt"))[0]
    assert st.connection == connection and st.disk == disk and st.is_in_resync
    assert 0 < st.sync_percent < 100 and st.out_of_sync_kib > 0
    # The other device of the same output is not syncing.
    assert parse_proc_drbd(fx(f"drbd84/syncing_mid_{node}__proc_drbd.txt"))[1].sync_percent is None


def test_a_resync_of_more_than_4_gib_is_read_too():
    # drbd_proc.c prints such a resync in MiB, with "finish:" on the same
    # line as the bar: the captured torchio output, rewritten so.
    text = fx("drbd84/syncing_mid_torchio__proc_drbd.txt").replace(
        "sync'ed: 24.7% (793692/1048508)K\n\tfinish:", "sync'ed: 24.7% (7750/10239)Mfinish:")
    assert "Mfinish:" in text
    st = parse_proc_drbd(text)[0]
    assert st.sync_percent == 24.7 and st.is_in_resync


def test_a_line_the_parser_does_not_know_is_an_error_that_quotes_it():
    text = fx("drbd84/syncing_mid_torchio__proc_drbd.txt") + " 2: cs:Connected ro:Primary\n"
    with pytest.raises(ValueError, match=r"/proc/drbd: a line this tool cannot read: ' 2: cs:Connected ro:Primary'"):
        parse_proc_drbd(text)


@pytest.mark.parametrize("connection", ["StartingSyncS", "StartingSyncT", "WFBitMapT", "PausedSyncS"])
def test_the_states_before_and_between_resyncs_count_as_resync(connection):
    text = fx("drbd84/syncing_mid_torchio__proc_drbd.txt").replace("cs:SyncTarget", f"cs:{connection}")
    assert parse_proc_drbd(text)[0].is_in_resync


def test_sync_finished():
    st = parse_proc_drbd(fx("drbd84/sync_finished_torchio__proc_drbd.txt"))[0]
    assert st.connection == "Connected" and st.sync_percent is None and st.out_of_sync_kib == 0


def test_peer_down():
    states = parse_proc_drbd(fx("drbd84/pub_peer_down_fiori__proc_drbd.txt"))
    assert any(st.connection == "WFConnection" for st in states.values())


@pytest.mark.parametrize("state", ["unconfigured_module_loaded", "unconfigured_nolv_noip_module_loaded"])
def test_unconfigured(state):
    assert drbd84(state) == {}


def test_module_not_loaded():
    # /proc/drbd missing: the command prints nothing for it.
    assert DrbdResources().process(["@@proc", "@@json", "@@show", "@@dmesg"]) == {}


def test_split_brain_detected_from_the_kernel_log():
    res = drbd84("split_brain_both_standalone", dmesg="split_brain_both_standalone_fiori__dmesg_split-brain.txt")
    assert {n: (st.connection, st.split_brain) for n, st in res.items()} == {
        "drbd_small": ("StandAlone", True), "drbd_pub": ("StandAlone", True)}


def test_standalone_without_split_brain_in_the_log_is_not_called_one():
    res = drbd84("split_brain_both_standalone")
    assert all(st.is_standalone and not st.split_brain for st in res.values())


def test_split_brain_cleared_by_a_later_connection():
    log = fx("drbd84/split_brain_standalone_fiori__dmesg_split-brain.txt") + "\n" + \
        fx("drbd84/split_brain_recovered_fiori__dmesg_tail.txt")
    assert split_brain_minors(log, {0: "drbd_small", 1: "drbd_pub"}) == set()


def test_names_from_drbdsetup_show():
    assert parse_drbdsetup_show(fx("drbd84/connected_primary_primary_torchio__drbdsetup_show.txt")) == \
        {0: "drbd_small", 1: "drbd_pub"}


# --- DRBD metadata on a backing device -------------------------------------

def test_metadata_absent_prints_nothing():
    out = ["@@drbd_small", *lines("drbd84/down_no_metadata_fiori__drbdmeta_get-gi.txt")]
    md = DrbdGenerations().process(out)["drbd_small"]
    assert md.present is False and md.error is None


def test_no_backing_device_prints_nothing():
    assert DrbdGenerations().process(["@@drbd_small"])["drbd_small"] == DrbdMetadata(present=False)


# The superblock read where drbd-utils is not installed yet: a node
# reinstalled on the next release, its data disk kept (test_1 on Debian 12).
# Each pair was captured together: the raw bytes, then what drbd-utils says.
@pytest.mark.parametrize("superblock, get_gi", [
    ("drbd84/reinstalled_torchio__superblock_od_small.txt", "drbd84/reinstalled_torchio__drbdmeta_get-gi_small.txt"),
    ("drbd84/alone_primary_peer_reinstalled_fiori__superblock_od_small.txt",
     "drbd84/alone_primary_peer_reinstalled_fiori__drbdadm_get-gi_drbd_small.txt"),
])
def test_the_raw_superblock_says_what_drbdmeta_says(superblock, get_gi):
    raw = parse_superblock((FIX / superblock).read_text())
    assert raw == parse_get_gi((FIX / get_gi).read_text())
    assert raw.present and not raw.never_used and not raw.is_partial


def test_the_fact_reads_a_raw_superblock_after_its_marker():
    out = ["@@drbd_small", RAW_SUPERBLOCK, *(FIX / "drbd84/reinstalled_torchio__superblock_od_small.txt").read_text().splitlines()]
    md = DrbdGenerations().process(out)["drbd_small"]
    assert md == DrbdMetadata(present=True, current_uuid="4238C85F7E5700E0", consistent=True)


def _superblock(magic: int, flags: int = 0, current: int = 4) -> str:
    raw = bytes(8) + current.to_bytes(8, "big") + bytes(40) + flags.to_bytes(4, "big") + magic.to_bytes(4, "big")
    return " ".join(f"{b:02x}" for b in raw)


def test_a_raw_superblock_right_after_create_md_is_never_used_and_an_unclean_one_is_read():
    assert parse_superblock(_superblock(0x8374026B)).never_used
    md = parse_superblock(_superblock(0x8374026C, flags=0, current=0x1234))
    assert md.present and md.consistent is False and md.is_partial


def test_no_magic_is_no_metadata_but_a_short_read_or_drbd9_is_an_error():
    assert parse_superblock(_superblock(0)) == DrbdMetadata(present=False)
    for text in ("", "00 11", _superblock(0x8374026D)):
        md = parse_superblock(text)
        assert md.present is False and md.error, text


def test_metadata_after_create_md_is_never_used():
    md = parse_get_gi(fx("drbd84/down_with_metadata_fiori__drbdmeta_get-gi.txt"))
    assert md.present and md.current_uuid == INITIAL_UUID and md.never_used and not md.is_partial


def test_metadata_of_a_device_with_data():
    md = parse_get_gi("6C6E40B9BD4FAA2A:0000000000000000:0000000000000000:0000000000000000:1:1:1:1:0:0:0")
    assert md.present and not md.never_used and md.consistent and not md.is_partial


def test_a_fresh_pair_up_in_the_kernel_is_never_used():
    md = parse_get_gi(fx("drbd84/connected_secondary_secondary_inconsistent_fiori__drbdadm_get-gi_drbd_small.txt"))
    assert md.never_used and md.consistent is False and not md.is_partial


def test_a_sync_target_holds_a_partial_copy():
    # The sync source hands the target a new current UUID as the sync
    # begins: from then on the target is not "never used", and not consistent.
    source = parse_get_gi(fx("drbd84/syncing_early_fiori__drbdadm_get-gi_drbd_small.txt"))
    target = parse_get_gi(fx("drbd84/syncing_mid_torchio__drbdadm_get-gi_drbd_small.txt"))
    assert source.consistent and not source.is_partial
    assert not target.never_used and target.consistent is False and target.is_partial


def test_metadata_read_on_an_attached_device_skips_drbdmeta_warnings():
    text = lines("facts/converged_fiori__DrbdBackingMetadata.txt")
    md = parse_get_gi("\n".join(text[1:7]))
    assert md.present and md.consistent and md.current_uuid == "F0D98DA9DFFA854A"


def test_metadata_that_cannot_be_read_is_an_error_not_absent():
    md = parse_get_gi(fx("drbd84/unconfigured_nolv_noip_module_loaded_fiori__drbdadm_get-gi_drbd_small.stderr.txt"))
    assert md.present is False and "failed" in md.error


# --- DRBD 9 JSON (published real outputs) ----------------------------------

def test_drbd9_connected_primary_secondary():
    states = parse_status_json(fx("drbd9/connected_primary_secondary__salt-shaptools_beijing.json"))
    st = states[5]
    assert (st.resource, st.role, st.peer_role, st.connection, st.disk, st.peer_disk) == \
        ("beijing", "Primary", "Secondary", "Connected", "UpToDate", "UpToDate")


def test_drbd9_sync_source():
    # drbd-utils of that era printed `nan` for the estimate: not valid JSON
    # for a strict parser, valid for Python's.
    states = parse_status_json(fx("drbd9/syncsource_start_nan__salt-shaptools_shanghai.json"))
    assert any(st.connection == "SyncSource" and st.is_in_resync for st in states.values())


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


# --- every fact on the converged lab (its own command's real output) -------

def converged(node: str, name: str, state: str = "converged"):
    """The fact's value from its own command's output on the converged lab."""
    cls, kwargs = fact_reads()[name]
    fact = cls()
    fact.command(**kwargs)
    return fact.process(lines(f"facts/{state}_{node}__{name}.txt"))


#: The converged example cluster on Debian 12 guests and on Debian 13 ones.
CONVERGED_STATES = {"converged": "bookworm", "converged-trixie": "trixie"}


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
    assert units["twonode-no-such.service"] == UnitState(running=False, enabled=False)
    libvirt_objects = fact(Virsh)
    pools, nets = libvirt_objects.pools, libvirt_objects.networks
    assert {p.name: (p.active, p.autostart, p.persistent, p.target) for p in pools.values()} == {
        "vmpool0": (True, False, True, "/vol/vmpool0"),
        "isoimages": (True, False, True, "/vol/pub/computing/software/isoimages/os")}
    assert {n.name: (n.active, n.autostart, n.target, n.address) for n in nets.values()} == {
        "192.168.10.0": (True, True, "virbr0", "192.168.10.1/24")}


# --- o2cb -------------------------------------------------------------------

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


# --- network ----------------------------------------------------------------

def test_nics_and_addresses():
    nics = parse_ip_addr_json(fx("network/eth1_configured_fiori__ip_j_addr.txt"))
    assert nics["eth1"].mac == "52:54:00:00:01:01"
    assert any(a.startswith("192.168.3.6/") for a in nics["eth1"].ipv4)
    assert "lo" not in nics


def test_names_in_force_against_the_wanted_ones():
    state = NetworkState(nics=parse_ip_addr_json(fx("network/eth1_configured_fiori__ip_j_addr.txt")))
    assert state.mismatches({"eth1": "52:54:00:00:01:01"}) == []
    assert state.mismatches({"eth1": "52:54:00:00:01:02"}) == ["NIC 52:54:00:00:01:02 is named eth2, not eth1"]
    assert state.mismatches({"eth9": "00:11:22:33:44:55"}) == ["no NIC with MAC 00:11:22:33:44:55 (wanted as eth9)"]


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
    net_list = next(FIX.glob("libvirt/configured_fiori__virsh_q_net-list_all.txt"), None)
    sections = {"nets": net_list.read_text().splitlines() if net_list else ["192.168.10.0 active yes yes"],
                "net:192.168.10.0": lines("libvirt/configured_fiori__virsh_net-dumpxml_inactive.txt")}
    net = parse_virsh(sections, "net")["192.168.10.0"]
    assert (net.target, net.address, net.active) == ("virbr0", "192.168.10.1/24", True)


@pytest.mark.parametrize("name", list(fact_reads()))
def test_fact_values_print_as_json_in_pyinfra_cli(name):
    # `pyinfra inventory.py fact facts.drbd.DrbdResources` serialises with this encoder.
    import json

    from pyinfra_cli.util import json_encode

    value = converged("fiori", name)
    assert json.loads(json.dumps(value, default=json_encode))


# --- the NIC the deploy connects through -----------------------------------

def lab_state(management_address):
    """The converged lab's interfaces (captured), reached at ``management_address``."""
    state = converged("fiori", "NetworkInterfaces")
    return NetworkState(nics=state.nics, management_address=management_address)


def test_ssh_connection_names_the_nodes_own_address():
    assert parse_ssh_connection("10.0.2.2 41234 10.0.2.15 22") == "10.0.2.15"
    assert parse_ssh_connection("") is None


def test_the_management_nic_is_the_one_with_the_address():
    assert lab_state("10.0.2.15").management_nic().name == "eth0"
    assert lab_state("192.0.2.1").management_nic() is None
    assert lab_state(None).management_nic() is None


def test_the_lab_layout_has_no_conflict():
    assert lab_state("10.0.2.15").management_conflicts("eth1", {"eth1": "52:54:00:00:01:01",
                                                                "eth2": "52:54:00:00:01:02"}) == []


def test_cluster_network_on_the_management_nic_is_refused():
    problems = lab_state("10.0.2.15").management_conflicts("eth0", {})
    assert len(problems) == 1 and "cluster_network.interface is eth0" in problems[0]


def test_pinning_the_management_nic_is_refused():
    problems = lab_state("10.0.2.15").management_conflicts("eth1", {"mgmt0": "52:54:00:00:01:00"})
    assert len(problems) == 1 and "pins it as mgmt0" in problems[0]


def test_giving_the_management_nics_name_away_is_refused():
    problems = lab_state("10.0.2.15").management_conflicts("eth1", {"eth0": "52:54:00:00:01:01"})
    assert len(problems) == 1 and "gives its name eth0 to 52:54:00:00:01:01" in problems[0]


# --- o2cb's live node list against group_data -------------------------------

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
