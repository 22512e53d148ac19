"""Where things live on the nodes: every remote path twonode writes or
reads, in one place, so that the operation that writes a file and the fact
that reads it back cannot drift apart. The scripts under templates/ carry
their own defaults for some of them; tests/test_script_paths.py holds the
two to each other."""

from pathlib import Path

#: The repository on the machine that runs pyinfra: the tasks' templates
#: are found from here, wherever pyinfra is started.
REPOSITORY = Path(__file__).resolve().parents[1]
TEMPLATES = REPOSITORY / "templates"

# --- the cluster network (tasks/network.py) --------------------------------
UDEV_RULES = "/etc/udev/rules.d/70-persistent-net.rules"
INTERFACES = "/etc/network/interfaces"
ETC_HOSTS = "/etc/hosts"


def cluster_interface_file(interface: str) -> str:
    return f"/etc/network/interfaces.d/twonode-{interface}"


# --- local and replicated volumes (tasks/storage.py, tasks/drbd.py) --------
FSTAB = "/etc/fstab"


def lv_path(volume_group: str, name: str) -> str:
    """A volume's LV as udev names it."""
    return f"/dev/{volume_group}/{name}"


def mapper_device(volume_group: str, name: str) -> str:
    """The same LV by its device-mapper name: what a local volume's fstab
    line mounts (as the seed writes it)."""
    return f"/dev/mapper/{volume_group}-{name}"


def drbd_device(name: str) -> str:
    """A replicated volume's DRBD device (udev's link to /dev/drbdN)."""
    return f"/dev/drbd_{name}"


def resource_file(resource: str) -> str:
    return f"/etc/drbd.d/{resource}.res"


#: templates/drbd/before-resync-target.sh: the seed's handler, demoting a
#: Primary only.
BEFORE_RESYNC_TARGET = "/usr/local/lib/twonode/drbd-before-resync-target"
#: templates/drbd/drbd-event.sh: events to the journal and a state file.
DRBD_EVENT = "/usr/local/lib/twonode/drbd-event"
#: Where DRBD_EVENT records DRBD's events on a node (facts/drbd.DrbdEvents reads it).
EVENTS_FILE = "/var/lib/twonode/events"
#: templates/drbd/fence-peer.sh, with fencing mode "power".
FENCE_PEER = "/usr/local/lib/twonode/drbd-fence-peer"
#: templates/drbd/bmc-system-uuid.py: the UUID a Redfish BMC reports for the
#: system it fences, which FENCE_PEER check compares with the peer's own.
BMC_SYSTEM_UUID = "/usr/local/lib/twonode/bmc-system-uuid"
FENCE_DIR = "/etc/twonode/fence"
#: Root only (0700): a file holding a secret is uploaded here, then moved into place.
SECRET_STAGING = "/etc/twonode/staging"
#: The peer's agent options, password included (0600 in a 0700 directory).
FENCE_OPTIONS = f"{FENCE_DIR}/peer-options"
#: Which agent, which peer, how long to wait first: nothing secret.
FENCE_CONF = f"{FENCE_DIR}/handler.conf"
#: The certificates the peer's BMC must present one of (its bmc.ca_file), when pinned.
FENCE_CA = f"{FENCE_DIR}/bmc-ca.pem"
#: The last answer of the peer's BMC to the agent's status (FENCE_PEER check):
#: "EPOCH on|off|failed|not-peer LAST_ON_EPOCH".
FENCE_CHECKED = "/var/lib/twonode/fence-check"
#: New fencing settings, checked against the peer's BMC before they replace FENCE_DIR's.
FENCE_NEW_DIR = "/etc/twonode/fence.new"
FENCE_CHECK_SERVICE = "/etc/systemd/system/twonode-fence-check.service"
FENCE_CHECK_TIMER = "/etc/systemd/system/twonode-fence-check.timer"
#: templates/drbd/verify.sh: online verify of each resource, one after the
#: other, run by twonode-verify.service (its timer on first_node only).
DRBD_VERIFY = "/usr/local/lib/twonode/drbd-verify"
VERIFY_SERVICE = "/etc/systemd/system/twonode-verify.service"
VERIFY_TIMER = "/etc/systemd/system/twonode-verify.timer"
#: Where DRBD_VERIFY records each resource's result (facts/drbd_events.VerifyResults).
VERIFY_RESULTS = "/var/lib/twonode/verify"
#: templates/drbd/metrics.sh: the Prometheus textfile, by twonode-metrics.timer.
METRICS = "/usr/local/lib/twonode/metrics"
METRICS_SERVICE = "/etc/systemd/system/twonode-metrics.service"
METRICS_TIMER = "/etc/systemd/system/twonode-metrics.timer"

# --- OCFS2 and boot activation (tasks/ocfs2.py) -----------------------------
O2CB_CLUSTER_CONF = "/etc/ocfs2/cluster.conf"
O2CB_DEFAULTS = "/etc/default/o2cb"
DRBD_AFTER_OCFS2 = "/etc/systemd/system/drbd.service.d/twonode-ocfs2.conf"
#: templates/ocfs2/twonode-activate.*
ACTIVATE = "/usr/local/lib/twonode/activate"
ACTIVATE_UNIT = "/etc/systemd/system/twonode-activate.service"
ACTIVATE_VOLUMES = "/etc/twonode/volumes"
OCFS2_SYSCTL = "/etc/sysctl.d/90-twonode-ocfs2.conf"

# --- NFS (tasks/nfs.py) -----------------------------------------------------
NFS_SERVER_DROPIN = "/etc/systemd/system/nfs-server.service.d/twonode.conf"
#: Where rpc.nfsd reads no scope from nfs.conf (twonode/releases.py).
NFS_SCOPE_DROPIN = "/etc/systemd/system/nfs-server.service.d/twonode-scope.conf"
#: Ours; /etc/exports stays the admin's (exports(5) reads both).
EXPORTS = "/etc/exports.d/twonode.exports"
EXPORTS_DIR = "/etc/exports.d"
ADMIN_EXPORTS = "/etc/exports"
#: Delegations off (twonode/model/services.py, Nfs).
NFS_SYSCTL = "/etc/sysctl.d/90-twonode-nfs.conf"
#: The server scope and NFSv4 lease and grace periods (nfs.conf(5) reads nfs.conf.d).
NFS_CONF_DIR = "/etc/nfs.conf.d"
NFS_CONF = f"{NFS_CONF_DIR}/twonode.conf"
#: mode single: the holder of the server's lock (templates/nfs/nfs-server.sh).
NFS_SERVER = "/usr/local/lib/twonode/nfs-server"
NFS_SERVER_CONF = "/etc/twonode/nfs-server.conf"
NFS_UNIT = "/etc/systemd/system/twonode-nfs.service"


def nfs_state_dir(mount_point: str) -> str:
    """mode single: the server's lock and NFS state on the state volume."""
    return f"{mount_point}/.twonode-nfs"

# --- libvirt, VM leases and live migration (tasks/libvirt.py) ---------------
AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"


def network_xml(name: str) -> str:
    return f"/etc/twonode/libvirt/network-{name}.xml"


#: A VM on one node at a time (templates/libvirt/qemu-hook.sh). In qemu.d
#: (libvirt 6.5 and later), beside an admin's own /etc/libvirt/hooks/qemu.
QEMU_HOOK = "/etc/libvirt/hooks/qemu.d/twonode-vm-leases"
LEASE_HOLDER = "/usr/local/lib/twonode/vm-lease-holder"
LEASES_CONF = "/etc/twonode/vm-leases.conf"
#: The node's own key for migrations (its .pub beside it).
MIGRATION_KEY = "/root/.ssh/twonode-migration"
MIGRATION_PUBLIC_KEY = MIGRATION_KEY + ".pub"
#: The peer's host key is read from here (openssh-server makes it at install).
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
#: Pinned host keys: ssh reads this file for every user, beside ~/.ssh/known_hosts.
KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
#: How root reaches the peer for a migration (Debian's ssh_config includes it).
MIGRATION_SSH_CONFIG = "/etc/ssh/ssh_config.d/twonode-migration.conf"
QEMU_CONF = "/etc/libvirt/qemu.conf"
#: What libvirt-guests does with the running VMs at a node's shutdown and boot.
LIBVIRT_GUESTS_DEFAULTS = "/etc/default/libvirt-guests"
#: NFS mode single: the VXLAN that joins the private bridges
#: (templates/libvirt/private-link.sh), a network hook beside the admin's.
PRIVATE_LINK_HOOK_DIR = "/etc/libvirt/hooks/network.d"
PRIVATE_LINK_HOOK = f"{PRIVATE_LINK_HOOK_DIR}/twonode-private-link"
PRIVATE_LINK_CONF = "/etc/twonode/private-link.conf"


def private_link(vxlan_id: int) -> str:
    """The VXLAN link's name (at most 15 characters: "tnvx" and 8 digits)."""
    return f"tnvx{vxlan_id}"
