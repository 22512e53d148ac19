#!/usr/bin/env python3
"""A Redfish BMC for each lab guest, as much of one as fence_redfish uses.

    python3 lab/bmc.py serve DIR SECRETS PORT   # HTTPS on 127.0.0.1:PORT, state in DIR
    python3 lab/bmc.py credentials SECRETS      # the user and password, for the tests
    python3 lab/bmc.py certificate SECRETS      # the path of its certificate (made once)
    python3 lab/bmc.py relay PORT            # stdin/stdout <-> 127.0.0.1:PORT (guestfwd's cmd:)
    python3 lab/bmc.py uuid NODE             # the machine UUID of NODE (QEMU's -uuid)

Real servers are fenced through their BMC; the lab's guests are QEMU
processes, so this service powers them off and on with ``lab/lab.sh kill``
and ``lab/lab.sh start``. A guest reaches it only through its own QEMU
user-net ``guestfwd`` address (lab/lab.sh), like a BMC on a management
network. Every request is logged to DIR/bmc.log with the time, the system
and the action, so a test can show who fenced whom and when.

What fence_redfish (fence-agents 4.12) asks, and what it gets here:

* ``GET /redfish/v1`` → a link to the Systems collection;
* ``GET /redfish/v1/Systems`` → one member per guest, and a ``spare``
  that is always off (what a wrong ``systems_uri`` may name);
* ``GET /redfish/v1/Systems/NODE`` → ``PowerState`` (On/Off, from the
  QEMU pid), the ``#ComputerSystem.Reset`` action's target, and the
  system's ``UUID``: the one QEMU gives the guest's SMBIOS (lab/lab.sh
  ``-uuid``), which the guest reads as /sys/class/dmi/id/product_uuid, as
  a real BMC reports its own machine's (twonode's fence check compares them);
* ``POST .../Actions/ComputerSystem.Reset`` with ``ResetType`` ForceOff,
  On or ForceRestart.

HTTPS only, as fence_redfish speaks it, with a self-signed certificate for
the guests' address of the BMC, made at the first start and kept in
SECRETS (the cluster descriptions pin it: bmc.ca_file); HTTP basic
authentication with a password generated at the first start and kept in
SECRETS, outside the repository. SECRETS is one directory for every lab
(lab/lab.sh): the password reaches the nodes' fence options, and a
checkpoint made in one lab is restored in the others.
"""

from __future__ import annotations

import base64
import fcntl
import json
import secrets
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
import os

LAB = Path(os.environ.get("TWONODE_LAB_SH", HERE / "lab.sh"))
NODES = ("fiori", "torchio")
#: A machine the BMC also manages, powered off for good (a chassis BMC's
#: empty slot): a systems_uri that names it answers "Off" while the node
#: the group_data meant runs, which twonode's fence check must refuse.
SPARE = "spare"
USER = "twonode-lab"
ROOT = "/redfish/v1"


def credentials(where: Path) -> tuple[str, str]:
    """The BMC's user and password, generated once and kept in ``where``,
    with the passwords file twonode reads (twonode/fencing.py; the lab's
    inventories name it in TWONODE_FENCE_PASSWORDS). Under a lock: the labs
    start their BMCs at the same moment, and must agree on one password."""
    where.mkdir(parents=True, exist_ok=True)
    path, toml = where / "password", where / "passwords.toml"
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(18) + "\n")
        password = path.read_text().strip()
        if not toml.exists():
            _write_private(toml, "".join(f'{node} = "{password}"\n' for node in NODES))
    return USER, password


def _write_private(path: Path, text: str) -> None:
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)
    new.touch(mode=0o600)
    new.write_text(text)
    new.rename(path)


#: Where the guests reach the BMC (lab/lab.sh BMC_GUEST_ADDR): the name its
#: certificate must carry for fence_redfish to trust it.
GUEST_ADDRESS = "10.0.2.100"


def certificate(where: Path) -> tuple[Path, Path]:
    """The BMC's self-signed certificate and key, made once in ``where``
    (the credentials directory, one for every lab, under its lock): the
    cluster descriptions pin it (bmc.ca_file), and a checkpoint made in one
    lab holds that pin in the others."""
    where.mkdir(parents=True, exist_ok=True)
    cert, key = where / "bmc-tls.crt", where / "bmc-tls.key"
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cert.exists():
            new_cert, new_key = cert.with_name("bmc-tls.crt.new"), key.with_name("bmc-tls.key.new")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                            "-subj", "/CN=twonode-lab-bmc", "-addext", f"subjectAltName=IP:{GUEST_ADDRESS}",
                            "-keyout", str(new_key), "-out", str(new_cert)], check=True, capture_output=True)
            new_key.rename(key)
            new_cert.rename(cert)
    return cert, key


def system_uuid(node: str) -> str:
    """The machine UUID of ``node``: the same in every lab, because a
    checkpoint made in one lab is restored in the others with the UUID its
    guest read at boot."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://twonode.invalid/lab/{node}"))


def power_state(node: str) -> str:
    result = subprocess.run([str(LAB), "running", node], capture_output=True, text=True)
    return "On" if result.returncode == 0 else "Off"


def system(node: str) -> dict:
    uri = f"{ROOT}/Systems/{node}"
    return {
        "@odata.id": uri, "Id": node, "Name": node, "UUID": system_uuid(node),
        "PowerState": "Off" if node == SPARE else power_state(node),
        "Actions": {"#ComputerSystem.Reset": {
            "target": f"{uri}/Actions/ComputerSystem.Reset",
            "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"]}},
    }


class Bmc(BaseHTTPRequestHandler):
    state: Path
    user: str
    password: str
    #: One power action at a time per guest (kill, then start, never crossed).
    locks = {node: threading.Lock() for node in NODES}

    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass

    def record(self, text: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.client_address[0]} {text}\n"
        with open(self.state / "bmc.log", "a") as log:
            log.write(line)

    def authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if secrets.compare_digest(self.headers.get("Authorization", ""), expected):
            return True
        self.record(f"{self.command} {self.path} refused: bad credentials")
        self.reply(401, {"error": "unauthorized"})
        return False

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's name)
        if not self.authorised():
            return
        path = self.path.rstrip("/")
        if path == ROOT:
            return self.reply(200, {"@odata.id": ROOT, "Systems": {"@odata.id": f"{ROOT}/Systems"}})
        if path == f"{ROOT}/Systems":
            return self.reply(200, {"Members": [{"@odata.id": f"{ROOT}/Systems/{n}"} for n in (*NODES, SPARE)]})
        node = path.removeprefix(f"{ROOT}/Systems/")
        if node in (*NODES, SPARE):
            return self.reply(200, system(node))
        self.reply(404, {"error": f"no {path}"})

    def do_POST(self):  # noqa: N802
        if not self.authorised():
            return
        path = self.path.rstrip("/")
        node = path.removeprefix(f"{ROOT}/Systems/").removesuffix("/Actions/ComputerSystem.Reset")
        if node not in (*NODES, SPARE) or not path.endswith("/Actions/ComputerSystem.Reset"):
            return self.reply(404, {"error": f"no {path}"})
        if node == SPARE:  # nothing in the slot: nothing to power
            self.record(f"{node} reset requested: nothing to power")
            return self.reply(204, {})
        length = int(self.headers.get("Content-Length", 0))
        reset = json.loads(self.rfile.read(length) or b"{}").get("ResetType")
        commands = {"ForceOff": [["kill"]], "On": [["power-on"]], "ForceRestart": [["kill"], ["power-on"]]}
        if reset not in commands:
            return self.reply(400, {"error": f"ResetType {reset!r} is not one of {sorted(commands)}"})
        self.record(f"{node} {reset} requested")
        with self.locks[node]:
            for args in commands[reset]:
                subprocess.run([str(LAB), *args, node], capture_output=True, timeout=60)
        self.record(f"{node} {reset} done: power {power_state(node)}")
        self.reply(204, {})


def relay(port: int) -> None:
    """One guest connection: QEMU's ``guestfwd=...-cmd:`` starts this per
    connection with the guest's stream on stdin and stdout (a ``tcp:``
    chardev there would be one connection made at QEMU's start, shared by
    every guest connection)."""
    import socket
    sock = socket.create_connection(("127.0.0.1", port))

    def upstream():
        while data := os.read(0, 65536):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    while data := sock.recv(65536):
        os.write(1, data)


def serve(state: Path, secrets_dir: Path, port: int) -> None:
    state.mkdir(parents=True, exist_ok=True)
    Bmc.state = state
    Bmc.user, Bmc.password = credentials(secrets_dir)
    cert, key = certificate(secrets_dir)
    server = ThreadingHTTPServer(("127.0.0.1", port), Bmc)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "relay":
        relay(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "uuid":
        print(system_uuid(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "credentials":
        print(*credentials(Path(sys.argv[2])))
    elif len(sys.argv) == 3 and sys.argv[1] == "certificate":
        print(certificate(Path(sys.argv[2]))[0])
    else:
        sys.exit(__doc__)
