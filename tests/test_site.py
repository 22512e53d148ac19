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
