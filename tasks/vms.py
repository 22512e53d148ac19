"""Empty a node of its running VMs for maintenance, by live migration to
its peer; the reverse direction fills it again.

    pyinfra inventory.py tasks/vms.py --data empty=fiori            # every running VM to torchio
    pyinfra inventory.py tasks/vms.py --data empty=fiori --data vm=web1   # that one only
    pyinfra inventory.py tasks/vms.py --data empty=torchio          # and back

Nothing moves unless all of it can (twonode/vms.py): the peer reachable
and on the same Debian release or a newer one, every replicated volume Connected, Primary/Primary and UpToDate on both
nodes and mounted on the peer, the peer's VM leases installed, and every
VM to move with its disks on the replicated volumes only. Otherwise the
run stops before any operation, saying why. Each VM moves in an operation
of its own (pyinfra shows each as it ends), with its definition; a second
run finds nothing to move. With NFS in mode single, a node emptied of its
VMs hands the NFS server to its peer too (after the VMs), so that the node
can go down for maintenance without a takeover.
"""

import shlex

from pyinfra import host, logger
from pyinfra.operations import server

from facts.blockdev import LinuxMounts
from facts.drbd import DrbdResources
from facts.libvirt import VirshDomains
from facts.nfs import NfsServer
from twonode import paths, reads
from twonode.context import DeployStopped, cluster, host_of, presence_of, this_node
from twonode.install import node_release
from twonode.reads import path_state
from twonode.sides import Presence
from twonode.snapshot import fact, prefetch
from twonode.vms import MIGRATION_COMMAND_SECONDS, peer_problems, plan_moves, release_problem

AREA = "vms"
c = cluster()
names = [n.name for n in c.nodes]
empty = host.data.get("empty")
if empty not in names:
    raise DeployStopped(f"name the node to empty: --data empty=<{'|'.join(names)}> (got {empty!r}). Nothing moved.")
only = host.data.get("vm")
if only is not None and not isinstance(only, str):
    raise DeployStopped(f"--data vm= names one VM (got {only!r}). Nothing moved.")

me = this_node()
if me.name == empty:
    peer = c.peer(me.name)
    peer_host = host_of(peer.name) if presence_of(peer.name) is Presence.ACTIVE else None
    vms = reads.vm_domains(c)
    prefetch(*reads.vms(c))
    if peer_host is not None:
        prefetch(*reads.vms_peer(c), on=peer_host)
    here = fact(VirshDomains, **vms).domains
    there = fact(VirshDomains, on=peer_host, **vms).domains if peer_host else {}
    moves, problems = plan_moves(c, me.name, peer.name, here, there, only)
    if moves:
        problems = peer_problems(
            c, peer.name, peer_host is not None,
            {me.name: fact(DrbdResources), **({peer.name: fact(DrbdResources, on=peer_host)} if peer_host else {})},
            fact(LinuxMounts, on=peer_host) if peer_host else {},
            peer_host is not None and path_state(paths.QEMU_HOOK, on=peer_host) is not None,
            peer_host and release_problem(me.name, node_release(), peer.name, node_release(peer_host)),
        ) + problems
    if problems:
        raise DeployStopped(f"{me.name}: nothing moved to {peer.name}:\n  " + "\n  ".join(problems))
    if not moves:
        logger.info(f"{me.name}: no running VM{f' {only}' if only else ''} to move: nothing to do")
    for move in moves:
        server.shell(name=f"{AREA}: move {move.vm} live from {move.source} to {move.destination}",
                     commands=[move.command(c.cluster_network.hosts_suffix)], _timeout=MIGRATION_COMMAND_SECONDS)
    if c.nfs_single and only is None and fact(NfsServer).serving:
        if peer_host is None:
            raise DeployStopped(f"{me.name} serves NFS and {peer.name} is not in this run: nothing moved")
        # The state volume's record of who serves: readable here, written by
        # the peer's twonode-nfs once it has taken over.
        record = shlex.quote(f"{paths.nfs_state_dir(c.nfs_state_volume().mount_point)}/server")
        server.shell(name=f"{AREA}: the NFS server from {me.name} to {peer.name}",
                     commands=[f"{paths.NFS_SERVER} move && for i in $(seq 180); do "
                               f"read -r node _ < {record} && [ \"$node\" = {peer.name} ] && exit 0; sleep 1; done; "
                               f"echo '{peer.name} did not take the NFS server over: journalctl -u twonode-nfs' >&2; "
                               "exit 1"])
