"""The cluster at a glance; read-only, it changes nothing.

    pyinfra inventory.py tasks/status.py
    pyinfra inventory.py tasks/status.py --data discard_node=torchio
    pyinfra inventory.py tasks/status.py --data format=json   # for machines

One table for both nodes: per replicated resource the DRBD role,
connection, disk states, out-of-sync data, sync progress and split brain;
o2cb; the OCFS2 mounts and which nodes hold them; exports; libvirt pools
and networks; each VM: where it runs and is defined, who holds its disks'
leases, and what needs attention. A split brain is reported with the commands that resolve it
by discarding the changes of ONE node; which node is the operator's choice
(``discard_node``), and nothing here runs them. So are the blocks an online
verify found out of sync (with the commands for either node's copy), and a
link whose nodes' shared secrets differ. For monitoring, each node also
writes the same state as a Prometheus textfile (docs/monitoring.md, "Metrics for Prometheus").
"""

import json

from pyinfra import host

from twonode import reads
from twonode.context import DeployStopped, cluster, host_of, presence_of
from twonode.sides import Presence
from twonode.snapshot import once_per_run, prefetch, read
from twonode.report import render_status, split_brain_recovery, status_document

c = cluster()
FORMAT = host.data.get("format", "table")
if FORMAT not in ("table", "json"):
    raise DeployStopped(f"--data format= is table (the default) or json, not {FORMAT!r}")


def _gather():
    seen = {}
    wanted = reads.status(c)
    for node in c.nodes:
        if presence_of(node.name) is not Presence.ACTIVE:
            seen[node.name] = None
            continue
        h = host_of(node.name)
        prefetch(*wanted.values(), on=h)
        seen[node.name] = {name: read(k, on=h) for name, k in wanted.items()}
        libvirt_objects = seen[node.name].pop("libvirt")
        seen[node.name].update(pools=libvirt_objects.pools, networks=libvirt_objects.networks)
    if FORMAT == "json":
        # One document on a line of its own: the only line of pyinfra's
        # output that starts with "{".
        report = json.dumps(status_document(c, seen), sort_keys=True)
    else:
        report = render_status(c, seen)
        report += split_brain_recovery(c, seen, host.data.get("discard_node"))
    print(report, flush=True)
    return report


once_per_run("status", _gather)
