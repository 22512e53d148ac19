"""Fencing: what each node needs to power its peer off (the fence-peer
handler, templates/drbd/fence-peer.sh), and the BMC passwords it needs,
which live outside the repository and never reach a template or a log.

The passwords file is read on the machine that runs pyinfra: TOML, one line
per node, ``fiori = "..."``, readable by its owner only. It is named by
``fencing.passwords_file`` in group_data, or by the environment variable
TWONODE_FENCE_PASSWORDS. Each node gets its PEER's agent options, with the
password, in a root-only file (FENCE_OPTIONS) that the handler feeds to the
agent on stdin: never on a command line, where `ps` would show it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path

from facts.identity import machine_uuid

from .model import Bmc, Cluster
from .secret_files import private_file_problem

PASSWORDS_ENV = "TWONODE_FENCE_PASSWORDS"


class FencingError(Exception):
    """The passwords file is missing, unsafe or incomplete: nothing runs."""


def passwords_path(c: Cluster) -> Path:
    named = os.environ.get(PASSWORDS_ENV) or c.fencing.passwords_file
    return Path(named).expanduser()


def read_passwords(c: Cluster) -> dict[str, str]:
    """Each node's BMC password. Every refusal says what to fix and never
    shows a password."""
    path = passwords_path(c)
    example = "\n".join(f'  {n.name} = "<{n.name}\'s BMC password>"' for n in c.nodes)
    problem = private_file_problem(
        path, "BMC passwords file",
        f"Create it outside the repository, readable by you only (chmod 600), with one line per node:\n"
        f"{example}\n(or name another file with fencing.passwords_file in group_data, or ${PASSWORDS_ENV})")
    if problem:
        raise FencingError(f"fencing: {problem}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise FencingError(f"fencing: {path} is not TOML ({error}): one line per node, e.g.\n{example}") from None
    passwords = {}
    for node in c.nodes:
        password = data.get(node.name)
        if not isinstance(password, str) or not password:
            raise FencingError(f"fencing: {path} has no password for {node.name}: add a line\n"
                               f'  {node.name} = "<{node.name}\'s BMC password>"')
        if "\n" in password or "\r" in password or password != password.strip():
            raise FencingError(f"fencing: {node.name}'s password in {path} starts or ends with a space or "
                               "holds a line break, which a fence agent's stdin cannot carry")
        passwords[node.name] = password
    return passwords


def agent_options(bmc: Bmc, password: str) -> str:
    """The agent's stdin (fence-agents reads `name=value` lines), without the
    action, which the handler adds."""
    lines = [f"ip={bmc.address}", f"ipport={bmc.port}", f"username={bmc.username}", f"password={password}",
             *(f"{name}={value}" for name, value in sorted(bmc.options.items()))]
    return "\n".join(lines) + "\n"


def race_delay(c: Cluster, node_name: str) -> int:
    """Seconds ``node_name`` waits before fencing: none for first_node, so
    that when the link breaks under both at once, first_node survives."""
    return 0 if node_name == c.first else c.fencing.race_delay


#: One or more PEM certificates, and nothing else a file of them may hold.
PEM_CERTIFICATES = re.compile(r"(?:-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{40,16000}"
                              r"-----END CERTIFICATE-----\n)+")


def read_ca(bmc: Bmc, node: str) -> str:
    """The PEM certificates that ``node``'s BMC must present a certificate
    of (``bmc.ca_file``), normalised; "" when the node's system CAs are
    trusted."""
    if not bmc.ca_file:
        return ""
    path = Path(bmc.ca_file).expanduser()
    where = f"fencing: nodes.{node}.bmc.ca_file {path}"
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise FencingError(f"{where} cannot be read ({error.__class__.__name__}): give the PEM file of the "
                           "certificate the BMC presents, or of its CA") from None
    pem = "".join(f"{line.strip()}\n" for line in text.strip().splitlines() if line.strip())
    if not PEM_CERTIFICATES.fullmatch(pem):
        raise FencingError(f"{where} holds something else than PEM certificates (-----BEGIN CERTIFICATE----- "
                           "blocks only; no private key): e.g. openssl s_client -connect BMC:443 -showcerts")
    return pem


def ca_digest(pem: str) -> str:
    """What the handler's settings record of the pinned certificates: a new
    certificate is new settings, checked against the BMC before use."""
    return hashlib.sha256(pem.encode()).hexdigest() if pem else ""


def peer_uuid(mine: str, peers: str | None, recorded: tuple[str, ...] | None) -> str:
    """The machine UUID that the peer's BMC must report for the system it
    fences (the fence check compares them), or "" for none to compare.

    ``peers`` is the peer's own, read in this run (None: the peer was not
    read, e.g. it is down); then the one the settings in place recorded
    (``recorded``: handler.conf's lines). Two nodes that report the same
    UUID (a firmware default copied onto many boards) cannot be told apart
    by it: nothing to compare."""
    if peers is None:
        for line in recorded or ():
            if line.startswith("peer_uuid="):
                return machine_uuid(line.removeprefix("peer_uuid="))
        return ""
    return "" if peers == mine else peers
