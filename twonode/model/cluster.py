"""The whole two-node cluster, and the checks that span its parts (names,
addresses, mount points, DRBD minors and ports, exports, libvirt)."""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import Field, field_validator, model_validator

from .base import NodeName, Strict, _duplicates, _invalid, is_under
from .nodes import ClusterNetwork, Fencing, Node
from .o2cb_timing import DEBIAN, DRBD_DETECTION, O2cbTimeouts, least_timeouts, longest_fence
from .services import Libvirt, Monitoring, Nfs, VirtNetwork
from .volumes import Drbd, LocalVolume, O2cb, ReplicatedVolume


class Cluster(Strict):
    """The whole two-node cluster."""

    #: The two servers, exactly two.
    nodes: list[Node]
    #: The LVM volume group on both nodes that holds every volume's LV; it
    #: must exist, with room for them (the deploy never creates one).
    volume_group: str = Field("vg0", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
    #: The dedicated network between the nodes (replication, OCFS2's heartbeat).
    cluster_network: ClusterNetwork
    #: LVs on each node alone, XFS, in fstab.
    local_volumes: list[LocalVolume] = []
    #: LVs on both nodes under dual-primary DRBD, OCFS2 on top, mounted on both.
    replicated_volumes: list[ReplicatedVolume] = []
    #: DRBD settings of every replicated volume.
    drbd: Drbd = Drbd()
    #: The OCFS2 cluster stack.
    o2cb: O2cb = O2cb()
    #: NFS exports for the VMs on the private network; none: no NFS.
    nfs: Nfs | None = None
    #: libvirt's pools, networks and remote access.
    libvirt: Libvirt = Libvirt()
    #: The Prometheus textfile each node writes.
    monitoring: Monitoring = Monitoring()
    #: The node that runs the one-node-only actions (new-current-uuid,
    #: mkfs.ocfs2) when both are new; the first node when omitted.
    first_node: NodeName | None = None
    #: Required with replicated volumes: {"mode": "power"} with a BMC per
    #: node, or {"mode": "none"} to run without fencing knowingly.
    fencing: Fencing | None = None

    def export_guards(self) -> dict[str, str]:
        """Each export under a replicated volume, with that volume's mount
        point: exported with `mp=` (twonode-activate mounts it late)."""
        exports = self.nfs.grouped_exports() if self.nfs else []
        return {e.path: v.mount_point for e in exports for v in self.replicated_volumes
                if is_under(e.path, v.mount_point)}

    def replicated_volume_of(self, path: str) -> "ReplicatedVolume | None":
        """The replicated volume ``path`` lies on (None: a local path)."""
        return next((v for v in self.replicated_volumes if is_under(path, v.mount_point)), None)

    def nfs_writes_to(self, vol: "ReplicatedVolume") -> bool:
        """The NFS server writes to ``vol``, in either mode: its clients'
        files (an export lies on it) or, with nfs.mode "single", its own
        state and lock."""
        if self.nfs is None:
            return False
        return vol == self.nfs_state_volume() or any(
            self.replicated_volume_of(e.path) == vol for e in self.nfs.exports)

    def mount_options_of(self, vol: "ReplicatedVolume") -> str:
        """``vol``'s OCFS2 mount options as fstab and the live mount carry
        them: its ``mount_options``, with ``sync`` where NFS writes to it.

        An NFS client's fsync (or O_SYNC write) reaches the server as a
        stable WRITE, which nfsd acknowledges after asking the file system
        to write synchronously (RWF_SYNC); OCFS2 ignores that request for a
        buffered write and honours only the mount's ``sync`` (or an fsync).
        Without it, a write the server acknowledged as stable waits in its
        journal for the next commit (``commit=60``: up to a minute), and a
        power loss of the serving node loses it, seen on the lab. ``sync``
        makes every write to the volume commit before it returns, which is
        what a client that asks for stable writes pays for anyway."""
        options = vol.mount_options.split(",")
        if self.nfs_writes_to(vol) and "sync" not in options:
            options.append("sync")
        return ",".join(options)

    @property
    def fences(self) -> bool:
        return self.fencing is not None and self.fencing.mode == "power"

    @property
    def longest_fence(self) -> int | None:
        """Seconds from first_node's loss until its peer's fence has landed
        (None: no fencing)."""
        return longest_fence(self.fencing.race_delay, self.fencing.agent_time) if self.fences else None

    @property
    def least_o2cb_timeouts(self) -> O2cbTimeouts:
        """The shortest o2cb timeouts under which the longest fence takes
        down only the lost node; Debian's where no fence runs."""
        fence = self.longest_fence
        return DEBIAN if fence is None else least_timeouts(fence)

    @property
    def o2cb_timeouts(self) -> O2cbTimeouts:
        """What both nodes run o2cb with: group_data's, else the least."""
        least = self.least_o2cb_timeouts
        return O2cbTimeouts(self.o2cb.dead_threshold or least.dead_threshold,
                            self.o2cb.idle_timeout_ms or least.idle_timeout_ms)

    @field_validator("nodes")
    @classmethod
    def _two_nodes(cls, nodes: list[Node]) -> list[Node]:
        if len(nodes) != 2:
            raise ValueError(
                f"{len(nodes)} node(s) given: a twonode cluster has exactly two nodes; "
                "list both, each with name, ssh_host and cluster_address"
            )
        return nodes

    @model_validator(mode="after")
    def _consistent(self) -> "Cluster":
        # Every problem is collected with the field it is about, then all are
        # reported at once.
        problems: list[tuple[tuple, str]] = []
        names = [n.name for n in self.nodes]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append((("nodes", i, "name"), f"name {name!r} is used twice: give each node its own host name"))
        net = self.cluster_network
        for i, node in enumerate(self.nodes):
            if node.cluster_address not in net.network:
                problems.append((("nodes", i, "cluster_address"),
                    f"{node.cluster_address} is outside cluster_network.network {net.network}: "
                    "use an address in that network or fix the network"))
            elif node.cluster_address in (net.network.network_address, net.network.broadcast_address):
                problems.append((("nodes", i, "cluster_address"),
                    f"{node.cluster_address} is the network or broadcast address of {net.network}: "
                    "use a host address"))
            if node.nics and net.interface not in node.nics:
                problems.append((("nodes", i, "nics"),
                    f"no MAC for the cluster interface {net.interface!r} (cluster_network.interface): "
                    f"add \"{net.interface}\": \"<mac>\" to pin its name"))
            if _duplicates(node.nics.values()):
                problems.append((("nodes", i, "nics"), "a MAC is given for two names: one name per NIC"))
        if self.nodes[0].cluster_address == self.nodes[1].cluster_address:
            problems.append((("nodes", 1, "cluster_address"),
                             "both nodes have the same cluster address: give each its own"))
        if self.first_node is not None and self.first_node not in names:
            problems.append((("first_node",), f"{self.first_node!r} is not a node name: use one of {names}"))
        if self.replicated_volumes and self.fencing is None:
            problems.append((("fencing",), (
                "dual-primary DRBD under OCFS2 without fencing can split the data when the cluster link "
                "fails, and LINBIT does not support it: describe each node's BMC (nodes.N.bmc) and set "
                "fencing = {'mode': 'power'}, or run without it knowingly: fencing = {'mode': 'none'} "
                "(docs/concepts.md, 'Fencing')")))
        if self.fences:
            for i, node in enumerate(self.nodes):
                if node.bmc is None:
                    problems.append((("nodes", i, "bmc"), (
                        f"fencing mode 'power' needs {node.name}'s BMC, through which its peer powers it "
                        "off: add \"bmc\": {\"address\": ..., \"username\": ...}")))
        problems += self._check_o2cb_timeouts()
        for name in ("fence-peer", "unfence-peer", "after-resync-target"):
            if name in self.drbd.handlers:
                problems.append((("drbd", "handlers", name), (
                    f"the {name} handler is twonode's own (fencing): remove it from drbd.handlers")))

        volumes = [("local_volumes", i, v) for i, v in enumerate(self.local_volumes)] + [
            ("replicated_volumes", i, v) for i, v in enumerate(self.replicated_volumes)
        ]
        seen_names: set[str] = set()
        seen_mounts: set[str] = set()
        for field, i, vol in volumes:
            if vol.name in seen_names:
                problems.append(((field, i, "name"),
                    f"volume name {vol.name!r} is used twice (local_volumes and replicated_volumes "
                    "share one LV namespace in the volume group): rename one"))
            seen_names.add(vol.name)
            if vol.mount_point in seen_mounts:
                problems.append(((field, i, "mount_point"),
                    f"mount_point {vol.mount_point!r} is used by two volumes: give each volume its own"))
            seen_mounts.add(vol.mount_point)
        mounts = [v.mount_point for _, _, v in volumes]
        for field, i, vol in volumes:
            outer = [m for m in mounts if PurePosixPath(m) in PurePosixPath(vol.mount_point).parents]
            if outer:
                problems.append(((field, i, "mount_point"),
                    f"mount_point {vol.mount_point!r} lies inside {outer[0]!r}: nested volume mounts "
                    "depend on mount order at boot; mount them side by side"))
        problems += self._check_minors_and_ports()
        problems += self._check_exports(mounts)
        for i, vol in enumerate(self.replicated_volumes):
            if "async" in vol.mount_options.split(",") and self.nfs_writes_to(vol):
                problems.append((("replicated_volumes", i, "mount_options"),
                    f"'async' on {vol.mount_point}, which NFS writes to: a write the server acknowledged "
                    "as stable would be lost with the serving node's power (twonode mounts such a volume "
                    "'sync'): remove 'async'"))
        problems += self._check_libvirt()
        if problems:
            raise _invalid(problems)
        return self

    def _check_o2cb_timeouts(self) -> list[tuple[tuple, str]]:
        fence, least = self.longest_fence, self.least_o2cb_timeouts
        if fence is None:
            return []
        why = (f"when first_node is lost, its peer holds every write for up to {fence} s (DRBD's "
               f"detection {DRBD_DETECTION} s, fencing.race_delay {self.fencing.race_delay} s, fencing.agent_time "
               f"{self.fencing.agent_time} s) before its fence lands")
        problems = []
        if self.o2cb.dead_threshold is not None and self.o2cb.dead_threshold < least.dead_threshold:
            problems.append((("o2cb", "dead_threshold"), (
                f"{self.o2cb.dead_threshold} is too low: {why}, and o2cb fences a node whose own heartbeat "
                f"write hangs (dead_threshold - 1) x 2 s. Use at least {least.dead_threshold}, or omit it "
                "(docs/concepts.md, 'Fencing')")))
        if self.o2cb.idle_timeout_ms is not None and self.o2cb.idle_timeout_ms < least.idle_timeout_ms:
            problems.append((("o2cb", "idle_timeout_ms"), (
                f"{self.o2cb.idle_timeout_ms} is too low: {why}, and o2cb's quorum restarts first_node's "
                f"peer unless the fence lands within about idle_timeout_ms of the loss. Use at least "
                f"{least.idle_timeout_ms}, or omit it (docs/concepts.md, 'Fencing')")))
        return problems

    def _check_minors_and_ports(self) -> list[tuple[tuple, str]]:
        problems = []
        vols = self.replicated_volumes
        seen_minors: set[int] = set()
        seen_ports: set[int] = set()
        for i, vol in enumerate(vols):
            if vol.minor is not None:
                if vol.minor in seen_minors:
                    problems.append((("replicated_volumes", i, "minor"),
                        f"DRBD minor {vol.minor} is used twice: give each volume its own minor"))
                seen_minors.add(vol.minor)
            if vol.port is not None:
                if vol.port in seen_ports:
                    problems.append((("replicated_volumes", i, "port"),
                        f"DRBD port {vol.port} is used twice: give each volume its own port"))
                elif vol.port == self.o2cb.port:
                    problems.append((("replicated_volumes", i, "port"),
                        f"DRBD port {vol.port} is o2cb.port (the OCFS2 heartbeat): pick another port"))
                seen_ports.add(vol.port)
        missing = [(i, vol) for i, vol in enumerate(vols) if vol.minor is None or vol.port is None]
        if missing:
            suggested = self._positional_minors_and_ports()
            for i, vol in missing:
                minor, port = suggested[i]
                field = "minor" if vol.minor is None else "port"
                values = (f"\"minor\": {minor}, \"port\": {port}" if port <= 65535 else
                          f"\"minor\": {minor} and a free port of your choice")
                problems.append((("replicated_volumes", i, field),
                    f"required: a replicated volume's DRBD minor and port are its identity (/dev/drbdN, the "
                    "replication link) and never change while it exists, so they are stated, not taken from "
                    f"its place in the list. Write {values} (what twonode assigned it by position before, "
                    "or the next free ones for a new volume)"))
        return problems

    def _positional_minors_and_ports(self) -> list[tuple[int, int]]:
        """What earlier versions assigned by position (the n-th volume
        without a minor got the n-th free minor, port base_port + minor
        unless taken): the values a live cluster uses, for the message
        that asks for them to be stated."""
        vols = self.replicated_volumes
        taken_minors = [v.minor for v in vols if v.minor is not None]
        taken_ports = [v.port for v in vols if v.port is not None]
        result, next_minor = [], 0
        for vol in vols:
            minor = vol.minor
            if minor is None:
                while next_minor in taken_minors:
                    next_minor += 1
                minor = next_minor
                taken_minors.append(minor)
            port = vol.port
            if port is None:
                port = self.drbd.base_port + minor
                while port in taken_ports or port == self.o2cb.port:
                    port += 1
                taken_ports.append(port)
            result.append((minor, port))
        return result

    def _check_exports(self, mounts: list[str]) -> list[tuple[tuple, str]]:
        if self.nfs is None:
            return []
        problems = []
        for i, export in enumerate(self.nfs.exports):
            path = PurePosixPath(export.path)
            if not any(path == PurePosixPath(m) or PurePosixPath(m) in path.parents for m in mounts):
                problems.append((("nfs", "exports", i, "path"),
                    f"{export.path!r} is not under a configured volume mount "
                    f"({', '.join(mounts) or 'none'}): export a path inside a volume"))
        if self.private_network() is None:
            problems.append((("nfs", "server_address"),
                f"{self.nfs.server_address} is not the address of any libvirt.networks entry: "
                "the private storage network is a libvirt bridge whose address is the NFS server's; "
                "add one (or fix the address)"))
        problems += self._check_nested_exports()
        if self.nfs.mode == "single":
            problems += self._check_single_server()
        return problems

    def _check_nested_exports(self) -> list[tuple[tuple, str]]:
        """Two exports of one file system, one inside the other, that give
        one client rw on one and ro on the other: NFS tells exports of one
        file system apart by path only at mount time (an NFSv4 client that
        mounts the inner one got the outer one's ro, seen on the lab)."""
        problems = []
        exports = self.nfs.grouped_exports()
        for inner in exports:
            for outer in exports:
                if outer.path == inner.path or not is_under(inner.path, outer.path):
                    continue
                if self._file_system_of(inner.path) != self._file_system_of(outer.path):
                    continue
                outer_modes = {c.host: ("ro" if "ro" in c.options else "rw") for c in outer.clients}
                for client in inner.clients:
                    mode = "ro" if "ro" in client.options else "rw"
                    if outer_modes.get(client.host, mode) != mode:
                        index = next(i for i, e in enumerate(self.nfs.exports)
                                     if e.path == inner.path and client in e.clients)
                        problems.append((("nfs", "exports", index),
                            f"client {client.host} has {mode} on {inner.path} but {outer_modes[client.host]} on "
                            f"{outer.path}, which holds it on the same file system: NFS cannot keep the two "
                            f"apart (an NFSv4 mount of {inner.path} gets {outer.path}'s options). Give "
                            f"{client.host} the same access on both, or drop one of the two entries"))
        return problems

    def _file_system_of(self, path: str) -> str | None:
        """The mount point of the volume ``path`` lies on."""
        mounts = [v.mount_point for v in (*self.replicated_volumes, *self.local_volumes) if is_under(path, v.mount_point)]
        return max(mounts, key=len, default=None)

    def _check_single_server(self) -> list[tuple[tuple, str]]:
        problems = []
        for i, export in enumerate(self.nfs.exports):
            if self.replicated_volume_of(export.path) is None:
                problems.append((("nfs", "exports", i, "path"),
                    f"{export.path!r} is on a local volume: with nfs.mode \"single\" one node serves "
                    "every export and the other takes over, so each export must be on a replicated "
                    "volume; move it, or set nfs.mode to \"per_node\""))
        names = [v.name for v in self.replicated_volumes]
        if self.nfs.state_volume is not None and self.nfs.state_volume not in names:
            problems.append((("nfs", "state_volume"),
                f"{self.nfs.state_volume!r} is not a replicated volume ({', '.join(names) or 'none'}): "
                "name the replicated volume that keeps the NFS server's state"))
        elif self.nfs.exports and self.nfs_state_volume() is None and not problems:
            problems.append((("nfs", "state_volume"),
                "no replicated volume to keep the NFS server's state on: add one, or set nfs.mode to \"per_node\""))
        network = self.private_network()
        if network is not None and self.cluster_network.mtu - 50 < 1280:
            problems.append((("cluster_network", "mtu"),
                f"{self.cluster_network.mtu} leaves the private network {self.cluster_network.mtu - 50} bytes "
                "inside the VXLAN: at least 1330 is needed"))
        return problems

    def private_network(self) -> "VirtNetwork | None":
        """The libvirt network that carries the NFS server address."""
        if self.nfs is None:
            return None
        return next((n for n in self.libvirt.networks if n.address == self.nfs.server_address), None)

    @property
    def nfs_single(self) -> bool:
        """One NFS server for both nodes (nfs.mode "single")."""
        return self.nfs is not None and self.nfs.mode == "single"

    def nfs_state_volume(self) -> "ReplicatedVolume | None":
        """mode single: the replicated volume holding the server's lock and state."""
        if not self.nfs_single:
            return None
        if self.nfs.state_volume is not None:
            return next((v for v in self.replicated_volumes if v.name == self.nfs.state_volume), None)
        return next((v for e in self.nfs.exports if (v := self.replicated_volume_of(e.path)) is not None), None)

    def bridge_mac(self, network: "VirtNetwork", node: str) -> str:
        """The MAC of ``network``'s bridge on ``node``. In mode single the
        two bridges are one network, and two bridges with one MAC would each
        take the other's frames for their own: the second node's is the
        configured MAC plus one."""
        if not self.nfs_single or network != self.private_network() or node == self.nodes[0].name:
            return network.mac
        octets = network.mac.split(":")
        octets[-1] = f"{(int(octets[-1], 16) + 1) % 256:02x}"
        return ":".join(octets)

    @property
    def nfs_scope(self) -> str:
        """The NFSv4 server scope both nodes give: one server to a client, so
        that it reclaims its state from whichever node serves after a move."""
        return f"twonode-{self.o2cb.cluster_name}"

    @property
    def private_mtu(self) -> int:
        """The private bridges' MTU in mode single: the cluster link's, less the VXLAN headers."""
        return self.cluster_network.mtu - 50

    def _check_libvirt(self) -> list[tuple[tuple, str]]:
        problems = []
        for field, items in (("pools", self.libvirt.pools), ("networks", self.libvirt.networks)):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.name in seen:
                    problems.append((("libvirt", field, i, "name"),
                                     f"name {item.name!r} is used twice: give each its own name"))
                seen.add(item.name)
        seen_bridges: set[str] = set()
        cluster_net = self.cluster_network.network
        for i, vnet in enumerate(self.libvirt.networks):
            if vnet.bridge in seen_bridges:
                problems.append((("libvirt", "networks", i, "bridge"),
                    f"bridge {vnet.bridge!r} is used twice: give each network its own bridge"))
            seen_bridges.add(vnet.bridge)
            if vnet.address.network.overlaps(cluster_net):
                problems.append((("libvirt", "networks", i, "address"),
                    f"{vnet.address} overlaps the cluster network {cluster_net}: "
                    "use a separate private network"))
        return problems

    # Convenience lookups used by the tasks.
    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"{name!r} is not a node of this cluster ({[n.name for n in self.nodes]})")

    def peer(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name != self.node(name).name)

    @property
    def first(self) -> str:
        return self.first_node or self.nodes[0].name
