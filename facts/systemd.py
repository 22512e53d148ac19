"""systemd units: running and enabled, both from one ``systemctl show``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

from .serial import JsonDataclass


@dataclass(frozen=True)
class UnitState(JsonDataclass):
    #: As pyinfra's SystemdStatus says (SubState running, exited...).
    running: bool
    #: As pyinfra's SystemdEnabled says (UnitFileState enabled or static).
    enabled: bool


class UnitStates(FactBase[dict[str, UnitState]]):
    """
    Each unit of ``units`` that systemd knows. pyinfra reads running and
    enabled with a systemctl each; this asks for both properties at once
    and lets pyinfra's own parsers read them.

    .. code:: python

        {"drbd.service": UnitState(running=True, enabled=True)}
    """

    default = dict
    requires_command = "systemctl"
    #: twonode/snapshot.py reads the units several tasks ask for in one go.
    merge_by = "units"

    def command(self, units: tuple[str, ...]) -> str:
        names = " ".join(shlex.quote(u) for u in units)
        return (f"systemctl show --all --property Id --property {SystemdStatus.state_key} "
                f"--property {SystemdEnabled.state_key} {names}")

    def process(self, output: list[str]) -> dict[str, UnitState]:
        running = SystemdStatus().process(output)
        enabled = SystemdEnabled().process(output)
        return {unit: UnitState(running=running.get(unit, False), enabled=enabled.get(unit, False))
                for unit in {**running, **enabled}}
