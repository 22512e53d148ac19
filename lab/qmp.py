#!/usr/bin/env python3
"""A minimal QMP client for lab/lab.sh: freeze, save and resume the guests.

    lab/qmp.py SOCKET stop|cont|quit
    lab/qmp.py SOCKET save FILE        migrate the stopped guest's RAM and devices to FILE
    lab/qmp.py SOCKET wait-incoming    until a guest started with -incoming has loaded
    lab/qmp.py SOCKET status
    lab/qmp.py SOCKET link NETDEV up|down   the NIC's carrier, as a pulled cable

Every wait is bounded (TWONODE_QMP_TIMEOUT, 300 s): a guest that hangs fails
the lab command, never the CI's time limit.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time

TIMEOUT = float(os.environ.get("TWONODE_QMP_TIMEOUT", "300"))


class Qmp:
    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.reader = self.sock.makefile("r")
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while True:
            line = self.reader.readline()
            if not line:
                raise SystemExit("qmp: the guest closed the monitor")
            message = json.loads(line)
            if "event" not in message:
                return message

    def execute(self, command: str, **arguments) -> object:
        request = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        reply = self._read()
        if "error" in reply:
            raise SystemExit(f"qmp: {command}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def wait(self, done, what: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while True:
            value = done()
            if value:
                return value
            if time.monotonic() > deadline:
                raise SystemExit(f"qmp: timed out after {TIMEOUT:.0f} s waiting for {what}")
            time.sleep(0.2)


def save(qmp: Qmp, path: str) -> None:
    """RAM and device state of a stopped guest into ``path``. The disks are
    not in the stream: stopped, QEMU has flushed them, and the caller keeps
    the overlays as they are now beside the state."""
    qmp.execute("migrate", uri=f"exec:cat > {shlex.quote(path)}")

    def finished():
        info = qmp.execute("query-migrate")
        if info.get("status") == "failed":
            raise SystemExit(f"qmp: saving the guest failed: {info.get('error-desc', info)}")
        return info.get("status") == "completed" and info

    qmp.wait(finished, "the state to be written")


def wait_incoming(qmp: Qmp) -> None:
    """A guest started with -S -incoming stays 'inmigrate' while it loads,
    then waits paused for `cont`."""
    def loaded():
        status = qmp.execute("query-status")["status"]
        if status in ("shutdown", "internal-error", "guest-panicked"):
            raise SystemExit(f"qmp: the guest did not load its state: {status}")
        return status != "inmigrate" and status

    qmp.wait(loaded, "the state to be loaded")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    qmp = Qmp(argv[0])
    command = argv[1]
    if command == "save":
        save(qmp, argv[2])
    elif command == "wait-incoming":
        wait_incoming(qmp)
    elif command == "status":
        print(qmp.execute("query-status")["status"])
    elif command == "link":
        # On the host side: the guest sees its carrier go, and the state
        # outlasts a reboot of the guest (the QEMU process stays).
        qmp.execute("set_link", name=argv[2], up=argv[3] == "up")
    elif command in ("stop", "cont", "quit"):
        qmp.execute(command)
    else:
        raise SystemExit(f"qmp: unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
