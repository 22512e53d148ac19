"""Online verify: templates/drbd/verify.sh run for real with a fake drbdadm
over /proc/drbd as captured on the lab (tests/fixtures/verify: fiori right
after a verify that found the 4 KiB a test had changed on torchio's backing
LV), the result file it writes read by the VerifyResults fact, and what the
status makes of it."""

import json
import subprocess
from pathlib import Path

import pytest

from captured import FIX
from facts.drbd_events import VerifyResults
from twonode.loader import load_cluster
from twonode.report import render_verify, resync_commands, verify_document

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "templates/drbd/verify.sh"
FOUND = FIX / "verify/found_fiori__proc_drbd.txt"
IN_SYNC = FIX / "drbd84/connected_primary_primary_fiori__proc_drbd.txt"

# cstate answers in turn from $WORK/cstate (one line per call, the last one
# repeated); every other call is recorded.
FAKE_DRBDADM = """#!/bin/sh
echo "$*" >> "$WORK/calls"
case $1 in
  cstate) head -n 1 "$WORK/cstate"; [ "$(wc -l < "$WORK/cstate")" -gt 1 ] && sed -i 1d "$WORK/cstate"; true ;;
  dstate) cat "$WORK/dstate" ;;
  sh-minor) echo 0 ;;
  verify) exit "$(cat "$WORK/verify-rc" 2>/dev/null || echo 0)" ;;
esac
"""


@pytest.fixture
def work(tmp_path):
    for name, text in (("bin/drbdadm", FAKE_DRBDADM), ("bin/logger", "#!/bin/sh\necho \"$*\" >> \"$WORK/log\"\n"),
                       ("bin/hostname", "#!/bin/sh\necho fiori\n")):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    (tmp_path / "dstate").write_text("UpToDate/UpToDate\n")
    return tmp_path


def verify(work: Path, cstates: list[str], proc: Path = FOUND, *resources: str) -> int:
    """Runs the script on the volumes file the deploy writes (``resources``;
    drbd_small by default)."""
    (work / "cstate").write_text("".join(f"{s}\n" for s in cstates))
    (work / "volumes").write_text("# Managed by twonode\n" + "".join(
        f"{res} /vol/{res.removeprefix('drbd_')}\n" for res in resources or ("drbd_small",)))
    env = {"PATH": f"{work}/bin:/usr/bin:/bin", "WORK": str(work), "TWONODE_VERIFY_STATE": str(work / "verify"),
           "TWONODE_VERIFY_POLL": "0", "TWONODE_PROC_DRBD": str(proc), "TWONODE_VOLUMES": str(work / "volumes")}
    return subprocess.run(["sh", str(SCRIPT)], env=env, timeout=30).returncode


def results(work: Path):
    return VerifyResults().process((work / "verify").read_text().splitlines())


def test_blocks_found_out_of_sync_are_recorded_and_fail_the_unit(work):
    assert verify(work, ["Connected", "VerifyS", "VerifyS", "Connected"]) == 1
    (r,) = results(work)
    assert (r.node, r.resource, r.result, r.out_of_sync_kib, r.state) == \
        ("fiori", "drbd_small", "out-of-sync", 4, "Connected,UpToDate/UpToDate")
    assert "verify drbd_small" in (work / "calls").read_text()
    assert "-p daemon.crit" in (work / "log").read_text()


def test_a_clean_verify_is_recorded_in_sync(work):
    assert verify(work, ["Connected", "VerifyS", "Connected"], IN_SYNC) == 0
    assert [(r.result, r.out_of_sync_kib) for r in results(work)] == [("in-sync", 0)]


@pytest.mark.parametrize("cstate,dstate", [("WFConnection", "UpToDate/DUnknown"), ("SyncSource", "UpToDate/Inconsistent"),
                                           ("Connected", "UpToDate/Outdated"), ("", "")])
def test_a_resource_not_connected_and_up_to_date_on_both_nodes_is_skipped_unverified(work, cstate, dstate):
    (work / "dstate").write_text(f"{dstate}\n")
    assert verify(work, [cstate], IN_SYNC) == 1
    (r,) = results(work)
    assert (r.result, r.state) == ("skipped", f"{cstate or 'down'},{dstate or 'none'}")
    assert "verify" not in (work / "calls").read_text().split()


def test_a_verify_cut_short_by_the_connection_is_interrupted(work):
    assert verify(work, ["Connected", "VerifyS", "WFConnection"]) == 1
    assert [r.result for r in results(work)] == ["interrupted"]


def test_no_volume_no_verify(work):
    (work / "volumes").write_text("")
    env = {"PATH": f"{work}/bin:/usr/bin:/bin", "WORK": str(work), "TWONODE_VERIFY_STATE": str(work / "verify"),
           "TWONODE_VOLUMES": str(work / "volumes")}
    assert subprocess.run(["sh", str(SCRIPT)], env=env, timeout=30).returncode == 0
    assert not (work / "verify").exists() and not (work / "calls").exists()


def test_resources_are_verified_one_after_the_other_and_the_file_keeps_the_last_200(work):
    (work / "verify").write_text("".join(f"2026-11-01T00:00:{i % 60:02d}Z fiori drbd_old in-sync 0 "
                                         "Connected,UpToDate/UpToDate\n" for i in range(250)))
    assert verify(work, ["Connected", "VerifyS", "Connected"], IN_SYNC, "drbd_small", "drbd_pub") == 0
    calls = [line for line in (work / "calls").read_text().splitlines() if line.startswith("verify")]
    assert calls == ["verify drbd_small", "verify drbd_pub"]
    found = results(work)
    assert len(found) == 200 and [r.resource for r in found[-2:]] == ["drbd_small", "drbd_pub"]


def test_the_fact_reads_the_result_the_lab_wrote():
    (r,) = VerifyResults().process((FIX / "verify/found_fiori__verify_results.txt").read_text().splitlines())
    assert (r.resource, r.result, r.out_of_sync_kib, r.is_clean) == ("drbd_small", "out-of-sync", 4, False)


def test_a_line_that_is_not_a_verify_result_is_an_error():
    with pytest.raises(ValueError, match="TIME NODE RESOURCE RESULT KIB STATE"):
        VerifyResults().process(["2026-11-28T13:29:33Z fiori drbd_small mostly-fine 4 Connected"])


# --- What the status makes of it.

def seen_with_verify(lines: list[str]):
    found = VerifyResults().process(lines)
    return {"fiori": {"verify": found}, "torchio": {"verify": []}}


def test_the_status_shows_the_blocks_found_and_the_commands_for_either_choice():
    c = load_cluster(ROOT / "inventory.py", ROOT)
    text = render_verify(c, seen_with_verify((FIX / "verify/found_fiori__verify_results.txt").read_text().splitlines()))
    assert "VERIFY FOUND 4 KiB of drbd_small" in text
    assert "# to overwrite torchio's copy with fiori's" in text and "# to overwrite fiori's copy with torchio's" in text
    # /vol/small holds the NFS service's state: its standby stops first.
    assert ("systemctl stop twonode-nfs && umount /vol/small && drbdadm secondary drbd_small "
            "&& drbdadm disconnect drbd_small && drbdadm connect drbd_small") in text
    # Volumes never verified say so.
    assert "drbd_pub" in text and "never" in text


def test_the_resync_empties_the_target_first_and_leaves_the_peer_alone():
    c = load_cluster(ROOT / "inventory.py", ROOT)
    vol = c.replicated_volumes[0]
    commands = resync_commands(c, vol, "torchio")
    assert commands[0] == {"on": "pyinfra", "run": "pyinfra inventory.py tasks/vms.py --data empty=torchio"}
    # Nothing runs on the node that keeps serving but the second verify.
    assert [cmd["on"] for cmd in commands[1:3]] == ["torchio", "torchio"]
    assert commands[-1]["on"] == c.first and commands[-1]["run"].endswith("; systemctl start twonode-verify")
    assert "UpToDate/UpToDate" in commands[-1]["run"]


def test_the_resync_stops_the_nfs_standby_only_on_a_volume_the_nfs_service_uses():
    # The standby opens its lock file on the state volume every few seconds:
    # a umount at that moment found the volume busy (on the lab, under load).
    c = load_cluster(ROOT / "inventory.py", ROOT)
    by_name = {v.name: v for v in c.replicated_volumes}
    small = resync_commands(c, by_name["small"], "torchio")
    assert small[1]["run"].startswith("systemctl stop twonode-nfs && umount /vol/small && ")
    assert small[2]["run"] == "systemctl restart twonode-activate && systemctl start twonode-nfs"
    used = {v.name for v in c.replicated_volumes if v == c.nfs_state_volume()
            or any(c.replicated_volume_of(e.path) == v for e in c.nfs.exports)}
    for name in set(by_name) - used:
        commands = resync_commands(c, by_name[name], "torchio")
        assert "twonode-nfs" not in commands[1]["run"] + commands[2]["run"], (name, commands)
    assert set(by_name) - used, "the example has a volume the NFS service does not use"


def test_in_json_each_volume_has_its_last_verify_and_the_commands_only_when_blocks_differ():
    c = load_cluster(ROOT / "inventory.py", ROOT)
    seen = seen_with_verify((FIX / "verify/found_fiori__verify_results.txt").read_text().splitlines())
    seen["torchio"] = None
    verify_doc = json.loads(json.dumps(verify_document(c, seen)))
    assert verify_doc["node"] == "fiori" and verify_doc["schedule"] == "weekly"
    by_volume = {v["resource"]: v for v in verify_doc["volumes"]}
    assert by_volume["drbd_small"]["last"]["out_of_sync_kib"] == 4
    assert set(by_volume["drbd_small"]["resync_commands"]) == {"fiori", "torchio"}
    assert by_volume["drbd_pub"] == {"volume": "pub", "resource": "drbd_pub", "last": None, "resync_commands": None}

