"""Small operation helpers shared by the tasks: each reads the fact it needs
and emits an operation only when something must change.

The file, line, directory, service and hosts helpers put pyinfra's own
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

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.util import get_template
from pyinfra.facts.server import EtcHosts
from pyinfra.operations import files, server, systemd

from facts.blockdev import LinuxMounts
from facts.systemd import UnitStates
from .context import DeployStopped, node_name
from .paths import ETC_HOSTS, FSTAB, SECRET_STAGING, TEMPLATES
from .reads import file_lines, path_state, secret_path_state
from .shell import ere_escape, one_line_command
from .snapshot import fact


class Unchanged:
    """Stands for an operation that was not needed (the same two members
    as pyinfra's OperationMeta that the tasks use)."""

    will_change = False

    @staticmethod
    def did_change() -> bool:
        return False


UNCHANGED = Unchanged()


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _current(dest: str, digest: str, mode: str | None) -> bool:
    found = path_state(dest)
    if found is None or not found.is_file or found.sha1 != digest:
        return False
    return mode is None or found.mode == int(mode)


def _source(src: str) -> str:
    """A file of templates/ (``src`` relative to it), wherever pyinfra runs from."""
    return str(TEMPLATES / src)


def _rendered(src: str, data: dict) -> str:
    context = {"host": host, "state": state, "inventory": state.inventory, **data}
    return get_template(_source(src)).render(context)


def template_is_current(src: str, dest: str, **data) -> bool:
    """Whether ``dest`` holds exactly what template() would write."""
    return _current(dest, _sha1(_rendered(src, data).encode()), None)


def secret_is_current(path: str, content: str) -> bool:
    """Whether ``path`` holds ``content``, root only (compared by digest)."""
    found = secret_path_state(path)
    return found is not None and found.is_file and found.mode == 600 and found.sha1 == _sha1(content.encode())


def upload_secret(name: str, path: str, content: str):
    """``content`` to ``path`` (0600), never on a command line or in the output."""
    return _upload_secret(name=name, path=path, content=content)


def template(name: str, src: str, dest: str, mode: str | None = None, **data):
    """files.template, unless ``dest`` already holds exactly what it would
    write. The rendering is pyinfra's own (same environment, same context),
    so the digests compare like for like."""
    if _current(dest, _sha1(_rendered(src, data).encode()), mode):
        return UNCHANGED
    return files.template(name=name, src=_source(src), dest=dest, mode=mode, **data)


def checked_template(name: str, src: str, dest: str, check: str, secret: bool = False, **data):
    """template(), written beside ``dest`` first and moved into place only
    once ``check`` (a shell command; ``{file}`` is the new file) accepts it:
    whatever reads ``dest`` never meets an invalid file. ``secret``: the
    file holds one (DRBD's shared secret): root-only, and uploaded as a
    secret, never shown in a diff."""
    rendered = _rendered(src, data)
    if _current(dest, _sha1(rendered.encode()), "600" if secret else None):
        return UNCHANGED
    new = f"{dest}.twonode-new"
    if secret:
        _upload_secret(name=f"{name}: written beside, to check (root only)", path=new, content=rendered)
    else:
        files.template(name=f"{name}: written beside, to check", src=_source(src), dest=new, **data)
    # sync: on the disk before anything relies on it (a power loss after the
    # rename left an empty file on the lab).
    return server.shell(name=name, commands=[check.format(file=quote(new)), f"mv -f {quote(new)} {quote(dest)}",
                                             f"sync {quote(dest)} {quote(os.path.dirname(dest))}"])


def put(name: str, src: str, dest: str, mode: str | None = None):
    with open(_source(src), "rb") as f:
        digest = _sha1(f.read())
    if _current(dest, digest, mode):
        return UNCHANGED
    return files.put(name=name, src=_source(src), dest=dest, mode=mode)


def line_is_current(lines: Sequence[str] | None, regex: str, replace: str) -> bool:
    """What files.line(line=regex, replace=replace) would leave alone: the
    lines matching ``regex`` exist and all are ``replace`` already."""
    matching = [text for text in lines or [] if re.search(regex, text)]
    return bool(matching) and all(text == replace for text in matching)


def line(name: str, path: str, regex: str, replace: str):
    """files.line with ``replace``, unless the line is current. ``regex`` is
    a POSIX extended regex (grep -E, sed -E): pyinfra's default is a basic
    one, where `+` is a literal and a changed fstab line was appended beside
    the old one instead of replacing it (seen on the lab)."""
    if line_is_current(file_lines(path), regex, replace):
        return UNCHANGED
    return files.line(name=name, path=path, line=regex, replace=replace, extended_regex=True)


def directory(name: str, path: str, mode: str | None = None) -> None:
    found = path_state(path)
    if found is not None and found.is_directory and (mode is None or found.mode == int(mode)):
        return
    files.directory(name=name, path=path, mode=mode)


def service(name: str, unit: str, running: bool | None, enabled: bool, daemon_reload: bool = False) -> None:
    """systemd.service, unless the unit is already as wanted."""
    now = fact(UnitStates, units=(unit,)).get(unit)
    running_now, enabled_now = (now.running, now.enabled) if now else (False, False)
    if not daemon_reload and running in (None, running_now) and enabled_now == enabled:
        return
    systemd.service(name=name, service=unit, running=running, enabled=enabled, daemon_reload=daemon_reload)


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
    # Uploaded into a root-only directory (the upload itself gets the SSH
    # server's default mode, 0644: beside its destination, in /etc/drbd.d,
    # anybody could read it until the chmod), made 0600, then renamed into
    # place. The content is never on a command line or in pyinfra's output
    # (files.put would print it with --diff).
    staged = f"{SECRET_STAGING}/{os.path.basename(path)}.new"
    yield f"install -d -m 700 {quote(SECRET_STAGING)}"
    yield FileUploadCommand(io.BytesIO(content.encode()), staged, remote_temp_filename=staged)
    yield f"chmod 600 {quote(staged)} && mv -f {quote(staged)} {quote(path)}"


def secret_file(name: str, path: str, content: str):
    """``path`` (0600, in a 0700 directory) holds ``content``, compared by
    digest only: both are read in the run's one batch (twonode/reads.py
    declares the file with secret_path_key, which never reads its lines)."""
    directory(name=f"{name}: root-only directory", path=os.path.dirname(path), mode="700")
    if secret_is_current(path, content):
        return UNCHANGED
    return _upload_secret(name=name, path=path, content=content)
