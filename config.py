"""pyinfra settings for every run from this directory (pyinfra loads
config.py from the working directory before the inventory).

Lockstep: an operation that fails on either node stops the whole run.
pyinfra's default carries on with the hosts that did not fail, but the two
nodes' operations depend on each other (a node waits for its peer's
connection, a mount for the other node's mkfs): going on alone is never
right. A node that cannot be reached at all is the exception, let through
at connection time: that is how a lone node comes up when its peer is down
(see tasks/drbd.py). Set here because pyinfra restores the configuration
after each deploy file.
"""

from pyinfra import config, state
from pyinfra.api.state import StateStage

config.FAIL_PERCENT = 0


def _stop_unless_connecting(state) -> bool:
    return state.current_stage != StateStage.Connect


state.should_raise_failed_hosts = _stop_unless_connecting
