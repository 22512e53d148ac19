"""VMs on the cluster: a VM whose disk lives on a replicated
volume moves live between the nodes right after the deploy, with the keys
and host keys the deploy set up, over the cluster network; it runs on one
node at a time (the deploy's VM leases, templates/libvirt/qemu-hook.sh),
when its node loses power the peer can start it once that node is
fenced, not before; and tasks/vms.py empties a node for maintenance.

Starts from the converged small cluster (the deploy of this tree); the
VM's disk is a file on its replicated volume. The VM is a tiny one with no
OS: its boot sector stops the timer and halts, which is enough for start,
leases and migration. A Linux guest nested under TCG is far too slow for
the suite, and even SeaBIOS waiting for a boot disk, with its timer ticking
and a USB controller polled every millisecond, cost the node two thirds of
a core (measured in the guest: 66 % against under 1 % for the halted one).
"""

import hashlib
import re
import time
from datetime import datetime

import pytest

from conftest import SMALL, measurements, nfs_servers, wait_until
from linkcut import NODES, boot_id  # lab/linkcut.py

VM = "tiny"
DISK = "/vol/small/vms/tiny.qcow2"
# cache='none': libvirt refuses a live migration of a writable disk with a
# host cache (the destination could read stale pages); OCFS2 takes O_DIRECT.
DOMAIN_XML = f"""<domain type='qemu'>
  <name>{VM}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='{DISK}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <graphics type='vnc' listen='127.0.0.1'/>
  </devices>
</domain>
"""
# The boot sector: cli; PIT channel 0 to one-shot mode 0 with count 0 (it
# fires once, then never again); hlt, forever. Then the 0x55AA signature.
BOOT_SECTOR = r"\372\260\060\346\103\060\300\346\100\346\100\364\353\375"


def halting_disk(path: str) -> str:
    """The command that makes ``path`` a 64 MiB qcow2 disk that boots into a halt."""
    return (f"printf '{BOOT_SECTOR}' > {path}.raw && truncate -s 510 {path}.raw && "
            f"printf '\\125\\252' >> {path}.raw && "
            f"qemu-img convert -q -f raw -O qcow2 {path}.raw {path} && rm {path}.raw && "
            f"qemu-img resize -q {path} 64M")


def domains(lab, node: str) -> dict[str, str]:
    """{name: state} of every domain defined or running on ``node``."""
    out = lab.ssh(node, "virsh list --all --name | sed '/^$/d' | while read -r d; do "
                        "printf '%s %s\\n' \"$d\" \"$(virsh domstate \"$d\")\"; done")
    return dict(line.split(" ", 1) for line in out.splitlines())


@pytest.fixture(scope="module")
def cluster(lab):
    lab.restore("converged-small")
    return lab


def test_the_deploy_changes_nothing_on_the_converged_cluster(cluster):
    run = cluster.deploy(inventory=SMALL)
    assert run.returncode == 0, run
    assert run.changed_ops == [], run


def test_a_vm_defined_on_fiori_runs_there(cluster):
    cluster.ssh("fiori", f"mkdir -p {DISK.rsplit('/', 1)[0]} && {halting_disk(DISK)}")
    cluster.ssh("fiori", f"cat > /root/{VM}.xml <<'EOF'\n{DOMAIN_XML}EOF\nvirsh define /root/{VM}.xml && virsh start {VM}")
    assert domains(cluster, "fiori") == {VM: "running"}
    assert domains(cluster, "torchio") == {}


def lease_file(disk: str) -> str:
    """A disk image's lease, named by its path (templates/libvirt/qemu-hook.sh)."""
    return f"/vol/small/.twonode-leases/{hashlib.sha256(disk.encode()).hexdigest()[:32]}"


def lease(lab, node: str, disk: str = DISK) -> list[str]:
    """A disk's lease (the tiny VM's) as ``node`` reads it: token, node, since, UUID, VM."""
    return lab.ssh(node, f"cat {lease_file(disk)} 2>/dev/null || true").split()


def qemus_with_the_disk_open(lab, node: str) -> int:
    out = lab.ssh(node, f"find /proc/[0-9]*/fd -lname {DISK} 2>/dev/null | cut -d/ -f3 | sort -u")
    return len(out.split())


def rx_bytes(lab, node: str) -> dict[str, int]:
    out = lab.ssh(node, "for i in eth0 eth1 eth2; do echo $i $(cat /sys/class/net/$i/statistics/rx_bytes); done")
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def processed_bytes(jobinfo: str) -> int:
    value, unit = re.search(r"^Data processed:\s+([\d.]+) (B|KiB|MiB|GiB)", jobinfo, re.M).groups()
    return int(float(value) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit])


def test_it_moves_live_to_torchio_with_the_deploys_keys_over_the_cluster_network(cluster):
    before = rx_bytes(cluster, "torchio")
    out = cluster.ssh("fiori", f"virsh migrate --live --persistent --undefinesource {VM} "
                               "qemu+ssh://torchio-cluster/system 2>&1", timeout=600)
    assert out.strip() == "", out
    after = rx_bytes(cluster, "torchio")
    assert domains(cluster, "torchio") == {VM: "running"}
    assert domains(cluster, "fiori") == {}
    # The lease went with it, as both nodes read it.
    assert lease(cluster, "fiori")[1:2] == lease(cluster, "torchio")[1:2] == ["torchio"]
    # What the migration moved arrived on torchio's cluster NIC, not on
    # the others (eth0 carries only this test's SSH).
    job = cluster.ssh("torchio", f"virsh domjobinfo {VM} --completed")
    moved = processed_bytes(job)
    grown = {nic: after[nic] - before[nic] for nic in before}
    assert grown["eth1"] >= moved > grown["eth0"] + grown["eth2"], (job, grown)
    elapsed = re.search(r"^Time elapsed:\s+(\d+)", job, re.M).group(1)
    measurements.append(f"test_9 live migration of the tiny VM (32 MiB, TCG in TCG) fiori -> torchio: "
                        f"{int(elapsed) / 1000:.1f} s, {moved / 2**10:.0f} KiB moved over eth1")


def test_and_back_to_fiori(cluster):
    cluster.ssh("torchio", f"virsh migrate --live --persistent --undefinesource {VM} "
                           "qemu+ssh://fiori-cluster/system", timeout=600)
    assert domains(cluster, "fiori") == {VM: "running"}
    assert domains(cluster, "torchio") == {}
    assert lease(cluster, "torchio")[1:2] == ["fiori"]


def test_a_start_on_torchio_while_it_runs_on_fiori_is_refused_saying_where(cluster):
    # The same definition on torchio, started by hand.
    cluster.ssh("torchio", f"cat > /root/{VM}.xml <<'EOF'\n{DOMAIN_XML}EOF\nvirsh define /root/{VM}.xml")
    out = cluster.ssh("torchio", f"virsh start {VM} 2>&1; echo rc=$?")
    assert "rc=1" in out and "it runs on fiori" in out, out
    assert qemus_with_the_disk_open(cluster, "fiori") == 1
    assert qemus_with_the_disk_open(cluster, "torchio") == 0
    cluster.ssh("torchio", f"virsh undefine {VM}")


HOT = "/vol/small/vms/hot.qcow2"
ATTACHED = "/vol/small/vms/attached.qcow2"
IN_USE = "/vol/small/vms/in-use.qcow2"


def transient(name: str, disk: str, acpi: bool = False) -> str:
    """A VM of its own (no <uuid>: libvirt makes one) on ``disk``; with ACPI,
    through which QEMU's PCI bus takes a hot-plugged disk."""
    xml = DOMAIN_XML.replace(f"<name>{VM}</name>", f"<name>{name}</name>").replace(DISK, disk)
    return xml.replace("</os>", "</os>\n  <features><acpi/></features>") if acpi else xml


def test_a_disk_attached_while_it_runs_is_leased_and_one_in_use_elsewhere_pauses_it(cluster):
    # libvirt runs no hook for a hot-plugged disk: the VM's lease holder
    # follows its events and leases the new disk as the hook leased the first.
    cluster.ssh("fiori", f"{halting_disk(HOT)} && cat > /root/hot.xml <<'EOF'\n{transient('hot', HOT, acpi=True)}EOF\n"
                         f"virsh create /root/hot.xml && qemu-img create -q -f qcow2 {ATTACHED} 16M && "
                         f"virsh attach-disk hot {ATTACHED} vdb --live --subdriver qcow2 --cache none")
    assert wait_until(lambda: lease(cluster, "torchio", ATTACHED)[1:2] == ["fiori"], timeout=60, interval=2)
    assert lease(cluster, "torchio", ATTACHED)[4:] == ["hot"]
    # Another VM on torchio with that disk is refused, saying where it runs.
    out = cluster.ssh("torchio", f"cat > /root/other.xml <<'EOF'\n{transient('other', ATTACHED)}EOF\n"
                                 "virsh create /root/other.xml 2>&1; echo rc=$?")
    assert "rc=1" in out and "it runs on fiori" in out, out
    # A disk that a VM on torchio runs on, attached to hot on fiori: it
    # cannot be refused any more, so hot is paused before it writes there.
    cluster.ssh("torchio", f"{halting_disk(IN_USE)} && cat > /root/in-use.xml <<'EOF'\n"
                           f"{transient('in-use', IN_USE)}EOF\nvirsh create /root/in-use.xml")
    cluster.ssh("fiori", f"virsh attach-disk hot {IN_USE} vdc --live --subdriver qcow2 --cache none")
    assert wait_until(lambda: cluster.ssh("fiori", "virsh domstate hot").strip() == "paused", timeout=60, interval=2)
    said = cluster.ssh("fiori", "journalctl -t twonode-vm -p crit --no-pager -o cat")
    assert "VM hot PAUSED on fiori: a disk added to it is in use by VM in-use on torchio since " in said, said
    assert lease(cluster, "fiori", IN_USE)[1:2] == ["torchio"]
    cluster.ssh("torchio", "virsh destroy in-use")
    cluster.ssh("fiori", "virsh destroy hot")
    # tiny, beside it all, kept its own lease.
    assert domains(cluster, "fiori") == {VM: "running"} and lease(cluster, "torchio")[1:2] == ["fiori"]


def test_the_status_says_where_it_runs_is_defined_and_who_holds_its_lease(cluster):
    run = cluster.pyinfra("tasks/status.py", inventory=SMALL)
    assert run.returncode == 0, run
    row = re.search(rf"^.*\b{VM}\s+fiori\s+fiori\s+fiori since \S+\s+defined on fiori only$", run.output, re.M)
    assert row, run.output

def test_the_migration_key_reaches_libvirt_only_and_from_the_peers_cluster_address_only(cluster):
    # torchio's own key, to fiori, from torchio: once from its cluster
    # address, once from another address of torchio's (the lab's management
    # links do not reach each other, so a second address on the same link
    # stands for it). Only the source address differs: from= decides. And
    # accepted, it runs libvirt's end of the transport, never the command
    # asked for: no shell.
    probe = ("ssh -b {source} -i /root/.ssh/twonode-migration -o BatchMode=yes -o StrictHostKeyChecking=no "
             "-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes root@192.168.3.6 'echo a shell ran' "
             "</dev/null 2>&1; echo rc=$?")
    cluster.ssh("torchio", "ip addr add 192.168.3.99/24 dev eth1")
    try:
        accepted = cluster.ssh("torchio", probe.format(source="192.168.3.7"))
        refused = cluster.ssh("torchio", probe.format(source="192.168.3.99"))
    finally:
        cluster.ssh("torchio", "ip addr del 192.168.3.99/24 dev eth1")
    assert "Permission denied" not in accepted and "a shell ran" not in accepted, accepted
    assert "Permission denied" in refused and "rc=255" in refused, refused
    # What the key is for still works: libvirt over it (as a migration's).
    assert cluster.ssh("torchio", "virsh -c qemu+ssh://fiori-cluster/system hostname").strip() == "fiori"
    assert 'from="192.168.3.7",restrict,command="/usr/bin/virt-ssh-helper qemu:///system"' in \
        cluster.ssh("fiori", "grep twonode /root/.ssh/authorized_keys")


def test_an_unknown_host_key_is_refused(cluster):
    # The peer's name with another host key pinned: ssh must not connect.
    out = cluster.ssh("fiori", "sed 's/^torchio-cluster,192.168.3.7 ssh-ed25519 .*/torchio-cluster,192.168.3.7 "
                               "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvJ0Y9wq3k3n0Qm2G4xYzV1mKq7ZrPpX1b0fXo6d0Yh/' "
                               "/etc/ssh/ssh_known_hosts > /tmp/kh && "
                               "ssh -o GlobalKnownHostsFile=/tmp/kh -o UserKnownHostsFile=/dev/null "
                               "torchio-cluster true 2>&1; echo rc=$?")
    assert "rc=255" in out and "REMOTE HOST IDENTIFICATION HAS CHANGED" in out, out


def test_a_key_left_empty_by_a_power_loss_is_repaired_and_trusted_again(cluster):
    # Seen on the lab: ssh-keygen's files are written, the node loses power
    # before they reach the disk, and the .pub comes back empty.
    pub = "/root/.ssh/twonode-migration.pub"
    cluster.ssh("torchio", f": > {pub}")
    run = cluster.deploy(inventory=SMALL)
    assert run.returncode == 0, run
    assert cluster.ssh("torchio", f"cat {pub}").startswith("ssh-ed25519 "), "the .pub was not made again"
    again = cluster.deploy(inventory=SMALL)
    assert again.returncode == 0 and again.changed_ops == [], again
    out = cluster.ssh("torchio", "virsh -c qemu+ssh://fiori-cluster/system list --all --name")
    assert VM in out, out


def test_emptying_fiori_moves_its_vm_with_its_definition_and_a_second_run_changes_nothing(cluster):
    # tasks/vms.py, as an admin empties a node before maintenance.
    run = cluster.pyinfra("--data", "empty=fiori", "tasks/vms.py", inventory=SMALL)
    assert run.returncode == 0, run
    # The VM first, then the NFS server fiori ran (nfs.mode single).
    assert run.changed_ops == [f"vms: move {VM} live from fiori to torchio",
                               "vms: the NFS server from fiori to torchio"], run
    assert domains(cluster, "torchio") == {VM: "running"}
    assert domains(cluster, "fiori") == {}
    assert nfs_servers(cluster) == ["torchio"]
    again = cluster.pyinfra("--data", "empty=fiori", "tasks/vms.py", inventory=SMALL)
    assert again.returncode == 0 and again.changed_ops == [], again
    back = cluster.pyinfra("--data", "empty=torchio", "tasks/vms.py", inventory=SMALL)
    assert back.returncode == 0, back
    assert domains(cluster, "fiori") == {VM: "running"} and domains(cluster, "torchio") == {}
    assert nfs_servers(cluster) == ["fiori"]


def test_emptying_stops_before_anything_moves_on_a_vm_with_a_local_disk_or_an_unknown_node(cluster):
    local = DOMAIN_XML.replace(f"<name>{VM}</name>", "<name>local</name>").replace(DISK, "/var/lib/libvirt/images/local.qcow2")
    cluster.ssh("fiori", halting_disk("/var/lib/libvirt/images/local.qcow2") + " && "
                         f"cat > /root/local.xml <<'EOF'\n{local}EOF\nvirsh define /root/local.xml && virsh start local")
    try:
        run = cluster.pyinfra("--data", "empty=fiori", "tasks/vms.py", inventory=SMALL)
        assert run.returncode != 0 and "nothing moved to torchio" in run.output, run
        assert "VM local has a disk outside the replicated volumes (/var/lib/libvirt/images/local.qcow2)" in run.output
        assert domains(cluster, "fiori") == {VM: "running", "local": "running"}
        assert domains(cluster, "torchio") == {}
    finally:
        cluster.ssh("fiori", "virsh destroy local; virsh undefine local; rm -f /var/lib/libvirt/images/local.qcow2")
    unknown = cluster.pyinfra("--data", "empty=fioro", "tasks/vms.py", inventory=SMALL)
    assert unknown.returncode != 0 and "--data empty=<fiori|torchio> (got 'fioro')" in unknown.output, unknown
    assert domains(cluster, "fiori") == {VM: "running"}

def test_defined_with_autostart_on_both_nodes_it_runs_exactly_once_after_both_reboot(cluster):
    # libvirt autostarts at boot, before twonode-activate has
    # mounted the volumes (the lease refuses then); twonode-activate starts
    # it once they are, on both nodes at once: the lease picks one.
    cluster.ssh("fiori", f"virsh autostart {VM}")
    cluster.ssh("torchio", f"virsh define /root/{VM}.xml && virsh autostart {VM}")
    # The tiny VM has no OS to answer the ACPI shutdown libvirt-guests
    # sends at reboot (it would wait its whole timeout): it is stopped first.
    cluster.ssh("fiori", f"virsh destroy {VM}")
    boots = {node: boot_id(cluster.ssh, node) for node in NODES}
    for node in NODES:
        cluster.ssh(node, "systemctl reboot", check=False)

    def settled():
        if any(boot_id(cluster.ssh, n) == boots[n] for n in NODES):
            return False
        logs = {n: cluster.ssh(n, "journalctl -b -q -t twonode-activate --no-pager -o cat") for n in NODES}
        return logs if all(f"autostart VM {VM}" in log for log in logs.values()) else False

    logs = wait_until(settled, timeout=600)
    running = [n for n in NODES if domains(cluster, n).get(VM) == "running"]
    assert len(running) == 1, (running, logs)
    assert sum(qemus_with_the_disk_open(cluster, n) for n in NODES) == 1
    other = next(n for n in NODES if n not in running)
    assert f"it runs on {running[0]}" in logs[other], logs
    # Back to where the next test starts: on fiori, defined on both.
    if running[0] == "torchio":
        cluster.ssh("torchio", f"virsh destroy {VM}")
        cluster.ssh("fiori", f"virsh start {VM}")
    for node in NODES:
        cluster.ssh(node, f"virsh autostart --disable {VM}")


def test_when_its_node_loses_power_the_vm_starts_on_the_peer_once_that_node_is_fenced(cluster):
    # The VM runs on torchio, fiori has its definition too, and
    # torchio loses power. fiori's operator starts it again and again.
    cluster.ssh("torchio", f"virsh undefine {VM}")
    cluster.ssh("fiori", f"virsh migrate --live --persistent --undefinesource {VM} "
                         "qemu+ssh://torchio-cluster/system", timeout=600)
    cluster.ssh("fiori", f"virsh define /root/{VM}.xml")
    killed = time.time()
    cluster.kill("torchio")
    attempts = []
    while time.time() < killed + 420:
        began = time.time() - killed
        out = cluster.ssh("fiori", f"timeout 240 virsh start {VM} 2>&1; echo rc=$?", check=False, timeout=300)
        attempts.append((round(began), round(time.time() - killed), out.strip()))
        if out.strip().endswith("rc=0"):
            break
        time.sleep(3)
    assert attempts[-1][2].endswith("rc=0"), attempts
    # The lease was taken after fiori had fenced torchio (both times on
    # fiori's clock), never before.
    since = datetime.strptime(lease(cluster, "fiori")[2], "%Y-%m-%dT%H:%M:%SZ").timestamp()
    fence = cluster.ssh("fiori", "journalctl -q -t twonode-fence -o short-unix --no-pager | grep 'torchio is powered off'")
    fenced = float(fence.split()[0])
    assert since >= int(fenced), (fence, lease(cluster, "fiori"), attempts)
    assert qemus_with_the_disk_open(cluster, "fiori") == 1
    refused = [a for a in attempts[:-1] if "rc=0" not in a[2]]
    measurements.append(f"test_9 tiny VM started on fiori {attempts[-1][1]} s after torchio lost power "
                        f"(starts refused before: {len(refused)}; lease taken {since - fenced:.0f} s after the fence)")
    # Bad input, the peer down: emptying fiori onto the dead torchio stops
    # before anything moves, and says why.
    run = cluster.pyinfra("--data", "empty=fiori", "tasks/vms.py", inventory=SMALL)
    assert run.returncode != 0 and "nothing moved to torchio" in run.output, run
    assert "torchio cannot be reached" in run.output, run
    assert domains(cluster, "fiori") == {VM: "running"}
