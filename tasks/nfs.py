"""NFS exports from the replicated volumes, at one server address.

    pyinfra inventory.py tasks/nfs.py
    pyinfra inventory.py tasks/nfs.py --data serve_on=torchio   # a planned move

nfs.mode "single" (the default): one node serves, the other stands by.
twonode-nfs runs on both nodes; the one that holds a cluster-wide lock on
the state volume holds the server address and runs nfsd
(templates/nfs/nfs-server.sh), and the other takes over when that node is
fenced or asked to let go. The private network spans both nodes
(tasks/libvirt.py), so the VMs of either node reach the one server.

nfs.mode "per_node": each node serves the same exports to the VMs on its
own bridge, at the same address (the seed procedure's design; locks are
per node).
"""

from shlex import quote

from pyinfra import host
from pyinfra.operations import files, server

from facts.nfs import SERVING_FILE, NfsExports, NfsServer
from twonode import paths, reads
from twonode.area import open_area
from twonode.context import DeployStopped, presence_of, this_node
from twonode.install import node_release
from twonode.model import is_under
from twonode.ops import UNCHANGED, directory, etc_hosts, put, service, template
from twonode.reads import file_lines, path_state
from twonode.sides import Presence
from twonode.snapshot import fact
from twonode.sync_mounts import remount_sync_as_configured

AREA = "nfs"
c = open_area(AREA, reads.nfs)
exports = c.nfs.grouped_exports() if c.nfs else []
me = this_node()
single = c.nfs_single

# Before anything is served: the volumes NFS writes to are mounted `sync`
# (Cluster.mount_options_of says why), here too when this task runs alone.
remount_sync_as_configured(c, AREA)

for export in host.loop(exports):
    # exportfs fails on a missing path; on OCFS2 both nodes see one directory.
    directory(name=f"{AREA}: {export.path}", path=export.path)

if c.nfs is not None:
    sysctl = template(name=f"{AREA}: no NFSv4 delegations (sysctl)", src="nfs/sysctl.conf", dest=paths.NFS_SYSCTL)
    if sysctl.will_change:
        server.shell(name=f"{AREA}: apply {paths.NFS_SYSCTL}", commands=[f"sysctl -q -p {paths.NFS_SYSCTL}"],
                     _if=sysctl.did_change)
    directory(name=f"{AREA}: {paths.NFS_CONF_DIR}", path=paths.NFS_CONF_DIR)
    nfs_conf = template(name=f"{AREA}: {paths.NFS_CONF}", src="nfs/nfs.conf.j2", dest=paths.NFS_CONF,
                        single=single, scope=c.nfs_scope,
                        lease_time=c.nfs.lease_time, grace_time=c.nfs.grace_time)
else:
    nfs_conf = UNCHANGED

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


def reexport(serves: bool) -> None:
    """Ours not all served (a boot before the mounts, an admin's exportfs
    -u), or our file changed (a path added or removed): re-export. The
    admin's exports are not compared: they are not ours to judge."""
    in_force = fact(NfsExports)
    missing = [e.path for e in exports if e.path not in in_force]
    if serves and missing:
        server.shell(name=f"{AREA}: exportfs -ra", commands=["exportfs -ra"])
    elif exports_file.will_change:
        server.shell(name=f"{AREA}: exportfs -ra (exports changed)",
                     commands=["! systemctl -q is-active nfs-server.service || exportfs -ra"],
                     _if=exports_file.did_change)


if not single:
    if path_state(paths.NFS_UNIT) is not None:
        service(name=f"{AREA}: twonode-nfs stopped (nfs.mode per_node)", unit="twonode-nfs.service",
                running=False, enabled=False)
    service(name=f"{AREA}: nfs-server enabled and running", unit="nfs-server.service",
            running=True, enabled=True, daemon_reload=unit_dropin.will_change)
    reexport(serves=True)
elif c.nfs_state_volume() is None:
    # Every export gone from group_data: nothing to serve, and nothing torn
    # down either (twonode-nfs, if there, goes on as it was).
    pass
else:
    state_volume = c.nfs_state_volume()
    bridge = c.private_network().bridge
    serving = fact(NfsServer)
    scope_dropin = UNCHANGED
    if not node_release().nfsd_reads_scope:
        scope_dropin = template(name=f"{AREA}: nfs-server's scope (this release's rpc.nfsd reads none)",
                                src="nfs/nfs-server-scope.conf.j2", dest=paths.NFS_SCOPE_DROPIN, scope=c.nfs_scope)
    elif path_state(paths.NFS_SCOPE_DROPIN) is not None:  # left by Debian 12 before an upgrade
        scope_dropin = files.file(name=f"{AREA}: nfs-server reads its scope itself", path=paths.NFS_SCOPE_DROPIN,
                                  present=False)
    # nfs-server is twonode-nfs's to start, on the node that holds the lock.
    service(name=f"{AREA}: nfs-server started by twonode-nfs only", unit="nfs-server.service",
            running=None, enabled=False, daemon_reload=unit_dropin.will_change or scope_dropin.will_change)
    script = put(name=f"{AREA}: the NFS server's lock holder", src="nfs/nfs-server.sh", dest=paths.NFS_SERVER,
                 mode="755")
    # The holder sources this file: every value shell-quoted, though the
    # model already allows no character a shell would read.
    mounts = sorted({v.mount_point for e in exports if (v := c.replicated_volume_of(e.path))})
    conf = template(name=f"{AREA}: {paths.NFS_SERVER_CONF}", src="nfs/nfs-server.conf.j2",
                    dest=paths.NFS_SERVER_CONF, node=quote(me.name), address=quote(str(c.nfs.server_address)),
                    bridge=quote(bridge), state_dir=quote(paths.nfs_state_dir(state_volume.mount_point)),
                    mounts=quote(" ".join(mounts)), head_start=0 if me.name == c.first else 10)
    unit = put(name=f"{AREA}: twonode-nfs.service", src="nfs/twonode-nfs.service", dest=paths.NFS_UNIT)
    service(name=f"{AREA}: twonode-nfs enabled and running", unit="twonode-nfs.service",
            running=True, enabled=True, daemon_reload=unit.will_change)
    if script.will_change or conf.will_change:
        # A serving holder lets go as it restarts: the peer may take over.
        server.shell(name=f"{AREA}: twonode-nfs restarted for its new script or settings",
                     commands=["systemctl try-restart twonode-nfs.service"],
                     _if=lambda: script.did_change() or conf.did_change())
    if nfs_conf.will_change or scope_dropin.will_change:
        server.shell(name=f"{AREA}: nfs-server restarted for its new settings (where it runs)",
                     commands=["systemctl try-restart nfs-server.service"],
                     _if=lambda: nfs_conf.did_change() or scope_dropin.did_change())
    reexport(serves=serving.serving)
    # sm-notify names the server to the NFSv3 clients by the reverse lookup
    # of its address ("my_name ... is unusable" without one, and no client
    # reclaims its locks). The clients know the server by the address they
    # mount: that is the name it must give.
    ip = str(c.nfs.server_address.ip)
    etc_hosts(name=f"{AREA}: {ip} names itself (sm-notify)", ip=ip, hostnames=[ip])

    # A planned move: the serving node lets go, the named one takes over.
    serve_on = host.data.get("serve_on")
    if serve_on is not None:
        names = [n.name for n in c.nodes]
        if serve_on not in names:
            raise DeployStopped(f"serve_on={serve_on!r} is not a node of this cluster: use one of {names}")
        other = c.peer(me.name).name
        if presence_of(other) is not Presence.ACTIVE:
            raise DeployStopped(f"serve_on={serve_on}: {other} is not in this run; a move needs both nodes")
        if me.name != serve_on and serving.serving:
            server.shell(name=f"{AREA}: {me.name} lets go of the NFS server for {serve_on}",
                         commands=[f"{paths.NFS_SERVER} move"])
        if me.name == serve_on and not serving.serving:
            server.shell(
                name=f"{AREA}: {me.name} serves NFS (waits up to 180 s)",
                commands=[f"for i in $(seq 180); do [ -s {SERVING_FILE} ] && exit 0; sleep 1; done; "
                          f"echo 'twonode-nfs did not take the server over: journalctl -u twonode-nfs' >&2; exit 1"])
