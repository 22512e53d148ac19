"""Many facts, one round trip.

pyinfra 3 runs one command per fact read and keeps no cache: a converged
node still pays a round trip for every file, line, directory and service
an operation checks (about a hundred per node for this deploy). Under TCG
each round trip costs a tenth of a second or more, so the checks, not the
changes, dominated a no-op run. FactBatch runs the commands of several
facts in one shell and hands each fact's own output to that fact's own
``process``: the facts stay defined in one place (pyinfra's or ours), only
the transport is shared.

    pyinfra inventory.py fact batch.FactBatch ...   (used from twonode.snapshot)
"""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase, StringCommand

MARK = "@@twonode-batch"


class Unread:
    """The fact's command failed inside the batch: read it alone, so that
    pyinfra reports the error as it always does."""

    def __repr__(self) -> str:
        return "Unread"


UNREAD = Unread()


def _shell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, StringCommand):
        return value.get_raw_value()
    return str(value)


class FactBatch(FactBase[list]):
    """Reads each ``(fact class, kwargs)`` of ``wanted`` with one command.

    Returns a list, in order, of what each fact returns, or ``UNREAD`` where
    the fact's command failed (non-zero exit).

    .. code:: python

        host.get_fact(FactBatch, wanted=((Sha1File, (("path", "/etc/exports"),)),))
    """

    def command(self, wanted) -> str:
        self.facts = []
        parts = []
        for index, (cls, kwargs) in enumerate(wanted):
            fact = cls()
            kwargs = dict(kwargs)
            command = _shell(fact.command(**kwargs) if callable(fact.command) else fact.command)
            requires = fact.requires_command
            requires = _shell(requires(**kwargs) if callable(requires) else requires)
            self.facts.append(fact)
            run = f"( {command} ) 2>/dev/null; echo \"{MARK} rc $?\""
            if requires:
                run = (f"if command -v {requires} >/dev/null 2>&1; then {run}; "
                       f"else echo \"{MARK} missing\"; fi")
            parts.append(f"echo '{MARK} {index}'; {run}")
        return "; ".join([*parts, "true"])

    def process(self, output) -> list:
        sections: list[list[str]] = []
        ends: list[str] = []
        for line in output:
            if line.startswith(f"{MARK} "):
                word = line.split()[1]
                if word.isdigit():
                    sections.append([])
                else:
                    ends.append(line.split(None, 1)[1])
            elif sections:
                sections[-1].append(line)
        results = []
        for fact, lines, end in zip(self.facts, sections, ends):
            if end == "missing":
                results.append(fact.default())
            elif end != "rc 0":
                results.append(UNREAD)
            else:
                results.append(fact.process(lines) if lines else fact.default())
        # A truncated output (should not happen) leaves the rest unread.
        results += [UNREAD] * (len(self.facts) - len(results))
        return results
