"""What the nodes serve: NFS exports on the private network, and libvirt's
pools, networks and the keys of remote virt-manager users."""

from __future__ import annotations

import re
from ipaddress import IPv4Interface

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import PATH_COMPONENT, InterfaceName, Mac, MountPoint, Strict


EXPORT_OPTIONS_FLAGS = {
    "rw", "ro", "sync", "async", "secure", "insecure", "wdelay", "no_wdelay",
    "hide", "nohide", "crossmnt", "subtree_check", "no_subtree_check",
    "insecure_locks", "secure_locks", "no_auth_nlm", "auth_nlm", "root_squash",
    "no_root_squash", "all_squash", "no_all_squash",
}
#: Each valued option with the pattern its value must match in full.
EXPORT_OPTIONS_VALUED = {
    "anonuid": r"\d+",
    "anongid": r"\d+",
    "fsid": r"\d+|root|[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}",
    "sec": r"[a-z0-9]+(:[a-z0-9]+)*",
    "mountpoint": rf"(/{PATH_COMPONENT})+",
    "mp": rf"(/{PATH_COMPONENT})+",
    "refer": rf"(/{PATH_COMPONENT})+@[A-Za-z0-9.:-]+(\+[A-Za-z0-9.:-]+)*",
    "replicas": rf"(/{PATH_COMPONENT})+@[A-Za-z0-9.:-]+(\+[A-Za-z0-9.:-]+)*",
}


class ExportClient(Strict):
    """Who may mount an export, and how (one /etc/exports entry)."""

    #: A host, an address or a network (e.g. "192.168.1.0/24").
    host: str = Field(pattern=r"^[A-Za-z0-9*?.:/_-]+$")
    #: exports(5) options, e.g. ["rw", "sync", "no_subtree_check"].
    options: list[str]

    @field_validator("options")
    @classmethod
    def _known_options(cls, options: list[str]) -> list[str]:
        for option in options:
            key, _, value = option.partition("=")
            if option in EXPORT_OPTIONS_FLAGS:
                continue
            if key in EXPORT_OPTIONS_VALUED and _:
                if re.fullmatch(EXPORT_OPTIONS_VALUED[key], value):
                    continue
                raise ValueError(
                    f"{option!r} is not an exports(5) option: the value of {key} must match "
                    f"{EXPORT_OPTIONS_VALUED[key]} (nothing else may reach /etc/exports)"
                )
            raise ValueError(
                f"{option!r} is not an exports(5) option: use e.g. rw, ro, sync, "
                "no_root_squash, no_subtree_check, fsid=N"
            )
        if "rw" in options and "ro" in options:
            raise ValueError("both 'rw' and 'ro' given: keep one")
        return options


class Export(Strict):
    """A directory exported over NFS."""

    #: The directory, on a replicated volume (in mode single, only there).
    path: MountPoint
    #: At least one.
    clients: list[ExportClient] = Field(min_length=1)


class Nfs(Strict):
    """NFS for the VMs on the private network, at one server address.

    ``mode "single"`` (the default): one node serves at a time, the other
    stands by. The private network is one network across both nodes (a
    VXLAN over the cluster network joins their bridges), the node that holds
    a cluster-wide lock holds the server address and runs the exports, and
    the NFS state (the NFSv4 client records, statd's list of NFSv3 clients)
    lives on a replicated volume: after a move or a fence the other node
    serves the same server, and the clients reclaim their locks.

    ``mode "per_node"``: the seed procedure's design. Each node serves its
    own VMs at the same address on a bridge of its own. Locks are per node
    in this mode: a lock taken through one node's server is not seen by the
    other's (OCFS2 with o2cb keeps POSIX locks per node).

    In both modes NFSv4 delegations are off (``fs.leases-enable = 0``): the
    volumes are also written on the nodes themselves, and a write on one
    node does not recall a delegation handed out on the other, so a client
    would read stale data.
    """

    #: The server's address and prefix on the private network, e.g. 192.168.10.1/24.
    server_address: IPv4Interface
    #: The exports, as /etc/exports says them.
    exports: list[Export] = []
    #: "single" or "per_node": see above.
    mode: Literal["single", "per_node"] = "single"
    #: mode single: the replicated volume (by name) that holds the server's
    #: lock and NFS state (in ``.twonode-nfs`` at its root); default: the
    #: volume of the first export on a replicated volume.
    state_volume: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    #: mode single: NFSv4's lease and grace periods, in seconds. After a
    #: move the clients reclaim their state within the grace period, and
    #: new locks wait for its end (it ends early once every known client
    #: has reclaimed). Shorter means a shorter pause after a move; the lease
    #: is how long a client may stay silent, so it must exceed the clients'
    #: longest stall (a VM paused by a live migration).
    lease_time: int = Field(30, ge=10, le=3600)
    grace_time: int = Field(30, ge=10, le=3600)
    #: mode single: the VXLAN that joins the nodes' private bridges over
    #: the cluster network (its UDP port must be open between the nodes).
    vxlan_id: int = Field(4210, ge=1, le=16777215)
    vxlan_port: int = Field(4789, ge=1, le=65535)

    @model_validator(mode="after")
    def _grace_covers_lease(self) -> "Nfs":
        if self.grace_time < self.lease_time:
            raise ValueError(
                f"grace_time {self.grace_time} is shorter than lease_time {self.lease_time}: a client "
                "renews within one lease, so the grace period must last at least that long for every "
                "client to reclaim; raise grace_time or lower lease_time"
            )
        return self

    def grouped_exports(self) -> list[Export]:
        """One entry per path (a path may be listed several times, as in
        the seed's /etc/exports), clients in the order given."""
        return _merge_exports(self.exports)


def _merge_exports(exports: list[Export]) -> list[Export]:
    merged: dict[str, list[ExportClient]] = {}
    for export in exports:
        merged.setdefault(export.path, []).extend(export.clients)
    return [Export(path=path, clients=clients) for path, clients in merged.items()]


class Pool(Strict):
    """A libvirt directory pool (virsh pool-define-as NAME dir --target TARGET)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    #: Its directory; on a replicated volume, twonode-activate starts it once mounted.
    target: MountPoint
    #: The seed keeps autostart off for pools on shared storage.
    autostart: bool = False


class VirtNetwork(Strict):
    """A libvirt network: a bridge with an address, where the VMs reach NFS."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    #: The bridge's name, e.g. virbr0.
    bridge: InterfaceName
    #: The bridge's MAC (in NFS mode single the second node's is this + 1).
    mac: Mac
    #: The bridge's address and prefix, e.g. 192.168.10.1/24.
    address: IPv4Interface
    #: Spanning tree on the bridge, and its forward delay (libvirt's <bridge stp= delay=>).
    stp: bool = True
    delay: int = Field(0, ge=0)
    #: libvirt starts it at boot.
    autostart: bool = True


class Libvirt(Strict):
    """libvirt on both nodes: the same pools and networks, defined persistent."""

    #: Directory pools, defined the same on both nodes.
    pools: list[Pool] = []
    #: Networks, defined the same on both nodes.
    networks: list[VirtNetwork] = []
    #: The stock ``default`` pool and network are undefined (not only stopped:
    #: the network would keep claiming virbr0).
    remove_default_pool: bool = True
    remove_default_network: bool = True
    #: Public keys allowed to log in as root, for remote virt-manager.
    ssh_authorized_keys: list[str] = []

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            # One line: a newline would smuggle a second key into authorized_keys.
            if not re.fullmatch(r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( [^\x00-\x1f\x7f]*)?", key):
                raise ValueError(
                    f"{key[:40]!r}... is not an OpenSSH public key line: paste the whole "
                    "line of the .pub file, e.g. 'ssh-ed25519 AAAA... user@host'"
                )
        return keys


class Monitoring(Strict):
    """What each node tells existing monitoring: its DRBD and OCFS2 state as
    a Prometheus node_exporter textfile (twonode_drbd_*, twonode_ocfs2_*),
    rewritten by a timer."""

    #: node_exporter's --collector.textfile.directory (Debian's
    #: prometheus-node-exporter reads this one); None: no textfile.
    textfile_directory: MountPoint | None = "/var/lib/prometheus/node-exporter"
    #: Seconds between two refreshes.
    interval: int = Field(60, ge=10, le=3600)
