"""How the deploy installs its packages (twonode/packages.py lists them),
and which Debian release a node runs (twonode/releases.py says what that
changes).

A module of its own because the lab's "provisioned" checkpoint is keyed by
it (lab/checkpoints.py): it is built by this very function.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from facts.os_release import NodeOsRelease

from . import packages
from .context import DeployStopped, cluster, node_name
from .releases import Release, UnsupportedRelease, release_of
from .snapshot import fact

#: Per host, the packages an earlier install() of this run already put in
#: an apt transaction. deploy.py installs every area's packages in one
#: transaction (one `apt-get update`, one dpkg run: its triggers, ldconfig
#: and systemd reloads run once instead of once per area; a third of the
#: bring-up under TCG); the tasks' own install() then has nothing left to add.
_scheduled: dict[str, set[str]] = {}


def node_release(h=None) -> Release:
    """The release the node runs; a release twonode does not know stops
    the run while it is still being prepared (nothing has run)."""
    os = fact(NodeOsRelease, on=h)
    try:
        return release_of(os.id, os.codename, os.version_id, os.pretty_name)
    except UnsupportedRelease as e:
        raise DeployStopped(f"{(h or host).name}: {e}") from None


def peer_fence_agents() -> set[str]:
    """The agent this node's fence-peer handler runs: the one of the
    peer's BMC (none without power fencing)."""
    c = cluster()
    # The model requires every node's BMC when fencing is "power".
    return {c.peer(node_name()).bmc.agent} if c.fences else set()


def install(areas: list[str], label: str, fence_agents: set[str] | None = None) -> None:
    """Install what ``areas`` need and is missing; refresh the package
    lists only then, so a converged node sees no change (not even an
    ``apt-get update``). ``fence_agents``: the peer's, unless given."""
    agents = peer_fence_agents() if fence_agents is None else fence_agents
    wanted = packages.wanted(node_release(), areas, agents)
    installed = fact(DebPackages)
    scheduled = _scheduled.setdefault(host.name, set())
    missing = [p for p in wanted if p not in installed and p not in scheduled]
    if not missing:
        return
    scheduled.update(wanted)
    apt.packages(
        name=f"{label}: install {' '.join(wanted)}",
        packages=wanted,
        no_recommends=True,
        update=True,
    )
