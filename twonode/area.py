"""What every task does first, so that each stays runnable alone
(``pyinfra inventory.py tasks/nfs.py``): the validated cluster, this
node's reads for the area in one round trip (deploy.py has read every
area's at once already), and the area's packages."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra.operations import server

from .context import cluster
from .install import install
from .model import Cluster
from .snapshot import prefetch


def open_area(area: str, reads_of: Callable[[Cluster], tuple]) -> Cluster:
    c = cluster()
    prefetch(*reads_of(c))
    install([area], area)
    return c


def daemon_reload(area: str, what: str, *changes) -> None:
    """``systemctl daemon-reload`` when any of ``changes`` (this run's
    operations on unit files or fstab) will change something: systemd reads
    them only then, and a mount or a service started before would run on
    the old ones (a mount unit's x-systemd ordering is generated from
    fstab)."""
    if any(op.will_change for op in changes):
        server.shell(name=f"{area}: systemd reads {what}", commands=["systemctl daemon-reload"])
