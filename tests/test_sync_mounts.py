"""Which live OCFS2 mounts the deploy remounts ``sync`` or ``async``
(twonode/sync_mounts.py), on mountinfo captured on the lab: fiori's
/vol/small remounted ``sync`` (with /var/lib/nfs bound from it), torchio's
as an older twonode mounted it."""

import runpy
from pathlib import Path

from pyinfra.facts.server import Mounts

from twonode.loader import validate
from twonode.sync_mounts import mounted_sync, remounts

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
SMALL = Path(__file__).parent / "lab" / "small" / "group_data" / "all.py"


def mounts(node: str) -> dict:
    fact = Mounts()
    fact._kernel = "Linux"
    return fact.process((FIXTURES / f"remounted-sync_{node}__LinuxMounts.txt").read_text().splitlines())


def small() -> dict:
    return runpy.run_path(str(SMALL))["cluster"]


def test_the_superblocks_sync_is_read_from_mountinfo():
    assert mounted_sync(mounts("fiori"), "/vol/small") is True
    assert mounted_sync(mounts("fiori"), "/var/lib/nfs") is True
    assert mounted_sync(mounts("torchio"), "/vol/small") is False
    assert mounted_sync(mounts("torchio"), "/vol/nothing") is None


def test_a_volume_nfs_writes_to_is_remounted_sync_where_it_is_not():
    c = validate(small())
    assert remounts(c, mounts("torchio")) == [("/vol/small", "sync")]
    assert remounts(c, mounts("fiori")) == []


def test_a_volume_nfs_no_longer_writes_to_is_remounted_async():
    raw = small()
    raw.pop("nfs")
    raw["libvirt"]["networks"] = []
    c = validate(raw)
    assert remounts(c, mounts("fiori")) == [("/vol/small", "async")]
    assert remounts(c, mounts("torchio")) == []
