"""One node down at the first deploy: the other comes up alone as primary;
a later run joins the second node, which syncs and keeps the data.

Uses the small cluster (tests/lab/small): joining syncs the whole volume.
Starts from the provisioned checkpoint: packages installed, nothing else.
"""

import pytest

from conftest import SMALL, proc_drbd_states


@pytest.fixture(scope="module")
def alone(lab):
    lab.restore("provisioned")
    lab.kill("torchio")
    yield lab
    lab.start("torchio")


def test_fiori_comes_up_alone(alone):
    run = alone.deploy(inventory=SMALL)
    # pyinfra exits 1 because a host could not be reached: that is the
    # honest status of the cluster, but nothing that ran failed.
    assert run.returncode == 1 and run.unreachable() == ["torchio"], run
    assert run.failed_ops == [] and "Beginning operation run" in run.output, run
    assert "first-alone" in run.output
    states = proc_drbd_states(alone.ssh("fiori", "cat /proc/drbd"))
    assert states == [("WFConnection", "Primary/Unknown", "UpToDate/DUnknown")], states
    assert "/vol/small" in alone.ssh("fiori", "findmnt -n -o TARGET -t ocfs2")
    alone.ssh("fiori", "mkdir -p /vol/small/home && head -c 8M /dev/urandom > /vol/small/home/data && sync")


def test_torchio_joins_later_with_the_data(alone):
    written = alone.ssh("fiori", "sha256sum /vol/small/home/data").split()[0]
    alone.start("torchio")
    run = alone.deploy(inventory=SMALL)
    assert run.returncode == 0, run
    assert "join" in run.output
    for node in ("fiori", "torchio"):
        states = proc_drbd_states(alone.ssh(node, "cat /proc/drbd"))
        assert states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")], (node, states)
        assert alone.ssh(node, "sha256sum /vol/small/home/data").split()[0] == written


def test_then_nothing_changes(alone):
    run = alone.deploy(inventory=SMALL)
    assert run.returncode == 0, run
    assert run.changed_ops == [], run.changed_ops
