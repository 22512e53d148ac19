"""The lab's "provisioned" checkpoint (lab/checkpoints.py): every package
the deploy installs, installed on bare guests by the deploy's own operation
(twonode.install: apt, --no-install-recommends, from the guests'
offline repository). The tests that start here still run every other step
of the deploy themselves; tests/lab/test_1 keeps the installation from bare
Debian under test.

    pyinfra lab/inventory.py lab/provision.py
"""

from twonode import packages
from twonode.install import install

# The cluster's data is not read here (a root file system, no inventory):
# the lab's nodes fence each other through Redfish BMCs.
install(list(packages.AREAS), "lab", fence_agents=packages.LAB_FENCE_AGENTS)
