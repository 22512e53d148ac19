"""The small test cluster with one 1g replicated volume (bench/bench.py):
the bring-up time must not grow with the volume size."""

import copy as __copy
import runpy as __runpy
from pathlib import Path as __Path

cluster = __copy.deepcopy(
    __runpy.run_path(str(__Path(__file__).resolve().parents[3] / "tests/lab/small/group_data/all.py"))["cluster"]
)
cluster["replicated_volumes"][0]["size"] = "1g"
