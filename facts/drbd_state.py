"""DRBD's state names and one device's state as the kernel reports it.

Names follow DRBD's own (``Connected``, ``WFConnection``, ``StandAlone``,
``SyncSource``...; ``UpToDate``, ``Inconsistent``...), with derived
predicates in the manner of Ganeti's ``drbd_info``. facts/drbd.py reads
them from the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from .serial import JsonDataclass

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
    #: The latest connection attempt failed DRBD's authentication: the
    #: nodes' shared secrets differ (cram-hmac-alg). DRBD discarded its
    #: network configuration and stays StandAlone until `drbdadm adjust`
    #: with the right secret.
    auth_failed: bool = False

    @property
    def is_in_resync(self) -> bool:
        return self.connection in RESYNC_STATES

    @property
    def is_connected(self) -> bool:
        """Connected to the peer, resyncing or verifying included."""
        return self.connection in CONNECTED_STATES

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
