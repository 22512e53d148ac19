"""The replication links' shared secret (DRBD's cram-hmac-alg and
shared-secret, on every resource), read on the machine that runs pyinfra
from outside the repository, and never shown.

Where it comes from, first found wins:

1. $TWONODE_DRBD_SECRET: the secret itself (a CI vault, a password manager);
2. the file $TWONODE_DRBD_SECRET_FILE names;
3. the file ``drbd.shared_secret_file`` in group_data names
   (default ~/.config/twonode/drbd-secret), one line, chmod 600.

It lands in each resource file (0600, uploaded without a diff) and DRBD
compares it at every connection: a node with another secret cannot
connect (the status says "authentication failed").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .model import Cluster
from .secret_files import private_file_problem

SECRET_ENV = "TWONODE_DRBD_SECRET"
SECRET_FILE_ENV = "TWONODE_DRBD_SECRET_FILE"
#: DRBD takes up to 64 characters; the resource file holds it between
#: double quotes: no quote, backslash or space (base64 and hex fit).
SECRET_PATTERN = re.compile(r"[A-Za-z0-9+/=_.:-]{16,64}")
CREATE = "openssl rand -base64 32"


class DrbdSecretError(Exception):
    """No usable secret: nothing runs."""


def secret_path(c: Cluster) -> Path:
    return Path(os.environ.get(SECRET_FILE_ENV) or c.drbd.shared_secret_file).expanduser()


def read_shared_secret(c: Cluster) -> str:
    """The secret; every refusal says what to fix and never shows it."""
    if os.environ.get(SECRET_ENV):
        return _checked(os.environ[SECRET_ENV], f"${SECRET_ENV}")
    path = secret_path(c)
    problem = private_file_problem(
        path, "DRBD shared secret file",
        f"The replication links authenticate with a secret that lives outside the repository: "
        f"`umask 077; mkdir -p {path.parent}; {CREATE} > {path}` (or name another file with "
        f"drbd.shared_secret_file in group_data or ${SECRET_FILE_ENV}, or give the secret in ${SECRET_ENV})")
    if problem:
        raise DrbdSecretError(f"drbd: {problem}")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(lines) != 1:
        raise DrbdSecretError(f"drbd: {path} must hold the secret on one line (it has {len(lines)} lines)")
    return _checked(lines[0], str(path))


def _checked(secret: str, source: str) -> str:
    secret = secret.strip()
    if not SECRET_PATTERN.fullmatch(secret):
        raise DrbdSecretError(
            f"drbd: the shared secret in {source} is not 16 to 64 characters of letters, digits and "
            f"'+/=_.:-' ({len(secret)} characters given; the value is not shown). Make one with `{CREATE}`")
    return secret
