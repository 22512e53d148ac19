"""Replicated volumes: backing LVs and dual-primary DRBD resources.

    pyinfra inventory.py tasks/drbd.py

The bring-up path of each resource is decided once per run from the facts
of BOTH nodes (twonode/planner.py) and emitted in three phases; pyinfra runs
each operation on both hosts before the next, which serialises the
one-node-only ``new-current-uuid --clear-bitmap`` between the two both-node
phases. Anything that could destroy data is guarded twice: by the planner
(facts read before the run; a foreign signature stops everything before
anything runs) and by the command itself, which checks again on the device
right before it writes.
"""

from shlex import quote

from pyinfra import host, local, logger
from pyinfra.operations import server

from twonode import paths, reads
from twonode.area import daemon_reload, open_area
from twonode.context import DeployStopped, this_node
from twonode.drbd_plans import plans_or_stop
from twonode.drbd_identity import identity_of, live_change_refusal
from twonode.drbd_secret import DrbdSecretError, read_shared_secret
from twonode.lvm import ensure_lv, extend_command, require_vg
from twonode.ops import checked_template, directory, put, service, step, template
from twonode.reads import file_lines
from twonode.shell import masking_secrets, refuse_unless_blank, refuse_unless_drbd_state, wait_for
from twonode.planner import Step
from twonode.snapshot import fact
from facts.drbd import DrbdResources
from facts.lvm import VolumeGroups

AREA = "drbd"
c = open_area(AREA, reads.drbd)
me = this_node()

vg = require_vg(fact(VolumeGroups), c.volume_group)
plans = plans_or_stop()

# Seconds to wait for a connection, and for a joining node's initial sync
# (a real 2 TiB volume takes hours: a timeout fails the operation with the
# progress, and the next run picks the sync up where it is).
CONNECT_TIMEOUT = host.data.get("drbd_connect_timeout", 300)
SYNC_TIMEOUT = host.data.get("drbd_sync_timeout", 3600)
# Seconds the peer may be away during that wait (a blip reconnects in
# seconds; a sync source that lost power does not come back in time).
PEER_GRACE = host.data.get("drbd_peer_grace", 60)


# Read before anything is written: without it no resource file can be.
try:
    shared_secret = read_shared_secret(c)
except DrbdSecretError as error:
    raise DeployStopped(f"{error}. Nothing was changed.") from None

put(
    name=f"{AREA}: before-resync-target handler",
    src="drbd/before-resync-target.sh",
    dest=paths.BEFORE_RESYNC_TARGET,
    mode="755",
)
put(name=f"{AREA}: event handler (journal and state file)", src="drbd/drbd-event.sh",
    dest=paths.DRBD_EVENT, mode="755")

# Fencing: this node powers its PEER off, through the peer's BMC (deploy.py
# has run tasks/fencing.py first; alone, this task runs it here).
local.include(str(paths.REPOSITORY / "tasks" / "fencing.py"))

# Online verify, from first_node only (both would verify the same blocks),
# of the volumes in ACTIVATE_VOLUMES (tasks/ocfs2.py writes it; retire
# takes a volume out): the units name none, so that they outlive changes.
put(name=f"{AREA}: online verify (twonode-verify)", src="drbd/verify.sh", dest=paths.DRBD_VERIFY, mode="755")
verify_units = [
    template(name=f"{AREA}: twonode-verify.service", src="drbd/twonode-verify.service.j2", dest=paths.VERIFY_SERVICE,
             verify=paths.DRBD_VERIFY),
    checked_template(name=f"{AREA}: twonode-verify.timer ({c.drbd.verify_schedule or 'no schedule'})",
                     src="drbd/twonode-verify.timer.j2", dest=paths.VERIFY_TIMER,
                     check="systemd-analyze calendar \"$(sed -n 's/^OnCalendar=//p' {file})\" >/dev/null",
                     schedule=c.drbd.verify_schedule or "weekly"),
]
daemon_reload(AREA, "the verify units", *verify_units)
verifies = c.drbd.verify_schedule is not None and me.name == c.first
service(name=f"{AREA}: twonode-verify.timer {'on' if verifies else 'off'} here", unit="twonode-verify.timer",
        running=verifies, enabled=verifies)

# The Prometheus textfile, on both nodes (each tells its own state).
textfile = c.monitoring.textfile_directory
if textfile:
    put(name=f"{AREA}: Prometheus textfile writer (twonode-metrics)", src="drbd/metrics.sh", dest=paths.METRICS,
        mode="755")
    directory(name=f"{AREA}: node_exporter's textfile directory", path=textfile)
    daemon_reload(AREA, "the metrics units", *[
        template(name=f"{AREA}: twonode-metrics.service", src="drbd/twonode-metrics.service.j2",
                 dest=paths.METRICS_SERVICE, metrics=paths.METRICS, directory=textfile),
        template(name=f"{AREA}: twonode-metrics.timer", src="drbd/twonode-metrics.timer.j2",
                 dest=paths.METRICS_TIMER, interval=c.monitoring.interval),
    ])
service(name=f"{AREA}: twonode-metrics.timer {'on' if textfile else 'off'}", unit="twonode-metrics.timer",
        running=bool(textfile), enabled=bool(textfile))

# A volume removed from group_data is never torn down by an edit: its
# resource stays up, its file, LV and mount stay; retiring it is explicit.
for name in sorted(set(fact(DrbdResources)) - {vol.resource for vol in c.replicated_volumes}):
    logger.warning(f"{host.name}: {name} is up but not in group_data: left as it is (unmanaged; its "
                   "resource file, LV, fstab line and mount stay). Put it back in group_data to manage it.")

refusals = [why for vol in c.replicated_volumes if (why := live_change_refusal(
    vol.resource, vol.mount_point, file_lines(paths.resource_file(vol.resource)),
    identity_of(vol, c.nodes, c.volume_group), plans[vol.resource].is_up_on(me.name)))]
if refusals:
    raise DeployStopped(f"{host.name}: " + f"\n{host.name}: ".join(refusals))

for vol in host.loop(c.replicated_volumes):
    # A blank LV about to get its metadata may simply grow; one under DRBD
    # grows with the resource, below (twonode/grow.py).
    ensure_lv(vg, vol.name, vol.size, AREA, grow=me.name in plans[vol.resource].nodes_with(Step.CREATE_MD))
    # drbdadm reads every file in /etc/drbd.d: a broken one would break
    # every drbdadm command, for every resource, until fixed by hand.
    # Root-only: it holds the shared secret. drbdadm's error output could
    # show it (the drbdsetup command line): masked.
    resfile = checked_template(
        name=f"{AREA}: resource file for {vol.resource}",
        src="drbd/resource.res.j2",
        dest=paths.resource_file(vol.resource),
        check=masking_secrets(f"drbdadm -c {{file}} dump {quote(vol.resource)} >/dev/null"),
        secret=True,
        vol=vol, drbd=c.drbd, nodes=c.nodes, disk=paths.lv_path(c.volume_group, vol.name),
        fencing=c.fences, fence_peer=paths.FENCE_PEER, drbd_event=paths.DRBD_EVENT, shared_secret=shared_secret,
    )
    kernel = fact(DrbdResources).get(vol.resource)
    if resfile.will_change and plans[vol.resource].is_up_on(me.name):
        # net-options: the connection stays (DRBD checks the secret when it
        # connects, not after); seen on the lab.
        server.shell(
            name=f"{AREA}: apply the changed configuration of {vol.resource}",
            commands=[masking_secrets(f"drbdadm adjust {quote(vol.resource)}")],
            _if=resfile.did_change,
        )
    elif kernel is not None and kernel.auth_failed:
        # A node that connected with another secret made DRBD discard its
        # network configuration on both nodes (StandAlone); now that the
        # files agree, connect again. A split brain is never reconnected
        # here: that is the operator's call (tasks/status.py).
        server.shell(
            name=f"{AREA}: {vol.resource}: connect again, with the shared secret both nodes now have",
            commands=[masking_secrets(f"drbdadm adjust {quote(vol.resource)}")],
        )


# Online grow of a converged resource (the planner checked that it is, on
# both nodes, and that nothing shrinks): the LVs on both nodes, then DRBD
# from one node; the filesystem follows in tasks/ocfs2.py.
for vol in host.loop(c.replicated_volumes):
    grow, res, q_res = plans[vol.resource].grow, vol.resource, quote(vol.resource)
    step(grow.lvextend_on, f"{AREA}: {res}: grow LV {c.volume_group}/{vol.name} to {vol.size}",
         [extend_command(c.volume_group, vol.name, vol.size)])
    # --assume-clean: no resync of the new area. Without it DRBD 8.4 makes
    # one Primary the SyncTarget of the new area, the before-resync-target
    # handler refuses to overwrite a mounted Primary, and DRBD drops the
    # connection: that node Outdated, StandAlone, its mounted OCFS2 getting
    # I/O errors (seen on the lab). The new area holds nothing yet; it is
    # made identical on both nodes by zeroing it through DRBD before the
    # filesystem grows into it (tasks/ocfs2.py).
    step(
        (grow.resize_on,) if grow.resize_on else (),
        f"{AREA}: {res}: grow the DRBD device to its LVs (resize --assume-clean)",
        [
            refuse_unless_drbd_state(res, "Connected UpToDate/UpToDate",
                                     "not connected and up to date on both nodes, not resized"),
            f"drbdadm -- --assume-clean resize {q_res}",
        ],
    )


# Every step below is emitted on BOTH hosts when either has it to do (see
# twonode.ops.step for why that keeps the phases in order), and only for
# resources whose plan has steps: a converged run lists none of them.
with_steps = [vol for vol in c.replicated_volumes if plans[vol.resource].has_steps]

# Phase 1 (both nodes): metadata and attach.
for vol in host.loop(with_steps):
    plan = plans[vol.resource]
    res, dev = vol.resource, paths.lv_path(c.volume_group, vol.name)
    q_res, q_dev = quote(res), quote(dev)
    # Instead of the seed's `dd` over the whole device (hours for 2 TiB, and
    # it targets /dev/drbd_* which does not exist before `up`): the LV was
    # proven blank by fact; check again right here, then zero the first and
    # last MiB where signatures and DRBD's internal metadata live. No resync
    # is needed because `new-current-uuid --clear-bitmap` follows and the
    # filesystem is made through DRBD.
    step(
        plan.nodes_with(Step.WIPE_ENDS),
        f"{AREA}: {res}: check {dev} is blank and clear its ends",
        [
            refuse_unless_blank(dev, "touch"),
            f"dd if=/dev/zero of={q_dev} bs=1M count=1 oflag=direct status=none",
            f"dd if=/dev/zero of={q_dev} bs=1M count=1 oflag=direct status=none "
            f"seek=$(( $(blockdev --getsize64 {q_dev}) / 1048576 - 1 ))",
        ],
    )
    # --force only skips drbdmeta's prompt; the planner proved the LV blank
    # or holding our own never-used metadata.
    step(plan.nodes_with(Step.CREATE_MD), f"{AREA}: {res}: create-md", [f"drbdadm -- --force create-md {q_res}"])
    step(plan.nodes_with(Step.UP), f"{AREA}: {res}: up", [masking_secrets(f"drbdadm up {q_res}")])

# Phase 2 (one node): both sides are new: declare them in sync.
for vol in host.loop(with_steps):
    res, q_res = vol.resource, quote(vol.resource)
    step(
        plans[res].nodes_with(Step.NEW_UUID_CLEAR_BITMAP),
        f"{AREA}: {res}: new on both nodes, no resync: new-current-uuid --clear-bitmap",
        [
            wait_for(res, f"[ \"$(drbdadm cstate {q_res})\" = Connected ]", "the peer", CONNECT_TIMEOUT),
            # Checked again at the last moment: only a pair that never held
            # data (Inconsistent on both sides) may skip the sync, and only
            # while connected: the peer then takes the same new UUID and
            # both go UpToDate at once (the user's guide's way to skip the
            # initial sync); on a lone node it would not reach the peer.
            refuse_unless_drbd_state(res, "Connected Inconsistent/Inconsistent",
                                     "not a new connected pair, refusing to clear the bitmap"),
            f"drbdadm -- --clear-bitmap new-current-uuid {q_res}",
        ],
    )

# Phase 3 (both nodes): wait until up to date, then promote.
for vol in host.loop(with_steps):
    res, q_res = vol.resource, quote(vol.resource)
    plan = plans[res]
    step(plan.nodes_with(Step.PRIMARY_FORCE), f"{AREA}: {res}: alone, the peer joins later: primary --force",
         [f"drbdadm primary --force {q_res}"])
    step(
        plan.nodes_with(Step.PRIMARY),
        f"{AREA}: {res}: wait until UpToDate, then primary",
        [
            wait_for(res, f"drbdadm dstate {q_res} | grep -q '^UpToDate/'", "UpToDate (sync)", SYNC_TIMEOUT,
                     peer_grace=PEER_GRACE),
            f"drbdadm primary {q_res}",
        ],
        # One node after the other: two promotions at once race in DRBD 8.4
        # ("State change was refused by peer node", seen on the lab).
        _serial=True,
    )

# drbd.service brings the resources up (and promotes) at boot. It must also
# be *active* now: systemd runs its `drbd stop` (a clean `drbdadm down`) at
# shutdown only for an active unit. Left inactive after the first bring-up,
# the node went down with DRBD attached and came back with its whole bitmap
# set: a full resync after a reboot (seen on the lab). Started last, when the
# resources are up: its start is then `adjust` (nothing to do), a wait for
# the peer bounded by the startup timeouts, and `primary` where it already is.
service(name=f"{AREA}: drbd.service enabled at boot and active", unit="drbd.service",
        running=True, enabled=True)
