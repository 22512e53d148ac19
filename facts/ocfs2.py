"""Facts about the o2cb cluster stack and OCFS2 mounts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import split_sections


@dataclass(frozen=True)
class O2cbStatus(JsonDataclass):
    #: ocfs2-tools is installed (the ``o2cb`` command exists).
    installed: bool
    #: ``O2CB_ENABLED=true`` in /etc/default/o2cb: the cluster starts at boot.
    enabled_at_boot: bool
    #: Clusters the kernel has registered (``o2cb cluster-status``).
    online_clusters: tuple[str, ...]
    #: Node names registered under /sys/kernel/config/cluster/<name>/node.
    registered_nodes: tuple[str, ...]

    def is_online(self, cluster: str) -> bool:
        return cluster in self.online_clusters


_ONLINE = re.compile(r"^Cluster '([^']+)' is online")


def parse_o2cb(sections: dict[str, list[str]]) -> O2cbStatus:
    installed = any(line == "installed" for line in sections.get("installed", []))
    enabled = any(
        re.match(r"^\s*O2CB_ENABLED=\"?true\"?\s*$", line) for line in sections.get("default", [])
    )
    online = tuple(m.group(1) for line in sections.get("status", []) if (m := _ONLINE.match(line.strip())))
    nodes = tuple(sorted(line.strip() for line in sections.get("nodes", []) if line.strip()))
    return O2cbStatus(installed=installed, enabled_at_boot=enabled, online_clusters=online, registered_nodes=nodes)


class O2cb(FactBase):
    """
    The o2cb cluster stack on this node.

    .. code:: python

        O2cbStatus(installed=True, enabled_at_boot=True, online_clusters=("ocfs2",),
                   registered_nodes=("fiori", "torchio"))
    """

    def command(self, cluster: str = "ocfs2") -> str:
        return (
            "echo @@installed; command -v o2cb >/dev/null && echo installed; "
            "echo @@default; cat /etc/default/o2cb 2>/dev/null; "
            "echo @@status; command -v o2cb >/dev/null && o2cb cluster-status 2>&1; "
            f"echo @@nodes; ls /sys/kernel/config/cluster/{cluster}/node 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> O2cbStatus:
        return parse_o2cb(split_sections(output))
