"""Facts about DRBD resources: kernel state and on-disk metadata.

Two kernel generations are read:

* DRBD 8.4 (Debian's 6.1 kernel module): ``drbdsetup status --json`` does
  not exist there, so the state comes from ``/proc/drbd`` and the resource
  names from ``drbdsetup show``.
* DRBD 9: ``drbdsetup status --json``.

State names follow DRBD's own (``Connected``, ``WFConnection``,
``StandAlone``, ``SyncSource``...; ``UpToDate``, ``Inconsistent``...), with
derived predicates in the manner of Ganeti's ``drbd_info``.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import section_text

# Connection states (8.4 names; DRBD 9's "replication" states map onto the
# sync ones, its "Connecting" onto WFConnection).
CS_STANDALONE = "StandAlone"
CS_WFCONNECTION = "WFConnection"
CS_CONNECTED = "Connected"
CS_SYNC_SOURCE = "SyncSource"
CS_SYNC_TARGET = "SyncTarget"
CS_PAUSED_SYNC_S = "PausedSyncS"
CS_PAUSED_SYNC_T = "PausedSyncT"
CS_WF_BITMAP_S = "WFBitMapS"
CS_WF_BITMAP_T = "WFBitMapT"
CS_WF_SYNC_UUID = "WFSyncUUID"
CS_UNCONNECTED = "Unconnected"
CS_VERIFY_S = "VerifyS"
CS_VERIFY_T = "VerifyT"
CS_STARTING_SYNC_S = "StartingSyncS"
CS_STARTING_SYNC_T = "StartingSyncT"

RESYNC_STATES = frozenset(
    {CS_STARTING_SYNC_S, CS_STARTING_SYNC_T, CS_SYNC_SOURCE, CS_SYNC_TARGET, CS_PAUSED_SYNC_S,
     CS_PAUSED_SYNC_T, CS_WF_BITMAP_S, CS_WF_BITMAP_T, CS_WF_SYNC_UUID}
)
CONNECTED_STATES = RESYNC_STATES | {CS_CONNECTED, CS_VERIFY_S, CS_VERIFY_T}

ROLE_PRIMARY = "Primary"
ROLE_UNKNOWN = "Unknown"

DS_UPTODATE = "UpToDate"
DS_INCONSISTENT = "Inconsistent"
DS_DUNKNOWN = "DUnknown"

#: The current-UUID that ``create-md`` writes: the device never held data.
INITIAL_UUID = "0000000000000004"


@dataclass(frozen=True)
class DrbdState(JsonDataclass):
    """One DRBD device as the kernel sees it."""

    minor: int
    resource: str | None
    role: str
    peer_role: str
    connection: str
    disk: str
    peer_disk: str
    #: Out-of-sync data, KiB (8.4 ``oos:``; 9 ``out-of-sync``).
    out_of_sync_kib: int = 0
    #: Resync progress in percent when a resync runs, else None.
    sync_percent: float | None = None
    #: The kernel logged a split brain it did not resolve on this device.
    split_brain: bool = False
    #: I/O is suspended (8.4 ``/proc/drbd`` flag ``s``; 9 ``suspended``):
    #: with `fencing resource-and-stonith`, while the fence-peer handler
    #: runs, and after it failed, until the link returns or resume-io.
    io_suspended: bool = False

    @property
    def is_in_resync(self) -> bool:
        return self.connection in RESYNC_STATES

    @property
    def is_standalone(self) -> bool:
        return self.connection == CS_STANDALONE

    @property
    def is_primary(self) -> bool:
        return self.role == ROLE_PRIMARY

    @property
    def is_converged(self) -> bool:
        """Dual-primary, connected, both disks up to date: nothing to do."""
        return (
            self.connection == CS_CONNECTED
            and self.role == ROLE_PRIMARY
            and self.peer_role == ROLE_PRIMARY
            and self.disk == DS_UPTODATE
            and self.peer_disk == DS_UPTODATE
        )



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


def split_brain_minors(dmesg: str, names: dict[int, str]) -> set[int]:
    """Minors whose latest connection event in the kernel log is a split
    brain DRBD did not resolve (it dropped the connection). The kernel
    names a device ``block drbd0:`` or, for connection events, by resource
    (``drbd drbd_small:``; DRBD 9: ``drbd drbd_small/0 drbd0:``)."""
    minor_of = {name: minor for minor, name in names.items()}
    latest: dict[int, bool] = {}
    for line in dmesg.splitlines():
        device = _LOG_DEVICE.search(line)
        if not device:
            continue
        minor = device["minor"] or device["minor9"]
        minors = [int(minor)] if minor else [m for m in (minor_of.get(device["res"]),) if m is not None]
        if "Split-Brain detected but unresolved" in line:
            verdict = True
        elif _LOG_CONNECTED.search(line):
            verdict = False
        else:
            continue
        for m in minors:
            latest[m] = verdict
    return {m for m, split in latest.items() if split}


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
        # lines (a StandAlone alone does not tell a split brain from an admin
        # disconnect). Right after boot drbd.service may still be bringing
        # the resources up (it waits up to wfc-timeout for the peer): read
        # once it is done, not a state that is about to change under us.
        return (
            "i=0; while [ \"$(systemctl is-active drbd.service 2>/dev/null)\" = activating ] "
            "&& [ $i -lt 300 ]; do i=$((i+1)); sleep 1; done; "
            "echo @@proc; cat /proc/drbd 2>/dev/null; "
            "echo @@json; drbdsetup status --json 2>/dev/null; "
            "echo @@show; [ -e /proc/drbd ] && drbdsetup show 2>/dev/null; "
            "echo @@dmesg; dmesg 2>/dev/null | grep -E 'drbd.*(Split-Brain|conn\\()' | tail -n 200; true"
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
    split = split_brain_minors(sections.get("dmesg", ""), names)
    result = {}
    for minor, state in states.items():
        name = state.resource or f"minor{minor}"
        if state.is_standalone and minor in split:
            state = DrbdState(**{**state.__dict__, "split_brain": True})
        result[name] = state
    return result


@dataclass(frozen=True)
class DrbdMetadata(JsonDataclass):
    """A resource's generation identifiers (``drbdadm get-gi``: the kernel's
    while the resource is up, the on-disk metadata's while it is down)."""

    #: DRBD's internal metadata is present.
    present: bool
    #: The current data-generation UUID, upper-case hex ("0000000000000004"
    #: right after create-md: the device never held replicated data).
    current_uuid: str | None = None
    #: The data-consistency flag: False on a side whose sync never finished.
    consistent: bool | None = None
    #: What the command printed instead of identifiers or "no metadata":
    #: what the device holds is unknown.
    error: str | None = None

    @property
    def never_used(self) -> bool:
        return self.present and self.current_uuid == INITIAL_UUID

    @property
    def is_partial(self) -> bool:
        """A sync into this side began (the peer handed it a generation)
        and did not finish: a partial copy, never to be promoted."""
        return self.present and not self.never_used and self.consistent is False


_GI = re.compile(r"^([0-9A-Fa-f]{16}):(?:[0-9A-Fa-f]{16}:){3}([01]):")
_NO_METADATA = "No valid meta data found"


def parse_get_gi(text: str) -> DrbdMetadata:
    """Parse ``get-gi`` (``CURRENT:BITMAP:HIST1:HIST2:consistent:...``, e.g.
    ``0000000000000004:0000...:0:0:0:0:0:0:0``); warnings before the line
    (drbdmeta on an attached device) are skipped. No output, or drbdmeta's
    "No valid meta data found", is no metadata; anything else is an error
    that is kept, never read as "no metadata"."""
    for line in text.splitlines():
        match = _GI.match(line.strip())
        if match:
            return DrbdMetadata(present=True, current_uuid=match.group(1).upper(),
                                consistent=match.group(2) == "1")
    said = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if not said or said == _NO_METADATA:
        return DrbdMetadata(present=False)
    return DrbdMetadata(present=False, error=said)


#: The marker before a raw superblock's bytes in DrbdGenerations' output.
RAW_SUPERBLOCK = "raw-superblock"
#: DRBD 8.4's on-disk metadata magics (drbd_int.h: DRBD_MD_MAGIC_08 and
#: DRBD_MD_MAGIC_84_UNCLEAN, which 8.4 writes while the activity log may
#: hold extents); DRBD_MD_MAGIC_09, DRBD 9's, is not metadata this tool reads.
MD_MAGICS_84 = frozenset({0x8374026B, 0x8374026C})
MD_MAGIC_09 = 0x8374026D
#: struct meta_data_on_disk's flags: MDF_CONSISTENT.
MDF_CONSISTENT = 1 << 0


def parse_superblock(od_output: str) -> DrbdMetadata:
    """The first 64 bytes of internal metadata's superblock (the device's
    last 4 KiB), as ``od -A n -t x1`` prints them: big-endian
    ``la_size_sect`` (u64), ``uuid[4]`` (current, bitmap, two history),
    ``device_uuid``, a reserved u64, ``flags`` (u32), ``magic`` (u32).
    What ``drbdmeta ... get-gi`` prints is read from the same bytes
    (tests/fixtures/drbd84/reinstalled_torchio__*). Fewer bytes than that
    is an error (what the device holds is unknown), never "no metadata"."""
    try:
        raw = bytes(int(b, 16) for b in od_output.split())
    except ValueError:
        raw = b""
    if len(raw) != 64:
        said = " ".join(od_output.split())[:200]
        return DrbdMetadata(present=False, error=f"the metadata superblock could not be read ({said or 'no output'})")
    flags, magic = int.from_bytes(raw[56:60], "big"), int.from_bytes(raw[60:64], "big")
    if magic == MD_MAGIC_09:
        return DrbdMetadata(present=False, error="DRBD 9 metadata (magic 0x8374026D): not DRBD 8.4's")
    if magic not in MD_MAGICS_84:
        return DrbdMetadata(present=False)
    return DrbdMetadata(present=True, current_uuid=raw[8:16].hex().upper(), consistent=bool(flags & MDF_CONSISTENT))


class DrbdGenerations(FactBase[dict[str, DrbdMetadata]]):
    """
    The generation identifiers of each given resource, by resource name:
    the kernel's (``drbdadm get-gi``) where the minor exists, else the
    backing device's on-disk metadata (``drbdmeta``, which works before the
    resource file exists); nothing where the backing device is missing.
    Where drbd-utils is not installed yet, the metadata's superblock itself
    (``parse_superblock``): a node reinstalled with its data disks kept (a
    rolling upgrade) must be seen to hold DRBD metadata in the very run
    that installs drbd-utils, or the LV's "drbd" signature reads as foreign
    data and the deploy refuses it.

    .. code:: python

        {"drbd_small": DrbdMetadata(present=True, current_uuid="0000000000000004", consistent=False)}
    """

    default = dict

    def command(self, resources: tuple[tuple[str, int, str], ...]) -> str:
        # (resource, minor, backing device). --force: drbdmeta never prompts
        # (get-gi only reads).
        parts = []
        for res, minor, dev in resources:
            q_res, q_dev = shlex.quote(res), shlex.quote(dev)
            parts.append(
                f"echo @@{q_res}; if [ -e /sys/block/drbd{int(minor)} ]; then drbdadm get-gi {q_res} 2>&1; "
                f"elif [ -b {q_dev} ] && command -v drbdmeta >/dev/null; then "
                f"drbdmeta --force {int(minor)} v08 {q_dev} internal get-gi 2>&1; "
                f"elif [ -b {q_dev} ]; then echo {RAW_SUPERBLOCK}; s=$(blockdev --getsize64 {q_dev}) && "
                f"dd if={q_dev} bs=4096 skip=$((s / 4096 - 1)) count=1 iflag=direct 2>/dev/null "
                f"| od -A n -t x1 -N 64 -v; fi"
            )
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict[str, DrbdMetadata]:
        result = {}
        for res, text in section_text(output).items():
            if not res:
                continue
            marker, _, rest = text.partition("\n")
            result[res] = parse_superblock(rest) if marker.strip() == RAW_SUPERBLOCK else parse_get_gi(text)
        return result


@dataclass(frozen=True)
class DrbdEvent(JsonDataclass):
    """One line of the event file: ``TIME NODE EVENT RESOURCE``."""

    time: str
    node: str
    event: str
    resource: str


def parse_events(lines: list[str]) -> list[DrbdEvent]:
    events = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"a DRBD event line is not 'TIME NODE EVENT RESOURCE': {line!r}")
        events.append(DrbdEvent(*parts))
    return events


class DrbdEvents(FactBase[list[DrbdEvent]]):
    """
    The DRBD events (split brain, fencing) this node recorded in ``path``
    (twonode's event handler writes it), oldest first; empty when none ever
    happened. The journal has them too (tag twonode).

    .. code:: python

        [DrbdEvent(time="2026-11-27T06:40:12Z", node="fiori", event="split-brain",
                   resource="drbd_small")]
    """

    default = list

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null; true"

    def process(self, output: list[str]) -> list[DrbdEvent]:
        return parse_events([line for line in output if line.strip()])
