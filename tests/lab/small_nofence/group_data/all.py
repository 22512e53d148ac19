"""tests/lab/small's cluster, with fencing = {"mode": "none"}."""

import runpy
from pathlib import Path

cluster = runpy.run_path(str(Path(__file__).resolve().parents[2] / "small" / "group_data" / "all.py"))["cluster"]
cluster = {**cluster, "fencing": {"mode": "none"}}
