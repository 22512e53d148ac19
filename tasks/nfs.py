"""NFS exports from the replicated volumes.

    pyinfra inventory.py tasks/nfs.py

Each node serves the same exports; VMs reach them at the private storage
network's server address, which both nodes carry (the libvirt network
bridge, see tasks/libvirt.py), so a VM always mounts from the node it runs on.
"""

from pyinfra import host
from pyinfra.operations import server

from facts.nfs import NfsExports
from twonode import paths, reads
from twonode.area import open_area
from twonode.model import is_under
from twonode.ops import directory, put, service, template
from twonode.reads import file_lines
from twonode.snapshot import fact

AREA = "nfs"
c = open_area(AREA, reads.nfs)
exports = c.nfs.grouped_exports() if c.nfs else []

for export in host.loop(exports):
    # exportfs fails on a missing path; on OCFS2 both nodes see one directory.
    directory(name=f"{AREA}: {export.path}", path=export.path)


# nfs-server starts after the local volumes it exports are mounted. Not
# after the replicated ones: twonode-activate mounts those only once the
# peer is connected, maybe hours after the boot (a RequiresMountsFor on
# them failed nfs-server at boot, seen on the lab). Their exports carry
# `mp=<mount point>`: exportfs skips them while the volume is not mounted
# (instead of exporting the empty directory beneath, on the root disk), and
# twonode-activate re-exports once it has mounted.
unit_dropin = template(
    name=f"{AREA}: nfs-server waits for the exported volumes",
    src="nfs/nfs-server-mounts.conf.j2",
    dest=paths.NFS_SERVER_DROPIN,
    mounts=sorted({v.mount_point for v in c.local_volumes if any(is_under(e.path, v.mount_point) for e in exports)}),
)
guards = c.export_guards()
service(name=f"{AREA}: nfs-server enabled and running", unit="nfs-server.service",
        running=True, enabled=True, daemon_reload=unit_dropin.will_change)

# Ours go to /etc/exports.d; the admin's /etc/exports is left alone. An
# /etc/exports written by an earlier twonode (our first line) is handed
# back to the admin as Debian ships it, so the exports are not served twice.
admin_lines = file_lines(paths.ADMIN_EXPORTS) or ()
if admin_lines[:1] == (reads.MANAGED_MARK,):
    put(name=f"{AREA}: /etc/exports back to the admin (ours moved to {paths.EXPORTS})",
        src="nfs/exports-debian", dest=paths.ADMIN_EXPORTS)
directory(name=f"{AREA}: {paths.EXPORTS_DIR}", path=paths.EXPORTS_DIR)
exports_file = template(
    name=f"{AREA}: {paths.EXPORTS}",
    src="nfs/exports.j2",
    dest=paths.EXPORTS,
    exports=exports,
    guards=guards,
)
# Ours not all served (a boot before the mounts, an admin's exportfs -u), or
# our file changed (a path added or removed): re-export. The admin's
# exports are not compared: they are not ours to judge.
in_force = fact(NfsExports)
missing = [e.path for e in exports if e.path not in in_force]
if missing:
    server.shell(name=f"{AREA}: exportfs -ra", commands=["exportfs -ra"])
elif exports_file.will_change:
    server.shell(name=f"{AREA}: exportfs -ra (exports changed)", commands=["exportfs -ra"],
                 _if=exports_file.did_change)
