"""Files on the machine that runs pyinfra which hold secrets (the BMC
passwords, DRBD's shared secret): outside the repository, readable by
their owner only. What a refusal says names the file and the fix, never
its content."""

from __future__ import annotations

import stat
from pathlib import Path

from .paths import REPOSITORY


def private_file_problem(path: Path, what: str, create: str) -> str | None:
    """Why ``path`` cannot hold ``what`` (``create`` says how to make it),
    or None."""
    if not path.is_file():
        return f"no {what} at {path}. {create}"
    if path.resolve().is_relative_to(REPOSITORY):
        return (f"{path} is inside the repository, where the {what} would be committed: move it out "
                "(e.g. to ~/.config/twonode/)")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} can be read by others: chmod 600 {path}"
    return None
