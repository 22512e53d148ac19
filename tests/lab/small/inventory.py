"""The lab guests with a small cluster (tests/lab/small/group_data): one
256 MiB replicated volume, so that the tests that sync a whole volume
(a node joining later) take a minute under TCG, not twenty.
"""

from twonode.lab import lab_hosts

nodes = lab_hosts(__file__)
