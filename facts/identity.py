"""Whom commands run as on a node, and its host name (the preflight's
first questions, tasks/check.py)."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass


@dataclass(frozen=True)
class Identity(JsonDataclass):
    #: The user id commands run as (0: root).
    uid: int
    #: ``uname -n``: the name o2cb finds the node by.
    hostname: str


class NodeIdentity(FactBase[Identity]):
    """
    Whom the commands run as, and the node's host name.

    .. code:: python

        Identity(uid=0, hostname="fiori")
    """

    def command(self) -> str:
        return "id -u; uname -n"

    def process(self, output: list[str]) -> Identity:
        uid, hostname = (list(output) + ["", ""])[:2]
        return Identity(uid=int(uid) if uid.strip().isdigit() else -1, hostname=hostname.strip())
