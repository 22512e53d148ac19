"""Load and validate the cluster description from ``group_data/``.

pyinfra reads ``group_data/all.py`` from the current directory and from the
inventory's directory (in that order, later wins); :func:`load_cluster`
reads the same files the same way, so what is validated is exactly what the
tasks later see as ``host.data.cluster``. It runs from the inventory file,
that is before pyinfra connects to any host: bad input stops the run there.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from pydantic import ValidationError
from pyinfra.api.exceptions import PyinfraError

from .model import Cluster


class ClusterConfigError(PyinfraError):
    """The cluster description is invalid; nothing has been run."""


def format_errors(error: ValidationError) -> str:
    lines = [f"group_data: the cluster description is invalid ({error.error_count()} problem(s)); nothing was run:"]
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "cluster"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  cluster.{where}: {msg}")
    return "\n".join(lines)


def validate(raw: dict) -> Cluster:
    try:
        return Cluster.model_validate(raw)
    except ValidationError as error:
        raise ClusterConfigError(format_errors(error)) from None


def group_data_files(inventory_file: str | Path, cwd: str | Path | None = None) -> list[Path]:
    cwd = Path(cwd or Path.cwd()).resolve()
    dirs = [cwd / "group_data"]
    inv_dir = Path(inventory_file).resolve().parent
    if inv_dir != cwd:
        dirs.append(inv_dir / "group_data")
    return [d / "all.py" for d in dirs if (d / "all.py").is_file()]


def load_cluster(inventory_file: str | Path, cwd: str | Path | None = None) -> Cluster:
    raw = None
    files = group_data_files(inventory_file, cwd)
    for path in files:
        data = runpy.run_path(str(path))
        if "cluster" in data:
            raw = data["cluster"]
    if raw is None:
        raise ClusterConfigError(
            f"group_data: no `cluster = {{...}}` in {', '.join(map(str, files)) or 'group_data/all.py'}: "
            "describe the cluster there (see the example in the repository's group_data/all.py)"
        )
    return validate(raw)
