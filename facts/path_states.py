"""What the files and directories the deploy manages hold, many per command.

pyinfra's File, Sha1File, Directory and FileContents facts each run a few
processes for one path (``test``, ``stat``, ``sha1sum``, ``cat``); under
TCG a process costs about 30 ms, so checking the thirty-odd paths of a
converged node took a second of its own. PathStates reads any number of
paths with three processes: one ``stat``, one ``sha1sum``, one ``grep``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .secrets import MASK_SECRETS
from .sections import split_sections
from .serial import JsonDataclass

FILE = "file"
DIRECTORY = "directory"
LINK = "link"
OTHER = "other"

# stat's %F in the C locale (the command sets LC_ALL=C for it).
_KINDS = {"regular file": FILE, "regular empty file": FILE, "directory": DIRECTORY, "symbolic link": LINK}


@dataclass(frozen=True)
class PathState(JsonDataclass):
    """One existing path, as ``lstat`` sees it (a link is a link)."""

    kind: str
    #: Permission bits as pyinfra writes them: 0o644 is 644.
    mode: int
    user: str
    group: str
    #: Regular files only.
    sha1: str | None = None
    #: A regular file's lines, as pyinfra's FileContents gives them (None
    #: when read with ``lines=False``).
    lines: tuple[str, ...] | None = None

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    @property
    def is_directory(self) -> bool:
        return self.kind == DIRECTORY


class PathStates(FactBase[dict[str, PathState]]):
    """
    Each existing path of ``paths``; a missing one is left out.

    .. code:: python

        {"/etc/exports": PathState(kind="file", mode=644, user="root", group="root",
                                   sha1="6f1e...", lines=("/vol/small 192.168.10.0/24(rw)",)),
         "/vol/small": PathState(kind="directory", mode=755, user="root", group="root")}
    """

    default = dict
    #: twonode/snapshot.py reads the paths several tasks ask for in one go.
    merge_by = "paths"

    def command(self, paths: tuple[str, ...], lines: bool = True) -> str:
        self.paths, self.lines = tuple(paths), lines
        quoted = " ".join(shlex.quote(p) for p in paths)
        # Errors (missing paths, directories given to sha1sum and grep) go
        # to /dev/null: stat's list is what says which paths exist. A DRBD
        # resource file holds the shared secret: its lines come masked (the
        # digest is the real file's). ``lines=False``: files whose every
        # line is a secret (the peer's BMC options) are known by their
        # digest only; their text never leaves the node.
        read_lines = f"grep -H -a '' -- {quoted} 2>/dev/null | {MASK_SECRETS}; " if lines else ""
        return (
            f"echo @@stat; LC_ALL=C stat -c '%F|%a|%U|%G|%n' -- {quoted} 2>/dev/null; "
            f"echo @@sha1; sha1sum -- {quoted} 2>/dev/null; "
            f"echo @@lines; {read_lines}true"
        )

    def process(self, output: list[str]) -> dict[str, PathState]:
        parts = split_sections(output)
        digests = {}
        for line in parts.get("sha1", []):
            # sha1sum escapes odd names with a leading backslash: such a path
            # gets no digest, so it never looks current.
            digest, _, path = line.partition("  ")
            if not digest.startswith("\\"):
                digests[path] = digest
        texts: dict[str, list[str]] = {}
        # Longest first: of /a and /a:b, "/a:b:x" belongs to /a:b.
        known = sorted(getattr(self, "paths", ()), key=len, reverse=True)
        for line in parts.get("lines", []):
            path = next((p for p in known if line.startswith(f"{p}:")), None)
            if path is not None:
                texts.setdefault(path, []).append(line[len(path) + 1:])
        result = {}
        for line in parts.get("stat", []):
            kind, mode, user, group, path = line.split("|", 4)
            kind = _KINDS.get(kind, OTHER)
            is_file = kind == FILE
            result[path] = PathState(
                kind=kind, mode=int(mode), user=user, group=group,
                sha1=digests.get(path) if is_file else None,
                lines=tuple(texts.get(path, ())) if is_file and getattr(self, "lines", True) else None,
            )
        return result
