"""The whole cluster, in the procedure's order.

    pyinfra lab/inventory.py deploy.py      # the lab guests
    pyinfra inventory.py deploy.py [--dry]  # your two servers

Each task is also runnable alone (pyinfra inventory.py tasks/nfs.py). pyinfra
runs every operation on both nodes before the next one: the per-node work
and the one-node-only actions (new-current-uuid --clear-bitmap, mkfs.ocfs2)
are ordered by the tasks themselves (see tasks/drbd.py).
"""

from pyinfra import local

from twonode import packages, paths, reads
from twonode.context import cluster
from twonode.install import install
from twonode.snapshot import prefetch

# Everything the tasks will check, in one round trip per node.
prefetch(*reads.every_task(cluster()))
# Every area's packages in one apt transaction (see twonode/install.py); each
# task run alone still installs its own.
install(list(packages.AREAS), "packages")

# Fencing first: a BMC that cannot fence the peer stops the deploy before
# anything else changes (tasks/fencing.py).
for task in ("fencing", "network", "storage", "drbd", "ocfs2", "nfs", "libvirt"):
    local.include(str(paths.REPOSITORY / "tasks" / f"{task}.py"))
