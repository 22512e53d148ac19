"""twonode-activate (templates/ocfs2/twonode-activate.sh) run for real with
fake drbdadm, mount and exportfs: it promotes only a volume Connected with
UpToDate data, mounts after promoting, re-exports NFS, skips the list's
comment (a comment line once kept it looping forever on the lab), and
`--alone` refuses data that is not the latest; once every volume is
mounted it starts the autostart VMs that libvirt could not start at boot."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "templates/ocfs2/twonode-activate.sh"

FAKES = {
    # drbdadm role|cstate|dstate|primary [--force] RES: state from files.
    "drbdadm": """#!/bin/sh
for last; do :; done
[ "$last" = drbd_small ] || { echo "no resource $last" >&2; exit 10; }
case $1 in
  role) cat "$WORK/role" ;;
  cstate) cat "$WORK/cstate" ;;
  dstate) cat "$WORK/dstate" ;;
  primary) echo "primary $2" >> "$WORK/calls"; echo Primary/Unknown > "$WORK/role" ;;
esac
""",
    "mountpoint": "#!/bin/sh\ngrep -qx \"$2\" \"$WORK/mounted\" 2>/dev/null\n",
    "mount": "#!/bin/sh\necho \"mount $1\" >> \"$WORK/calls\"; echo \"$1\" >> \"$WORK/mounted\"\n",
    "chattr": "#!/bin/sh\necho \"chattr $*\" >> \"$WORK/calls\"\n",
    "systemctl": "#!/bin/sh\nexit 0\n",
    "exportfs": "#!/bin/sh\necho \"exportfs $1\" >> \"$WORK/calls\"\n",
    "logger": "#!/bin/sh\nexit 0\n",
    # virsh list --inactive --autostart --name | start VM: the VMs from a
    # file; a start fails where the VM's lease is held (a file says so).
    # pool-list [--inactive|--all] --name | pool-dumpxml | pool-start |
    # pool-refresh: the inactive and active pools and their targets from files.
    "virsh": """#!/bin/sh
case $1 in
  list) cat "$WORK/autostart" 2>/dev/null ;;
  start) echo "virsh start $2" >> "$WORK/calls"
         if [ -e "$WORK/held-$2" ]; then echo "error: twonode: VM $2: it runs on torchio" >&2; exit 1; fi ;;
  pool-list) case " $* " in
               *" --all "*) cat "$WORK/inactive-pools" "$WORK/active-pools" 2>/dev/null ;;
               *) cat "$WORK/inactive-pools" 2>/dev/null ;;
             esac ;;
  pool-refresh) echo "virsh pool-refresh $2" >> "$WORK/calls" ;;
  pool-dumpxml) printf '<pool type="dir">\n  <name>%s</name>\n  <target>\n    <path>%s</path>\n  </target>\n</pool>\n' \
                  "$2" "$(cat "$WORK/pool-$2")" ;;
  pool-start) echo "virsh pool-start $2" >> "$WORK/calls" ;;
esac
""",
    "sleep": "#!/bin/sh\nexit 0\n",
}


@pytest.fixture
def node(tmp_path):
    (tmp_path / "bin").mkdir()
    for name, text in FAKES.items():
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    volumes = (ROOT / "templates/ocfs2/volumes.j2").read_text().splitlines()[0]  # the managed mark
    (tmp_path / "volumes").write_text(f"{volumes}\n# resource mount-point\ndrbd_small /vol/small\n")
    return tmp_path


def state(work: Path, role: str, cstate: str, dstate: str) -> None:
    for name, value in (("role", role), ("cstate", cstate), ("dstate", dstate)):
        (work / name).write_text(value + "\n")


def run(work: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    env = {"PATH": f"{work}/bin:/usr/bin:/bin", "WORK": str(work), "TWONODE_VOLUMES": str(work / "volumes"),
           "TWONODE_FENCE_PEER": str(work / "bin/drbd-fence-peer"), "TWONODE_EVENTS": str(work / "events")}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def calls(work: Path) -> list[str]:
    path = work / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_connected_and_uptodate_is_promoted_mounted_and_exported(node):
    state(node, "Secondary/Primary", "Connected", "UpToDate/UpToDate")
    result = run(node)
    assert result.returncode == 0, result
    assert calls(node) == ["primary drbd_small", "chattr +i /vol/small", "mount /vol/small", "exportfs -ra"]
    assert "every replicated volume is Primary and mounted" in result.stdout


def test_the_sync_source_of_a_joining_peer_is_promoted(node):
    state(node, "Secondary/Secondary", "SyncSource", "UpToDate/Inconsistent")
    assert run(node).returncode == 0
    assert calls(node) == ["primary drbd_small", "chattr +i /vol/small", "mount /vol/small", "exportfs -ra"]


def test_already_primary_is_only_mounted(node):
    state(node, "Primary/Primary", "Connected", "UpToDate/UpToDate")
    assert run(node).returncode == 0
    assert calls(node) == ["chattr +i /vol/small", "mount /vol/small", "exportfs -ra"]


@pytest.mark.parametrize("cstate, dstate", [
    ("WFConnection", "UpToDate/DUnknown"),     # booted with the link down
    ("WFConnection", "Consistent/DUnknown"),
    ("SyncTarget", "Inconsistent/UpToDate"),  # resync still running
])
def test_a_node_that_cannot_see_up_to_date_peer_data_waits(node, cstate, dstate):
    state(node, "Secondary/Unknown", cstate, dstate)
    with pytest.raises(subprocess.TimeoutExpired):
        run(node, timeout=3)  # it waits (sleep is faked: it loops)
    assert calls(node) == []


def fencing(work: Path, bmc: str) -> None:
    """The fence-peer handler's check: the peer's BMC says on (0), off (2),
    or does not answer (1)."""
    code = {"on": 0, "off": 2, "down": 1}[bmc]
    (work / "bin/drbd-fence-peer").write_text(f"#!/bin/sh\necho \"fence-peer $*\" >> \"$WORK/calls\"\nexit {code}\n")
    (work / "bin/drbd-fence-peer").chmod(0o755)


PROMOTED_ALONE = ["primary --force", "chattr +i /vol/small", "mount /vol/small", "exportfs -ra"]


@pytest.mark.parametrize("dstate, args", [("UpToDate/DUnknown", ()), ("Consistent/DUnknown", ("--consistent",))])
def test_alone_promotes_on_the_operators_word_once_the_peers_bmc_says_off(node, dstate, args):
    state(node, "Secondary/Unknown", "WFConnection", dstate)
    fencing(node, "off")
    (node / "events").write_text("2026-12-07T01:00:00Z fiori fenced-peer drbd_small\n")
    result = run(node, "--alone", *args)
    assert result.returncode == 0, result
    assert calls(node) == ["fence-peer check", *PROMOTED_ALONE]
    assert "fiori fenced-peer drbd_small" in result.stdout


@pytest.mark.parametrize("dstate, bmc, said", [
    # The peer may be writing.
    ("UpToDate/DUnknown", "on", "the peer's BMC says the peer is ON"),
    # Nothing proves it off: only the operator's own eyes.
    ("UpToDate/DUnknown", "down", "twonode-activate --alone --without-bmc"),
    # Power fencing never marks the fenced node's disk Outdated: Consistent
    # may be old data, if the peer wrote on after fencing this node.
    ("Consistent/DUnknown", "off", "twonode-activate --alone --consistent"),
])
def test_alone_is_refused_without_proof_or_word_and_says_which(node, dstate, bmc, said):
    state(node, "Secondary/Unknown", "WFConnection", dstate)
    fencing(node, bmc)
    result = run(node, "--alone")
    assert result.returncode != 0 and said in result.stdout, result
    assert calls(node) == ["fence-peer check"]


def test_a_bmc_that_cannot_answer_gives_way_to_the_operators_own_eyes(node):
    state(node, "Secondary/Unknown", "WFConnection", "UpToDate/DUnknown")
    fencing(node, "down")
    assert run(node, "--alone", "--without-bmc").returncode == 0
    assert calls(node) == PROMOTED_ALONE


@pytest.mark.parametrize("dstate", ["Inconsistent/DUnknown", "Outdated/DUnknown"])
def test_alone_refuses_data_that_is_not_the_latest(node, dstate):
    state(node, "Secondary/Unknown", "WFConnection", dstate)
    result = run(node, "--alone")
    assert result.returncode != 0
    assert calls(node) == [] and "not promoted alone" in result.stdout


def test_once_mounted_the_autostart_vms_are_started_and_a_refusal_is_only_reported(node):
    # libvirt's own autostart ran before the volumes were mounted, and the
    # VM leases refused it; the peer may have won the lease meanwhile.
    state(node, "Secondary/Primary", "Connected", "UpToDate/UpToDate")
    (node / "autostart").write_text("tiny\nbig\n\n")
    (node / "held-big").touch()
    result = run(node)
    assert result.returncode == 0, result
    assert calls(node) == ["primary drbd_small", "chattr +i /vol/small", "mount /vol/small", "exportfs -ra", "virsh start tiny", "virsh start big"]
    assert "started autostart VM tiny" in result.stdout
    assert "autostart VM big not started here: error: twonode: VM big: it runs on torchio" in result.stdout


def test_no_vm_is_started_while_a_volume_waits(node):
    state(node, "Secondary/Unknown", "WFConnection", "UpToDate/DUnknown")
    (node / "autostart").write_text("tiny\n")
    with pytest.raises(subprocess.TimeoutExpired):
        run(node, timeout=3)
    assert calls(node) == []


def test_once_mounted_the_pools_on_the_volumes_are_started_before_the_vms(node):
    # Autostart off (libvirt starts before the mounts): started here, as the
    # deploy would; a pool elsewhere, or on a look-alike path, is the admin's.
    state(node, "Secondary/Primary", "Connected", "UpToDate/UpToDate")
    (node / "inactive-pools").write_text("vmpool\nisos\nelsewhere\nlookalike\n")
    for pool, path in (("vmpool", "/vol/small"), ("isos", "/vol/small/isos"), ("elsewhere", "/var/lib/libvirt/images"),
                       ("lookalike", "/vol/smaller")):
        (node / f"pool-{pool}").write_text(path)
    (node / "autostart").write_text("tiny\n")
    result = run(node)
    assert result.returncode == 0, result
    assert calls(node) == ["primary drbd_small", "chattr +i /vol/small", "mount /vol/small", "exportfs -ra", "virsh pool-start vmpool",
                           "virsh pool-start isos", "virsh start tiny"]
    assert "started pool isos (/vol/small/isos)" in result.stdout


def test_a_pool_libvirt_started_before_the_mount_is_refreshed_once_mounted(node):
    # libvirt calls a directory pool active at its start when the target
    # directory exists, mounted or not: its volumes and capacity were the
    # root file system's.
    state(node, "Secondary/Primary", "Connected", "UpToDate/UpToDate")
    (node / "active-pools").write_text("vmpool\nelsewhere\n")
    for pool, path in (("vmpool", "/vol/small"), ("elsewhere", "/var/lib/libvirt/images")):
        (node / f"pool-{pool}").write_text(path)
    result = run(node)
    assert result.returncode == 0, result
    assert calls(node) == ["primary drbd_small", "chattr +i /vol/small", "mount /vol/small", "exportfs -ra",
                           "virsh pool-refresh vmpool"]


def test_the_directory_beneath_a_mount_point_refuses_writes_before_the_mount(node):
    # Only while unmounted: chattr on a mounted volume would freeze its root.
    state(node, "Primary/Primary", "Connected", "UpToDate/UpToDate")
    (node / "mounted").write_text("/vol/small\n")
    assert run(node).returncode == 0
    assert calls(node) == []
