"""docs/group_data.md is what the models accept today: generated from them
(twonode/model/reference.py), and every key has its line."""

from pathlib import Path

from twonode.model import Cluster
from twonode.model.reference import render, sections

ROOT = Path(__file__).resolve().parents[1]


def test_the_reference_is_current():
    assert (ROOT / "docs/group_data.md").read_text() == render(), \
        "docs/group_data.md is stale: .venv/bin/python -m twonode.model.reference > docs/group_data.md"


def test_every_key_of_every_part_is_in_it_with_what_it_is_for():
    text = render()
    for path, model in sections(Cluster, ""):
        assert f"## `{path or 'cluster'}`" in text
        for name in model.model_fields:
            line = next((l for l in text.split(f"## `{path or 'cluster'}`", 1)[1].splitlines()
                         if l.startswith(f"| `{name}` |")), None)
            assert line is not None, (path, name)
            assert not line.endswith("|  |"), f"{path}.{name}: no #: comment above the field in twonode/model"
