"""The kernel's DRBD devices: role, connection, disk states, resync and
split brain, by resource.

Two kernel generations are read:

* DRBD 8.4 (Debian's kernel module, 12 and 13): ``drbdsetup status --json``
  does not exist there, so the state comes from ``/proc/drbd`` and the
  resource names from ``drbdsetup show``.
* DRBD 9: ``drbdsetup status --json``.

The on-disk metadata is facts/drbd_metadata.py's, the events twonode
records facts/drbd_events.py's.
"""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase

from .drbd_state import (
    CS_CONNECTED, CS_PAUSED_SYNC_S, CS_PAUSED_SYNC_T, CS_STANDALONE, CS_SYNC_SOURCE, CS_SYNC_TARGET,
    CS_VERIFY_S, CS_VERIFY_T, CS_WF_BITMAP_S, CS_WF_BITMAP_T, CS_WFCONNECTION, DS_DUNKNOWN, RESYNC_STATES,
    ROLE_UNKNOWN, DrbdState,
)
from .secrets import MASK_SECRETS
from .sections import section_text


_PROC_LINE = re.compile(
    r"^\s*(?P<minor>\d+):\s+cs:(?P<cs>\S+)\s+ro:(?P<ro>\S+)\s+ds:(?P<ds>\S+)"
    # Protocol, then the I/O flags: the first is r(unning) or s(uspended).
    r"(?:\s+[ABC]\s+(?P<io>[rs])\S*)?"
)
_PROC_UNCONFIGURED = re.compile(r"^\s*(?P<minor>\d+):\s+cs:Unconfigured")
_PROC_OOS = re.compile(r"\boos:(\d+)")
_PROC_SYNCED = re.compile(r"sync'ed:\s*([\d.]+)%")
#: The other lines DRBD 8.4's drbd_proc.c writes: the header, a device's
#: counters, a resync's or verify's progress bar, its speed, and the
#: details some module parameters add.
_PROC_OTHER = re.compile(
    r"^\s*(?:$|version:|srcversion:|GIT-hash:|ns:\d|\[[=>.]*\]\s+(?:sync'ed|verified):|"
    r"finish: |\d+% sector pos:|resync: used:|act_log: used:|blocked on activity log:|"
    # proc_details=2's dump of the resync extents.
    r"rs_left|\d+ (?:NO_WRITES|-+) (?:LOCKED|-+)$)"
)


def _split_pair(value: str) -> tuple[str, str]:
    local, _, peer = value.partition("/")
    return local, peer or ROLE_UNKNOWN


def parse_proc_drbd(text: str, names: dict[int, str] | None = None) -> dict[int, DrbdState]:
    """Parse DRBD 8.4's ``/proc/drbd`` into states keyed by minor. A line
    this parser does not know raises an error that quotes it: a state read
    wrong would be decided on."""
    names = names or {}
    states: dict[int, dict] = {}
    current = None
    for line in text.splitlines():
        match = _PROC_LINE.match(line)
        if match:
            role, peer_role = _split_pair(match["ro"])
            disk, peer_disk = _split_pair(match["ds"])
            current = int(match["minor"])
            states[current] = dict(
                minor=current, resource=names.get(current), role=role, peer_role=peer_role,
                connection=match["cs"], disk=disk, peer_disk=peer_disk, io_suspended=match["io"] == "s",
            )
            continue
        if _PROC_UNCONFIGURED.match(line):
            current = None
            continue
        if not _PROC_OTHER.match(line):
            raise ValueError(f"/proc/drbd: a line this tool cannot read: {line!r}")
        if current is None:
            continue
        oos = _PROC_OOS.search(line)
        if oos:
            states[current]["out_of_sync_kib"] = int(oos.group(1))
        synced = _PROC_SYNCED.search(line)
        if synced:
            states[current]["sync_percent"] = float(synced.group(1))
    return {minor: DrbdState(**data) for minor, data in states.items()}


_SHOW_RESOURCE = re.compile(r"^resource\s+\"?([^\s\"{]+)\"?\s*\{")
_SHOW_MINOR = re.compile(r"\bdevice\s+(?:\"?/dev/\S+\"?\s+)?minor\s+(\d+)\s*;")


def parse_drbdsetup_show(text: str) -> dict[int, str]:
    """Minor → resource name, from ``drbdsetup show`` (the running config)."""
    names: dict[int, str] = {}
    resource = None
    for line in text.splitlines():
        match = _SHOW_RESOURCE.match(line.strip())
        if match:
            resource = match.group(1)
            continue
        match = _SHOW_MINOR.search(line)
        if match and resource:
            names[int(match.group(1))] = resource
    return names


_REPL_TO_CS = {
    "Established": CS_CONNECTED,
    "SyncSource": CS_SYNC_SOURCE,
    "SyncTarget": CS_SYNC_TARGET,
    "PausedSyncS": CS_PAUSED_SYNC_S,
    "PausedSyncT": CS_PAUSED_SYNC_T,
    "WFBitMapS": CS_WF_BITMAP_S,
    "WFBitMapT": CS_WF_BITMAP_T,
    "VerifyS": CS_VERIFY_S,
    "VerifyT": CS_VERIFY_T,
}


# Some drbd-utils 9 releases print a bare `nan` for the sync estimate.
_BARE_NAN = re.compile(r":\s*-?nan\b")


def parse_status_json(text: str) -> dict[int, DrbdState]:
    """Parse DRBD 9's ``drbdsetup status --json`` (first peer of each volume)."""
    states: dict[int, DrbdState] = {}
    for res in json.loads(_BARE_NAN.sub(": null", text)):
        connections = res.get("connections") or []
        conn = connections[0] if connections else None
        for dev in res.get("devices", []):
            minor = int(dev["minor"])
            peer_dev = None
            if conn:
                peer_dev = next(
                    (p for p in conn.get("peer_devices", []) if p.get("volume") == dev.get("volume")),
                    None,
                )
            if conn is None:
                cs = CS_STANDALONE
            elif conn.get("connection-state") == "Connected":
                cs = _REPL_TO_CS.get((peer_dev or {}).get("replication-state", "Established"), CS_CONNECTED)
            elif conn.get("connection-state") in ("Connecting", "Unconnected", "NetworkFailure",
                                                 "BrokenPipe", "Timeout", "TearDown", "ProtocolError"):
                cs = CS_WFCONNECTION
            else:
                cs = conn.get("connection-state", CS_STANDALONE)
            percent = None
            if peer_dev and cs in RESYNC_STATES and "percent-in-sync" in peer_dev:
                percent = float(peer_dev["percent-in-sync"])
            states[minor] = DrbdState(
                minor=minor,
                resource=res["name"],
                role=res.get("role", ROLE_UNKNOWN),
                peer_role=(conn or {}).get("peer-role", ROLE_UNKNOWN),
                connection=cs,
                disk=dev.get("disk-state", DS_DUNKNOWN),
                peer_disk=(peer_dev or {}).get("peer-disk-state", DS_DUNKNOWN),
                out_of_sync_kib=int((peer_dev or {}).get("out-of-sync", 0)),
                sync_percent=percent,
                io_suspended=bool(res.get("suspended", False)),
            )
    return states


_LOG_DEVICE = re.compile(r"(?:block drbd(?P<minor>\d+)|drbd (?P<res>[\w.-]+)(?:/\d+ drbd(?P<minor9>\d+))?):")
_LOG_CONNECTED = re.compile(r"conn\( \S+ -> (Connected|SyncSource|SyncTarget|WFBitMapS|WFBitMapT) \)")


#: Why DRBD last dropped a connection, as its kernel log says.
SPLIT_BRAIN = "split-brain"
AUTH_FAILED = "auth-failed"
_LOG_FAILURES = {"Split-Brain detected but unresolved": SPLIT_BRAIN, "Authentication of peer failed": AUTH_FAILED}


def connection_failures(dmesg: str, names: dict[int, str]) -> dict[int, str]:
    """Minors whose latest connection event in the kernel log is a failure
    DRBD did not resolve (it dropped the connection): SPLIT_BRAIN, or
    AUTH_FAILED (the peer's shared secret differs; DRBD then discards its
    network configuration). The kernel names a device ``block drbd0:`` or,
    for connection events, by resource (``drbd drbd_small:``; DRBD 9:
    ``drbd drbd_small/0 drbd0:``)."""
    minor_of = {name: minor for minor, name in names.items()}
    latest: dict[int, str | None] = {}
    for line in dmesg.splitlines():
        device = _LOG_DEVICE.search(line)
        if not device:
            continue
        minor = device["minor"] or device["minor9"]
        minors = [int(minor)] if minor else [m for m in (minor_of.get(device["res"]),) if m is not None]
        failure = next((f for text, f in _LOG_FAILURES.items() if text in line), None)
        if failure is None and not _LOG_CONNECTED.search(line):
            continue
        for m in minors:
            latest[m] = failure
    return {m: failure for m, failure in latest.items() if failure}


def split_brain_minors(dmesg: str, names: dict[int, str]) -> set[int]:
    """Minors whose latest connection event is an unresolved split brain."""
    return {m for m, failure in connection_failures(dmesg, names).items() if failure == SPLIT_BRAIN}


class DrbdResources(FactBase[dict[str, DrbdState]]):
    """
    The kernel's DRBD devices, keyed by resource name (by ``minor<N>`` when
    the name cannot be read). Empty when DRBD is not loaded or nothing is up.

    .. code:: python

        {
            "drbd_small": DrbdState(minor=0, resource="drbd_small", role="Primary",
                                    peer_role="Primary", connection="Connected",
                                    disk="UpToDate", peer_disk="UpToDate",
                                    out_of_sync_kib=0, sync_percent=None,
                                    split_brain=False),
        }
    """

    default = dict

    def command(self) -> str:
        # One round trip: 8.4 and 9 sources plus the kernel log's split-brain
        # and authentication lines (a StandAlone alone does not tell a split
        # brain or a wrong shared secret from an admin disconnect). The
        # running configuration holds the shared secret: masked here, so
        # that it never reaches pyinfra's output or a fixture. Right after boot drbd.service may still be bringing
        # the resources up (it waits up to wfc-timeout for the peer): read
        # once it is done, not a state that is about to change under us.
        return (
            "i=0; while [ \"$(systemctl is-active drbd.service 2>/dev/null)\" = activating ] "
            "&& [ $i -lt 300 ]; do i=$((i+1)); sleep 1; done; "
            "echo @@proc; cat /proc/drbd 2>/dev/null; "
            "echo @@json; drbdsetup status --json 2>/dev/null; "
            f"echo @@show; [ -e /proc/drbd ] && drbdsetup show 2>/dev/null | {MASK_SECRETS}; "
            "echo @@dmesg; dmesg 2>/dev/null | grep -E 'drbd.*(Split-Brain|conn\\(|Authentication of peer failed)' "
            "| tail -n 200; true"
        )

    def process(self, output: list[str]) -> dict[str, DrbdState]:
        return drbd_resources_from_sections(section_text(output))


def drbd_resources_from_sections(sections: dict[str, str]) -> dict[str, DrbdState]:
    raw_json = sections.get("json", "").strip()
    names = parse_drbdsetup_show(sections.get("show", ""))
    if raw_json.startswith("["):
        states = parse_status_json(raw_json)
        names = {minor: st.resource for minor, st in states.items() if st.resource}
    else:
        states = parse_proc_drbd(sections.get("proc", ""), names)
    failures = connection_failures(sections.get("dmesg", ""), names)
    result = {}
    for minor, state in states.items():
        name = state.resource or f"minor{minor}"
        if state.is_standalone and minor in failures:
            state = DrbdState(**{**state.__dict__, "split_brain": failures[minor] == SPLIT_BRAIN,
                                 "auth_failed": failures[minor] == AUTH_FAILED})
        result[name] = state
    return result
