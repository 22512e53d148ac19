"""Facts about the NFS exports in force."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase

from .sections import section_text
from .serial import JsonDataclass

#: Written by twonode-nfs (templates/nfs/nfs-server.sh) while its node serves.
SERVING_FILE = "/run/twonode/nfs-server"

_CLIENT = re.compile(r"(\S+?)\(([^)]*)\)")


def parse_exportfs_v(text: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Parse ``exportfs -v``: {path: {client: options}}. A long path puts
    its clients on the next, indented line."""
    exports: dict[str, dict[str, tuple[str, ...]]] = {}
    path = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            path, _, rest = line.partition("\t") if "\t" in line else line.partition(" ")
            path = path.strip()
        else:
            rest = line
        if path is None:
            continue
        for client, options in _CLIENT.findall(rest):
            exports.setdefault(path, {})[client] = tuple(options.split(","))
        exports.setdefault(path, {})
    return exports


class NfsExports(FactBase[dict[str, dict[str, tuple[str, ...]]]]):
    """
    Exports the kernel serves now, with every option in force.

    .. code:: python

        {"/vol/pub": {"192.168.1.0/24": ("sync", "wdelay", "hide", "no_subtree_check",
                                          "sec=sys", "rw", "secure", "no_root_squash",
                                          "no_all_squash")}}
    """

    default = dict

    def command(self) -> str:
        return "command -v exportfs >/dev/null && exportfs -v 2>/dev/null; true"

    def process(self, output: list[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        return parse_exportfs_v("\n".join(output))


@dataclass(frozen=True)
class NfsServing(JsonDataclass):
    """What twonode-nfs says on one node (mode single)."""

    #: This node holds the server's lock and serves.
    serving: bool
    #: Since when (UTC, ISO 8601), when it serves.
    since: str | None = None
    #: The kernel's NFSv4 grace period is running (new locks wait, clients
    #: reclaim); None when nfsd does not run here.
    in_grace: bool | None = None


def parse_nfs_serving(sections: dict[str, str]) -> NfsServing:
    serving = sections.get("serving", "").split()
    grace = sections.get("grace", "").strip()
    return NfsServing(serving=len(serving) == 2, since=serving[1] if len(serving) == 2 else None,
                      in_grace={"N": True, "Y": False}.get(grace))


class NfsServer(FactBase[NfsServing]):
    """
    Whether this node serves the cluster's NFS (twonode-nfs holds the lock:
    its file /run/twonode/nfs-server says "NODE SINCE"), and whether nfsd's
    grace period runs (/proc/fs/nfsd/v4_end_grace: "N" until it ends).

    .. code:: python

        NfsServing(serving=True, since="2026-12-06T21:40:12Z", in_grace=False)
    """

    @staticmethod
    def default() -> NfsServing:
        return NfsServing(serving=False)

    def command(self, serving_file: str = SERVING_FILE) -> str:
        return (f"echo @@serving; cat {serving_file} 2>/dev/null; "
                "echo @@grace; cat /proc/fs/nfsd/v4_end_grace 2>/dev/null; true")

    def process(self, output: list[str]) -> NfsServing:
        return parse_nfs_serving(section_text(output))
