"""Emptying a node of its running VMs by live migration (tasks/vms.py): what
moves, and why nothing may, decided by pure functions over facts of both
nodes, before anything moves.

A move is libvirt's own ``virsh migrate --live --persistent
--undefinesource``, over the SSH and host keys the deploy set up
(twonode/migration.py): the definition goes with the VM, and the VM's disk
leases follow it (templates/libvirt/qemu-hook.sh).
"""

from __future__ import annotations

from dataclasses import dataclass
from shlex import quote

from facts.drbd_state import DrbdState
from facts.libvirt import Domain
from .model import Cluster
from .releases import Release


#: Seconds a VM may stay in the live phase of its move. A VM that dirties
#: memory faster than the link copies it never converges: libvirt first
#: slows its vCPUs (--auto-converge), and past this it pauses the VM so that
#: the last pages are copied (--timeout-suspend; the VM runs again on the
#: destination). Without a bound one busy VM held the run that empties a
#: node forever.
MIGRATION_LIVE_SECONDS = 300
#: The whole move, pause and copy included: past it the command (and the
#: run) fails, and the VM keeps running where libvirt left it.
MIGRATION_COMMAND_SECONDS = 900


@dataclass(frozen=True)
class Move:
    vm: str
    source: str
    destination: str

    def command(self, hosts_suffix: str) -> str:
        return (f"virsh migrate --live --auto-converge --timeout {MIGRATION_LIVE_SECONDS} --timeout-suspend "
                f"--persistent --undefinesource {quote(self.vm)} "
                f"{quote(f'qemu+ssh://{self.destination}{hosts_suffix}/system')}")


def release_problem(node: str, node_release: Release, peer: str, peer_release: Release) -> str | None:
    """Why VMs cannot move from ``node`` to ``peer`` because of their
    releases (a pair half upgraded); None when they can. QEMU migrates a
    VM to a QEMU as new as its own or newer, never back."""
    if int(peer_release.version) >= int(node_release.version):
        return None
    return (f"{node} runs {node_release.name} and {peer} {peer_release.name}: a VM does not move live to an "
            f"older QEMU. While the pair is mixed, VMs move only from the older release to the newer: upgrade "
            f"{peer} too (emptying it onto {node} first)")


def peer_problems(c: Cluster, peer: str, reachable: bool, drbd: dict[str, dict[str, DrbdState]],
                  peer_mounts: dict, peer_has_leases: bool, releases: str | None = None) -> list[str]:
    """Why ``peer`` cannot take VMs now; none when it can. ``drbd``: each
    node's DRBD states by resource; ``releases``: release_problem()'s."""
    if not reachable:
        return [f"{peer} cannot be reached"]
    problems = [releases] if releases else []
    for vol in c.replicated_volumes:
        for node in c.nodes:
            st = drbd.get(node.name, {}).get(vol.resource)
            if st is None:
                problems.append(f"{vol.resource} is down on {node.name}")
            elif not st.is_converged:
                problems.append(f"{vol.resource} on {node.name} is {st.connection} {st.role}/{st.peer_role} "
                                f"{st.disk}/{st.peer_disk}, not Connected Primary/Primary UpToDate/UpToDate")
        mount = peer_mounts.get(vol.mount_point)
        if not mount or mount.get("type") != "ocfs2":
            problems.append(f"{vol.mount_point} is not mounted on {peer}")
    if not peer_has_leases:
        problems.append(f"{peer} has no VM leases (the deploy's libvirt task installs them)")
    return problems


def plan_moves(c: Cluster, node: str, peer: str, here: dict[str, Domain], there: dict[str, Domain],
               only: str | None = None) -> tuple[list[Move], list[str]]:
    """The moves that empty ``node`` (of VM ``only``, if given) onto
    ``peer``, and the problems that forbid all of them: a VM with a disk
    outside the replicated volumes cannot move, and an unknown VM is a
    mistake. A VM that already runs on the peer is no move and no problem
    (a second run changes nothing)."""
    if only is not None:
        if only in there and there[only].is_active and not (only in here and here[only].is_active):
            return [], []
        if only not in here:
            known = sorted(set(here) | set(there))
            return [], [f"there is no VM {only!r} on {node} (VMs on the nodes: {', '.join(known) or 'none'})"]
        candidates = [here[only]] if here[only].is_active else []
    else:
        candidates = [d for d in here.values() if d.is_active]
    problems = []
    for dom in sorted(candidates, key=lambda d: d.name):
        local = [disk for disk in dom.disks if c.replicated_volume_of(disk) is None]
        if local:
            problems.append(f"VM {dom.name} has a disk outside the replicated volumes ({', '.join(local)}): it "
                            f"cannot move; shut it down on {node}, or move its disk to a replicated volume")
        if dom.name in there and there[dom.name].is_active:
            problems.append(f"VM {dom.name} runs on both nodes: see tasks/status.py before anything moves")
    if problems:
        return [], problems
    return [Move(d.name, node, peer) for d in sorted(candidates, key=lambda d: d.name)], []
