"""Small operation helpers shared by the tasks: each reads the fact it needs
and emits an operation only when something must change.

The file, line, directory, service and package helpers put pyinfra's own
operations behind a check against facts read in one batch at the start of
the task (twonode/snapshot.py): on a converged node the operation is not
even prepared, so it costs no round trip of its own. When something differs
the pyinfra operation runs as usual and reads what it needs itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Collection, Sequence
from shlex import quote

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.util import get_template
from pyinfra.facts.files import Sha256File
from pyinfra.facts.server import EtcHosts
from pyinfra.operations import files, server, systemd

from facts.blockdev import LinuxMounts
from facts.drbd import CONNECTED_STATES
from facts.lvm import VolumeGroup
from facts.paths import PathState, PathStates
from facts.systemd import UnitStates
from .context import DeployStopped, node_name
from .model import size_to_bytes
from .paths import ETC_HOSTS, FSTAB
from .snapshot import fact, key


class Unchanged:
    """Stands for an operation that was not needed (the same two members
    as pyinfra's OperationMeta that the tasks use)."""

    will_change = False

    @staticmethod
    def did_change() -> bool:
        return False


UNCHANGED = Unchanged()




# --- Files. Each *_reads() lists the facts its helper checks, for prefetch;
# every path of a run is read by one PathStates command.

def path_key(path: str) -> tuple:
    return key(PathStates, paths=(path,))


def path_state(path: str, on=None) -> PathState | None:
    """``path`` as it was at the start of the run, on the current host or
    ``on`` (None: missing)."""
    return fact(PathStates, paths=(path,), on=on).get(path)


def file_reads(dest: str) -> tuple:
    return (path_key(dest),)


def file_lines(path: str, on=None) -> tuple[str, ...] | None:
    """A regular file's lines, as pyinfra's FileContents gives them (None
    when missing or not a regular file), on the current host or ``on``."""
    found = path_state(path, on=on)
    return found.lines if found is not None and found.is_file else None


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _current(dest: str, digest: str, mode: str | None) -> bool:
    found = path_state(dest)
    if found is None or not found.is_file or found.sha1 != digest:
        return False
    return mode is None or found.mode == int(mode)


def _rendered(src: str, data: dict) -> str:
    context = {"host": host, "state": state, "inventory": state.inventory, **data}
    return get_template(os.path.join(state.cwd or "", src)).render(context)


def template(name: str, src: str, dest: str, mode: str | None = None, **data):
    """files.template, unless ``dest`` already holds exactly what it would
    write. The rendering is pyinfra's own (same environment, same context),
    so the digests compare like for like."""
    if _current(dest, _sha1(_rendered(src, data).encode()), mode):
        return UNCHANGED
    return files.template(name=name, src=src, dest=dest, mode=mode, **data)


def checked_template(name: str, src: str, dest: str, check: str, **data):
    """template(), written beside ``dest`` first and moved into place only
    once ``check`` (a shell command; ``{file}`` is the new file) accepts it:
    whatever reads ``dest`` never meets an invalid file."""
    if _current(dest, _sha1(_rendered(src, data).encode()), None):
        return UNCHANGED
    new = f"{dest}.twonode-new"
    files.template(name=f"{name}: written beside, to check", src=src, dest=new, **data)
    # sync: on the disk before anything relies on it (a power loss after the
    # rename left an empty file on the lab).
    return server.shell(name=name, commands=[check.format(file=quote(new)), f"mv -f {quote(new)} {quote(dest)}",
                                             f"sync {quote(dest)} {quote(os.path.dirname(dest))}"])


def put(name: str, src: str, dest: str, mode: str | None = None):
    with open(os.path.join(state.cwd or "", src), "rb") as f:
        digest = _sha1(f.read())
    if _current(dest, digest, mode):
        return UNCHANGED
    return files.put(name=name, src=src, dest=dest, mode=mode)


def line_reads(path: str) -> tuple:
    return (path_key(path),)


def line_is_current(lines: Sequence[str] | None, regex: str, replace: str) -> bool:
    """What files.line(line=regex, replace=replace) would leave alone: the
    lines matching ``regex`` exist and all are ``replace`` already."""
    matching = [text for text in lines or [] if re.search(regex, text)]
    return bool(matching) and all(text == replace for text in matching)


def ere_escape(text: str) -> str:
    """``text`` as a literal in a POSIX extended regex (and in Python's re).
    Not re.escape: it also escapes '-' and '/', which grep -E warns about."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def line(name: str, path: str, regex: str, replace: str):
    """files.line with ``replace``, unless the line is current. ``regex`` is
    a POSIX extended regex (grep -E, sed -E): pyinfra's default is a basic
    one, where `+` is a literal and a changed fstab line was appended beside
    the old one instead of replacing it (seen on the lab)."""
    if line_is_current(file_lines(path), regex, replace):
        return UNCHANGED
    return files.line(name=name, path=path, line=regex, replace=replace, extended_regex=True)


def directory_reads(path: str) -> tuple:
    return (path_key(path),)


def directory(name: str, path: str) -> None:
    found = path_state(path)
    if found is not None and found.is_directory:
        return
    files.directory(name=name, path=path)


def service_reads(unit: str) -> tuple:
    return (key(UnitStates, units=(unit,)),)


def service(name: str, unit: str, running: bool | None, enabled: bool, daemon_reload: bool = False) -> None:
    """systemd.service, unless the unit is already as wanted."""
    now = fact(UnitStates, units=(unit,)).get(unit)
    running_now, enabled_now = (now.running, now.enabled) if now else (False, False)
    if not daemon_reload and running in (None, running_now) and enabled_now == enabled:
        return
    systemd.service(name=name, service=unit, running=running, enabled=enabled, daemon_reload=daemon_reload)


def etc_hosts_reads() -> tuple:
    return (path_key(ETC_HOSTS),)


def hosts_line_names(current: Sequence[str], ours: Sequence[str]) -> list[str] | None:
    """The names for an /etc/hosts line that has ``current`` and must have
    ``ours``: ours first, the admin's others kept. None: nothing to add."""
    if all(name in current for name in ours):
        return None
    return [*ours, *(name for name in current if name not in ours)]


def etc_hosts(name: str, ip: str, hostnames: list[str]) -> None:
    # pyinfra's own parser, on the lines read with every other path. Its
    # operation rewrites the IP's whole line: give it the admin's names too.
    current = EtcHosts().process(list(file_lines(ETC_HOSTS) or ())).get(ip) or []
    names = hosts_line_names(current, hostnames)
    if names is not None:
        server.etc_hosts(name=name, ip=ip, hostnames=names)


def refuse_unless_blank(device: str, action: str) -> str:
    """Shell that stops the operation when ``device`` holds any signature:
    the last check, right before a destructive command writes (the facts
    read at planning time are the first)."""
    refusing = quote(f"refusing to {action} {device}:")
    return (
        f"sig=$(wipefs --no-act --noheadings {quote(device)}) || "
        f"{{ echo {refusing} wipefs cannot read it >&2; exit 1; }}; "
        f"if [ -n \"$sig\" ]; then echo {refusing} it holds: \"$sig\" >&2; exit 1; fi"
    )


#: Connection states in which a sync can go on: the fact's connected states,
#: plus the short-lived ones around a handshake and DRBD 9's name.
SYNCING_CSTATES = "|".join(sorted(CONNECTED_STATES | {"WFReportParams", "Established"}))


def wait_for(resource: str, test: str, what: str, timeout: int, peer_grace: int | None = None) -> str:
    """Shell that polls ``test`` (a drbdadm state query: portable across
    DRBD 8.4 and 9) once a second, and fails after ``timeout`` seconds
    with the resource's states, so that the error says where it stuck.
    With ``peer_grace``, it also fails once the peer has been away that
    many seconds in a row: a sync whose source is gone cannot finish, and
    waiting the whole timeout for it helps nobody (seen on the lab: a join
    whose source lost power waited an hour)."""
    res = quote(resource)
    states = f"\"cstate $(drbdadm cstate {res}) dstate $(drbdadm dstate {res})\" >&2; cat /proc/drbd >&2 2>/dev/null"
    away = ""
    if peer_grace is not None:
        away = (
            f"case $(drbdadm cstate {res}) in {SYNCING_CSTATES}) gone=0;; *) gone=$((gone+1));; esac; "
            f"if [ $gone -gt {int(peer_grace)} ]; then "
            f"echo {quote(f'{resource}: the peer has been away for {int(peer_grace)}s while waiting for {what}:')} "
            f"{states}; exit 1; fi; "
        )
    return (
        f"i=0; gone=0; until {test}; do i=$((i+1)); {away}if [ $i -gt {int(timeout)} ]; then "
        f"echo {quote(f'{resource}: timed out after {int(timeout)}s waiting for {what}:')} "
        f"{states}; exit 1; fi; sleep 1; done"
    )


def step(on: Collection[str], name: str, commands: list[str], **kwargs) -> None:
    """An operation that must keep its place relative to the OTHER node's
    operations: when any node has it to do, it is emitted on every host,
    named "<name> on <nodes>" (true on both), with no commands on the
    others; when no node has it, it is not emitted at all.

    pyinfra orders operations by a topological sort of each host's own
    sequence, tie-broken by line: an operation that only one host has can
    move ahead of operations of the other host that come before it in the
    code. Seen on the lab: fiori's new-current-uuid (which waits for the
    peer) was scheduled before torchio's `drbdadm up`, and waited in vain.
    ``on`` comes from the plans both hosts share, so both emit the same.
    """
    if not on:
        return
    server.shell(name=f"{name} on {', '.join(sorted(on))}",
                 commands=commands if node_name() in on else [], **kwargs)


def require_vg(vgs: dict[str, VolumeGroup], name: str) -> VolumeGroup:
    vg = vgs.get(name)
    if vg is None:
        raise DeployStopped(
            f"{host.name}: volume group {name!r} not found (vgs lists: {', '.join(vgs) or 'none'}). "
            "The procedure starts from an installed system with LVM: create the VG "
            "(pvcreate/vgcreate) or set volume_group in group_data/all.py."
        )
    return vg


LV_CREATED = "created"
LV_GROWN = "grown"


def ensure_lv(vg: VolumeGroup, name: str, size: str, area: str, grow: bool = True) -> str | None:
    """Create the LV if missing; grow it (if ``grow``) when smaller than
    configured; never shrink. Returns LV_CREATED or LV_GROWN when this run
    does so, else None."""
    wanted = size_to_bytes(size)
    lv = vg.lvs.get(name)
    if lv is None:
        # --wipesignatures: the extents come from free space, whose stale
        # contents belong to nobody; without it lvcreate would prompt.
        server.shell(
            name=f"{area}: create LV {vg.name}/{name} ({size})",
            commands=[f"lvcreate --yes --wipesignatures y --name={quote(name)} --size={wanted}b {quote(vg.name)}"],
        )
        return LV_CREATED
    # Sizes are rounded up to whole extents by LVM.
    if lv.size_bytes + vg.extent_bytes <= wanted:
        if not grow:
            logger.warning(f"{host.name}: LV {vg.name}/{name} is smaller than the configured {size}: "
                           "growing it is not automated; left as it is")
            return None
        server.shell(
            name=f"{area}: grow LV {vg.name}/{name} to {size}",
            commands=[f"lvextend --size={wanted}b {quote(f'{vg.name}/{name}')}"],
        )
        return LV_GROWN
    if lv.size_bytes > wanted + vg.extent_bytes:
        logger.warning(
            f"{host.name}: LV {vg.name}/{name} is {lv.size_bytes} bytes, more than the configured "
            f"{size}: left as it is (shrinking is never done automatically)"
        )
    return None


def fstab_foreign_lines(lines: Sequence[str] | None, device: str, mount_point: str) -> list[str]:
    """fstab lines that mount something other than ``device`` on
    ``mount_point``: the admin's, never replaced."""
    found = []
    for text in lines or ():
        fields = text.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and fields[1] == mount_point and fields[0] != device:
            found.append(text)
    return found


def fstab_regex(mount_point: str) -> str:
    """The fstab lines that mount something on ``mount_point`` (ERE)."""
    return rf"^\S+\s+{ere_escape(mount_point)}\s"


def one_line_command(path: str, regex: str, wanted: str) -> str:
    """Shell: delete every line of ``path`` matching ``regex`` (ERE), then
    append ``wanted`` once."""
    address = "/" + regex.replace("/", "\\/") + "/d"
    return f"sed -E -i {quote(address)} {quote(path)} && echo {quote(wanted)} >> {quote(path)}"


def fstab_entry(device: str, mount_point: str, fs_type: str, options: str, passno: int, area: str):
    """The fstab line for ``mount_point``. When it changes, systemd must
    reload before the mount: its mount unit, with the x-systemd ordering,
    is generated from fstab only then (until a reboot otherwise). A line
    that mounts another device there is the admin's: reported, and the
    deploy stops."""
    foreign = fstab_foreign_lines(file_lines(FSTAB), device, mount_point)
    if foreign:
        raise DeployStopped(
            f"{host.name}: /etc/fstab already mounts something else on {mount_point}: {foreign[0]!r}. "
            f"Not replaced: remove or change that line yourself, or give the volume another mount "
            "point. Nothing was changed."
        )
    regex = fstab_regex(mount_point)
    wanted = f"{device} {mount_point} {fs_type} {options} 0 {passno}"
    matching = [text for text in file_lines(FSTAB) or [] if re.search(regex, text)]
    if len(matching) > 1:
        # Two lines for one mount point (left by an older twonode whose
        # line edits could append): both go, ours is written once.
        return server.shell(
            name=f"{area}: fstab entry for {mount_point} (one line instead of {len(matching)})",
            commands=[one_line_command(FSTAB, regex, wanted)],
        )
    return line(name=f"{area}: fstab entry for {mount_point}", path=FSTAB, regex=regex, replace=wanted)


def mount(mount_point: str, area: str, **kwargs) -> None:
    """Mount from fstab unless already mounted."""
    if mount_point in fact(LinuxMounts):
        return
    directory(name=f"{area}: mount point {mount_point}", path=mount_point)
    server.shell(name=f"{area}: mount {mount_point}", commands=[f"mount {quote(mount_point)}"], **kwargs)


# --- Secrets.

@operation()
def _upload_secret(path: str, content: str):
    # Uploaded straight into its root-only directory, then renamed: the
    # content is never on a command line or in pyinfra's output (files.put
    # would print it with --diff).
    staged = f"{path}.new"
    yield FileUploadCommand(io.BytesIO(content.encode()), staged, remote_temp_filename=staged)
    yield f"chmod 600 {quote(staged)} && mv -f {quote(staged)} {quote(path)}"


def secret_file(name: str, path: str, content: str) -> None:
    """``path`` (0600) holds ``content``, compared by digest only."""
    files.directory(name=f"{name}: root-only directory", path=os.path.dirname(path), mode="700")
    if host.get_fact(Sha256File, path=path) == hashlib.sha256(content.encode()).hexdigest():
        return
    _upload_secret(name=name, path=path, content=content)
