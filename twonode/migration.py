"""Live migration between the two nodes: each node's own SSH key, trusted by
the peer only from the peer's cluster address, and host keys pinned.

libvirt's ``qemu+ssh://torchio-cluster/system`` runs ssh as root on the
source; the destination must accept that root login, and the source must
know the destination's host key beforehand (a first-use prompt would hang
the migration, and accepting any key would let an address on the cluster
network pose as the peer). The key is made on the node (``ssh-keygen``),
so its private half never leaves it: not in the repository, not on the
controller, not in a log. Only the public halves travel, read by fact.

The migration data itself goes over the cluster network too: each node's
libvirt announces its own cluster address (``migration_host``) and listens
for incoming migrations there only (``migration_address``).
"""

from __future__ import annotations

import re

from .shell import ere_escape
from .paths import HOST_KEY, KNOWN_HOSTS, MIGRATION_PUBLIC_KEY, MIGRATION_SSH_CONFIG, QEMU_CONF

#: Read on every node: what it decides on, and what its peer reads of it
#: (in one round trip with the node's other reads).
NODE_FILES = (MIGRATION_PUBLIC_KEY, HOST_KEY, KNOWN_HOSTS, MIGRATION_SSH_CONFIG, QEMU_CONF)

_PUBLIC_KEY = re.compile(r"(ssh-ed25519) ([A-Za-z0-9+/]+={0,2})(?: .*)?")


class NotAPublicKey(ValueError):
    pass


def public_key(text: str, where: str) -> str:
    """``type base64`` of an ed25519 public key file's first line, the
    comment dropped. Anything else (an empty or foreign file) is refused:
    what is authorized must be exactly a key."""
    first = (text.strip().splitlines() or [""])[0]
    m = _PUBLIC_KEY.fullmatch(first.strip())
    if not m:
        raise NotAPublicKey(f"{where} is not an ed25519 public key: {first[:40]!r}")
    return f"{m.group(1)} {m.group(2)}"


def comment(node: str) -> str:
    """Marks the authorized_keys line of ``node``'s migration key."""
    return f"twonode-migration@{node}"


#: What the peer's key may run here: libvirt's own end of its SSH transport
#: (qemu+ssh:// runs it, or nc on older libvirt), whatever command the
#: client asks for. Never a shell: the key is root's, without a passphrase.
SSH_HELPER = "/usr/bin/virt-ssh-helper qemu:///system"


def authorized_line(node: str, address: str, key: str) -> str:
    """The peer ``node``'s key, accepted only from its cluster ``address``,
    and only to reach libvirt (SSH_HELPER); `restrict` drops forwarding,
    pty and agent (libvirt's transport needs none of them)."""
    return f'from="{address}",restrict,command="{SSH_HELPER}" {key} {comment(node)}'


def authorized_regex(node: str) -> str:
    """The line of ``node``'s migration key, whatever key it holds (a
    reinstalled peer has a new one: its line is replaced, not added). A
    POSIX extended regex, as twonode.ops.line takes."""
    return rf" {ere_escape(comment(node))}$"


def known_hosts_names(node: str, suffix: str, address: str) -> str:
    return f"{node}{suffix},{address}"


def known_hosts_line(node: str, suffix: str, address: str, host_key: str) -> str:
    return f"{known_hosts_names(node, suffix, address)} {host_key}"


def known_hosts_regex(node: str, suffix: str, address: str) -> str:
    return "^" + ere_escape(known_hosts_names(node, suffix, address)) + " "


def qemu_conf_settings(address: str) -> dict[str, str]:
    """qemu.conf lines that keep migration traffic on the cluster network:
    announced to the source, and listened on, at this node's address."""
    return {"migration_host": f'"{address}"', "migration_address": f'"{address}"'}
