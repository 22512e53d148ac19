"""What each task reads before it decides, one declaration per area.

A task prefetches its own list (so it stays runnable alone); deploy.py
prefetches every task's list at once, so a whole run costs one fact round
trip per node for these (twonode/snapshot.py). A read missing from a list
is still made, on first use: a slower run, never a wrong one. The reads of
managed paths and units are built here too (path_reads, unit_reads), and
so is what a path held at the start of the run (path_state, file_lines).
"""

from __future__ import annotations

from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Which

from facts.blockdev import DeviceSignatures, LinuxMounts
from facts.drbd import DrbdResources
from facts.drbd_events import DrbdEvents, VerifyResults
from facts.drbd_metadata import DrbdGenerations
from facts.fencing import FenceChecked
from facts.libvirt import Virsh, VirshDomains
from facts.lvm import VolumeGroups
from facts.network import NetworkInterfaces
from facts.nfs import NfsExports, NfsServer
from facts.identity import NodeIdentity
from facts.os_release import NodeOsRelease
from facts.reach import TcpReach
from facts.path_states import PathState, PathStates
from facts.sizes import VolumeSizes
from facts.systemd import UnitStates
from facts.ocfs2 import O2cbStack
from . import migration, preflight
from .model import Cluster, Node
from .paths import (
    ACTIVATE, ACTIVATE_UNIT, ACTIVATE_VOLUMES, ADMIN_EXPORTS, AUTHORIZED_KEYS, BEFORE_RESYNC_TARGET,
    DRBD_AFTER_OCFS2, DRBD_EVENT, DRBD_VERIFY, EVENTS_FILE, EXPORTS, EXPORTS_DIR, FENCE_CONF, FENCE_DIR,
    BMC_SYSTEM_UUID, FENCE_CHECK_SERVICE, FENCE_CHECK_TIMER, FENCE_CHECKED, FENCE_NEW_DIR, FENCE_OPTIONS, FENCE_PEER, FSTAB, HOST_KEY, INTERFACES, LEASE_HOLDER, LEASES_CONF, LIBVIRT_GUESTS_DEFAULTS, METRICS, METRICS_SERVICE, METRICS_TIMER, MIGRATION_PUBLIC_KEY,
    NFS_CONF, NFS_CONF_DIR, NFS_SCOPE_DROPIN, NFS_SERVER, PRIVATE_LINK_CONF, PRIVATE_LINK_HOOK, PRIVATE_LINK_HOOK_DIR, NFS_SERVER_CONF, NFS_SERVER_DROPIN, NFS_SYSCTL, NFS_UNIT, O2CB_CLUSTER_CONF, O2CB_DEFAULTS, OCFS2_SYSCTL, ETC_HOSTS, QEMU_HOOK, UDEV_RULES,
    VERIFY_RESULTS, VERIFY_SERVICE, VERIFY_TIMER, cluster_interface_file, lv_path, network_xml, resource_file,
)
from .snapshot import key, read

#: The first line of the files the deploy writes (its templates).
MANAGED_MARK = "# Managed by twonode: edit group_data/all.py, not this file."


def path_key(path: str) -> tuple:
    """The read of one path; every path of a run is read by one PathStates
    command (twonode/snapshot.py merges them)."""
    return key(PathStates, paths=(path,))


def path_reads(*paths: str) -> tuple:
    return tuple(path_key(p) for p in paths)


def secret_path_key(path: str) -> tuple:
    """The read of a file that holds nothing but secrets: its kind, mode,
    owner and digest, never its lines (read in the same batch)."""
    return key(PathStates, paths=(path,), lines=False)


def secret_path_state(path: str, on=None) -> PathState | None:
    return read(secret_path_key(path), on=on).get(path)


def unit_reads(*units: str) -> tuple:
    return tuple(key(UnitStates, units=(u,)) for u in units)


def path_state(path: str, on=None) -> PathState | None:
    """``path`` as it was at the start of the run, on the current host or
    ``on`` (None: missing)."""
    return read(path_key(path), on=on).get(path)


def file_lines(path: str, on=None) -> tuple[str, ...] | None:
    """A regular file's lines, as pyinfra's FileContents gives them (None
    when missing or not a regular file), on the current host or ``on``."""
    found = path_state(path, on=on)
    return found.lines if found is not None and found.is_file else None


def install_reads() -> tuple:
    """What twonode/install.py reads: the installed packages, the release."""
    return (key(DebPackages), key(NodeOsRelease))


def local_devices(c: Cluster) -> tuple[str, ...]:
    return tuple(lv_path(c.volume_group, v.name) for v in c.local_volumes)


def drbd_devices(c: Cluster) -> tuple[str, ...]:
    return tuple(v.device for v in c.replicated_volumes)


def backing_devices(c: Cluster) -> tuple[str, ...]:
    """The replicated volumes' LVs, in the order the DRBD planner reads them."""
    return tuple(lv_path(c.volume_group, v.name) for v in c.replicated_volumes)


def drbd_generations(c: Cluster) -> tuple[tuple[str, int, str], ...]:
    """The DrbdGenerations fact's argument: (resource, minor, backing LV)."""
    return tuple((v.resource, v.minor, dev) for v, dev in zip(c.replicated_volumes, backing_devices(c)))


def virsh_names(c: Cluster) -> dict[str, tuple[str, ...]]:
    """The Virsh fact's arguments: the pools and networks whose definitions
    the deploy compares."""
    return {"pools": tuple(p.name for p in c.libvirt.pools), "networks": tuple(n.name for n in c.libvirt.networks)}


def vm_domains(c: Cluster) -> dict[str, tuple[str, ...]]:
    """The VirshDomains fact's arguments: where the VM leases lie."""
    return {"mount_points": tuple(v.mount_point for v in c.replicated_volumes)}


def network(c: Cluster) -> tuple:
    return (*install_reads(), key(NetworkInterfaces),
            *path_reads(UDEV_RULES, INTERFACES, cluster_interface_file(c.cluster_network.interface), ETC_HOSTS))


def storage(c: Cluster) -> tuple:
    devices = local_devices(c)
    return (*install_reads(), key(VolumeGroups), key(LinuxMounts), *path_reads(FSTAB),
            *([key(DeviceSignatures, devices=devices)] if devices else []))


def o2cb_stack(c: Cluster) -> tuple:
    return key(O2cbStack, cluster=c.o2cb.cluster_name, defaults=O2CB_DEFAULTS)


def volume_sizes(c: Cluster) -> tuple[tuple[str, int, str], ...]:
    """The VolumeSizes fact's argument: (resource, minor, DRBD device)."""
    return tuple((v.resource, v.minor, v.device) for v in c.replicated_volumes)


def drbd_plan(c: Cluster) -> tuple:
    """What the DRBD planner reads on each node (twonode/drbd_plans.py),
    the bring-up's and the grow's."""
    return (key(DrbdResources), key(DeviceSignatures, devices=backing_devices(c)),
            key(DeviceSignatures, devices=drbd_devices(c)), key(DrbdGenerations, resources=drbd_generations(c)),
            key(VolumeGroups), key(VolumeSizes, volumes=volume_sizes(c)))


def fencing(c: Cluster) -> tuple:
    # NodeIdentity: the machine UUID, which the peer's check compares with
    # what this node's BMC reports.
    return (*install_reads(), key(FenceChecked, path=FENCE_CHECKED), key(NodeIdentity),
            *path_reads(FENCE_PEER, BMC_SYSTEM_UUID, FENCE_DIR, FENCE_CONF, FENCE_NEW_DIR, FENCE_CHECK_SERVICE, FENCE_CHECK_TIMER),
            secret_path_key(FENCE_OPTIONS), *unit_reads("twonode-fence-check.timer"))


def drbd(c: Cluster) -> tuple:
    return (*fencing(c), key(VolumeGroups),
            *path_reads(BEFORE_RESYNC_TARGET, DRBD_EVENT, DRBD_VERIFY,
                        VERIFY_SERVICE, VERIFY_TIMER, METRICS, METRICS_SERVICE, METRICS_TIMER,
                        *((c.monitoring.textfile_directory,) if c.monitoring.textfile_directory else ()),
                        *(resource_file(vol.resource) for vol in c.replicated_volumes)),
            *unit_reads("drbd.service", "twonode-verify.timer", "twonode-metrics.timer"), *drbd_plan(c))


def ocfs2(c: Cluster) -> tuple:
    return (*install_reads(), o2cb_stack(c), key(LinuxMounts),
            *path_reads(O2CB_CLUSTER_CONF, O2CB_DEFAULTS, FSTAB, DRBD_AFTER_OCFS2, ACTIVATE, ACTIVATE_UNIT,
                        ACTIVATE_VOLUMES, OCFS2_SYSCTL),
            *unit_reads("twonode-activate.service", "o2cb.service"), *drbd_plan(c))


def nfs(c: Cluster) -> tuple:
    exports = c.nfs.grouped_exports() if c.nfs else []
    return (*install_reads(), key(NfsExports), key(NfsServer), key(LinuxMounts),
            *unit_reads("nfs-server.service", "twonode-nfs.service"),
            *path_reads(*(e.path for e in exports), NFS_SERVER_DROPIN, EXPORTS, ADMIN_EXPORTS, EXPORTS_DIR,
                        NFS_SYSCTL, NFS_CONF, NFS_CONF_DIR, NFS_SERVER, NFS_SERVER_CONF, NFS_UNIT, ETC_HOSTS,
                        NFS_SCOPE_DROPIN))


def libvirt(c: Cluster) -> tuple:
    lv = c.libvirt
    return (*install_reads(), key(Which, command="virsh"), key(Virsh, **virsh_names(c)),
            key(NetworkInterfaces),
            *path_reads(*(pool.target for pool in lv.pools), *(network_xml(net.name) for net in lv.networks),
                        AUTHORIZED_KEYS, *migration.NODE_FILES, QEMU_HOOK, LEASE_HOLDER, LEASES_CONF,
                        PRIVATE_LINK_HOOK, PRIVATE_LINK_HOOK_DIR, PRIVATE_LINK_CONF,
                        LIBVIRT_GUESTS_DEFAULTS))


def vms(c: Cluster) -> tuple:
    """What tasks/vms.py reads on the node it empties."""
    return (key(DrbdResources), key(VirshDomains, **vm_domains(c)), key(NodeOsRelease), key(NfsServer))


def vms_peer(c: Cluster) -> tuple:
    """...and on the peer that takes the VMs: its volumes mounted, its leases installed."""
    return (*vms(c), key(LinuxMounts), *path_reads(QEMU_HOOK))


def retire(c: Cluster, resource: str) -> tuple:
    """What tasks/retire.py reads on each node about the volume it retires."""
    return (key(DrbdResources), key(LinuxMounts), key(Virsh), key(VirshDomains),
            *path_reads(FSTAB, ADMIN_EXPORTS, ACTIVATE_VOLUMES, resource_file(resource)))


def migration_peer() -> tuple:
    """What a node reads on its PEER: the public halves it trusts."""
    return path_reads(MIGRATION_PUBLIC_KEY, HOST_KEY)


def status(c: Cluster) -> dict[str, tuple]:
    """What tasks/status.py reads on each node, by the name the report
    (twonode/report.py) gives it."""
    return {
        "drbd": key(DrbdResources),
        "events": key(DrbdEvents, path=EVENTS_FILE),
        "verify": key(VerifyResults, path=VERIFY_RESULTS),
        "fence_check": key(FenceChecked, path=FENCE_CHECKED),
        "o2cb": o2cb_stack(c),
        "mounts": key(LinuxMounts),
        "exports": key(NfsExports),
        "nfs_server": key(NfsServer),
        "libvirt": key(Virsh, **virsh_names(c)),
        "vms": key(VirshDomains, **vm_domains(c)),
    }


def check(c: Cluster, node: Node, peer_in_run: bool) -> dict[str, tuple]:
    """The preflight's reads on ``node`` (tasks/check.py), by name: the
    peer's cluster ports are tried only when the peer is in the run."""
    targets = preflight.peer_targets(c, node, cluster_ports=peer_in_run)
    return {"identity": key(NodeIdentity), "os": key(NodeOsRelease), "network": key(NetworkInterfaces),
            "vgs": key(VolumeGroups), "reach": key(TcpReach, targets=targets)}


def every_task(c: Cluster) -> tuple:
    return tuple(dict.fromkeys(k for area in (fencing, network, storage, drbd, ocfs2, nfs, libvirt) for k in area(c)))
