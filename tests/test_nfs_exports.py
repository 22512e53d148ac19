"""Exports under a replicated volume carry `mp=<mount point>`: at boot the
volume is mounted only once the peer is connected (twonode-activate), and
until then exportfs must skip them rather than export the empty directory
beneath, on the node's root disk."""

import runpy
from pathlib import Path

import jinja2

from twonode.loader import validate

ROOT = Path(__file__).resolve().parents[1]


def rendered_exports(raw: dict) -> list[str]:
    c = validate(raw)
    exports, guards = c.nfs.grouped_exports(), c.export_guards()
    template = jinja2.Template((ROOT / "templates/nfs/exports.j2").read_text())
    return template.render(exports=exports, guards=guards).replace("\\\n", " ").splitlines()


def test_replicated_exports_are_guarded_by_their_mount_point():
    raw = runpy.run_path(str(ROOT / "group_data/all.py"))["cluster"]
    raw["local_volumes"][0]["mount_point"] = "/vol/local"
    # Each node serves its own local volume: only in mode per_node.
    raw["nfs"]["mode"] = "per_node"
    raw["nfs"]["exports"].append({"path": "/vol/local/x", "clients": [{"host": "192.168.10.8", "options": ["ro"]}]})
    lines = {line.split()[0]: line for line in rendered_exports(raw)[1:]}
    assert "192.168.1.0/24(rw,sync,no_root_squash,no_subtree_check,mp=/vol/small)" in lines["/vol/small/home"]
    assert "192.168.10.8(rw,sync,no_root_squash,no_subtree_check,mp=/vol/small)" in lines["/vol/small/svn"]
    assert "mp=/vol/pub)" in lines["/vol/pub"]
    assert "192.168.10.8(ro)" in lines["/vol/local/x"] and "mp=" not in lines["/vol/local/x"]
