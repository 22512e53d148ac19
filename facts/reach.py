"""Whether a node reaches TCP ports elsewhere: the preflight's question
about the peer's cluster ports and BMC (tasks/check.py)."""

from __future__ import annotations

from shlex import quote

from pyinfra.api import FactBase

#: Seconds a connection attempt may take: a port that a firewall drops
#: gives no answer at all, and that is what this tells apart. Generous: on
#: a loaded node the attempt's own shell takes seconds to start (a lab
#: guest under load missed 3 s through its BMC forward).
CONNECT_SECONDS = 10

#: What a connection attempt found.
ESTABLISHED = "established"  # a connection between the two already uses the port: not tried
OPEN = "open"            # something listens there
REFUSED = "refused"      # the host answered that nothing listens: nothing filters the port
TIMEOUT = "timeout"      # no answer: a firewall drops it, or the host is down
UNREACHABLE = "unreachable"  # no route to the address, or another error
#: The answers that prove the path is open, whether or not anything listens yet.
PASSES = (ESTABLISHED, OPEN, REFUSED)


class TcpReach(FactBase[dict[str, str]]):
    """
    For each ``address:port`` target, what a TCP connection from the node
    found, all tried at once (bash's ``/dev/tcp``, ``timeout`` 10 s each).
    A port that a connection between the node and that address already
    uses (``ss``: either end) is not tried: that connection proves the
    path, and a stray one would only make DRBD or o2net log a failed
    handshake (o2net takes a connection from the peer's address for the
    peer's own).

    .. code:: python

        {"10.0.0.2:7790": "established", "10.0.0.2:22": "open", "10.0.0.2:7777": "timeout"}
    """

    def command(self, targets: tuple[str, ...]) -> str:
        tries = []
        for target in targets:
            address, port = target.rsplit(":", 1)
            q = quote(target)
            connect = quote(f"exec 3<>/dev/tcp/{address}/{int(port)}")
            used = quote(f"( dport = :{int(port)} or sport = :{int(port)} )")
            tries.append(
                f"( if ss -Htn state established dst {quote(address)} {used} 2>/dev/null | grep -q .; "
                f"then echo {q} {ESTABLISHED}; "
                f"elif out=$(timeout {CONNECT_SECONDS} bash -c {connect} 2>&1); then echo {q} {OPEN}; "
                f"elif [ $? -eq 124 ]; then echo {q} {TIMEOUT}; "
                f"else case $out in *refused*) echo {q} {REFUSED} ;; *) echo {q} {UNREACHABLE} ;; esac; fi ) &")
        return " ".join(tries) + " wait" if tries else "true"

    def process(self, output: list[str]) -> dict[str, str]:
        found = {}
        for line in output:
            fields = line.split()
            if len(fields) == 2 and fields[1] in (ESTABLISHED, OPEN, REFUSED, TIMEOUT, UNREACHABLE):
                found[fields[0]] = fields[1]
        return found
