"""The handler scripts twonode ships are plain files (files.put, no
template), so each carries its paths as defaults; the Python side names the
same paths once (twonode/paths.py). These must agree, or a handler writes
where the status never reads, or reads options nobody uploaded."""

import re
from pathlib import Path

import pytest

from twonode.paths import ACTIVATE_VOLUMES, DRBD_EVENT, EVENTS_FILE, FENCE_DIR

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def default_of(script: str, variable: str) -> str:
    """The default of ``${VARIABLE:-default}`` in a shipped script."""
    text = (TEMPLATES / script).read_text()
    found = re.findall(r"\$\{" + variable + r":-([^}]+)\}", text)
    assert len(found) == 1, (script, variable, found)
    return found[0]


@pytest.mark.parametrize("script, variable, python_side", [
    ("drbd/fence-peer.sh", "TWONODE_FENCE_DIR", FENCE_DIR),
    ("drbd/fence-peer.sh", "TWONODE_EVENT_HANDLER", DRBD_EVENT),
    ("drbd/drbd-event.sh", "TWONODE_EVENTS", EVENTS_FILE),
    ("ocfs2/twonode-activate.sh", "TWONODE_VOLUMES", ACTIVATE_VOLUMES),
])
def test_a_shipped_script_and_the_python_side_name_the_same_path(script, variable, python_side):
    assert default_of(script, variable) == python_side
