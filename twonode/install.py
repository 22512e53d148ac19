"""How the deploy installs its packages (twonode/packages.py lists them).

A module of its own because the lab's "provisioned" checkpoint is keyed by
it (lab/checkpoints.py): it is built by this very function.
"""

from __future__ import annotations

from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from .snapshot import fact


def install(packages: list[str], area: str) -> None:
    """Install what is missing; refresh the package lists only then, so a
    converged node sees no change (not even an ``apt-get update``)."""
    installed = fact(DebPackages)
    missing = [p for p in packages if p not in installed]
    if not missing:
        return
    apt.packages(
        name=f"{area}: install {' '.join(packages)}",
        packages=packages,
        no_recommends=True,
        update=True,
    )
