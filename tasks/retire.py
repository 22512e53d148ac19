"""Retire a replicated volume that left group_data: unmount it on both
nodes, stop its pools, take its resource down, remove its files.

    pyinfra inventory.py tasks/retire.py --data retire=new

An edit of group_data never tears a volume down (the deploy leaves a
volume it no longer lists up, unmanaged): this task does, for the volume
named on the command line, once group_data no longer lists it, nor an
export or pool on it. The exports follow group_data first (the nfs task);
then, on both nodes, in lockstep: its libvirt pools stopped and undefined,
the unmount, ``drbdadm secondary`` (a Secondary that leaves never makes
its peer call the fence handler), ``drbdadm down``, and the fstab line,
boot activation line and resource file removed. The LV stays, with
everything on it: the run ends with the command that removes it.

Nothing runs if any of it cannot (twonode/retire.py): a node out of
reach, a VM with a disk on the volume, an export of the admin's from it.
"""

from shlex import quote

from pydantic import TypeAdapter, ValidationError
from pyinfra import host, local, logger
from pyinfra.operations import files

from facts.blockdev import LinuxMounts
from facts.drbd import DrbdResources
from facts.libvirt import Virsh, VirshDomains
from twonode import paths, reads
from twonode.area import daemon_reload
from twonode.context import DeployStopped, cluster, host_of, presence_of, this_node
from twonode.model.base import MountPoint, VolumeName
from twonode.ops import step
from twonode.reads import file_lines, path_state
from twonode.retire import RetireSide, fstab_mount_point, retire_problems, under
from twonode.shell import ere_escape
from twonode.sides import Presence
from twonode.snapshot import fact, prefetch

AREA = "retire"
c = cluster()
me = this_node()
try:
    name = TypeAdapter(VolumeName).validate_python(host.data.get("retire"))
except ValidationError as error:
    raise DeployStopped(f"name the volume to retire: --data retire=<name> ({error.errors()[0]['msg']}). "
                        "Nothing was changed.") from None
resource, device = f"drbd_{name}", paths.drbd_device(name)


def side_of(node: str) -> RetireSide:
    if presence_of(node) is not Presence.ACTIVE:
        return RetireSide(node, reachable=False)
    h = host_of(node)
    prefetch(*reads.retire(c, resource), on=h)
    mount_point = fstab_mount_point(file_lines(paths.FSTAB, on=h), device)
    if mount_point is not None:
        try:
            TypeAdapter(MountPoint).validate_python(mount_point)
        except ValidationError:
            raise DeployStopped(f"{node}: fstab mounts {device} on {mount_point!r}, a path this task does not "
                                "handle: retire the volume by hand. Nothing was changed.") from None
    on_it = (lambda path: under(path, mount_point)) if mount_point else (lambda path: False)
    pool_names = tuple(fact(Virsh, on=h).pools)
    pools = fact(Virsh, pools=pool_names, on=h).pools if pool_names else {}
    return RetireSide(
        node,
        configured=path_state(paths.resource_file(resource), on=h) is not None,
        kernel=fact(DrbdResources, on=h).get(resource),
        mount_point=mount_point,
        mounted=mount_point is not None and mount_point in fact(LinuxMounts, on=h),
        pools=tuple(p.name for p in pools.values() if p.target and on_it(p.target)),
        vm_disks=tuple((vm.name, disk) for vm in fact(VirshDomains, on=h).domains.values()
                       for disk in vm.disks if on_it(disk)),
        admin_exports=tuple(text for text in file_lines(paths.ADMIN_EXPORTS, on=h) or ()
                            if text.split() and not text.startswith("#") and on_it(text.split()[0])),
    )


sides = tuple(side_of(n.name) for n in c.nodes)
problems = retire_problems(c, name, sides)
if problems:
    raise DeployStopped(f"{name} not retired:\n  " + "\n  ".join(problems) + "\nNothing was changed.")
mine = next(s for s in sides if s.node == me.name)
mount_point = next((s.mount_point for s in sides if s.mount_point), None)

# group_data no longer exports from the volume: the exports follow it.
local.include(str(paths.REPOSITORY / "tasks" / "nfs.py"))

step([s.node for s in sides if s.pools], f"{AREA}: {name}: stop and undefine its libvirt pools",
     [f"virsh pool-destroy {quote(p)} >/dev/null 2>&1; virsh pool-undefine {quote(p)}" for p in mine.pools])
if mount_point:
    step([s.node for s in sides if s.mounted], f"{AREA}: unmount {mount_point}", [f"umount {quote(mount_point)}"])
step([s.node for s in sides if s.kernel is not None and s.kernel.is_primary], f"{AREA}: {resource}: secondary",
     [f"drbdadm secondary {quote(resource)}"])
step([s.node for s in sides if s.kernel is not None], f"{AREA}: {resource}: down", [f"drbdadm down {quote(resource)}"])
if mine.mount_point:
    # systemd generated a mount unit from the line: it reads fstab again.
    daemon_reload(AREA, "fstab", files.line(name=f"{AREA}: {name}: its fstab line", path=paths.FSTAB,
                                            line=rf"^{ere_escape(device)}\s", present=False,
                                            extended_regex=True))
if any(text.split()[:1] == [resource] for text in file_lines(paths.ACTIVATE_VOLUMES) or ()):
    files.line(name=f"{AREA}: {name}: not activated at boot", path=paths.ACTIVATE_VOLUMES,
               line=rf"^{ere_escape(resource)}\s", present=False, extended_regex=True)
if mine.configured:
    files.file(name=f"{AREA}: {name}: its resource file", path=paths.resource_file(resource), present=False)

lv = paths.lv_path(c.volume_group, name)
logger.warning(f"{me.name}: retiring {name} keeps its LV {lv}, with all it holds. "
               f"To free the space: lvremove {quote(f'{c.volume_group}/{name}')} (on {me.name}).")
