"""NFS clients on the lab's private network, as the VMs of the example would
be: each in a network namespace of its own on a node's private bridge
(virbr0), with an address of the example's private network, mounting the
cluster's server address. A client on fiori's bridge and one on torchio's
reach the same server, whichever node serves (tests/lab/test_12_nfs.py,
tests/lab/test_4_reboot.py).

A client's mount lives in the node's mount namespace (at /mnt/CLIENT), its
NFS traffic in its network namespace (the kernel's NFS client uses the
network namespace of the process that mounted), and its NFSv4 client
identity is its own host name (the mount runs in a UTS namespace of its
own): to the server, each is another machine.

``ssh`` is a callable ``(node, command) -> stdout`` that fails on a
non-zero exit (the test's ``lab.ssh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Ssh = Callable[[str, str], str]
SERVER = "192.168.10.1"
EXPORT = "/vol/small/home"
BRIDGE = "virbr0"


@dataclass(frozen=True)
class Client:
    name: str
    node: str
    address: str
    #: "4.2" or "3".
    version: str = "4.2"

    @property
    def mount_point(self) -> str:
        return f"/mnt/{self.name}"


def attach(ssh: Ssh, client: Client) -> None:
    """The client's namespace, its veth on the bridge (the bridge's MTU),
    and its mount of the export with the options docs/concepts.md recommends for
    the VMs (hard: a server that goes away makes it wait, never fail;
    timeo=100: it retries within the grace period of a new server)."""
    n, host, peer = client.name, f"{client.name}-h", f"{client.name}-n"
    ssh(client.node, f"""set -e
mtu=$(cat /sys/class/net/{BRIDGE}/mtu)
ip netns add {n}
ip link add {host} mtu $mtu type veth peer name {peer} mtu $mtu
ip link set {host} master {BRIDGE} up
ip link set {peer} netns {n}
ip -n {n} addr add {client.address}/24 dev {peer}
ip -n {n} link set {peer} up
ip -n {n} link set lo up
mkdir -p {client.mount_point}
nsenter --net=/run/netns/{n} unshare --uts sh -c 'hostname {n} && \
    mount -t nfs -o vers={client.version},hard,timeo=100 {SERVER}:{EXPORT} {client.mount_point}'
""")


def detach(ssh: Ssh, client: Client) -> None:
    ssh(client.node, f"umount -f -l {client.mount_point} 2>/dev/null; ip netns del {client.name} 2>/dev/null; "
                     f"ip link del {client.name}-h 2>/dev/null; true")


# One file per write through the client's mount, fsync'd, then its number
# appended (and fsync'd) to a log on the node's root disk: the log holds
# exactly what the NFS server acknowledged to the client. A write that
# fails (the file being written when its server lost power, whose creation
# the server never committed: the client's state recovery finds it gone)
# goes to NAME.errors, and the writer goes on, as an application would.
WRITER = r"""
import os, sys, time
mount, name = sys.argv[1], sys.argv[2]
d = f"{mount}/w-{name}"
os.makedirs(d, exist_ok=True)
log = os.open(f"/root/{name}.acked", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
i = 0
while not os.path.exists(f"/root/{name}.stop"):
    i += 1
    try:
        fd = os.open(f"{d}/{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, f"{name} {i}\n".encode()); os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        with open(f"/root/{name}.errors", "a") as errors:
            errors.write(f"{i} {time.time():.3f} {error.errno}\n")
        continue
    os.write(log, f"{i} {time.time():.3f}\n".encode()); os.fsync(log)
    time.sleep(0.5)
"""


# One file kept open, a numbered line appended and fsync'd after another
# (a database's log under load, some fifteen a second), each number then appended
# (and fsync'd) to NAME.appended on the node's root disk once the server
# acknowledged it. Each fsync is a stable WRITE to the server, and the
# file's open state must survive a change of server: a failure goes to
# NAME.append-errors and the appender goes on.
APPENDER = r"""
import os, sys, time
mount, name = sys.argv[1], sys.argv[2]
log = os.open(f"/root/{name}.appended", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
fd = os.open(f"{mount}/log-{name}", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
i = 0
while not os.path.exists(f"/root/{name}.stop"):
    i += 1
    try:
        os.write(fd, f"{name} {i}\n".encode()); os.fsync(fd)
    except OSError as error:
        with open(f"/root/{name}.append-errors", "a") as errors:
            errors.write(f"{i} {time.time():.3f} {error.errno}\n")
        time.sleep(0.5)
        continue
    os.write(log, f"{i} {time.time():.3f}\n".encode()); os.fsync(log)
    time.sleep(0.05)
"""


def start_appender(ssh: Ssh, client: Client) -> None:
    n = client.name
    ssh(client.node, f"rm -f /root/{n}.appended /root/{n}.append-errors /root/{n}.stop; "
                     f"cat > /root/nfs-appender.py <<'EOF'\n{APPENDER}\nEOF\n"
                     f"setsid python3 /root/nfs-appender.py {client.mount_point} {n} >/root/{n}.append-log 2>&1 "
                     f"< /dev/null &")


def appended(ssh: Ssh, client: Client) -> list[tuple[int, float]]:
    """(number, time) of each line the server acknowledged."""
    return _acknowledged(ssh, client, "appended")


def lost_appends(ssh: Ssh, client: Client, reader: str) -> list[int]:
    """The acknowledged lines missing from the file, read on ``reader``
    from the volume itself (a lost stretch reads back as zeros)."""
    found = ssh(reader, f"tr -d '\\000' < {EXPORT}/log-{client.name}")
    have = {int(parts[1]) for parts in (line.split() for line in found.splitlines())
            if len(parts) == 2 and parts[0] == client.name and parts[1].isdigit()}
    return [i for i, _ in appended(ssh, client) if i not in have]


def start_writer(ssh: Ssh, client: Client) -> None:
    n = client.name
    ssh(client.node, f"rm -f /root/{n}.acked /root/{n}.errors /root/{n}.stop; cat > /root/nfs-writer.py <<'EOF'\n{WRITER}\nEOF\n"
                     f"setsid python3 /root/nfs-writer.py {client.mount_point} {n} >/root/{n}.log 2>&1 < /dev/null &")


def stop_writer(ssh: Ssh, client: Client) -> None:
    ssh(client.node, f"touch /root/{client.name}.stop")


def write_errors(ssh: Ssh, client: Client) -> list[tuple[int, float]]:
    """(number, time) of each write that failed (never acknowledged)."""
    rows = [line.split() for line in ssh(client.node, f"cat /root/{client.name}.errors 2>/dev/null || true").splitlines()]
    return [(int(r[0]), float(r[1])) for r in rows if len(r) == 3 and r[0].isdigit()]


def acked(ssh: Ssh, client: Client) -> list[tuple[int, float]]:
    return _acknowledged(ssh, client, "acked")


def _acknowledged(ssh: Ssh, client: Client, log: str) -> list[tuple[int, float]]:
    """The (number, time) lines of the client's /root/NAME.LOG."""
    rows = [line.split() for line in ssh(client.node, f"cat /root/{client.name}.{log} 2>/dev/null || true").splitlines()]
    return [(int(r[0]), float(r[1])) for r in rows if len(r) == 2 and r[0].isdigit()]


def lost(ssh: Ssh, client: Client, reader: str) -> list[int]:
    """The acknowledged writes whose file does not hold what was written,
    read on ``reader`` from the volume itself."""
    numbers = [i for i, _ in acked(ssh, client)]
    if not numbers:
        return []
    d = f"{EXPORT}/w-{client.name}"
    found = ssh(reader, f"cd {d} && for i in $(seq 1 {max(numbers)}); do cat $i 2>/dev/null || echo missing $i; done")
    have = {int(parts[1]) for parts in (line.split() for line in found.splitlines())
            if len(parts) == 2 and parts[0] == client.name}
    return [i for i in numbers if i not in have]


def hold_lock(ssh: Ssh, client: Client, path: str = "lockfile") -> None:
    """An exclusive lock on a file of the export, held until release_lock
    (flock(2), which the NFS client sends to the server as a POSIX lock):
    /root/CLIENT.held says when it was granted."""
    n = client.name
    ssh(client.node, f"rm -f /root/{n}.held /root/{n}.release; "
                     f"setsid flock -x {client.mount_point}/{path} -c "
                     f"'date +%s.%N > /root/{n}.held; while [ ! -e /root/{n}.release ]; do sleep 1; done' "
                     f">/dev/null 2>&1 </dev/null &")


def lock_held(ssh: Ssh, client: Client) -> bool:
    return ssh(client.node, f"cat /root/{client.name}.held 2>/dev/null || true").strip() != ""


def release_lock(ssh: Ssh, client: Client) -> None:
    ssh(client.node, f"touch /root/{client.name}.release")


def try_lock(ssh: Ssh, client: Client, path: str = "lockfile") -> bool:
    """Whether the client gets the lock at once (then lets go of it): True,
    or False when another holds it; any other failure (no lock service)
    raises."""
    out = ssh(client.node, f"timeout 120 flock -n -x -E 75 {client.mount_point}/{path} -c true; echo rc=$?").strip()
    if out.endswith("rc=0"):
        return True
    if out.endswith("rc=75"):
        return False
    raise RuntimeError(f"{client.name}: flock on {path} failed: {out}")


PROBER = r"""
n=$1 f=$2
while [ ! -e /root/$n.stop ]; do
    flock -n -x -E 75 "$f" -c "date +%s.%N >> /root/$n.got"
    rc=$?
    [ $rc = 0 ] || [ $rc = 75 ] || echo "$(date +%s) $rc" >> /root/$n.errors
    sleep 1
done
"""


def start_lock_prober(ssh: Ssh, client: Client, path: str = "lockfile") -> None:
    """Asks for the lock every second, without waiting; each time it got
    it goes to /root/CLIENT.got (it must stay empty while another holds
    it), each other failure to /root/CLIENT.errors."""
    n = client.name
    ssh(client.node, f"rm -f /root/{n}.got /root/{n}.errors /root/{n}.stop; "
                     f"cat > /root/lock-prober.sh <<'EOF'\n{PROBER}\nEOF\n"
                     f"setsid sh /root/lock-prober.sh {n} {client.mount_point}/{path} >/dev/null 2>&1 </dev/null &")


def stop_lock_prober(ssh: Ssh, client: Client) -> None:
    ssh(client.node, f"touch /root/{client.name}.stop")


def prober_errors(ssh: Ssh, client: Client) -> list[str]:
    return ssh(client.node, f"cat /root/{client.name}.errors 2>/dev/null || true").splitlines()


def lock_grants(ssh: Ssh, client: Client) -> list[float]:
    return [float(t) for t in ssh(client.node, f"cat /root/{client.name}.got 2>/dev/null || true").split()]
