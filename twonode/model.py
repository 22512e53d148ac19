"""The cluster description, validated before any host is touched.

``group_data/all.py`` holds a plain ``cluster = {...}`` dict; :func:`Cluster`
turns it into typed objects or raises a :class:`pydantic.ValidationError`
whose messages name the field and say how to fix it. The inventory validates
it while pyinfra loads the inventory, that is before any connection.
"""

from __future__ import annotations

import difflib
import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import PurePosixPath
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
SIZE_RE = re.compile(r"^(\d+)([kmgt]?)$", re.IGNORECASE)
# DRBD's internal metadata needs room and OCFS2 wants a few journals: below
# this a replicated volume is almost certainly a typo (e.g. "200m" for "200g").
MIN_REPLICATED_BYTES = 64 * 1024**2
OCFS2_TYPES_NEEDING_2G = ("vmstore", "datafiles")


def size_to_bytes(size: str) -> int:
    match = SIZE_RE.match(size.strip())
    if not match:
        raise ValueError(
            f"{size!r} is not a size: write a whole number with an optional unit "
            "k, m, g or t (binary units, as lvcreate reads them), e.g. '200g'"
        )
    number, unit = match.groups()
    if not unit:
        # lvcreate -L reads a bare number as MiB, a reader as bytes or GiB:
        # "200" is ambiguous, so say which.
        raise ValueError(
            f"{size!r} has no unit: add k, m, g or t (binary units, as lvcreate reads them), "
            f"e.g. '{number}g'"
        )
    value = int(number) * SIZE_UNITS[unit.lower()]
    if value <= 0:
        raise ValueError(f"{size!r} is zero: give the volume a positive size, e.g. '1g'")
    return value


def _invalid(problems: list[tuple[tuple, str]]) -> ValidationError:
    """A ValidationError for checks that span fields: each problem is
    (location, message), the location relative to the model being validated,
    so the error names the field to fix (e.g. cluster.nodes.1.cluster_address)."""
    return ValidationError.from_exception_data(
        "Cluster",
        [
            InitErrorDetails(type=PydanticCustomError("value_error", "{msg}", {"msg": msg}), loc=loc, input=None)
            for loc, msg in problems
        ],
    )


def _check_size(size: str) -> str:
    size_to_bytes(size)
    return size.strip().lower()


def _must_match(pattern: str, fix: str):
    """A validator: the value matches ``pattern`` in full, or the error is
    ``'<value>' <fix>``, which says what to write instead."""
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} {fix}")
        return value
    return check


# Becomes an LV name, part of a DRBD resource name (drbd_<name>) and a
# device node: keep to what all three accept.
_check_name = _must_match(
    r"[a-z][a-z0-9_]{0,31}",
    "is not a valid volume name: use 1-32 lower-case letters, digits or '_', starting with a letter "
    "(it becomes the LV name and drbd_<name>)")
_check_node_name = _must_match(
    r"[a-z][a-z0-9-]{0,62}",
    "is not a valid node name: it must be the node's short host name (lower-case letters, digits "
    "and '-'), as `uname -n` prints it")

#: One path component: what fstab, exports(5), udev, libvirt XML and a shell
#: word all take as it is (no blank, quote, '$', ';', '\\', '#' or newline).
PATH_COMPONENT = r"[A-Za-z0-9_.@+-]+"
_check_path_characters = _must_match(
    rf"(/{PATH_COMPONENT})+",
    "has a character this tool does not write into fstab, exports or a shell command: use only "
    "letters, digits and '.', '_', '-', '@', '+' between the slashes, e.g. '/vol/small'")


def _check_abs_path(path: str) -> str:
    p = PurePosixPath(path)
    if not p.is_absolute() or ".." in p.parts or str(p) != path.rstrip("/") or path == "/":
        raise ValueError(
            f"{path!r} is not a usable mount point: give an absolute, normalised path "
            "other than '/', e.g. '/vol/small'"
        )
    return _check_path_characters(path)


_check_mount_options = _must_match(
    r"[A-Za-z0-9_.=:+/-]+(,[A-Za-z0-9_.=:+/-]+)*",
    "is not a list of mount options: separate them with commas and no blanks, e.g. 'noatime,nodiratime'")
_check_mac = _must_match(
    r"([0-9a-f]{2}:){5}[0-9a-f]{2}",
    "is not a MAC address: write six lower-case hex pairs separated by ':', as `ip link` prints them")
_check_iface = _must_match(
    r"[a-zA-Z][a-zA-Z0-9_.-]{0,14}",
    "is not a valid interface name: 1-15 characters, letters, digits, '_', '.', '-'")


Size = Annotated[str, AfterValidator(_check_size)]
VolumeName = Annotated[str, AfterValidator(_check_name)]
NodeName = Annotated[str, AfterValidator(_check_node_name)]
MountPoint = Annotated[str, AfterValidator(_check_abs_path)]
MountOptions = Annotated[str, AfterValidator(_check_mount_options)]
Mac = Annotated[str, AfterValidator(_check_mac)]
InterfaceName = Annotated[str, AfterValidator(_check_iface)]


class Strict(BaseModel):
    # A misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data):
        # extra="forbid" alone says "Extra inputs are not permitted": say
        # which key was meant instead.
        if not isinstance(data, dict):
            return data
        known = list(cls.model_fields)
        removed = getattr(cls, "REMOVED_KEYS", {})
        problems = []
        for key in data:
            if key in known:
                continue
            if key in removed:
                problems.append(((key,), f"{key!r} is no longer a setting: {removed[key]}. Remove it"))
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            problems.append(((key,), f"unknown key {key!r}: {hint} (known keys: {', '.join(known)})"))
        if problems:
            raise _invalid(problems)
        return data


#: Options a fence agent reads on its stdin (`name=value` lines); the ones
#: twonode writes itself (from `address`, `port`, `username` and the password
#: file) or that would change what the handler asks for are not accepted.
FENCE_OPTION = r"^[a-z][a-z0-9_]{0,40}$"
FENCE_OPTION_VALUE = r"^[A-Za-z0-9_./:@,+=-]{0,200}$"
FENCE_OPTIONS_OWNED = {"action", "ip", "ipaddr", "ipport", "username", "login", "password", "passwd",
                       "password_script", "passwd_script", "port", "plug", "nodename", "delay"}


class Bmc(Strict):
    """The node's BMC, through which its PEER powers it off (fencing)."""

    #: A fence agent of Debian's fence-agents (fence_redfish, fence_ipmilan, ...).
    agent: str = Field("fence_redfish", pattern=r"^fence_[a-z0-9_]{1,40}$")
    #: Where the peer reaches the BMC (its management network address).
    address: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
    port: int = Field(443, ge=1, le=65535)
    username: str = Field(pattern=r"^[A-Za-z0-9._@+-]{1,64}$")
    #: More of the agent's options, e.g. {"ssl_insecure": "1",
    #: "systems_uri": "/redfish/v1/Systems/1"}. The password is never here:
    #: see Fencing.passwords_file.
    options: dict[str, str] = {}

    @field_validator("options")
    @classmethod
    def _plain_options(cls, options: dict[str, str]) -> dict[str, str]:
        for name, value in options.items():
            if name in FENCE_OPTIONS_OWNED:
                raise ValueError(f"option {name!r} is set by twonode (address, port, username, the password "
                                 "file, the action): remove it")
            if not re.fullmatch(FENCE_OPTION, name):
                raise ValueError(f"option {name!r} is not a fence agent option name: lower-case letters, "
                                 "digits and '_', as the agent reads them on stdin (e.g. 'ssl_insecure')")
            if not re.fullmatch(FENCE_OPTION_VALUE, value):
                raise ValueError(f"option {name!r}: {value!r} holds characters a fence agent's stdin line "
                                 "does not take here: letters, digits and '_./:@,+=-' only")
        return options


class Fencing(Strict):
    """How a node that loses its peer makes sure the peer is off before it
    goes on writing (DRBD `fencing resource-and-stonith`)."""

    #: "power": the peer is powered off through its BMC (nodes.N.bmc).
    #: "none": no fencing; a cut cluster link can then split the data (see
    #: the README, "Fencing"). Must be said explicitly.
    mode: Literal["power", "none"]
    #: On the machine that runs pyinfra, outside the repository: one line per
    #: node, `NODE = "password"` (TOML), readable by you only. The
    #: environment variable TWONODE_FENCE_PASSWORDS, if set, names it instead.
    passwords_file: str = Field("~/.config/twonode/bmc-passwords.toml", pattern=r"^[A-Za-z0-9_./~+-]{1,255}$")
    #: Seconds the node that is not first_node waits before it fences, so
    #: that when both lose the link at once exactly one survives. It must
    #: outlast first_node's fence agent, and it must not outlast o2cb: while
    #: the handler runs, DRBD holds every write, o2cb's disk heartbeat
    #: included, and a node whose heartbeat write hangs for o2cb's 60 s
    #: fences itself. If first_node loses power, the other node spends
    #: DRBD's ping interval (3 s), this delay and its own agent's time inside
    #: those 60 s (seen on the lab with 30 s and ping-int 10: it did not
    #: make it, and both nodes were down).
    race_delay: int = Field(15, ge=5)

    #: Above this, race_delay plus DRBD's ping interval and a slow agent
    #: (15 s under the lab's TCG) leave o2cb's 60 s no margin.
    MAX_RACE_DELAY: ClassVar[int] = 30

    @field_validator("race_delay")
    @classmethod
    def _inside_o2cb_heartbeat(cls, delay: int) -> int:
        if delay > cls.MAX_RACE_DELAY:
            raise ValueError(
                f"{delay} s is too long: when first_node loses power, the other node waits this long "
                "with its I/O frozen before it fences, and o2cb makes a node whose heartbeat write "
                "hangs for 60 s fence itself, so both nodes would go down. Use at most "
                f"{cls.MAX_RACE_DELAY} s: a little more than your fence agent takes to power a node "
                "off (README, 'Fencing')")
        return delay


class Node(Strict):
    """One of the two servers."""

    name: NodeName
    #: Where pyinfra reaches the node (its public LAN address or DNS name).
    ssh_host: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]*$")
    ssh_port: int = Field(22, ge=1, le=65535)
    #: The node's address on the dedicated cluster network (DRBD, o2cb).
    cluster_address: IPv4Address
    #: Persistent NIC names pinned to MACs by udev, e.g. {"eth1": "00:0e:..."}.
    nics: dict[InterfaceName, Mac] = {}
    #: Its BMC, for the peer's fence agent (with fencing mode "power").
    bmc: Bmc | None = None


class ClusterNetwork(Strict):
    """The dedicated network for replication and the OCFS2 heartbeat."""

    network: IPv4Network
    #: The NIC (a key of each node's ``nics``) that carries it.
    interface: InterfaceName
    #: /etc/hosts names each node's cluster address as <node><suffix>
    #: (e.g. fiori-cluster): DRBD and o2cb use the addresses, people the names.
    hosts_suffix: str = Field("-cluster", pattern=r"^[a-z0-9-]{1,20}$")

    @field_validator("network", mode="before")
    @classmethod
    def _no_host_bits(cls, value):
        # pydantic only says "not a valid IPv4 network" for "192.168.3.6/24".
        if isinstance(value, str):
            try:
                iface = IPv4Interface(value)
            except ValueError:
                return value
            if iface.ip != iface.network.network_address:
                raise ValueError(
                    f"{value!r} has host bits set: write the network itself, e.g. '{iface.network}'"
                )
        return value


class LocalVolume(Strict):
    """An LV on one node only, formatted XFS (grows online, never shrinks)."""

    name: VolumeName
    size: Size
    mount_point: MountPoint
    mount_options: MountOptions = "auto,noatime,nodiratime"


class ReplicatedVolume(Strict):
    """An LV on both nodes, replicated by dual-primary DRBD, with OCFS2 on top."""

    name: VolumeName
    size: Size
    mount_point: MountPoint
    #: mkfs.ocfs2 -T: the intended usage (see mkfs.ocfs2(8)).
    fs_type: Literal["mail", "datafiles", "vmstore"] = "mail"
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
        return f"/dev/drbd_{self.name}"

    @field_validator("size")
    @classmethod
    def _big_enough(cls, size: str) -> str:
        if size_to_bytes(size) < MIN_REPLICATED_BYTES:
            raise ValueError(
                f"{size!r} is too small for a replicated volume (DRBD metadata and OCFS2 "
                "journals need room): give at least '64m'"
            )
        return size

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


BEFORE_RESYNC_TARGET = "/usr/local/lib/twonode/drbd-before-resync-target"
#: templates/drbd/drbd-event.sh: events to the journal and a state file.
DRBD_EVENT = "/usr/local/lib/twonode/drbd-event"
#: templates/drbd/fence-peer.sh, with fencing mode "power".
FENCE_PEER = "/usr/local/lib/twonode/drbd-fence-peer"

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

    protocol: Literal["C"] = "C"
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
    base_port: int = Field(7790, ge=1024, le=65000)
    #: The seed's handlers, except that its before-resync-target
    #: (`drbdsetup $DRBD_MINOR secondary`) is wrapped to demote a Primary
    #: only: see templates/drbd/before-resync-target.sh, which tasks/drbd.py
    #: installs at BEFORE_RESYNC_TARGET.
    handlers: dict[str, str] = {
        "before-resync-target": BEFORE_RESYNC_TARGET,
        "split-brain": f"{DRBD_EVENT} split-brain",
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

    _BOOT = ("a booting node no longer promotes itself after a timeout (it came up alone, beside a "
             "peer it could not see); twonode-activate promotes it once it is connected to its peer "
             "with up-to-date data, and `twonode-activate --alone` is the operator's word for a node "
             "alone (see the README, 'Boot')")
    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "become_primary_on_both": _BOOT, "wfc_timeout": _BOOT, "degr_wfc_timeout": _BOOT}


class O2cb(Strict):
    cluster_name: str = Field("ocfs2", pattern=r"^[A-Za-z0-9_]{1,16}$")
    port: int = Field(7777, ge=1, le=65535)


EXPORT_OPTIONS_FLAGS = {
    "rw", "ro", "sync", "async", "secure", "insecure", "wdelay", "no_wdelay",
    "hide", "nohide", "crossmnt", "subtree_check", "no_subtree_check",
    "insecure_locks", "secure_locks", "no_auth_nlm", "auth_nlm", "root_squash",
    "no_root_squash", "all_squash", "no_all_squash",
}
#: Each valued option with the pattern its value must match in full.
EXPORT_OPTIONS_VALUED = {
    "anonuid": r"\d+",
    "anongid": r"\d+",
    "fsid": r"\d+|root|[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}",
    "sec": r"[a-z0-9]+(:[a-z0-9]+)*",
    "mountpoint": rf"(/{PATH_COMPONENT})+",
    "mp": rf"(/{PATH_COMPONENT})+",
    "refer": rf"(/{PATH_COMPONENT})+@[A-Za-z0-9.:-]+(\+[A-Za-z0-9.:-]+)*",
    "replicas": rf"(/{PATH_COMPONENT})+@[A-Za-z0-9.:-]+(\+[A-Za-z0-9.:-]+)*",
}


class ExportClient(Strict):
    #: A host, an address or a network (e.g. "192.168.1.0/24").
    host: str = Field(pattern=r"^[A-Za-z0-9*?.:/_-]+$")
    options: list[str]

    @field_validator("options")
    @classmethod
    def _known_options(cls, options: list[str]) -> list[str]:
        for option in options:
            key, _, value = option.partition("=")
            if option in EXPORT_OPTIONS_FLAGS:
                continue
            if key in EXPORT_OPTIONS_VALUED and _:
                if re.fullmatch(EXPORT_OPTIONS_VALUED[key], value):
                    continue
                raise ValueError(
                    f"{option!r} is not an exports(5) option: the value of {key} must match "
                    f"{EXPORT_OPTIONS_VALUED[key]} (nothing else may reach /etc/exports)"
                )
            raise ValueError(
                f"{option!r} is not an exports(5) option: use e.g. rw, ro, sync, "
                "no_root_squash, no_subtree_check, fsid=N"
            )
        if "rw" in options and "ro" in options:
            raise ValueError("both 'rw' and 'ro' given: keep one")
        return options


class Export(Strict):
    path: MountPoint
    clients: list[ExportClient] = Field(min_length=1)


class Nfs(Strict):
    """NFS served by each node on a private network where both nodes have the
    same address, so a VM always mounts from the node it runs on."""

    #: The server's address and prefix on the private network, e.g. 192.168.10.1/24.
    server_address: IPv4Interface
    exports: list[Export] = []

    def grouped_exports(self) -> list[Export]:
        """One entry per path (a path may be listed several times, as in
        the seed's /etc/exports), clients in the order given."""
        return _merge_exports(self.exports)


def _merge_exports(exports: list[Export]) -> list[Export]:
    merged: dict[str, list[ExportClient]] = {}
    for export in exports:
        merged.setdefault(export.path, []).extend(export.clients)
    return [Export(path=path, clients=clients) for path, clients in merged.items()]


class Pool(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    target: MountPoint
    #: The seed keeps autostart off for pools on shared storage.
    autostart: bool = False


class VirtNetwork(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    bridge: InterfaceName
    mac: Mac
    #: The bridge's address and prefix, e.g. 192.168.10.1/24.
    address: IPv4Interface
    stp: bool = True
    delay: int = Field(0, ge=0)
    autostart: bool = True


class Libvirt(Strict):
    pools: list[Pool] = []
    networks: list[VirtNetwork] = []
    #: The stock ``default`` pool and network are undefined (not only stopped:
    #: the network would keep claiming virbr0).
    remove_default_pool: bool = True
    remove_default_network: bool = True
    #: Public keys allowed to log in as root, for remote virt-manager.
    ssh_authorized_keys: list[str] = []

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            # One line: a newline would smuggle a second key into authorized_keys.
            if not re.fullmatch(r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( [^\x00-\x1f\x7f]*)?", key):
                raise ValueError(
                    f"{key[:40]!r}... is not an OpenSSH public key line: paste the whole "
                    "line of the .pub file, e.g. 'ssh-ed25519 AAAA... user@host'"
                )
        return keys


def _duplicates(values):
    seen, dups = set(), []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


def is_under(path: str, mount_point: str) -> bool:
    """``path`` is ``mount_point`` or inside it."""
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


class Cluster(Strict):
    """The whole two-node cluster."""

    nodes: list[Node]
    volume_group: str = Field("vg0", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
    cluster_network: ClusterNetwork
    local_volumes: list[LocalVolume] = []
    replicated_volumes: list[ReplicatedVolume] = []
    drbd: Drbd = Drbd()
    o2cb: O2cb = O2cb()
    nfs: Nfs | None = None
    libvirt: Libvirt = Libvirt()
    #: The node that runs the one-node-only actions (new-current-uuid,
    #: mkfs.ocfs2) when both are new; the first node when omitted.
    first_node: NodeName | None = None
    #: Required with replicated volumes: {"mode": "power"} with a BMC per
    #: node, or {"mode": "none"} to run without fencing knowingly.
    fencing: Fencing | None = None

    def export_guards(self) -> dict[str, str]:
        """Each export under a replicated volume, with that volume's mount
        point: exported with `mp=` (twonode-activate mounts it late)."""
        exports = self.nfs.grouped_exports() if self.nfs else []
        return {e.path: v.mount_point for e in exports for v in self.replicated_volumes
                if is_under(e.path, v.mount_point)}

    def replicated_volume_of(self, path: str) -> "ReplicatedVolume | None":
        """The replicated volume ``path`` lies on (None: a local path)."""
        return next((v for v in self.replicated_volumes if is_under(path, v.mount_point)), None)

    @property
    def fences(self) -> bool:
        return self.fencing is not None and self.fencing.mode == "power"

    @field_validator("nodes")
    @classmethod
    def _two_nodes(cls, nodes: list[Node]) -> list[Node]:
        if len(nodes) != 2:
            raise ValueError(
                f"{len(nodes)} node(s) given: a twonode cluster has exactly two nodes; "
                "list both, each with name, ssh_host and cluster_address"
            )
        return nodes

    @model_validator(mode="after")
    def _consistent(self) -> "Cluster":
        # Every problem is collected with the field it is about, then all are
        # reported at once.
        problems: list[tuple[tuple, str]] = []
        names = [n.name for n in self.nodes]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append((("nodes", i, "name"), f"name {name!r} is used twice: give each node its own host name"))
        net = self.cluster_network
        for i, node in enumerate(self.nodes):
            if node.cluster_address not in net.network:
                problems.append((("nodes", i, "cluster_address"),
                    f"{node.cluster_address} is outside cluster_network.network {net.network}: "
                    "use an address in that network or fix the network"))
            elif node.cluster_address in (net.network.network_address, net.network.broadcast_address):
                problems.append((("nodes", i, "cluster_address"),
                    f"{node.cluster_address} is the network or broadcast address of {net.network}: "
                    "use a host address"))
            if node.nics and net.interface not in node.nics:
                problems.append((("nodes", i, "nics"),
                    f"no MAC for the cluster interface {net.interface!r} (cluster_network.interface): "
                    f"add \"{net.interface}\": \"<mac>\" to pin its name"))
            if _duplicates(node.nics.values()):
                problems.append((("nodes", i, "nics"), "a MAC is given for two names: one name per NIC"))
        if self.nodes[0].cluster_address == self.nodes[1].cluster_address:
            problems.append((("nodes", 1, "cluster_address"),
                             "both nodes have the same cluster address: give each its own"))
        if self.first_node is not None and self.first_node not in names:
            problems.append((("first_node",), f"{self.first_node!r} is not a node name: use one of {names}"))
        if self.replicated_volumes and self.fencing is None:
            problems.append((("fencing",), (
                "dual-primary DRBD under OCFS2 without fencing can split the data when the cluster link "
                "fails, and LINBIT does not support it: describe each node's BMC (nodes.N.bmc) and set "
                "fencing = {'mode': 'power'}, or run without it knowingly: fencing = {'mode': 'none'} "
                "(README, 'Fencing')")))
        if self.fences:
            for i, node in enumerate(self.nodes):
                if node.bmc is None:
                    problems.append((("nodes", i, "bmc"), (
                        f"fencing mode 'power' needs {node.name}'s BMC, through which its peer powers it "
                        "off: add \"bmc\": {\"address\": ..., \"username\": ...}")))
        for name in ("fence-peer", "unfence-peer", "after-resync-target"):
            if name in self.drbd.handlers:
                problems.append((("drbd", "handlers", name), (
                    f"the {name} handler is twonode's own (fencing): remove it from drbd.handlers")))

        volumes = [("local_volumes", i, v) for i, v in enumerate(self.local_volumes)] + [
            ("replicated_volumes", i, v) for i, v in enumerate(self.replicated_volumes)
        ]
        seen_names: set[str] = set()
        seen_mounts: set[str] = set()
        for field, i, vol in volumes:
            if vol.name in seen_names:
                problems.append(((field, i, "name"),
                    f"volume name {vol.name!r} is used twice (local_volumes and replicated_volumes "
                    "share one LV namespace in the volume group): rename one"))
            seen_names.add(vol.name)
            if vol.mount_point in seen_mounts:
                problems.append(((field, i, "mount_point"),
                    f"mount_point {vol.mount_point!r} is used by two volumes: give each volume its own"))
            seen_mounts.add(vol.mount_point)
        mounts = [v.mount_point for _, _, v in volumes]
        for field, i, vol in volumes:
            outer = [m for m in mounts if PurePosixPath(m) in PurePosixPath(vol.mount_point).parents]
            if outer:
                problems.append(((field, i, "mount_point"),
                    f"mount_point {vol.mount_point!r} lies inside {outer[0]!r}: nested volume mounts "
                    "depend on mount order at boot; mount them side by side"))
        problems += self._check_minors_and_ports()
        problems += self._check_exports(mounts)
        problems += self._check_libvirt()
        if problems:
            raise _invalid(problems)
        return self

    def _check_minors_and_ports(self) -> list[tuple[tuple, str]]:
        problems = []
        vols = self.replicated_volumes
        seen_minors: set[int] = set()
        seen_ports: set[int] = set()
        for i, vol in enumerate(vols):
            if vol.minor is not None:
                if vol.minor in seen_minors:
                    problems.append((("replicated_volumes", i, "minor"),
                        f"DRBD minor {vol.minor} is used twice: give each volume its own minor"))
                seen_minors.add(vol.minor)
            if vol.port is not None:
                if vol.port in seen_ports:
                    problems.append((("replicated_volumes", i, "port"),
                        f"DRBD port {vol.port} is used twice: give each volume its own port"))
                elif vol.port == self.o2cb.port:
                    problems.append((("replicated_volumes", i, "port"),
                        f"DRBD port {vol.port} is o2cb.port (the OCFS2 heartbeat): pick another port"))
                seen_ports.add(vol.port)
        missing = [(i, vol) for i, vol in enumerate(vols) if vol.minor is None or vol.port is None]
        if missing:
            suggested = self._positional_minors_and_ports()
            for i, vol in missing:
                minor, port = suggested[i]
                field = "minor" if vol.minor is None else "port"
                values = (f"\"minor\": {minor}, \"port\": {port}" if port <= 65535 else
                          f"\"minor\": {minor} and a free port of your choice")
                problems.append((("replicated_volumes", i, field),
                    f"required: a replicated volume's DRBD minor and port are its identity (/dev/drbdN, the "
                    "replication link) and never change while it exists, so they are stated, not taken from "
                    f"its place in the list. Write {values} (what twonode assigned it by position before, "
                    "or the next free ones for a new volume)"))
        return problems

    def _positional_minors_and_ports(self) -> list[tuple[int, int]]:
        """What earlier versions assigned by position (the n-th volume
        without a minor got the n-th free minor, port base_port + minor
        unless taken): the values a live cluster uses, for the message
        that asks for them to be stated."""
        vols = self.replicated_volumes
        taken_minors = [v.minor for v in vols if v.minor is not None]
        taken_ports = [v.port for v in vols if v.port is not None]
        result, next_minor = [], 0
        for vol in vols:
            minor = vol.minor
            if minor is None:
                while next_minor in taken_minors:
                    next_minor += 1
                minor = next_minor
                taken_minors.append(minor)
            port = vol.port
            if port is None:
                port = self.drbd.base_port + minor
                while port in taken_ports or port == self.o2cb.port:
                    port += 1
                taken_ports.append(port)
            result.append((minor, port))
        return result

    def _check_exports(self, mounts: list[str]) -> list[tuple[tuple, str]]:
        if self.nfs is None:
            return []
        problems = []
        for i, export in enumerate(self.nfs.exports):
            path = PurePosixPath(export.path)
            if not any(path == PurePosixPath(m) or PurePosixPath(m) in path.parents for m in mounts):
                problems.append((("nfs", "exports", i, "path"),
                    f"{export.path!r} is not under a configured volume mount "
                    f"({', '.join(mounts) or 'none'}): export a path inside a volume"))
        carriers = [n for n in self.libvirt.networks if n.address == self.nfs.server_address]
        if not carriers:
            problems.append((("nfs", "server_address"),
                f"{self.nfs.server_address} is not the address of any libvirt.networks entry: "
                "the private storage network is a libvirt bridge with this same address on both "
                "nodes; add one (or fix the address)"))
        return problems

    def _check_libvirt(self) -> list[tuple[tuple, str]]:
        problems = []
        for field, items in (("pools", self.libvirt.pools), ("networks", self.libvirt.networks)):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.name in seen:
                    problems.append((("libvirt", field, i, "name"),
                                     f"name {item.name!r} is used twice: give each its own name"))
                seen.add(item.name)
        seen_bridges: set[str] = set()
        cluster_net = self.cluster_network.network
        for i, vnet in enumerate(self.libvirt.networks):
            if vnet.bridge in seen_bridges:
                problems.append((("libvirt", "networks", i, "bridge"),
                    f"bridge {vnet.bridge!r} is used twice: give each network its own bridge"))
            seen_bridges.add(vnet.bridge)
            if vnet.address.network.overlaps(cluster_net):
                problems.append((("libvirt", "networks", i, "address"),
                    f"{vnet.address} overlaps the cluster network {cluster_net}: "
                    "use a separate private network"))
        return problems

    # Convenience lookups used by the tasks.
    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"{name!r} is not a node of this cluster ({[n.name for n in self.nodes]})")

    def peer(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name != self.node(name).name)

    @property
    def first(self) -> str:
        return self.first_node or self.nodes[0].name
