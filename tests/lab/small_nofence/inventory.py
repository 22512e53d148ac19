"""The small cluster with fencing off (fencing = {"mode": "none"}): for the
test that makes a split brain on purpose (test_3), as one happens where
fencing is disabled or failed."""

from twonode.lab import lab_hosts

nodes = lab_hosts(__file__)
