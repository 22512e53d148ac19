"""How the deploy installs its packages (twonode/packages.py lists them).

A module of its own because the lab's "provisioned" checkpoint is keyed by
it (lab/checkpoints.py): it is built by this very function.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from .snapshot import fact

#: Per host, the packages an earlier install() of this run already put in
#: an apt transaction. deploy.py installs every area's packages in one
#: transaction (one `apt-get update`, one dpkg run: its triggers, ldconfig
#: and systemd reloads run once instead of once per area; a third of the
#: bring-up under TCG); the tasks' own install() then has nothing left to add.
_scheduled: dict[str, set[str]] = {}


def install(packages: list[str], area: str) -> None:
    """Install what is missing; refresh the package lists only then, so a
    converged node sees no change (not even an ``apt-get update``)."""
    installed = fact(DebPackages)
    scheduled = _scheduled.setdefault(host.name, set())
    missing = [p for p in packages if p not in installed and p not in scheduled]
    if not missing:
        return
    scheduled.update(packages)
    apt.packages(
        name=f"{area}: install {' '.join(packages)}",
        packages=packages,
        no_recommends=True,
        update=True,
    )
