"""What differs between the Debian releases twonode deploys, in one place.

Each node's release is read from the node itself (facts/os_release.py),
never from an option: a node upgraded from 12 to 13 is deployed as 13 on
the next run. A release not listed here is refused before anything runs.

Checked on both releases' packages (docs/concepts.md, "Debian 12 and 13"): DRBD's
kernel module (8.4.11) and drbd-utils (9.22) are the same on both, as are
the formats of everything the facts parse; what differs is below.

Plain Python, no third-party import: lab/lab.sh runs twonode/packages.py
with the host's python3 to list what the lab image must hold.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Agents of trixie's split fence-agents that are not in the package their
#: name gives (fence_X in fence-agents-X): read off the archive's packages
#: (tests/fixtures/os/trixie__fence-agent-packages.txt).
TRIXIE_FENCE_AGENT_PACKAGES = {
    "fence_tripplite_snmp": "fence-agents-apc-snmp",
    "fence_evacuate": "fence-agents-compute",
    "fence_epsr2": "fence-agents-eps",
    "fence_ilo3_ssh": "fence-agents-ilo-ssh",
    "fence_ilo4_ssh": "fence-agents-ilo-ssh",
    "fence_ilo5_ssh": "fence-agents-ilo-ssh",
    "fence_ilo": "fence-agents-ilo2",
    "fence_idrac": "fence-agents-ipmilan",
    "fence_ilo3": "fence-agents-ipmilan",
    "fence_ilo4": "fence-agents-ipmilan",
    "fence_ilo5": "fence-agents-ipmilan",
    "fence_imm": "fence-agents-ipmilan",
    "fence_ipmilanplus": "fence-agents-ipmilan",
    "fence_lindypdu": "fence-agents-lindy-pdu",
    "fence_zvmip": "fence-agents-zvm",
}


@dataclass(frozen=True)
class Release:
    codename: str
    #: os-release's VERSION_ID.
    version: str
    #: ocfs2-tools ships o2cb.service as a unit of its own, installed
    #: disabled: the deploy enables it, or o2cb would not start at boot.
    #: Bookworm's is generated from the SysV script, which the package
    #: enables itself (and systemctl reports a generated unit as never
    #: enabled: enabling it would be a change on every run).
    o2cb_native_unit: bool
    #: fence-agents is one package per agent; the package named
    #: fence-agents is a transitional one that pulls every agent (445
    #: packages, 1.2 GB on trixie, against bookworm's 99 and 177 MB).
    fence_agents_split: bool
    #: nfs-utils reads the NFSv4 server scope from nfs.conf ([nfsd] scope,
    #: 2.6.3 and later). Bookworm's 2.6.2 does not: nfsd takes its scope
    #: from the host name of the process that starts it, so the deploy
    #: starts rpc.nfsd in a UTS namespace named after the scope (what
    #: later versions of rpc.nfsd do themselves).
    nfsd_reads_scope: bool

    @property
    def name(self) -> str:
        return f"Debian {self.version} ({self.codename})"

    def fence_agent_packages(self, agents: set[str]) -> list[str]:
        """The packages that install ``agents`` (fence_redfish, ...)."""
        if not agents:
            return []
        if not self.fence_agents_split:
            return ["fence-agents"]
        return sorted({TRIXIE_FENCE_AGENT_PACKAGES.get(agent, "fence-agents-" + agent.removeprefix("fence_")
                                                                .replace("_", "-"))
                       for agent in agents})


BOOKWORM = Release("bookworm", "12", o2cb_native_unit=False, fence_agents_split=False, nfsd_reads_scope=False)
TRIXIE = Release("trixie", "13", o2cb_native_unit=True, fence_agents_split=True, nfsd_reads_scope=True)
SUPPORTED = {r.codename: r for r in (BOOKWORM, TRIXIE)}
#: What the lab and the README's main command run.
DEFAULT = TRIXIE


class UnsupportedRelease(ValueError):
    pass


def release_of(os_id: str, codename: str, version_id: str, pretty_name: str) -> Release:
    """The release os-release names, or UnsupportedRelease saying which
    ones twonode knows."""
    release = SUPPORTED.get(codename) if os_id == "debian" else None
    if release is None or release.version != version_id:
        known = " and ".join(r.name for r in SUPPORTED.values())
        raise UnsupportedRelease(
            f"it runs {pretty_name or 'an unnamed system'} (ID={os_id or '?'}, VERSION_CODENAME={codename or '?'}, "
            f"VERSION_ID={version_id or '?'}); twonode deploys {known} only. Nothing was changed.")
    return release


if __name__ == "__main__":  # lab/lab.sh: its default release, the known ones
    import sys

    print(DEFAULT.codename if sys.argv[1:] == ["default"] else " ".join(SUPPORTED))
