"""A site of one's own (docs/install.md, "Before the first run on your own servers"): an inventory and a
group_data/ in a directory outside the repository. Run from the
repository, pyinfra and the loader read the repository's group_data (the
lab's example) first and the site's last, so the site's cluster is the one
validated and deployed; the lab keeps its own."""

import shutil
from pathlib import Path

from twonode.loader import load_cluster

ROOT = Path(__file__).resolve().parents[1]


def test_a_site_directory_describes_its_own_servers_and_the_lab_keeps_the_example(tmp_path):
    site = tmp_path / "site"
    (site / "group_data").mkdir(parents=True)
    shutil.copy(ROOT / "inventory.py", site / "inventory.py")
    example = (ROOT / "group_data/all.py").read_text()
    assert '"name": "fiori"' in example and '"name": "torchio"' in example
    (site / "group_data/all.py").write_text(example.replace('"name": "fiori"', '"name": "alpha"')
                                            .replace('"name": "torchio"', '"name": "beta"'))
    mine = load_cluster(site / "inventory.py", ROOT)
    assert [n.name for n in mine.nodes] == ["alpha", "beta"]
    assert [n.name for n in load_cluster(ROOT / "lab/inventory.py", ROOT).nodes] == ["fiori", "torchio"]


def test_the_init_command_makes_a_site_for_real_servers_that_validates(tmp_path):
    from twonode.site import make_site
    site = tmp_path / "mycluster"
    written = make_site(site)
    assert sorted(p.relative_to(site).as_posix() for p in written) == ["group_data/all.py", "inventory.py"]
    mine = load_cluster(site / "inventory.py", ROOT)
    assert [n.name for n in mine.nodes] == ["alpha", "beta"]
    # Real servers: the default race_delay, each BMC naming its system, no lab path.
    assert mine.fencing.race_delay == 15 and all(n.bmc.options["systems_uri"] for n in mine.nodes)
    assert "lab" not in (site / "group_data/all.py").read_text().lower().replace("label", "")
    assert [n.name for n in load_cluster(ROOT / "lab/inventory.py", ROOT).nodes] == ["fiori", "torchio"]


def test_the_init_command_never_overwrites(tmp_path):
    import pytest
    from twonode.site import SiteExists, make_site
    site = tmp_path / "mycluster"
    (site / "group_data").mkdir(parents=True)
    (site / "group_data/all.py").write_text("cluster = {}  # mine\n")
    with pytest.raises(SiteExists, match="nothing was written"):
        make_site(site)
    assert (site / "group_data/all.py").read_text() == "cluster = {}  # mine\n"
    assert not (site / "inventory.py").exists()
