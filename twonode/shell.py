"""Shell snippets the tasks run on the nodes. Every value in them is
quoted (shlex.quote), and a snippet that can fail says why, so that
pyinfra's error names the cause."""

from __future__ import annotations

import re
from shlex import quote

from facts.drbd_state import CONNECTED_STATES
from facts.secrets import MASK_SECRETS


def ere_escape(text: str) -> str:
    """``text`` as a literal in a POSIX extended regex (and in Python's re).
    Not re.escape: it also escapes '-' and '/', which grep -E warns about."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def masking_secrets(command: str) -> str:
    """``command``, its output masked (facts/secrets.py) before pyinfra sees
    it, on stderr, and its exit status kept: drbdadm prints a failed
    drbdsetup command line whole, the shared secret included."""
    return f"out=$({command} 2>&1); rc=$?; [ -z \"$out\" ] || printf '%s\\n' \"$out\" | {MASK_SECRETS} >&2; exit $rc"


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


def refuse_unless_drbd_state(resource: str, wanted: str, refusal: str) -> str:
    """Shell that stops the operation unless ``resource`` is in ``wanted``,
    "CSTATE DSTATE" as drbdadm prints them (DRBD 8.4 and 9 alike): the last
    check before a command that is only safe in that state, the planner's
    facts being the first. The error names the state it found."""
    res = quote(resource)
    return (
        f"s=\"$(drbdadm cstate {res}) $(drbdadm dstate {res})\"; "
        f"if [ \"$s\" != {quote(wanted)} ]; then "
        f"echo {quote(f'{resource}: {refusal}:')} \"$s\" >&2; exit 1; fi"
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


def one_line_command(path: str, regex: str, wanted: str) -> str:
    """Shell: delete every line of ``path`` matching ``regex`` (ERE), then
    append ``wanted`` once."""
    address = "/" + regex.replace("/", "\\/") + "/d"
    return f"sed -E -i {quote(address)} {quote(path)} && echo {quote(wanted)} >> {quote(path)}"
