"""The lab guests (lab/lab.sh) as the cluster's two nodes.

Same cluster description as the real inventory (group_data/all.py, validated
before any connection); only how pyinfra reaches each node differs: SSH
forwarded to 127.0.0.1, with the lab's own key.
"""

import os
from pathlib import Path

from twonode.config import load_cluster

_cluster = load_cluster(__file__)
_cache = Path(os.environ.get("TWONODE_LAB_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "twonode" / "lab")
_port_base = int(os.environ.get("TWONODE_LAB_PORT", "2220"))
_index = {"fiori": 1, "torchio": 2}

nodes = [
    (
        node.name,
        {
            "node_name": node.name,
            "ssh_hostname": "127.0.0.1",
            "ssh_port": _port_base + _index[node.name],
            "ssh_user": "root",
            "ssh_key": str(_cache / "ssh" / "id_ed25519"),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
        },
    )
    for node in _cluster.nodes
]
