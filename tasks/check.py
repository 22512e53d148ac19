"""Preflight: what each node must offer before the first deploy; read-only,
it changes nothing.

    pyinfra inventory.py tasks/check.py

Per node: root, the host name (o2cb's), the Debian release, the volume
group and its free space for the volumes, the NICs that ``nics`` names
(and that the cluster network leaves the management NIC alone), the peer's
cluster ports (DRBD, o2cb, SSH) through any firewall, and the peer's BMC
(twonode/preflight.py). Run it before the first deploy, and after a change
to the servers' network, firewall or BMCs: a failed check says what to fix,
and the run ends with an error.
"""

from twonode import preflight, reads
from twonode.context import DeployStopped, cluster, host_of, presence_of
from twonode.sides import Presence
from twonode.snapshot import once_per_run, prefetch, read

c = cluster()


def in_run(name: str) -> bool:
    return presence_of(name) is Presence.ACTIVE


def _facts(node) -> preflight.NodeFacts:
    h = host_of(node.name)
    wanted = reads.check(c, node, peer_in_run=in_run(c.peer(node.name).name))
    prefetch(*wanted.values(), on=h)
    seen = {name: read(k, on=h) for name, k in wanted.items()}
    return preflight.NodeFacts(uid=seen["identity"].uid, hostname=seen["identity"].hostname,
                               os_release=seen["os"], network=seen["network"],
                               volume_groups=seen["vgs"], reach=seen["reach"])


def _check() -> list[str]:
    facts = {node.name: _facts(node) for node in c.nodes if in_run(node.name)}
    results = {name: preflight.node_checks(c, c.node(name), mine, facts.get(c.peer(name).name))
               for name, mine in facts.items()}
    print(preflight.render(results), flush=True)
    return preflight.failures(results)


failed = once_per_run("preflight", _check)
if failed:
    raise DeployStopped("the preflight failed:\n  " + "\n  ".join(failed) + "\nNothing was changed.")
