"""OCFS2 on the DRBD devices: the o2cb cluster stack, one mkfs, both mounts.

    pyinfra inventory.py tasks/ocfs2.py

``mkfs.ocfs2`` runs on exactly one node, and only on a device that holds no
signature: checked from facts before the run and again by the command right
before it writes. Mounts follow on both nodes, ordered after it.
"""

import re
from shlex import quote

from pyinfra import host, logger
from pyinfra.operations import server

from facts.blockdev import DeviceSignatures, LinuxMounts
from facts.ocfs2 import O2cb
from twonode import packages, reads
from twonode.context import ACTIVE, DeployStopped, cluster, status_of, this_node
from twonode.drbd_plans import drbd_plans
from twonode.ops import directory, fstab_entry, install, line, refuse_unless_blank, step, template, wait_for
from twonode.planner import Path
from twonode.snapshot import fact, prefetch

AREA = "ocfs2"
c = cluster()
me = this_node()
CLUSTER_CONF, DEFAULTS = reads.O2CB_CLUSTER_CONF, reads.O2CB_DEFAULTS
devices = reads.drbd_devices(c)
prefetch(*reads.ocfs2(c))
install(packages.OCFS2, AREA)

plans = drbd_plans()
stopping = [p for p in plans.values() if p.stops]
if stopping:
    raise DeployStopped("\n".join(p.reason for p in stopping))

template(
    name=f"{AREA}: /etc/ocfs2/cluster.conf",
    src="templates/ocfs2/cluster.conf.j2",
    dest=CLUSTER_CONF,
    nodes=c.nodes, o2cb=c.o2cb,
)
# What `dpkg-reconfigure ocfs2-tools` answering "yes" would write.
for name, value in host.loop((("O2CB_ENABLED", "true"), ("O2CB_BOOTCLUSTER", c.o2cb.cluster_name))):
    line(name=f"{AREA}: {name}={value} in {DEFAULTS}", path=DEFAULTS,
         regex=rf"^{re.escape(name)}=", replace=f"{name}={value}")
# No `systemctl enable o2cb`: the package enables its SysV script, which
# starts the cluster at boot once O2CB_ENABLED=true (and systemctl would
# report a generated unit as never enabled: a change on every run).

o2cb = fact(O2cb, cluster=c.o2cb.cluster_name)
if not o2cb.is_online(c.o2cb.cluster_name):
    server.shell(name=f"{AREA}: o2cb online", commands=["service o2cb online"])
elif set(o2cb.registered_nodes) != {n.name for n in c.nodes}:
    # A running o2cb keeps the node list it was started with; changing it
    # means unmounting the volumes on this node, which is not done behind
    # the users' backs.
    logger.warning(
        f"{host.name}: o2cb runs with nodes {', '.join(o2cb.registered_nodes) or 'none'}, not those "
        "of cluster.conf: unmount the OCFS2 volumes here and run `service o2cb offline; service o2cb online`"
    )

mounts = fact(LinuxMounts)
contents = fact(DeviceSignatures, devices=devices)
mkfs_node = c.first if status_of(c.first) == ACTIVE else me.name

for vol in host.loop(c.replicated_volumes):
    plan = plans[vol.resource]
    found = contents.get(vol.device)
    if found is not None and found.exists and found.signatures and \
            {s.type for s in found.signatures} != {"ocfs2"}:
        raise DeployStopped(
            f"{host.name}: {vol.device} holds {found.describe()}, not OCFS2: refusing to format or "
            "mount it. Nothing was changed."
        )
    # A device that is new in this run, or up and blank (an earlier run
    # stopped before mkfs), gets a filesystem, from one node only.
    new = plan.path in (Path.BOTH_NEW, Path.FIRST_ALONE)
    blank_and_up = found is not None and found.is_blank
    step(
        me.name == mkfs_node and (new or blank_and_up),
        f"{AREA}: mkfs.ocfs2 -T {vol.fs_type} {vol.device} (one node)",
        [
            refuse_unless_blank(vol.device, "format"),
            f"mkfs.ocfs2 -q --fs-feature-level=max-features -T {quote(vol.fs_type)} {quote(vol.device)} </dev/null",
        ],
    )

# Both are read by systemd only on a reload: before the mounts below, so
# that the first shutdown already stops things in order.
unit_changes = [template(name=f"{AREA}: drbd.service stops after OCFS2 and o2cb",
                         src="templates/ocfs2/drbd-after-ocfs2.conf", dest=reads.DRBD_AFTER_OCFS2)]
for vol in host.loop(c.replicated_volumes):
    # Pass 0: fsck of a cluster filesystem at boot, possibly mounted by the
    # peer, is not wanted. The x-systemd options order the mount after DRBD
    # (which promotes at boot) and o2cb: without them it fails at boot.
    options = f"{vol.mount_options},x-systemd.requires=drbd.service,x-systemd.after=o2cb.service"
    unit_changes.append(fstab_entry(vol.device, vol.mount_point, "ocfs2", options, 0, AREA))
if any(op.will_change for op in unit_changes):
    server.shell(name=f"{AREA}: systemd reads the new units and fstab", commands=["systemctl daemon-reload"])

for vol in host.loop(c.replicated_volumes):
    mounted = vol.mount_point in mounts
    if not mounted:
        directory(name=f"{AREA}: mount point {vol.mount_point}", path=vol.mount_point)
    step(
        not mounted,
        f"{AREA}: mount {vol.mount_point}",
        [
            # become-primary-on promotes a booting node by itself, a little later.
            wait_for(vol.resource, f"[ \"$(drbdadm role {quote(vol.resource)} | cut -d/ -f1)\" = Primary ]",
                     "Primary", 60),
            # Right after a boot the fstab mount may still be replaying the
            # journal when the facts were read; it wins the race (seen on
            # the lab: "error 16" from a second mount).
            f"mountpoint -q {quote(vol.mount_point)} || mount {quote(vol.mount_point)}",
        ],
    )
