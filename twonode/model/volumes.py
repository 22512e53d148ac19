"""The volumes: local XFS LVs, and replicated LVs under dual-primary DRBD
with OCFS2 on top, with the DRBD and o2cb settings they share."""

from __future__ import annotations

import difflib
import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..paths import BEFORE_RESYNC_TARGET, DRBD_EVENT, drbd_device
from .base import MountOptions, MountPoint, Size, Strict, VolumeName, _invalid, size_to_bytes

# DRBD's internal metadata needs room and OCFS2 wants a few journals: below
# this a replicated volume is almost certainly a typo (e.g. "200m" for "200g").
MIN_REPLICATED_BYTES = 64 * 1024**2
OCFS2_TYPES_NEEDING_2G = ("vmstore", "datafiles")


class LocalVolume(Strict):
    """An LV on one node only, formatted XFS (grows online, never shrinks)."""

    #: The LV's name in the volume group.
    name: VolumeName
    #: As lvcreate takes it: "200g", "512m", "2t". Raised later, the LV and
    #: XFS grow online; a smaller one is refused.
    size: Size
    #: Where fstab mounts it.
    mount_point: MountPoint
    #: fstab's options.
    mount_options: MountOptions = "auto,noatime,nodiratime"


class ReplicatedVolume(Strict):
    """An LV on both nodes, replicated by dual-primary DRBD, with OCFS2 on top."""

    #: The LV's name on both nodes; its DRBD resource is drbd_<name>.
    name: VolumeName
    #: As lvcreate takes it (at least "64m"). Raised later, the LVs, DRBD and
    #: OCFS2 grow online, mounted on both nodes; a smaller one is refused.
    size: Size
    #: Where both nodes mount it (twonode-activate, once promoted).
    mount_point: MountPoint
    #: mkfs.ocfs2 -T: the intended usage (see mkfs.ocfs2(8)).
    fs_type: Literal["mail", "datafiles", "vmstore"] = "mail"
    #: OCFS2's mount options (fstab, noauto: twonode-activate mounts it).
    #: A volume NFS writes to is mounted with `sync` added, and refuses
    #: `async` (docs/concepts.md, "NFS: one server for both nodes").
    mount_options: MountOptions = "_netdev,noatime,data=writeback,commit=60,nodiratime"
    #: DRBD minor (/dev/drbdN) and TCP port of the replication link: the
    #: volume's identity while it exists, so stated, never derived from its
    #: place in the list (inserting a volume would renumber live ones).
    minor: int | None = Field(None, ge=0, le=1048575)
    port: int | None = Field(None, ge=1024, le=65535)

    @property
    def resource(self) -> str:
        return f"drbd_{self.name}"

    @property
    def device(self) -> str:
        return drbd_device(self.name)

    @field_validator("size")
    @classmethod
    def _big_enough(cls, size: str) -> str:
        if size_to_bytes(size) < MIN_REPLICATED_BYTES:
            raise ValueError(
                f"{size!r} is too small for a replicated volume (DRBD metadata and OCFS2 "
                "journals need room): give at least '64m'"
            )
        return size

    @field_validator("mount_options")
    @classmethod
    def _cluster_wide_flocks(cls, options: str) -> str:
        # flock(2) on OCFS2 is cluster-wide, and the VM leases and the NFS
        # server's lock rely on it; `localflocks` makes it per node: a VM
        # could run on both nodes, and both could serve NFS.
        if "localflocks" in options.split(","):
            raise ValueError(
                "'localflocks' makes flock(2) per node, and twonode's VM leases and NFS server lock "
                "need it cluster-wide (a VM could run on both nodes at once): remove it")
        return options

    @model_validator(mode="after")
    def _fits_fs_type(self) -> "ReplicatedVolume":
        # mkfs.ocfs2 refuses these types on a device below 2 GiB ("Selected
        # file system type requires a device of at least 2 gigabytes", seen
        # on the lab), and DRBD keeps its metadata at the end of the LV: an
        # LV of exactly 2g gives a device just short of it.
        if self.fs_type in OCFS2_TYPES_NEEDING_2G and size_to_bytes(self.size) <= 2 * 1024**3:
            raise _invalid([(("size",), (
                f"{self.size!r} is too small for fs_type {self.fs_type!r}: mkfs.ocfs2 -T {self.fs_type} "
                "needs a DRBD device of at least 2 GiB, and DRBD's metadata takes the end of the LV: "
                "give more than '2g' (e.g. '3g'), or fs_type 'mail'"))])
        return self


#: The after-split-brain policies twonode writes. Only those that never
#: throw away a side with changes: `discard-zero-changes` drops a side that
#: wrote nothing since the split (nothing is lost), `consensus` does what the
#: 0pri policy would (so again only a side without changes), and
#: `disconnect` leaves both sides to the operator (tasks/status.py).
AFTER_SB_0PRI = Literal["disconnect", "discard-zero-changes"]
AFTER_SB_1PRI = Literal["disconnect", "consensus"]
AFTER_SB_2PRI = Literal["disconnect"]
#: DRBD's other policies, each refused with the reason: every one of them
#: discards acknowledged writes of one node. `after-sb-1pri
#: discard-secondary` (the seed's) lost 147 fsync'd writes on the lab when a
#: node went Secondary after a split brain, as every node does at boot.
DISCARDING_POLICIES = {
    "discard-younger-primary": "discards the changes of the node that became Primary last",
    "discard-older-primary": "discards the changes of the node that became Primary first",
    "discard-least-changes": "discards the changes of the node that wrote less, which still wrote",
    "discard-secondary": "discards the changes of the node that is Secondary, as every node is "
                         "right after a boot",
    "call-pri-lost-after-sb": "discards the changes of one Primary and reboots it",
    "violently-as0p": "may discard the changes of a Primary",
}



#: The handlers drbd.conf(5) knows (8.4 and 9): a misspelt one would be
#: rejected by drbdadm on the nodes, or worse, never called.
DRBD_HANDLERS = (
    "pri-on-incon-degr", "pri-lost-after-sb", "pri-lost", "fence-peer", "unfence-peer",
    "local-io-error", "initial-split-brain", "split-brain", "before-resync-target",
    "after-resync-target", "before-resync-source", "out-of-sync", "quorum-lost", "disconnected",
)
#: A handler is written inside double quotes and run by /bin/sh: an absolute
#: program and plain words, with DRBD's own environment variables.
HANDLER_COMMAND = r"/[A-Za-z0-9_./-]+( ([A-Za-z0-9_./=:@,+-]|\$\{?DRBD_[A-Z_]+\}?)+)*"


class Drbd(Strict):
    """DRBD settings shared by every replicated volume (the seed's values)."""

    #: Synchronous replication: a write is done when both disks have it.
    protocol: Literal["C"] = "C"
    #: After a split brain, DRBD's automatic recovery where it cannot lose a
    #: change: none of the policies that discard a side with changes is
    #: accepted (the status gives the operator's commands instead).
    after_sb_0pri: AFTER_SB_0PRI = "discard-zero-changes"
    after_sb_1pri: AFTER_SB_1PRI = "consensus"
    after_sb_2pri: AFTER_SB_2PRI = "disconnect"

    @field_validator("after_sb_0pri", "after_sb_1pri", "after_sb_2pri", mode="before")
    @classmethod
    def _never_discards_changes(cls, policy, info):
        if policy in DISCARDING_POLICIES:
            raise PydanticCustomError("discarding_policy", (
                f"{policy!r} {DISCARDING_POLICIES[policy]}: twonode never discards a side with changes "
                "automatically. Use 'disconnect' (the operator chooses, see tasks/status.py) or the "
                f"default {cls.model_fields[info.field_name].default!r}"))
        return policy
    #: Volumes without a minor get the lowest free one, and a port of
    #: base_port + minor (only for a cluster's first bring-up: state them).
    base_port: int = Field(7790, ge=1024, le=65000)
    #: The seed's handlers, except that its before-resync-target
    #: (`drbdsetup $DRBD_MINOR secondary`) is wrapped to demote a Primary
    #: only: see templates/drbd/before-resync-target.sh, which tasks/drbd.py
    #: installs at BEFORE_RESYNC_TARGET.
    handlers: dict[str, str] = {
        "before-resync-target": BEFORE_RESYNC_TARGET,
        "split-brain": f"{DRBD_EVENT} split-brain",
        # Called after an online verify found blocks that differ.
        "out-of-sync": f"{DRBD_EVENT} out-of-sync",
    }

    @field_validator("handlers")
    @classmethod
    def _known_handlers(cls, handlers: dict[str, str]) -> dict[str, str]:
        for name, command in handlers.items():
            if name not in DRBD_HANDLERS:
                close = difflib.get_close_matches(name, DRBD_HANDLERS, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(DRBD_HANDLERS)}"
                raise ValueError(f"{name!r} is not a DRBD handler: {hint}")
            if not re.fullmatch(HANDLER_COMMAND, command):
                raise ValueError(
                    f"handler {name!r}: {command!r} is not a command this tool writes into a resource "
                    "file: an absolute program path and plain arguments (letters, digits, "
                    "'/._-=:@,+' and $DRBD_* variables), no quotes, ';', '|' or other shell syntax"
                )
        return handlers
    #: Resync never slower than this while the volume is in use (DRBD's
    #: `c-min-rate`; its default, 250k, is all a joining node gets while the
    #: peer has OCFS2 mounted: the o2cb heartbeat alone counts as use. Seen
    #: on the lab: 264 KiB/s). "0" lets DRBD's controller decide alone.
    resync_min_rate: str = Field("10M", pattern=r"^\d+[kKmMgG]?$")
    #: The digest of online verify (`drbdadm verify`: each block's digest is
    #: compared with the peer's, and the blocks that differ are reported).
    verify_alg: Literal["sha256", "sha1", "md5", "crc32c"] = "sha256"
    #: When a systemd timer on first_node verifies every replicated volume,
    #: one after the other (systemd's OnCalendar=, e.g. "weekly" or
    #: "Sun *-*-* 03:00"); None: no timer (`drbdadm verify` by hand). The
    #: result is kept on that node; tasks/status.py shows it.
    verify_schedule: str | None = Field("weekly", pattern=r"^[A-Za-z0-9*:,./~ -]{1,64}$")
    #: The replication links authenticate each other (DRBD's cram-hmac-alg)
    #: with a shared secret that lives outside the repository: the file
    #: named here (one line; `openssl rand -base64 32 > FILE; chmod 600
    #: FILE`), or $TWONODE_DRBD_SECRET_FILE, or the secret itself in
    #: $TWONODE_DRBD_SECRET. See the docs/concepts.md, "Replication links".
    cram_hmac_alg: Literal["sha256", "sha512", "sha1"] = "sha256"
    shared_secret_file: str = Field("~/.config/twonode/drbd-secret", pattern=r"^[A-Za-z0-9_./~+-]{1,255}$")

    _BOOT = ("a booting node no longer promotes itself after a timeout (it came up alone, beside a "
             "peer it could not see); twonode-activate promotes it once it is connected to its peer "
             "with up-to-date data, and `twonode-activate --alone` is the operator's word for a node "
             "alone (see docs/concepts.md, 'Boot')")
    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "become_primary_on_both": _BOOT, "wfc_timeout": _BOOT, "degr_wfc_timeout": _BOOT}


class O2cb(Strict):
    """OCFS2's own cluster stack, o2cb (/etc/ocfs2/cluster.conf): both
    nodes, their cluster addresses, one heartbeat per volume."""

    #: The cluster's name in cluster.conf; also the NFS server's scope.
    cluster_name: str = Field("ocfs2", pattern=r"^[A-Za-z0-9_]{1,16}$")
    #: TCP port of o2cb's messaging between the nodes.
    port: int = Field(7777, ge=1, le=65535)
    #: O2CB_HEARTBEAT_THRESHOLD: 2-s heartbeat intervals until a silent
    #: node is dead. Omitted: the least that fencing's race_delay and
    #: agent_time allow (docs/concepts.md, "Fencing"); more is refused only
    #: when too little. Both nodes apply it at o2cb's start.
    dead_threshold: int | None = Field(None, ge=3, le=301)
    #: O2CB_IDLE_TIMEOUT_MS: how long o2net keeps a silent connection.
    #: Omitted: derived like dead_threshold.
    idle_timeout_ms: int | None = Field(None, ge=5000, le=600000)
