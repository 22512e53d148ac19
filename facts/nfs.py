"""Facts about the NFS exports in force."""

from __future__ import annotations

import re

from pyinfra.api import FactBase

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
