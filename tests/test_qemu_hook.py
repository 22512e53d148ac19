"""The VM lease (templates/libvirt/qemu-hook.sh and vm-lease-holder.sh) run
for real: two "nodes" are two configurations of the hook over one volume
directory, and the locks are real flock(2) locks, which OCFS2 makes
cluster-wide (on one host they exclude each other the same way). systemd is
faked: a unit is a background process. The lab (tests/lab/test_9) runs it
under libvirt on OCFS2."""

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "templates/libvirt/qemu-hook.sh"
HOLDER = ROOT / "templates/libvirt/vm-lease-holder.sh"
UUID = "5c0e8e39-2a4b-4c8e-9f57-0d7c1b2a3e4f"

FAKE_SYSTEMD_RUN = """#!/bin/bash
# A transient unit: the command in the background, its pid kept by unit name.
unit=
while [ "${1#--}" != "$1" ]; do case $1 in --unit=*) unit=${1#--unit=} ;; esac; shift; done
setsid "$@" > /dev/null 2>&1 < /dev/null &
echo $! > "$UNITS/$unit"
"""
FAKE_SYSTEMCTL = """#!/bin/bash
[ "$1" = -q ] && shift
cmd=$1; unit=${@: -1}
pid=$(cat "$UNITS/$unit" 2>/dev/null)
# A process that ended but is not reaped yet (a zombie) has ended.
alive() { state=$(ps -o stat= -p "$pid" 2>/dev/null); [ -n "$pid" ] && [ -n "$state" ] && [ "${state#Z}" = "$state" ]; }
case $cmd in
  is-active) alive ;;
  stop) [ -n "$pid" ] && kill "$pid" 2>/dev/null
        while alive; do sleep 0.02; done
        rm -f "$UNITS/$unit"; exit 0 ;;
esac
"""
#: libvirt as the holder sees it: the domain's current XML (the node's
#: current.xml), its events (a line written to the node's "event" file), and
#: the suspends it is asked for.
FAKE_VIRSH = """#!/bin/sh
case $1 in
  dumpxml) cat "$TWONODE_CONF_DIR/current.xml" 2>/dev/null ;;
  suspend) echo "suspend $2" >> "$TWONODE_CONF_DIR/virsh.log" ;;
  event) parent=$PPID
         while kill -0 "$parent" 2>/dev/null; do
           if [ -e "$TWONODE_CONF_DIR/event" ]; then cat "$TWONODE_CONF_DIR/event"; rm -f "$TWONODE_CONF_DIR/event"; fi
           sleep 0.1
         done ;;
esac
"""
FAKE_MOUNTPOINT = """#!/bin/sh
grep -qxF "$2" "$WORK/mounted"
"""


def domain(disk: str, uuid: str = UUID) -> str:
    return f"""<domain type='qemu'>
  <name>tiny</name>
  <uuid>{uuid}</uuid>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


@pytest.fixture
def work(tmp_path):
    for name, text in (("bin/systemd-run", FAKE_SYSTEMD_RUN), ("bin/systemctl", FAKE_SYSTEMCTL),
                       ("bin/mountpoint", FAKE_MOUNTPOINT),
                       ("bin/logger", "#!/bin/sh\necho \"$*\" >> \"$TWONODE_CONF_DIR/log\"\n"),
                       ("bin/virsh", FAKE_VIRSH), ("bin/qemu-hook", f"#!/bin/sh\nexec bash {HOOK} \"$@\"\n"),
                       ("bin/vm-lease-holder", f"#!/bin/sh\nexec bash {HOLDER} \"$@\"\n")):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    (tmp_path / "vol/vms").mkdir(parents=True)
    (tmp_path / "mounted").write_text(f"{tmp_path}/vol\n")
    (tmp_path / "pools").mkdir()
    (tmp_path / "pools/vmpool0.xml").write_text(
        f"<pool type='dir'>\n  <name>vmpool0</name>\n  <target>\n    <path>{tmp_path}/vol/vms</path>\n  </target>\n</pool>\n")
    for node in ("fiori", "torchio"):
        conf = tmp_path / node
        (conf / "units").mkdir(parents=True)  # each node's own systemd
        (conf / "volumes").write_text(f"# resource mount-point\ndrbd_vm {tmp_path}/vol\n")
        (conf / "vm-leases.conf").write_text(f"node={node}\n")
    yield tmp_path
    for unit in [*(tmp_path / "fiori/units").iterdir(), *(tmp_path / "torchio/units").iterdir()]:
        try:
            os.kill(int(unit.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def hook(work: Path, node: str, op: str, sub: str, xml: str | None = None, vm: str = "tiny") \
        -> subprocess.CompletedProcess:
    env = {"PATH": f"{work}/bin:/usr/bin:/bin", "WORK": str(work), "TWONODE_CONF_DIR": str(work / node),
           "TWONODE_RUN_DIR": str(work / node / "run"), "TWONODE_POOL_DIR": str(work / "pools"),
           "TWONODE_LEASE_HOLDER": str(work / "bin/vm-lease-holder"), "TWONODE_LEASE_WAIT": "3",
           "TWONODE_QEMU_HOOK": str(work / "bin/qemu-hook"), "TWONODE_EVENT_RETRY": "0.2",
           "UNITS": str(work / node / "units")}
    xml = domain(f"{work}/vol/vms/tiny.qcow2") if xml is None else xml
    return subprocess.run(["bash", str(HOOK), vm, op, sub, "-"], input=xml, env=env,
                          capture_output=True, text=True, timeout=30)


def lease(work: Path, disk: str = "vms/tiny.qcow2") -> Path:
    """Named by the disk's path, as libvirt's sanlock plugin names its leases."""
    return work / "vol/.twonode-leases" / hashlib.sha256(f"{work}/vol/{disk}".encode()).hexdigest()[:32]


def holder_of(work: Path) -> str | None:
    """The node named in the lease, once its holder has written it."""
    text = lease(work).read_text().split() if lease(work).exists() else []
    return text[1] if len(text) == 5 else None


def wait_for_holder(work: Path, node: str) -> str | None:
    deadline = time.monotonic() + 10
    while holder_of(work) != node and time.monotonic() < deadline:
        time.sleep(0.1)
    return holder_of(work)


def test_a_vm_running_on_one_node_is_refused_on_the_other_with_where_it_runs(work):
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    assert holder_of(work) == "fiori"
    refused = hook(work, "torchio", "prepare", "begin")
    assert refused.returncode == 1
    assert "it runs on fiori (VM tiny there holds the lease" in refused.stderr, refused.stderr
    assert str(lease(work)) in refused.stderr, refused.stderr
    # Refused, it left nothing behind: the lease is still fiori's.
    assert holder_of(work) == "fiori"


def test_the_same_disk_defined_by_hand_on_each_node_is_still_one_lease(work):
    # `virsh define` of one XML without a <uuid> on each node: two UUIDs.
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    other = hook(work, "torchio", "prepare", "begin", domain(f"{work}/vol/vms/tiny.qcow2", uuid="0" * 8 + UUID[8:]))
    assert other.returncode == 1 and "it runs on fiori" in other.stderr, other.stderr


def test_once_it_stops_on_one_node_it_starts_on_the_other(work):
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    assert hook(work, "fiori", "release", "end").returncode == 0
    assert hook(work, "torchio", "prepare", "begin").returncode == 0
    assert holder_of(work) == "torchio"


def test_a_live_migration_waits_for_the_source_to_let_go(work):
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    # The destination: migrate begin (the XML passes unchanged: no output),
    # then prepare, which must not fail while the source still runs it.
    migrate = hook(work, "torchio", "migrate", "begin")
    assert migrate.returncode == 0 and migrate.stdout == ""
    assert hook(work, "torchio", "prepare", "begin").returncode == 0
    time.sleep(0.5)
    assert holder_of(work) == "fiori"
    # The source's QEMU ends: its release hands the lease over.
    assert hook(work, "fiori", "release", "end").returncode == 0
    assert wait_for_holder(work, "torchio") == "torchio"
    # And the source cannot start it again now.
    refused = hook(work, "fiori", "prepare", "begin")
    assert refused.returncode == 1 and "it runs on torchio" in refused.stderr


def test_a_migration_mark_does_not_outlive_its_start(work):
    assert hook(work, "torchio", "migrate", "begin").returncode == 0
    assert hook(work, "torchio", "prepare", "begin").returncode == 0
    assert wait_for_holder(work, "torchio") == "torchio"
    assert hook(work, "torchio", "release", "end").returncode == 0
    # A plain start later on the node that runs it again takes it at once,
    # and a start on the other is refused at once, not left waiting.
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    assert hook(work, "torchio", "prepare", "begin").returncode == 1


def test_a_mark_left_by_a_failed_migration_expires_and_a_plain_start_is_refused_at_once(work):
    # libvirt refused the migration after "migrate begin": no prepare, no
    # release. A minute later the admin starts the VM by hand while it runs
    # on fiori: refused, not left waiting for fiori's lease.
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    assert hook(work, "torchio", "migrate", "begin").returncode == 0
    mark = work / "torchio/run/incoming" / UUID
    subprocess.run(["touch", "-d", "-60 seconds", str(mark)], check=True)
    refused = hook(work, "torchio", "prepare", "begin")
    assert refused.returncode == 1 and "it runs on fiori" in refused.stderr, refused.stderr
    assert not mark.exists() and holder_of(work) == "fiori"


def test_an_incoming_migration_waits_only_for_its_own_vms_lease(work):
    # Another VM (another UUID) runs on fiori with this disk: a migration
    # mark for this VM on torchio must not make its start wait for that disk.
    other = domain(f"{work}/vol/vms/tiny.qcow2", uuid="0" * 8 + UUID[8:])
    assert hook(work, "fiori", "prepare", "begin", other).returncode == 0
    assert hook(work, "torchio", "migrate", "begin").returncode == 0
    refused = hook(work, "torchio", "prepare", "begin")
    assert refused.returncode == 1 and "held by another VM" in refused.stderr, refused.stderr
    assert holder_of(work) == "fiori"


def test_leases_are_root_only(work):
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    assert wait_for_holder(work, "fiori") == "fiori"
    assert lease(work).stat().st_mode & 0o777 == 0o600
    assert lease(work).parent.stat().st_mode & 0o777 == 0o700


def test_a_disk_in_a_directory_pool_on_a_replicated_volume_is_leased(work):
    xml = domain("x").replace("<disk type='file' device='disk'>", "<disk type='volume' device='disk'>") \
                     .replace("<source file='x'/>", "<source pool='vmpool0' volume='tiny.qcow2'/>")
    assert hook(work, "fiori", "prepare", "begin", xml).returncode == 0
    assert holder_of(work) == "fiori"
    assert hook(work, "torchio", "prepare", "begin", xml).returncode == 1


def test_a_vm_with_local_disks_only_is_left_alone(work):
    xml = domain("/var/lib/libvirt/images/local.qcow2")
    assert hook(work, "fiori", "prepare", "begin", xml).returncode == 0
    assert hook(work, "torchio", "prepare", "begin", xml).returncode == 0
    assert not lease(work).exists() and list((work / "fiori/units").iterdir()) == []


def test_a_volume_not_mounted_here_refuses_the_start(work):
    (work / "mounted").write_text("")
    refused = hook(work, "fiori", "prepare", "begin")
    assert refused.returncode == 1 and "which is not mounted on fiori" in refused.stderr, refused.stderr


def test_other_operations_change_nothing(work):
    for op, sub in (("start", "begin"), ("started", "begin"), ("stopped", "end"), ("reconnect", "begin")):
        assert hook(work, "fiori", op, sub).returncode == 0
    assert not lease(work).exists() and list((work / "fiori/units").iterdir()) == []


def with_iso(xml: str, iso: str) -> str:
    cdrom = (f"    <disk type='file' device='cdrom'>\n      <driver name='qemu' type='raw'/>\n"
             f"      <source file='{iso}'/>\n      <target dev='sda' bus='sata'/>\n      <readonly/>\n    </disk>\n")
    return xml.replace("  </devices>", cdrom + "  </devices>")


def test_an_installation_iso_on_a_replicated_volume_serves_vms_on_both_nodes(work):
    # The seed's isoimages pool lives on a replicated volume: one ISO,
    # attached read-only to VMs on either node, must not exclude them.
    iso = f"{work}/vol/isoimages/debian.iso"
    fiori_vm = with_iso(domain(f"{work}/vol/vms/tiny.qcow2"), iso)
    torchio_vm = with_iso(domain(f"{work}/vol/vms/other.qcow2", uuid="0" * 8 + UUID[8:]), iso)
    assert hook(work, "fiori", "prepare", "begin", fiori_vm).returncode == 0
    other = hook(work, "torchio", "prepare", "begin", torchio_vm)
    assert other.returncode == 0, other.stderr
    leased = sorted(p.name for p in (work / "vol/.twonode-leases").iterdir())
    assert leased == sorted([lease(work).name, lease(work, "vms/other.qcow2").name])


def test_a_shareable_disk_is_not_leased_and_a_path_with_a_space_is(work):
    xml = domain(f"{work}/vol/vms/my vm.qcow2").replace(
        "</devices>", f"<disk type='file' device='disk'><source file='{work}/vol/shared.img'/><shareable/></disk>\n"
                      "  </devices>")
    assert hook(work, "fiori", "prepare", "begin", xml).returncode == 0
    assert [p.name for p in (work / "vol/.twonode-leases").iterdir()] == [lease(work, "vms/my vm.qcow2").name]
    assert hook(work, "torchio", "prepare", "begin", xml).returncode == 1


def test_the_status_fact_reads_the_lease_the_holder_writes(work):
    # facts/libvirt.VirshDomains on what the real holder wrote, and on a
    # lease written before leases held the VM's UUID (the lab's capture).
    from captured import lines
    from facts.libvirt import VirshDomains
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    assert wait_for_holder(work, "fiori") == "fiori"
    state = VirshDomains().process([f"@@lease:{lease(work)}", *lease(work).read_text().splitlines()])
    found = state.leases[str(lease(work))]
    assert (found.node, found.vm, found.uuid) == ("fiori", "tiny", UUID)
    old = VirshDomains().process(lines("libvirt/tiny_on_fiori_fiori__VirshDomains.txt"))
    assert [(l.node, l.vm, l.uuid) for l in old.leases.values()] == [("fiori", "tiny", None)]


def overlay_domain(top: str, base: str, uuid: str = UUID) -> str:
    """A disk whose image is an overlay: libvirt lists its backing chain
    after the disk's own source."""
    return f"""<domain type='qemu'>
  <name>tiny</name>
  <uuid>{uuid}</uuid>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}' index='2'/>
      <backingStore type='file' index='1'>
        <format type='qcow2'/>
        <source file='{base}'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def test_an_overlay_is_leased_by_its_own_image_not_its_base(work):
    # The overlay on the replicated volume, its base on the node's own disk:
    # the overlay is what QEMU writes, and what the lease must guard.
    (work / "local").mkdir()
    xml = overlay_domain(f"{work}/vol/vms/tiny.qcow2", f"{work}/local/base.qcow2")
    assert hook(work, "fiori", "prepare", "begin", xml).returncode == 0
    assert holder_of(work) == "fiori"
    refused = hook(work, "torchio", "prepare", "begin", xml)
    assert refused.returncode != 0 and "it runs on fiori" in refused.stderr, refused.stderr


def test_two_overlays_of_one_base_image_are_two_disks(work):
    base = f"{work}/vol/vms/base.qcow2"
    other = "6d1f9f4a-3b5c-4d9f-8a68-1e8d2c3b4f50"
    assert hook(work, "fiori", "prepare", "begin", overlay_domain(f"{work}/vol/vms/tiny.qcow2", base)).returncode == 0
    second = hook(work, "torchio", "prepare", "begin", overlay_domain(f"{work}/vol/vms/other.qcow2", base, other))
    assert second.returncode == 0, second.stderr


def test_a_disk_named_through_a_symlink_is_the_image_it_points_to(work):
    (work / "vol/vms/tiny.qcow2").write_text("")
    (work / "alias").symlink_to(work / "vol/vms")
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    refused = hook(work, "torchio", "prepare", "begin", domain(f"{work}/alias/tiny.qcow2", uuid=UUID))
    assert refused.returncode != 0 and "it runs on fiori" in refused.stderr, refused.stderr


# --- Disks attached while the VM runs: no hook, the holder follows events ---

OTHER_UUID = "7d1f9a40-3b5c-4d9f-8a68-1e8d2c3b4f50"


def with_disks(work: Path, *disks: str, uuid: str = UUID, name: str = "tiny") -> str:
    devices = "".join(f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{work}/vol/{disk}'/>
      <target dev='vd{chr(97 + n)}' bus='virtio'/>
    </disk>
""" for n, disk in enumerate(disks))
    return f"<domain type='qemu'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n  <devices>\n{devices}  </devices>\n</domain>\n"


def attach(work: Path, node: str, *disks: str) -> None:
    """`virsh attach-disk` as libvirt reports it: the domain's XML gains the
    disk, and a device-added event follows."""
    (work / node / "current.xml").write_text(with_disks(work, *disks))
    (work / node / "event").write_text("event 'device-added' for domain 'tiny': virtio-disk1\n")


def wait_for(predicate, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


def test_a_disk_attached_while_the_vm_runs_is_leased_like_its_first(work):
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    attach(work, "fiori", "vms/tiny.qcow2", "vms/data.qcow2")
    data = lease(work, "vms/data.qcow2")
    assert wait_for(lambda: data.exists() and data.read_text().split()[1:2] == ["fiori"]), \
        (work / "fiori/log").read_text()
    assert data.read_text().split()[3:] == [UUID, "tiny"]
    assert "lease taken on fiori for a disk added while it runs" in (work / "fiori/log").read_text()
    # Another VM on torchio that names the attached disk is refused, saying where it runs.
    refused = hook(work, "torchio", "prepare", "begin",
                   with_disks(work, "vms/data.qcow2", uuid=OTHER_UUID, name="other"), vm="other")
    assert refused.returncode == 1 and "it runs on fiori (VM tiny there holds the lease" in refused.stderr, refused


def test_a_disk_attached_that_a_vm_runs_on_elsewhere_pauses_the_vm_and_says_why(work):
    other = with_disks(work, "vms/data.qcow2", uuid=OTHER_UUID, name="other")
    assert hook(work, "torchio", "prepare", "begin", other, vm="other").returncode == 0
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    attach(work, "fiori", "vms/tiny.qcow2", "vms/data.qcow2")
    log = work / "fiori/virsh.log"
    assert wait_for(log.exists), (work / "fiori/log").read_text() if (work / "fiori/log").exists() else ""
    assert log.read_text() == f"suspend {UUID}\n"
    said = (work / "fiori/log").read_text()
    assert "-p daemon.crit" in said and "VM tiny PAUSED on fiori: a disk added to it is in use by VM other on " \
        "torchio since " in said and "virsh detach-disk tiny TARGET --live), then virsh resume tiny" in said, said
    # The lease stays the other VM's, and tiny keeps its own.
    assert lease(work, "vms/data.qcow2").read_text().split()[1:2] == ["torchio"]
    assert holder_of(work) == "fiori"


def test_other_events_lease_nothing_new(work):
    assert hook(work, "fiori", "prepare", "begin").returncode == 0
    (work / "fiori/current.xml").write_text(with_disks(work, "vms/tiny.qcow2", "vms/data.qcow2"))
    (work / "fiori/event").write_text("event 'rtc-change' for domain 'tiny': 3\n")
    time.sleep(1)
    assert not lease(work, "vms/data.qcow2").exists()


def test_the_holders_question_lists_the_leases_of_the_mounted_volumes_only(work):
    # `HOOK VM leases -`: what the holder asks when a disk was added; a disk
    # on a volume not mounted here has no lease to take (and nothing is refused).
    xml = with_disks(work, "vms/tiny.qcow2", "vms/data.qcow2")
    listed = hook(work, "fiori", "leases", "-", xml)
    assert listed.returncode == 0, listed
    assert sorted(listed.stdout.split()) == sorted([str(lease(work)), str(lease(work, "vms/data.qcow2"))])
    (work / "mounted").write_text("")
    unmounted = hook(work, "fiori", "leases", "-", xml)
    assert (unmounted.returncode, unmounted.stdout, unmounted.stderr) == (0, "", "")
