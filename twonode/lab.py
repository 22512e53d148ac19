"""How pyinfra reaches the lab guests (lab/lab.sh): SSH forwarded to
127.0.0.1, with the lab's own key. Shared by lab/inventory.py and the test
inventories that deploy other cluster descriptions to the same guests."""

from __future__ import annotations

import os
from pathlib import Path

from .config import load_cluster

NODE_INDEX = {"fiori": 1, "torchio": 2}


def lab_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("TWONODE_LAB_DIR") or cache / "twonode" / "lab")


def lab_hosts(inventory_file: str) -> list[tuple[str, dict]]:
    """The inventory's hosts; the cluster description is validated first.
    The BMC passwords are the lab BMC's (lab/bmc.py writes the file)."""
    os.environ.setdefault("TWONODE_FENCE_PASSWORDS", str(lab_dir() / "bmc" / "passwords.toml"))
    cluster = load_cluster(inventory_file)
    port_base = int(os.environ.get("TWONODE_LAB_PORT", "2220"))
    unknown = [n.name for n in cluster.nodes if n.name not in NODE_INDEX]
    if unknown:
        raise SystemExit(f"the lab's guests are fiori and torchio; group_data names {unknown}")
    return [
        (
            node.name,
            {
                "node_name": node.name,
                "ssh_hostname": "127.0.0.1",
                "ssh_port": port_base + NODE_INDEX[node.name],
                "ssh_user": "root",
                "ssh_key": str(lab_dir() / "ssh" / "id_ed25519"),
                "ssh_known_hosts_file": "/dev/null",
                "ssh_strict_host_key_checking": "no",
            },
        )
        for node in cluster.nodes
    ]
