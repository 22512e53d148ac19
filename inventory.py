"""The two nodes, as described in group_data/all.py.

The description is validated here, while pyinfra loads the inventory and
before it connects to anything: invalid input stops the run with the field
and the fix, and no host is touched. For the lab guests use lab/inventory.py.
"""

from twonode.loader import load_cluster

_cluster = load_cluster(__file__)

nodes = [
    (node.ssh_host, {"node_name": node.name, "ssh_port": node.ssh_port})
    for node in _cluster.nodes
]
