"""The last-moment guards of twonode/shell.py, run for real in /bin/sh.

They stand right before create-md, a bitmap clear, a resize or a zeroing:
the planner's facts were read earlier, and these are what stops the command
when the node changed since. drbdadm and wipefs are stand-ins here that
print what the real ones print (states from /proc/drbd's lab captures, a
signature line of wipefs); the snippets are the ones the tasks emit.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from twonode.shell import (
    masking_secrets,
    one_line_command,
    refuse_unless_blank,
    refuse_unless_drbd_state,
    wait_for,
)

FAKE_DRBDADM = """#!/bin/sh
# drbdadm cstate|dstate RES: what the test put in $STATE/RES.cstate|dstate.
cat "$STATE/$2.$1"
"""

FAKE_WIPEFS = """#!/bin/sh
# wipefs --no-act --noheadings DEV: $STATE/wipefs, or fail when absent.
[ -e "$STATE/wipefs" ] || { echo "wipefs: error: $3: probing initialization failed" >&2; exit 1; }
cat "$STATE/wipefs"
"""


@pytest.fixture
def node(tmp_path):
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("drbdadm", FAKE_DRBDADM), ("wipefs", FAKE_WIPEFS)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)

    class Node:
        def __init__(self):
            self.state = state

        def drbd(self, resource: str, cstate: str, dstate: str) -> None:
            (state / f"{resource}.cstate").write_text(cstate + "\n")
            (state / f"{resource}.dstate").write_text(dstate + "\n")

        def run(self, snippet: str) -> subprocess.CompletedProcess:
            env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state)}
            return subprocess.run(["/bin/sh", "-c", snippet], capture_output=True, text=True,
                                  env=env, cwd=tmp_path, timeout=30)

    return Node()


@pytest.mark.parametrize("cstate, dstate, passes", [
    ("Connected", "UpToDate/UpToDate", True),
    ("Connected", "UpToDate/Inconsistent", False),
    ("SyncSource", "UpToDate/Inconsistent", False),
    ("WFConnection", "UpToDate/DUnknown", False),
    ("StandAlone", "UpToDate/DUnknown", False),
])
def test_resize_needs_both_nodes_connected_and_up_to_date(node, cstate, dstate, passes):
    node.drbd("drbd_small", cstate, dstate)
    guard = refuse_unless_drbd_state("drbd_small", "Connected UpToDate/UpToDate", "not resized")
    result = node.run(f"{guard}; echo RESIZED")
    assert ("RESIZED" in result.stdout) == passes
    assert (result.returncode == 0) == passes
    if not passes:
        assert result.stderr == f"drbd_small: not resized: {cstate} {dstate}\n"


@pytest.mark.parametrize("cstate, dstate", [
    ("Connected", "UpToDate/UpToDate"),          # a pair that holds data
    ("Connected", "Inconsistent/UpToDate"),      # this side would be synced
    ("WFConnection", "Inconsistent/DUnknown"),   # the peer went away
    ("SyncTarget", "Inconsistent/UpToDate"),
])
def test_bitmap_is_cleared_only_on_a_new_connected_pair(node, cstate, dstate):
    node.drbd("drbd_pub", cstate, dstate)
    guard = refuse_unless_drbd_state("drbd_pub", "Connected Inconsistent/Inconsistent", "refusing")
    assert node.run(f"{guard}; echo CLEARED").stdout == ""
    node.drbd("drbd_pub", "Connected", "Inconsistent/Inconsistent")
    assert node.run(f"{guard}; echo CLEARED").stdout == "CLEARED\n"


def test_drbd_state_guard_quotes_the_resource(node):
    hostile = "r; touch pwned"
    node.drbd(hostile, "Connected", "UpToDate/UpToDate")
    guard = refuse_unless_drbd_state(hostile, "Connected UpToDate/UpToDate", "no")
    assert node.run(guard).returncode == 0
    assert not (node.state.parent / "pwned").exists()


def test_blank_device_passes(node):
    (node.state / "wipefs").write_text("")
    result = node.run(f"{refuse_unless_blank('/dev/vg0/small', 'touch')}; echo WIPED")
    assert result.stdout == "WIPED\n", result


def test_device_with_a_signature_is_refused(node):
    (node.state / "wipefs").write_text("0x438 ext4   3a1c0e7e-7c37-4a5e-9f1b-2b0c4c0c1d2e\n")
    result = node.run(f"{refuse_unless_blank('/dev/vg0/small', 'touch')}; echo WIPED")
    assert result.returncode == 1 and "WIPED" not in result.stdout
    assert result.stderr.startswith("refusing to touch /dev/vg0/small: it holds: 0x438 ext4"), result


def test_device_wipefs_cannot_read_is_refused(node):
    result = node.run(f"{refuse_unless_blank('/dev/vg0/small', 'touch')}; echo WIPED")
    assert result.returncode == 1 and "WIPED" not in result.stdout
    assert "refusing to touch /dev/vg0/small: wipefs cannot read it" in result.stderr


def test_wait_gives_up_after_its_timeout_and_says_where_it_stuck(node):
    node.drbd("drbd_pub", "WFConnection", "UpToDate/DUnknown")
    result = node.run(wait_for("drbd_pub", "false", "the peer", timeout=0))
    assert result.returncode == 1
    assert "drbd_pub: timed out after 0s waiting for the peer:" in result.stderr
    assert "cstate WFConnection dstate UpToDate/DUnknown" in result.stderr


def test_wait_ends_at_once_when_its_test_holds(node):
    node.drbd("drbd_pub", "Connected", "UpToDate/UpToDate")
    result = node.run(wait_for("drbd_pub", "[ \"$(drbdadm cstate drbd_pub)\" = Connected ]", "the peer",
                               timeout=0) + "; echo DONE")
    assert result.stdout == "DONE\n", result


@pytest.mark.parametrize("cstate, gives_up", [
    ("WFConnection", True),
    ("StandAlone", True),
    ("SyncTarget", False),
    ("PausedSyncT", False),
    ("Connected", False),
])
def test_sync_wait_gives_up_when_the_peer_is_gone(node, cstate, gives_up):
    node.drbd("drbd_pub", cstate, "Inconsistent/UpToDate")
    # timeout 1 keeps a wait with the peer present to one poll and a second.
    result = node.run(wait_for("drbd_pub", "false", "UpToDate (sync)", timeout=1, peer_grace=0))
    assert result.returncode == 1
    assert ("the peer has been away for 0s" in result.stderr) == gives_up, result.stderr
    assert ("timed out after 1s" in result.stderr) == (not gives_up), result.stderr


def test_masking_keeps_the_exit_status_and_hides_the_secret(node):
    command = ("sh -c 'echo \"Command drbdsetup net-options 1 --shared-secret=s3cr3t-value failed\"; "
               "echo \"    shared-secret \\\"s3cr3t-value\\\";\"; exit 10'")
    result = node.run(masking_secrets(command))
    assert result.returncode == 10
    assert "s3cr3t-value" not in result.stdout + result.stderr
    assert "--shared-secret=(hidden)" in result.stderr and 'shared-secret "(hidden)"' in result.stderr


def test_masking_a_silent_success_prints_nothing(node):
    result = node.run(masking_secrets("true"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_one_line_command_leaves_exactly_one_wanted_line(node, tmp_path):
    target = tmp_path / "exports"
    target.write_text("/srv/admin 10.0.0.1(ro)\n/vol/pub 1.2.3.4(rw)\n/vol/pub 5.6.7.8(ro)\n")
    wanted = "/vol/pub 192.168.122.0/24(rw,sync,no_subtree_check)"
    for _ in range(2):
        assert node.run(one_line_command(str(target), r"^/vol/pub[[:space:]]", wanted)).returncode == 0
    assert target.read_text() == f"/srv/admin 10.0.0.1(ro)\n{wanted}\n"
