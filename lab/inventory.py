"""The lab guests (lab/lab.sh) as the cluster's two nodes.

Same cluster description as the real inventory (group_data/all.py, validated
before any connection); only how pyinfra reaches each node differs.
"""

from twonode.lab import lab_hosts

nodes = lab_hosts(__file__)
