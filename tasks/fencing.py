"""Fencing: each node powers its PEER off through the peer's BMC when DRBD
loses the peer (templates/drbd/fence-peer.sh, DRBD's fence-peer handler),
and proves beforehand that it can.

    pyinfra inventory.py tasks/fencing.py

deploy.py runs this first. The proof is the agent's own ``status`` of the
peer, asked from each node: it must answer "on" while the peer runs. A BMC
that does not answer, a wrong password, or a wrong address or
``systems_uri`` (the BMC of another machine, or of none, answers "off")
stops the deploy here, before anything else is changed, instead of at the
first real failure, where "Already OFF" would be taken for a fence while
the peer writes on. It is asked again whenever the fencing settings
change (or was never asked), and hourly by twonode-fence-check.timer;
tasks/status.py and the metrics show the last answer.
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

from twonode import fencing, paths, reads
from twonode.area import daemon_reload, open_area
from twonode.context import DeployStopped, host_of, presence_of, this_node
from twonode.ops import directory, put, secret_is_current, service, template_is_current, upload_secret
from twonode.reads import file_lines
from twonode.snapshot import fact, first_time, prefetch
from facts.fencing import FenceChecked
from facts.identity import NodeIdentity
from twonode.sides import Presence

AREA = "fencing"

# Once per node and run: deploy.py runs this first, and tasks/drbd.py run
# alone runs it too.
if first_time(("fencing", host.name)):
    # The fence agents are the drbd area's packages.
    c = open_area("drbd", reads.fencing)
    me = this_node()
    if c.fences:
        peer = c.peer(me.name)
        try:
            passwords = fencing.read_passwords(c)
            ca = fencing.read_ca(peer.bmc, peer.name)
        except fencing.FencingError as error:
            raise DeployStopped(f"{error}. Nothing was changed.") from None
        # The peer's machine UUID, which its BMC must report for the system
        # it fences; the one recorded before while the peer cannot be read.
        peer_host = host_of(peer.name) if presence_of(peer.name) is Presence.ACTIVE else None
        if peer_host is not None:
            prefetch(*reads.fencing(c), on=peer_host)
        peer_uuid = fencing.peer_uuid(
            mine=fact(NodeIdentity).machine_uuid,
            peers=fact(NodeIdentity, on=peer_host).machine_uuid if peer_host is not None else None,
            recorded=file_lines(paths.FENCE_CONF))
        conf = {"peer": peer.name, "agent": peer.bmc.agent, "delay": fencing.race_delay(c, me.name),
                "agent_time": c.fencing.agent_time, "ca_sha256": fencing.ca_digest(ca), "peer_uuid": peer_uuid}
        options = fencing.agent_options(peer.bmc, passwords[peer.name])
        put(name=f"{AREA}: fence-peer handler", src="drbd/fence-peer.sh", dest=paths.FENCE_PEER, mode="755")
        put(name=f"{AREA}: the BMC's system UUID reader", src="drbd/bmc-system-uuid.py",
            dest=paths.BMC_SYSTEM_UUID, mode="755")
        directory(name=f"{AREA}: {paths.FENCE_DIR} (root only)", path=paths.FENCE_DIR, mode="700")
        settings_current = template_is_current("drbd/fence-handler.conf.j2", paths.FENCE_CONF, **conf) \
            and secret_is_current(paths.FENCE_OPTIONS, options)
        # This run reaches the peer: it runs, and its BMC must say on. A peer
        # left out with --limit runs too, as far as anyone knows. One that
        # cannot be reached (a node brought up alone) may well be off: its
        # BMC must answer, on or off.
        peer_runs = presence_of(peer.name) is not Presence.UNREACHABLE
        if not settings_current:
            # New settings are written beside the old ones and put in place
            # only once the peer's BMC has answered through them: a deploy
            # stopped here leaves the handler with the settings that worked.
            new = paths.FENCE_NEW_DIR
            directory(name=f"{AREA}: {new} (root only)", path=new, mode="700")
            files.template(name=f"{AREA}: fencing of {peer.name} (agent, delay), beside",
                           src=str(paths.TEMPLATES / "drbd/fence-handler.conf.j2"), dest=f"{new}/handler.conf",
                           **conf)
            upload_secret(name=f"{AREA}: {peer.name}'s BMC options and password (root only), beside",
                          path=f"{new}/peer-options", content=options)
            if ca:
                # Not secret: a certificate. Checked with the rest, through it.
                files.put(name=f"{AREA}: the certificates {peer.name}'s BMC must present, beside",
                          src=StringIO(ca), dest=f"{new}/bmc-ca.pem", mode="644")
            check = (f"{paths.FENCE_PEER} check --running {new} || {{ rm -rf {new}; exit 1; }}" if peer_runs else
                     f"{paths.FENCE_PEER} check {new}; case $? in 0|2) ;; *) rm -rf {new}; exit 1 ;; esac")
            ca_in_place = f"mv -f {new}/bmc-ca.pem {paths.FENCE_CA}" if ca else f"rm -f {paths.FENCE_CA}"
            server.shell(
                name=f"{AREA}: {peer.name}'s BMC answers ({peer.bmc.agent} status"
                     f"{', and says on' if peer_runs else ''}); then the new settings in place",
                commands=[check, ca_in_place, f"mv -f {new}/handler.conf {paths.FENCE_CONF}",
                          f"mv -f {new}/peer-options {paths.FENCE_OPTIONS}", f"rmdir {new}"])
        units = [
            put(name=f"{AREA}: twonode-fence-check.service", src="drbd/twonode-fence-check.service",
                dest=paths.FENCE_CHECK_SERVICE),
            put(name=f"{AREA}: twonode-fence-check.timer", src="drbd/twonode-fence-check.timer",
                dest=paths.FENCE_CHECK_TIMER),
        ]
        daemon_reload(AREA, "the fence check's units", *units)
        service(name=f"{AREA}: twonode-fence-check.timer (the peer's BMC asked hourly)",
                unit="twonode-fence-check.timer", running=True, enabled=True)
        # Never asked yet (settings that were already in place): in place.
        # A later failure (the BMC's password changed, the BMC gone) is the
        # hourly check's to find: status and metrics show it; a deploy does
        # not stop for a BMC that the timer found down.
        if settings_current and peer_runs and fact(FenceChecked, path=paths.FENCE_CHECKED) is None:
            server.shell(name=f"{AREA}: {peer.name}'s BMC answers and says {peer.name} is on "
                              f"({peer.bmc.agent} status)",
                         commands=[f"{paths.FENCE_PEER} check --running"])
    else:
        # Fencing switched off: nothing left to ask.
        service(name=f"{AREA}: twonode-fence-check.timer off (no fencing)", unit="twonode-fence-check.timer",
                running=False, enabled=False)
