"""The lab guests with one 1g replicated volume (bench/bench.py)."""

from twonode.lab import lab_hosts

nodes = lab_hosts(__file__)
