"""Fresh lab → refused foreign data → full deploy → converged, idempotent,
and a node's first reboot; on Debian 12, then one node reinstalled on 13.

Order matters inside this module (one lab, states build on each other). On
the default release it starts from bare Debian (a reset lab), so the deploy
installs every package inside the guests, as on a new server. On another
release it starts from that release's ``provisioned`` checkpoint, and the
node reinstalled on the newer release from that release's provisioned root
disk: the same install operation put the packages in at the host's speed,
and every other step of the deploy runs here. TWONODE_FULL=1 starts every
release bare (twonode/lab.py, bare_bringup).
"""

import os
import re

import pytest

from conftest import nfs_servers, proc_drbd_states, wait_until
from linkcut import lost as acked_lost, start_writers, stop_writers  # lab/linkcut.py
from checkpoints import provisioned_root  # lab/checkpoints.py
from twonode.lab import bare_bringup, lab_release
from twonode.releases import DEFAULT, SUPPORTED

FOREIGN_SUM = "sha256sum /mnt/foreign/precious"


@pytest.fixture(scope="module")
def fresh(lab):
    # TWONODE_LAB_KEEP=1 keeps the guests as they are: for re-running the
    # later tests of this module by hand on a deployed lab.
    if os.environ.get("TWONODE_LAB_KEEP"):
        lab.ensure_up()
    elif bare_bringup(lab_release()):
        lab.reset()
    else:
        lab.restore("provisioned")
    return lab


def test_smoke_facts_on_both_guests(fresh):
    run = fresh.pyinfra("fact", "facts.network.NetworkInterfaces")
    assert run.returncode == 0, run
    for mac in ("52:54:00:00:01:01", "52:54:00:00:02:01"):
        assert mac in run.output


def test_foreign_filesystem_is_refused_and_untouched(fresh):
    # Somebody's data on the LV the config calls `small`, on fiori only.
    fresh.ssh("fiori", "lvcreate -q -y -L 64m -n small vg0 && mkfs.ext4 -q /dev/vg0/small && "
                       "mkdir -p /mnt/foreign && mount /dev/vg0/small /mnt/foreign && "
                       "head -c 1M /dev/urandom > /mnt/foreign/precious && umount /mnt/foreign")
    fresh.ssh("fiori", "mount /dev/vg0/small /mnt/foreign")
    before = fresh.ssh("fiori", FOREIGN_SUM)
    fresh.ssh("fiori", "umount /mnt/foreign")

    run = fresh.deploy()
    assert run.returncode != 0
    assert "refusing" in run.output and "fiori:/dev/vg0/small holds ext4" in run.output, run
    assert "Nothing was changed on either node" in run.output
    # Nothing ran anywhere: not even the first operation of the deploy.
    assert "Beginning operation run" not in run.output
    for node in ("fiori", "torchio"):
        assert fresh.ssh(node, "test -e /etc/udev/rules.d/70-persistent-net.rules && echo yes || echo no").strip() == "no"

    fresh.ssh("fiori", "mount /dev/vg0/small /mnt/foreign")
    assert fresh.ssh("fiori", FOREIGN_SUM) == before
    # Clean up as the operator would, for the next tests.
    fresh.ssh("fiori", "umount /mnt/foreign && lvremove -q -y vg0/small")


def node_has_unit(lab, node: str, unit: str, state: str) -> bool:
    return lab.ssh(node, f"systemctl is-enabled {unit} || true").strip() == state


ADMIN_EXPORT = "/srv/admin 192.168.10.50(ro,no_subtree_check)"


def test_fresh_deploy_reaches_dual_primary_without_resync(fresh):
    # The admin's own export, there before twonode: it must survive.
    for node in ("fiori", "torchio"):
        fresh.ssh(node, f"mkdir -p /srv/admin && echo '{ADMIN_EXPORT}' >> /etc/exports")
    run = fresh.deploy("deploy.py", "--diff")
    assert run.returncode == 0, run
    # The BMC password went to the nodes, never to pyinfra's output (not even
    # with --diff, which prints what files.put and template write).
    password = fresh.bmc_password()
    assert password not in run.output
    for node in ("fiori", "torchio"):
        proc = fresh.ssh(node, "cat /proc/drbd")
        states = re.findall(r"\d+: cs:(\S+) ro:(\S+) ds:(\S+)", proc)
        assert states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] * 3, proc
        assert all(int(n) == 0 for n in re.findall(r"oos:(\d+)", proc)), proc
        # No resync ever ran: the kernel never entered a sync state.
        log = fresh.ssh(node, "dmesg | grep -E 'drbd_.*conn\\(' || true")
        assert "SyncSource" not in log and "SyncTarget" not in log, log


def test_resource_files_parse_with_drbdadm(fresh):
    for node in ("fiori", "torchio"):
        dump = fresh.ssh(node, "drbdadm dump drbd_vmpool0")
        for expected in ("protocol", "allow-two-primaries", "after-sb-0pri discard-zero-changes",
                         "after-sb-1pri consensus", "after-sb-2pri disconnect", "wfc-timeout 1;",
                         "minor 1", "192.168.3.6:7791", "192.168.3.7:7791",
                         "/dev/vg0/vmpool0", "before-resync-target",
                         'split-brain "/usr/local/lib/twonode/drbd-event split-brain"',
                         "fencing resource-and-stonith;", "ping-int 3;", 'fence-peer /usr/local/lib/twonode/drbd-fence-peer;',
                         'after-resync-target "/usr/local/lib/twonode/drbd-event unfenced"'):
            assert expected in " ".join(dump.split()), (node, expected, dump)
        # A booting node never promotes itself (twonode-activate does, once
        # connected), and nothing discards a side with changes.
        assert "become-primary-on" not in dump and "discard-secondary" not in dump, dump
        assert node_has_unit(fresh, node, "twonode-activate.service", "enabled")
        # The peer's BMC options: root only, and the handler's settings.
        peer = "torchio" if node == "fiori" else "fiori"
        assert fresh.ssh(node, "stat -c '%a %U' /etc/twonode/fence /etc/twonode/fence/peer-options").split() \
            == ["700", "root", "600", "root"]
        conf = fresh.ssh(node, "cat /etc/twonode/fence/handler.conf")
        assert f"peer={peer}" in conf and f"delay={0 if node == 'fiori' else 20}" in conf, conf


def test_ocfs2_is_shared(fresh):
    fresh.ssh("fiori", "head -c 4M /dev/urandom > /vol/small/from-fiori && sync")
    written = fresh.ssh("fiori", "sha256sum /vol/small/from-fiori").split()[0]
    assert fresh.ssh("torchio", "sha256sum /vol/small/from-fiori").split()[0] == written
    # A node that o2cb fences restarts instead of hanging.
    for node in ("fiori", "torchio"):
        assert fresh.ssh(node, "sysctl -n kernel.panic kernel.panic_on_oops").split() == ["30", "1"]
    mounted = fresh.ssh("fiori", "mounted.ocfs2 -f")
    # Both nodes hold the filesystem on DRBD (not on the backing LV).
    assert re.search(r"^/dev/drbd0\s+o2cb\s+(fiori, torchio|torchio, fiori)\s*$", mounted, re.M), mounted


def test_nfs_is_served_by_one_node_at_the_servers_address(fresh):
    # Both holders became ready together: the first node serves, the other stands by.
    wait_until(lambda: nfs_servers(fresh), timeout=300)
    assert nfs_servers(fresh) == ["fiori"]
    exports = fresh.ssh("fiori", "exportfs -v")
    for path in ("/srv/admin", "/vol/small/home", "/vol/pub", "/vol/small/svn", "/vol/small/mail"):
        assert re.search(rf"^{re.escape(path)}\s", exports, re.M), exports
    assert fresh.ssh("torchio", "exportfs -v").strip() == ""
    for node in ("fiori", "torchio"):
        assert ADMIN_EXPORT in fresh.ssh(node, "cat /etc/exports").splitlines()
    # Served over the private storage network, from the node itself: the
    # seed's clients do not include the node, so export to it for the
    # moment of the test (exportfs -o: not in /etc/exports).
    fresh.ssh("fiori", "exportfs -o ro,no_subtree_check 192.168.10.1:/vol/small && mkdir -p /mnt/nfs && "
                       "mount -t nfs -o vers=4,soft,timeo=50 192.168.10.1:/vol/small /mnt/nfs && "
                       "test -f /mnt/nfs/from-fiori && umount /mnt/nfs && exportfs -u 192.168.10.1:/vol/small")


def test_libvirt_pools_and_networks(fresh):
    for node in ("fiori", "torchio"):
        pools = fresh.ssh(node, "virsh -q pool-list --all --details")
        nets = fresh.ssh(node, "virsh -q net-list --all")
        assert re.search(r"^\s*vmpool0\s+running\s+no\s+yes", pools, re.M), pools
        assert re.search(r"^\s*isoimages\s+running\s+no\s+yes", pools, re.M), pools
        assert "default" not in pools and "default" not in nets
        assert re.search(r"^\s*192\.168\.10\.0\s+active\s+yes\s+yes", nets, re.M), nets
        # A node's shutdown shuts its VMs down, never a managed save (node-local).
        guests = fresh.ssh(node, "grep -E '^(ON_BOOT|ON_SHUTDOWN)=' /etc/default/libvirt-guests").split()
        assert sorted(guests) == ["ON_BOOT=ignore", "ON_SHUTDOWN=shutdown"], guests
        # Persistent: they survive a libvirtd restart.
        fresh.ssh(node, "systemctl restart libvirtd")
        assert re.search(r"^\s*192\.168\.10\.0\s+active", fresh.ssh(node, "virsh -q net-list --all"), re.M)
        assert "vmpool0" in fresh.ssh(node, "virsh -q pool-list --all")


def test_second_run_changes_nothing(fresh):
    run = fresh.deploy()
    assert run.returncode == 0, run
    assert run.changed_ops == [], run.changed_ops
    # The batched read (twonode/snapshot.py) proved every file, line,
    # directory, package and service current: none of their operations was
    # even prepared. (Cross-node steps are always emitted, empty.)
    guarded = re.compile(r"install |udev|/etc/hosts|interfaces|fstab entry|resource file|handler|"
                         r"drbd\.service|cluster\.conf|/etc/default/o2cb|mount point|/etc/exports|exportfs|"
                         r"nfs-server|network XML|pool target|SSH keys|/vol/|activat|sysctl")
    assert [op for op in run.started_ops if guarded.search(op)] == [], run.started_ops
    # Nor any bring-up step: they are emitted only for resources whose plan
    # has steps, so a converged run claims none ("... on fiori" when it does).
    assert [op for op in run.started_ops if "drbd: drbd_" in op or "mkfs" in op or " mount /" in op] == [], \
        run.started_ops


@pytest.mark.parametrize("task", ["network", "storage", "drbd", "ocfs2", "nfs", "libvirt"])
def test_each_task_alone_changes_nothing_when_converged(fresh, task):
    # The task modules read and plan alike on every release: on another
    # release the whole deploy's second run above covers what they emit.
    if lab_release() != DEFAULT.codename and not bare_bringup(lab_release()):
        pytest.skip(f"the task modules alone run on {DEFAULT.codename}'s lab")
    run = fresh.deploy(f"tasks/{task}.py")
    assert run.returncode == 0, run
    assert run.changed_ops == [], run.changed_ops


MOUNTS = ("/vol/small", "/vol/vmpool0", "/vol/pub")


def joined(lab, node: str) -> bool:
    """Every volume of the example Connected, Primary on both, UpToDate on
    both, mounted on ``node``, and ``node``'s twonode-activate done (after
    the mounts it still starts or refreshes the pools on them)."""
    states = proc_drbd_states(lab.ssh(node, "cat /proc/drbd"))
    # The volumes (where NFS is served, /var/lib/nfs is bound from one too).
    mounted = {m for m in lab.ssh(node, "findmnt -n -o TARGET -t ocfs2 || true").split() if m.startswith("/vol/")}
    activation = lab.ssh(node, "systemctl show -p ActiveState -p Result twonode-activate").split()
    return (len(states) == 3 and set(states) == {("Connected", "Primary/Primary", "UpToDate/UpToDate")}
            and mounted == set(MOUNTS) and sorted(activation) == ["ActiveState=inactive", "Result=success"])


def test_a_node_rebooted_after_the_bring_up_rejoins_by_itself_and_nothing_changes(fresh):
    # The first boot of a node the deploy built from bare Debian: o2cb must
    # start (on Debian 13 only because the deploy enabled its unit), and
    # twonode-activate promote and mount every volume beside the peer.
    fresh.ssh("torchio", "head -c 1M /dev/urandom > /vol/small/before-reboot && sync")
    written = fresh.ssh("torchio", "sha256sum /vol/small/before-reboot").split()[0]
    fresh.ssh("fiori", "systemctl poweroff", check=False)
    wait_until(lambda: fresh.run("running", "fiori").returncode != 0, timeout=300, interval=2)
    fresh.start("fiori")
    wait_until(lambda: joined(fresh, "fiori"), timeout=600)
    assert "-> StandAlone" not in fresh.ssh("fiori", "dmesg")
    assert fresh.ssh("fiori", "sha256sum /vol/small/before-reboot").split()[0] == written
    # libvirt started the pool on the replicated volume before the mount:
    # refreshed since, it shows the volume, not the root file system; and
    # the directory beneath the mount point refuses writes.
    info = fresh.ssh("fiori", "virsh pool-info vmpool0 --bytes")
    assert re.search(r"State:\s+running", info), info
    capacity = int(re.search(r"Capacity:\s+(\d+)", info).group(1))
    assert capacity == int(fresh.ssh("fiori", "df -B1 --output=size /vol/vmpool0 | tail -n 1")), info
    beneath = fresh.ssh("fiori", "mkdir -p /run/rootview && mount --bind / /run/rootview && "
                                 "lsattr -d /run/rootview/vol/vmpool0; umount /run/rootview")
    assert "i" in beneath.split()[0], beneath
    # fiori's shutdown let go of the NFS server: torchio serves now.
    assert nfs_servers(fresh) == ["torchio"]
    assert "/vol/small/home" in fresh.ssh("torchio", "exportfs -v")
    run = fresh.deploy()
    assert run.returncode == 0 and run.changed_ops == [], run


def _newer_release() -> str | None:
    """The newest release twonode supports, if the lab's guests run an older one."""
    newest = max(SUPPORTED.values(), key=lambda r: int(r.version))
    return newest.codename if int(SUPPORTED[lab_release()].version) < int(newest.version) else None


def _mount_id(lab, node: str, target: str) -> str:
    """The kernel's id of the mount on ``target``: a new one after any unmount."""
    return lab.ssh(node, f"findmnt -n -o ID --mountpoint {target}").strip()


def test_a_node_reinstalled_on_the_next_release_rejoins_while_its_peer_serves(fresh):
    # The rolling upgrade users do (docs/concepts.md, "Debian 12 and 13"): torchio's
    # workload stopped and the node shut down cleanly, its system reinstalled
    # on the next release with its data disk kept, then the deploy, no
    # --limit. fiori serves and writes throughout. Only on the older release.
    newer = _newer_release()
    if newer is None:
        pytest.skip(f"the lab runs {lab_release()}, the newest release twonode supports")
    fresh.ssh("fiori", "head -c 1M /dev/urandom > /vol/small/before-upgrade && sync")
    written = fresh.ssh("fiori", "sha256sum /vol/small/before-upgrade").split()[0]
    mounts = {m: _mount_id(fresh, "fiori", m) for m in MOUNTS}
    start_writers(fresh.ssh, nodes=("fiori",))
    fresh.ssh("torchio", "systemctl poweroff", check=False)
    wait_until(lambda: fresh.run("running", "torchio").returncode != 0, timeout=300, interval=2)
    root = [] if bare_bringup(newer) else [str(provisioned_root(newer))]
    reinstalled = fresh.run("reinstall", "torchio", newer, *root, timeout=1800)
    assert reinstalled.returncode == 0, reinstalled.stderr
    assert f"VERSION_CODENAME={newer}" in fresh.ssh("torchio", "cat /etc/os-release")

    run = fresh.deploy()
    assert run.returncode == 0, run

    wait_until(lambda: joined(fresh, "torchio"), timeout=600)
    stop_writers(fresh.ssh, nodes=("fiori",))
    # torchio joined on the metadata its data disk kept: it resynced what
    # fiori wrote meanwhile, never the whole device (a new create-md would).
    # On the lab: 72 MB of drbd_small's 1 GiB after half an hour of writes,
    # 4 KB of each other volume.
    log = fresh.ssh("torchio", "dmesg")
    total = dict(re.findall(r"(drbd\d+): resync bitmap: bits=(\d+)", log))
    synced = re.findall(r"(drbd\d+): Began resync as SyncTarget \(will sync \d+ KB \[(\d+) bits set\]", log)
    attached = dict(re.findall(r"(drbd\d+): attached to UUIDs ([0-9A-F]{16}):", log))
    assert len(attached) == 3 and "0000000000000004" not in attached.values(), attached
    assert len(total) == 3 and {dev for dev, _ in synced} <= set(total), log[-3000:]
    for dev, bits in synced:
        assert int(bits) < int(total[dev]) // 2, f"{dev}: {bits} of {total[dev]} bits resynced"
    assert not acked_lost(fresh.ssh, "fiori", reader="torchio")
    assert fresh.ssh("torchio", "sha256sum /vol/small/before-upgrade").split()[0] == written
    # fiori never unmounted a volume; NFS is served by one node.
    assert {m: _mount_id(fresh, "fiori", m) for m in mounts} == mounts
    servers = wait_until(lambda: nfs_servers(fresh), timeout=300)
    assert len(servers) == 1 and "/vol/small/home" in fresh.ssh(servers[0], "exportfs -v"), servers
    again = fresh.deploy()
    assert again.returncode == 0 and again.changed_ops == [], again
