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

from facts.blockdev import LinuxMounts
from facts.ocfs2 import O2cbNode
from facts.sizes import filesystem_size_read
from twonode import paths, reads
from twonode.area import daemon_reload, open_area
from twonode.context import DeployStopped, host_of, presence_of, this_node
from twonode.drbd_plans import plans_or_stop
from twonode.grow import FILESYSTEM_SLACK
from twonode.install import node_release
from twonode.ops import directory, fstab_entry, line, put, service, step, template
from twonode.shell import refuse_unless_blank, wait_for
from twonode.sides import Presence
from twonode.sync_mounts import remount_sync_as_configured
from twonode.snapshot import fact, read

AREA = "ocfs2"
c = open_area(AREA, reads.ocfs2)
me = this_node()
CLUSTER_CONF, DEFAULTS = paths.O2CB_CLUSTER_CONF, paths.O2CB_DEFAULTS

plans = plans_or_stop()

# What cluster.conf says (node numbers by position in group_data), against
# what the running stack has. o2cb keeps the list it was started with: a
# new cluster.conf would only take effect at one node's next boot, when
# the two nodes would then disagree on who is node 1. So a change to a live
# stack (a node renamed, re-addressed or swapped in order, another port)
# stops the deploy with the steps; nothing is rewritten behind its back.
wanted = tuple(O2cbNode(name=n.name, number=i, address=str(n.cluster_address), port=c.o2cb.port)
               for i, n in enumerate(c.nodes, start=1))
o2cb = read(reads.o2cb_stack(c))
differs = o2cb.live_nodes_differ(c.o2cb.cluster_name, wanted)
if differs:
    raise DeployStopped(
        f"{host.name}: {differs}. "
        "A live cluster stack is never re-numbered or re-addressed by the deploy. To change it: "
        "unmount the OCFS2 volumes on BOTH nodes, run `service o2cb offline` on both, run the "
        "deploy again (it writes cluster.conf and brings o2cb online), then mount. Nothing was changed."
    )

template(
    name=f"{AREA}: /etc/ocfs2/cluster.conf",
    src="ocfs2/cluster.conf.j2",
    dest=CLUSTER_CONF,
    nodes=c.nodes, o2cb=c.o2cb,
)
# o2cb's timeouts, derived from the fence (twonode/model/o2cb_timing.py),
# take effect when o2cb comes online, and the two nodes must run the same
# (o2net refuses a peer with others). A running stack keeps its own: its
# defaults file says what it runs, so that a node that reboots rejoins,
# until the timeouts can change on both nodes together, with no OCFS2
# volume mounted on either: then this run restarts o2cb on both.
wanted = c.o2cb_timeouts
timeouts_differ = o2cb.live_timeouts_differ(c.o2cb.cluster_name, wanted.dead_threshold, wanted.idle_timeout_ms)
mounted_on = tuple(n.name for n in c.nodes if presence_of(n.name) is not Presence.ACTIVE or any(
    vol.mount_point in fact(LinuxMounts, on=host_of(n.name)) for vol in c.replicated_volumes))
keep_running = bool(timeouts_differ) and bool(mounted_on)
restart_for_timeouts = bool(timeouts_differ) and not mounted_on
if keep_running:
    logger.warning(
        f"{host.name}: {timeouts_differ}. They change only with o2cb offline on both nodes: stop what "
        f"uses the OCFS2 volumes (VMs, NFS), unmount them on both nodes (mounted or not checked on: "
        f"{', '.join(mounted_on)}) and run the deploy again; it restarts o2cb with the new timeouts and "
        "mounts again (docs/operations.md, 'Change the o2cb timeouts'). Until then they stay as they are.")
applied = (o2cb.live_dead_threshold, o2cb.live_idle_timeout_ms) if keep_running \
    else (wanted.dead_threshold, wanted.idle_timeout_ms)
# What `dpkg-reconfigure ocfs2-tools` answering "yes" would write, with the timeouts.
for name, value in host.loop((("O2CB_ENABLED", "true"), ("O2CB_BOOTCLUSTER", c.o2cb.cluster_name),
                              ("O2CB_HEARTBEAT_THRESHOLD", applied[0]), ("O2CB_IDLE_TIMEOUT_MS", applied[1]))):
    line(name=f"{AREA}: {name}={value} in {DEFAULTS}", path=DEFAULTS,
         regex=rf"^{re.escape(name)}=", replace=f"{name}={value}")
# Bookworm's package enables its SysV script, which starts the cluster at
# boot once O2CB_ENABLED=true; trixie's ships a unit of its own, disabled
# (twonode/releases.py). Not started here: `service o2cb online` below.
if node_release().o2cb_native_unit:
    service(name=f"{AREA}: o2cb.service enabled at boot", unit="o2cb.service", running=None, enabled=True)

sysctl = template(name=f"{AREA}: a node that o2cb fences restarts (sysctl)", src="ocfs2/sysctl.conf",
                  dest=paths.OCFS2_SYSCTL)
if sysctl.will_change:
    server.shell(name=f"{AREA}: apply {paths.OCFS2_SYSCTL}", commands=[f"sysctl -q -p {paths.OCFS2_SYSCTL}"],
                 _if=sysctl.did_change)

if not o2cb.is_online(c.o2cb.cluster_name):
    server.shell(name=f"{AREA}: o2cb online", commands=["service o2cb online"])
elif restart_for_timeouts:
    server.shell(name=f"{AREA}: o2cb restarted with dead_threshold {wanted.dead_threshold} and idle_timeout_ms "
                 f"{wanted.idle_timeout_ms} (no OCFS2 volume mounted on either node)",
                 commands=["service o2cb offline && service o2cb online"])

# The planner chose the one node that formats (a new volume, or one an
# earlier run left blank) and refused a device holding anything but OCFS2.
for vol in host.loop(c.replicated_volumes):
    format_on = plans[vol.resource].format_on
    step(
        (format_on,) if format_on else (),
        f"{AREA}: mkfs.ocfs2 -T {vol.fs_type} {vol.device}",
        [
            refuse_unless_blank(vol.device, "format"),
            f"mkfs.ocfs2 -q --fs-feature-level=max-features -T {quote(vol.fs_type)} {quote(vol.device)} </dev/null",
        ],
    )

# At boot a node promotes and mounts only once its peer is connected with
# up-to-date data (templates/ocfs2/twonode-activate.sh says why): the
# volumes are `noauto` in fstab, and twonode-activate.service mounts them.
put(name=f"{AREA}: boot activation script", src="ocfs2/twonode-activate.sh",
    dest=paths.ACTIVATE, mode="755")
template(name=f"{AREA}: volumes activated at boot", src="ocfs2/volumes.j2",
         dest=paths.ACTIVATE_VOLUMES, volumes=c.replicated_volumes)

# All of these are read by systemd only on a reload: before the mounts
# below, so that the first shutdown already stops things in order.
unit_changes = [template(name=f"{AREA}: drbd.service stops after OCFS2 and o2cb",
                         src="ocfs2/drbd-after-ocfs2.conf", dest=paths.DRBD_AFTER_OCFS2),
                put(name=f"{AREA}: twonode-activate.service", src="ocfs2/twonode-activate.service",
                    dest=paths.ACTIVATE_UNIT)]
for vol in host.loop(c.replicated_volumes):
    # noauto: mounted by twonode-activate, never by systemd or ocfs2-tools'
    # `mount -at ocfs2` at boot (they would meet a Secondary device). Pass
    # 0: no fsck of a cluster filesystem the peer may hold. The x-systemd
    # options order the mount's stop at shutdown before o2cb's and DRBD's.
    options = f"noauto,{c.mount_options_of(vol)},x-systemd.requires=drbd.service,x-systemd.after=o2cb.service"
    unit_changes.append(fstab_entry(vol.device, vol.mount_point, "ocfs2", options, 0, AREA))
daemon_reload(AREA, "the new units and fstab", *unit_changes)
# Enabled, not started: it runs at boot; the deploy promotes and mounts itself.
service(name=f"{AREA}: twonode-activate.service enabled at boot", unit="twonode-activate.service",
        running=None, enabled=True)


def refuse_writes_beneath(mount_point: str) -> str:
    """The shell that makes an unmounted mount point's directory immutable
    (templates/ocfs2/twonode-activate.sh does the same at boot)."""
    q = quote(mount_point)
    return f"{{ chattr +i {q} || true; }}; if mountpoint -q {q}; then chattr -i {q}; fi"


def unmounted_on(mount_point: str) -> tuple[str, ...]:
    """The nodes of this run where ``mount_point`` is not mounted."""
    return tuple(n.name for n in c.nodes if presence_of(n.name) is Presence.ACTIVE
                 and mount_point not in fact(LinuxMounts, on=host_of(n.name)))


for vol in host.loop(c.replicated_volumes):
    unmounted = unmounted_on(vol.mount_point)
    if me.name in unmounted:
        directory(name=f"{AREA}: mount point {vol.mount_point}", path=vol.mount_point)
    step(
        unmounted,
        f"{AREA}: mount {vol.mount_point}",
        [
            # twonode-activate promotes a node that just booted, once connected.
            wait_for(vol.resource, f"[ \"$(drbdadm role {quote(vol.resource)} | cut -d/ -f1)\" = Primary ]",
                     "Primary", 60),
            # twonode-activate may be mounting it at this very moment (it
            # mounts once the node is promoted, which the deploy's own
            # promotion or a reconnect can make happen mid-run): the second
            # mount fails with "error 16" while the first replays the
            # journal (seen on the lab, also right after a boot). Then the
            # first one's mount must appear, or the step fails.
            # Before the first mount the directory beneath it is made to
            # refuse writes (twonode-activate, at boot, says why), undone at
            # once if that mount came first.
            f"mountpoint -q {quote(vol.mount_point)} || {{ {refuse_writes_beneath(vol.mount_point)}; "
            f"mount {quote(vol.mount_point)}; }} || "
            f"{{ i=0; until mountpoint -q {quote(vol.mount_point)}; do i=$((i+1)); "
            f"[ $i -lt 60 ] || {{ echo {quote(vol.mount_point + ': not mounted')} >&2; exit 1; }}; sleep 1; done; }}",
        ],
    )

# A volume mounted before its `sync` changed gets it now (twonode/sync_mounts.py).
remount_sync_as_configured(c, AREA)

# A grown DRBD device (tasks/drbd.py, this run or an earlier one): the
# filesystem grows into it online, from one node, mounted on both. The area
# past the filesystem's end is first zeroed through DRBD, so that both
# nodes hold the same bytes there (DRBD was resized --assume-clean): what
# lies past the end belongs to no one, the old metadata and fresh extents.
# Both ends are read again right before the write.
for vol in host.loop(c.replicated_volumes):
    grow_on = plans[vol.resource].grow.grow_filesystem_on
    dev = quote(vol.device)
    step(
        (grow_on,) if grow_on else (),
        f"{AREA}: grow the filesystem on {vol.device} to the device (tunefs.ocfs2 -S)",
        # One command: pyinfra runs each of a list in a shell of its own.
        ["; ".join([
            f"fs=$({filesystem_size_read(vol.device)} "
            "| sed -n 's/.*Group: .*Size: \\([0-9][0-9]*\\)[[:space:]]*$/\\1/p')",
            f"size=$(blockdev --getsize64 {dev})",
            f"if [ -z \"$fs\" ]; then echo {quote(f'{vol.device}: the filesystem size cannot be read; nothing written')}"
            " >&2; exit 1; fi",
            f"if [ $((size - fs)) -ge {FILESYSTEM_SLACK} ]; then "
            f"dd if=/dev/zero of={dev} bs=1M oflag=direct,seek_bytes iflag=count_bytes seek=\"$fs\" "
            f"count=$((size - fs)) status=none && tunefs.ocfs2 -S {dev}; fi",
        ])],
    )
