"""twonode-nfs (templates/nfs/nfs-server.sh) run for real, two holders on
one lock file with flock(2) as on OCFS2, with fake ip, arping, systemctl,
mount and findmnt that record what they are asked: one serves while the
other waits; a stop, a crash or a planned move hands the server over; a
holder never takes the address while anybody still answers for it."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "templates/nfs/nfs-server.sh"

FAKES = {
    # Every call recorded; ip addr keeps this node's addresses in a file.
    "ip": """#!/bin/sh
echo "ip $*" >> "$NODE_DIR/calls"
case "$1 $2" in
  "addr replace") echo "$3" > "$NODE_DIR/address" ;;
  "addr del") [ -e "$NODE_DIR/address" ] || exit 2; rm -f "$NODE_DIR/address" ;;
  "-o addr") [ -e "$NODE_DIR/address" ] && echo "9: lo    inet $(cat "$NODE_DIR/address") scope global lo" ;;
esac
exit 0
""",
    # -D (is the address free?): not while the shared file says someone
    # answers (1), nor while the bridge is down (2).
    "arping": """#!/bin/sh
echo "arping $*" >> "$NODE_DIR/calls"
case " $* " in *" -D "*)
  [ -e "$NODE_DIR/bridge-down" ] && exit 2
  [ -e "$SHARED/answers" ] && exit 1 ;;
esac
exit 0
""",
    "systemctl": """#!/bin/sh
echo "systemctl $*" >> "$NODE_DIR/calls"
case " $* " in
  " start "*) echo 8 > "$NODE_DIR/nfsd" ;;
  " stop "*" nfs-server.service "*) echo 0 > "$NODE_DIR/nfsd" ;;
esac
""",
    "sm-notify": "#!/bin/sh\necho \"sm-notify $*\" >> \"$NODE_DIR/calls\"\n",
    "mount": "#!/bin/sh\necho \"mount $*\" >> \"$NODE_DIR/calls\"; touch \"$NODE_DIR/bound\"\n",
    "umount": "#!/bin/sh\necho \"umount $*\" >> \"$NODE_DIR/calls\"; rm -f \"$NODE_DIR/bound\"\n",
    # stat -f -c %T PATH: the lock's file system, OCFS2 unless the test
    # says the volume went away beneath it.
    "stat": """#!/bin/sh
[ "$1" = -f ] || exec /usr/bin/stat "$@"
[ -e "$NODE_DIR/unmounted" ] && echo ext2/ext3 || echo ocfs2
""",
    # findmnt -n -o TARGET -M STATE: the bind, while there.
    "findmnt": """#!/bin/sh
for last; do :; done
[ -e "$NODE_DIR/bound" ] && echo "$last"
exit 0
""",
}


class Node:
    def __init__(self, tmp: Path, name: str, shared: Path):
        self.name, self.dir, self.shared = name, tmp / name, shared
        (self.dir / "bin").mkdir(parents=True)
        (self.dir / "nfs").mkdir()
        for tool, text in FAKES.items():
            (self.dir / "bin" / tool).write_text(text)
            (self.dir / "bin" / tool).chmod(0o755)
        (self.dir / "mounts").write_text("/dev/drbd0 /vol/small ocfs2 rw,relatime 0 0\n")
        (self.dir / "conf").write_text(
            f"NODE={name}\nADDRESS=192.168.10.1/24\nBRIDGE=lo\nSTATE_DIR={shared}\nMOUNTS=\"/vol/small\"\n"
            "HEAD_START=0\n")
        self.process = None

    def env(self) -> dict:
        return {"PATH": f"{self.dir}/bin:/usr/bin:/bin", "NODE_DIR": str(self.dir), "SHARED": str(self.shared),
                "TWONODE_NFS_CONF": str(self.dir / "conf"), "TWONODE_NFS_SERVING": str(self.dir / "serving"),
                "TWONODE_NFS_STATE": str(self.dir / "nfs"), "TWONODE_MOUNTS": str(self.dir / "mounts"),
                "TWONODE_NFSD_THREADS": str(self.dir / "nfsd"), "TWONODE_NFS_POLL": "1", "TWONODE_NFS_HEAL": "1"}

    def start(self) -> "Node":
        self.process = subprocess.Popen(["bash", str(SCRIPT)], env=self.env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        return self

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def kill_all(self) -> None:
        """What systemd does to the unit's whole control group."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def serves(self) -> bool:
        return (self.dir / "serving").exists()

    def calls(self) -> list[str]:
        path = self.dir / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def output(self) -> str:
        self.kill_all()
        return self.process.stdout.read()


def serving(node: "Node") -> "Node":
    """``node`` started, once it serves (the first holder of the lock)."""
    node.start()
    assert eventually(node.serves)
    return node


def eventually(check, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def pair(tmp_path):
    shared = tmp_path / "volume" / ".twonode-nfs"
    shared.mkdir(parents=True)
    nodes = [Node(tmp_path, "fiori", shared), Node(tmp_path, "torchio", shared)]
    yield nodes
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.kill_all()


def test_one_holder_serves_the_other_waits(pair):
    fiori, torchio = pair
    serving(fiori)
    torchio.start()
    time.sleep(4)
    assert not torchio.serves()
    calls = fiori.calls()
    # The state bound from the volume before nfsd starts; the address
    # taken only once nobody answers for it; NFSv3 clients told.
    order = [next(i for i, c in enumerate(calls) if c.startswith(prefix)) for prefix in (
        "arping -q -D", "mount --bind", "ip addr replace 192.168.10.1/24 dev lo", "systemctl start nfs-server",
        "sm-notify -f -v 192.168.10.1")]
    assert order == sorted(order), calls
    assert (fiori.shared / "var-lib-nfs").is_dir()
    assert fiori.dir.joinpath("serving").read_text().split()[0] == "fiori"
    assert (fiori.shared / "server").read_text().split()[0] == "fiori"
    assert not any(c.startswith("ip addr replace") for c in torchio.calls()), torchio.calls()


def test_a_stop_lets_go_of_everything_and_the_peer_takes_over(pair):
    fiori, torchio = pair
    serving(fiori)
    torchio.start()
    fiori.signal(signal.SIGTERM)
    assert fiori.process.wait(timeout=20) == 0
    calls = fiori.calls()
    released = calls[max(i for i, c in enumerate(calls) if c.startswith("sm-notify")):]
    assert "ip addr del 192.168.10.1/24 dev lo" in released and "systemctl stop nfs-server.service" in released
    assert any(c.startswith("umount") for c in released) and not fiori.serves()
    # The address goes first: clients retry instead of meeting a closing server.
    assert released.index("ip addr del 192.168.10.1/24 dev lo") < released.index("systemctl stop nfs-server.service")
    assert eventually(torchio.serves)


def test_a_planned_move_hands_over_and_the_mover_does_not_take_it_back(pair):
    fiori, torchio = pair
    serving(fiori)
    torchio.start()
    time.sleep(1)
    fiori.signal(signal.SIGUSR1)
    assert eventually(torchio.serves)
    assert not fiori.serves()
    time.sleep(5)
    assert torchio.serves() and not fiori.serves()
    assert "a planned move: letting go so that the peer serves" in fiori.output()


def test_nobody_takes_the_address_while_someone_still_answers_for_it(pair):
    fiori, torchio = pair
    serving(fiori)
    # Killed outright, the whole unit (no release): the lock is free, the
    # address (on the shared network) is not.
    fiori.kill_all()
    (fiori.shared / "answers").touch()
    torchio.start()
    time.sleep(5)
    assert not torchio.serves()
    (fiori.shared / "answers").unlink()
    assert eventually(torchio.serves)
    assert "192.168.10.1 still answers on lo: waiting until it is free" in torchio.output()


def test_the_serving_holder_puts_back_an_address_or_nfsd_that_went_away(pair):
    fiori, _ = pair
    serving(fiori)
    (fiori.dir / "address").unlink()  # libvirt restarted the network: a new bridge
    (fiori.dir / "nfsd").write_text("0\n")  # nfsd stopped: no threads
    assert eventually(lambda: (fiori.dir / "address").exists() and (fiori.dir / "nfsd").read_text() == "8\n")
    output = fiori.output()
    assert "192.168.10.1/24 back on lo" in output and "nfs-server was not running: started" in output


def test_a_bridge_not_up_yet_is_waited_for_without_a_false_alarm(pair):
    fiori, _ = pair
    (fiori.dir / "bridge-down").touch()
    fiori.start()
    time.sleep(4)
    assert not fiori.serves()
    (fiori.dir / "bridge-down").unlink()
    assert eventually(fiori.serves)
    assert "still answers" not in fiori.output()


def test_the_waiting_holder_keeps_nothing_of_the_volume_open(pair):
    # An operator's umount on the standby node (a split brain's recovery)
    # must not find the volume busy with the waiting holder's lock file.
    fiori, torchio = pair
    serving(fiori)
    torchio.start()
    time.sleep(4)
    holders = [torchio.process.pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-g", str(torchio.process.pid)], capture_output=True, text=True).stdout.split()]
    seen_open = 0
    for _ in range(10):
        opened = []
        for pid in holders:
            try:
                opened += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:  # a process or descriptor gone meanwhile
                pass
        seen_open += any(str(fiori.shared) in path for path in opened)
        time.sleep(0.3)
    # Open for an instant each second (the try), never held: a blocking
    # wait would be seen open every time.
    assert seen_open <= 1, seen_open
    assert not torchio.serves()


def test_a_lock_beneath_an_unmounted_volume_is_never_served_from(pair):
    fiori, _ = pair
    (fiori.dir / "unmounted").touch()
    fiori.start()
    time.sleep(4)
    assert not fiori.serves()
    (fiori.dir / "unmounted").unlink()
    assert eventually(fiori.serves)


def test_nothing_is_asked_for_until_the_volume_is_mounted(pair):
    fiori, _ = pair
    (fiori.dir / "mounts").write_text("/dev/vda / ext4 rw 0 0\n")
    fiori.start()
    time.sleep(3)
    assert not fiori.serves() and not (fiori.shared / "server.lock").exists()
    (fiori.dir / "mounts").write_text("/dev/vda / ext4 rw 0 0\n/dev/drbd0 /vol/small ocfs2 rw 0 0\n")
    assert eventually(fiori.serves)
