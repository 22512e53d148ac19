"""What every part of the cluster description is built on: the strict base
model (a misspelt key names the key meant), sizes, and the validators that
keep a value from group_data safe to write into fstab, exports, a resource
file or a shell command.
"""

from __future__ import annotations

import difflib
import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
SIZE_RE = re.compile(r"^(\d+)([kmgt]?)$", re.IGNORECASE)


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

