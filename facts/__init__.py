"""Custom pyinfra facts for twonode: each reads one area of a node in one
round trip and returns typed, documented values. The parsing lives in plain
functions beside each fact so tests can feed them outputs captured on real
systems (tests/fixtures)."""
