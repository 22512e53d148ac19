"""The DRBD facts on outputs captured from the lab guests (tests/fixtures)
and, for DRBD 9, on published real outputs: the kernel's state, the
on-disk metadata."""

import subprocess

import pytest

from captured import FIX, fx, lines, section_of
from facts.drbd import DrbdResources, parse_drbdsetup_show, parse_proc_drbd, parse_status_json, split_brain_minors
from facts.drbd_metadata import (
    INITIAL_UUID, RAW_SUPERBLOCK, DrbdGenerations, DrbdMetadata, parse_get_gi, parse_superblock,
)


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


def captured_fact(state: str, node: str):
    """The DrbdResources command's whole output, captured on the lab
    (tests/fixtures/capture_facts.py)."""
    return DrbdResources().process(lines(f"facts/{state}_{node}__DrbdResources.txt"))


@pytest.mark.parametrize("node", ["fiori", "torchio"])
def test_a_wrong_shared_secret_is_named_as_the_cause(node):
    # Captured after torchio reconnected with another secret than fiori's:
    # both nodes logged "Authentication of peer failed" and went StandAlone.
    small = captured_fact("auth-failed", node)["drbd_small"]
    assert (small.connection, small.auth_failed, small.split_brain) == ("StandAlone", True, False)


@pytest.mark.parametrize("node", ["fiori", "torchio"])
def test_an_authentication_failure_is_forgotten_once_connected_again(node):
    # The same kernel log, then the right secret: Connected again.
    small = captured_fact("secret-connected", node)["drbd_small"]
    assert (small.connection, small.auth_failed) == ("Connected", False)


def test_standalone_without_authentication_failure_is_not_called_one():
    res = drbd84("split_brain_both_standalone", dmesg="split_brain_both_standalone_fiori__dmesg_split-brain.txt")
    assert not any(st.auth_failed for st in res.values())


@pytest.mark.parametrize("node", ["fiori", "torchio"])
def test_the_shared_secret_never_reaches_the_facts_output(node, tmp_path):
    # The fact's own command in /bin/sh, against stand-ins that print what
    # the lab's kernel and drbdsetup printed, with the secret put back in
    # where the capture shows it masked.
    from facts.drbd import DrbdResources
    secret = "Se+cr3t/=x"
    captured = fx(f"facts/secret-connected_{node}__DrbdResources.txt")
    proc, show = tmp_path / "proc_drbd", tmp_path / "show"
    proc.write_text(section_of(captured, "proc"))
    show.write_text(section_of(captured, "show").replace('"(hidden)"', f'"{secret}"'))
    assert secret in show.read_text()
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in (("drbdsetup", f'[ "$1" = show ] && cat {show}; [ "$1" = show ]'),
                       ("systemctl", "echo active"), ("dmesg", "true")):
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    fact = DrbdResources()
    command = fact.command().replace("/proc/drbd", str(proc))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True,
                         env={"PATH": f"{bin_}:/usr/bin:/bin"}).stdout
    assert secret not in out and 'shared-secret   \t"(hidden)";' in out
    assert fact.process(out.splitlines())["drbd_small"].connection == "Connected"


def test_the_mask_filters_what_drbdsetup_show_prints():
    import subprocess
    from facts.secrets import MASK_SECRETS
    shown = '        cram-hmac-alg   \t"sha256";\n        shared-secret   \t"s3cr3t-Value+/=";\n'
    masked = subprocess.run(MASK_SECRETS, shell=True, input=shown, capture_output=True, text=True, check=True).stdout
    assert masked == '        cram-hmac-alg   \t"sha256";\n        shared-secret   \t"(hidden)";\n'


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
