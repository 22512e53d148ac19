"""How pyinfra reaches the lab guests (lab/lab.sh): SSH forwarded to
127.0.0.1, with the lab's own key. Shared by lab/inventory.py and the test
inventories that deploy other cluster descriptions to the same guests."""

from __future__ import annotations

import os
from pathlib import Path

from .loader import load_cluster
from .releases import DEFAULT, SUPPORTED

NODE_INDEX = {"fiori": 1, "torchio": 2}


#: The labs lab/lab.sh can run side by side (TWONODE_LAB_INSTANCE): the
#: suffix of their run and BMC directories, and their default port base.
INSTANCES = {"": ("", 2220), "b": ("-b", 2420), "c": ("-c", 2620), "d": ("-d", 2820)}


def lab_dir() -> Path:
    """The cache shared by both labs: image, SSH key, checkpoints."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("TWONODE_LAB_DIR") or cache / "twonode" / "lab")


def _instance() -> tuple[str, int]:
    name = os.environ.get("TWONODE_LAB_INSTANCE", "")
    if name not in INSTANCES:
        raise SystemExit(f"TWONODE_LAB_INSTANCE is empty (the lab), b, c or d (the labs beside it), not {name!r}")
    return INSTANCES[name]


def lab_release() -> str:
    """The guests' Debian release (lab/lab.sh: TWONODE_LAB_RELEASE)."""
    release = os.environ.get("TWONODE_LAB_RELEASE") or DEFAULT.codename
    if release not in SUPPORTED:
        raise SystemExit(f"TWONODE_LAB_RELEASE is one of {' '.join(SUPPORTED)}, not {release!r}")
    return release


#: Set to 1: every release's bring-up from bare Debian (see bare_bringup).
FULL_ENV = "TWONODE_FULL"


def bare_bringup(release: str) -> bool:
    """Whether test_1 installs the deploy's packages inside ``release``'s
    guests (from bare Debian), or starts from its ``provisioned``
    checkpoint, whose packages the same install operation put in at the
    host's speed (lab/checkpoints.py). The default release always starts
    bare, as a new server does; the others only with TWONODE_FULL=1, which
    is worth a run whenever the package list or the release table
    (twonode/packages.py, twonode/releases.py) changes (CONTRIBUTING.md)."""
    return release == DEFAULT.codename or os.environ.get(FULL_ENV) == "1"


def run_dir() -> Path:
    """This lab's guests: disks, pid files, consoles, QMP sockets."""
    return lab_dir() / f"run{_instance()[0]}"


#: In a lab's run directory while its guests hold what a lab test made of
#: them (tests/lab/conftest.py writes it): a test's cluster, not the
#: example's, which `make deploy` would refuse to change.
TESTS_MARK = "left-by-tests"


def left_by_tests() -> str | None:
    """What the tests said they left in this lab's guests, or None."""
    try:
        return (run_dir() / TESTS_MARK).read_text().strip() or "a lab test"
    except FileNotFoundError:
        return None


def forget_tests() -> None:
    (run_dir() / TESTS_MARK).unlink(missing_ok=True)


if __name__ == "__main__":
    # `make deploy`: guests a test left are reset to bare Debian first.
    import sys
    left = left_by_tests()
    if left is not None:
        print(f"lab: its guests hold what {left} left, not the example cluster: they start again from bare "
              "Debian (lab/lab.sh reset)", flush=True)
        forget_tests()
    sys.exit(3 if left is not None else 0)


def bmc_dir() -> Path:
    """This lab's BMC (lab/bmc.py): its request log and certificate."""
    return lab_dir() / f"bmc{_instance()[0]}"


def bmc_credentials_dir() -> Path:
    """The BMC password, one for every lab: a checkpoint made in one lab
    holds it in its nodes' fence options and is restored in the others."""
    return lab_dir() / "bmc-credentials"


#: The labs' DRBD shared secret (twonode/drbd_secret.py): one for every lab,
#: like the BMC password, since a checkpoint made in one is restored in all.
LAB_SECRET = "twonode-lab-replication-secret"


def drbd_secret_file() -> Path:
    """The lab's shared-secret file, written on first use: a secret that is
    not one (the lab's), in a file outside the repository, as a real
    cluster's must be."""
    path = lab_dir() / "drbd-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f"drbd-secret.{os.getpid()}")
        staged.write_text(LAB_SECRET + "\n")
        staged.chmod(0o600)
        staged.replace(path)
    return path


def port_base() -> int:
    return int(os.environ.get("TWONODE_LAB_PORT") or _instance()[1])


#: paramiko's waits for a lab guest's SSH (pyinfra's connector hands them to
#: SSHClient.connect). pyinfra's default gives the whole key exchange 10 s;
#: a TCG guest that gets a sixth of a core takes longer, as the test_1 labs'
#: guests do while the other labs are busy (lab/suite.py: at 14 % of a core,
#: one connection in two failed with the default, none of two with these;
#: docs/benchmarks.md, "The lab"). Real servers keep pyinfra's defaults.
SLOW_GUEST_SSH_TIMEOUTS = {"timeout": 180, "banner_timeout": 180, "auth_timeout": 180}


def lab_hosts(inventory_file: str) -> list[tuple[str, dict]]:
    """The inventory's hosts; the cluster description is validated first.
    The BMC passwords are the lab BMC's (lab/bmc.py writes the file), the
    DRBD shared secret the lab's (drbd_secret_file())."""
    os.environ.setdefault("TWONODE_FENCE_PASSWORDS", str(bmc_credentials_dir() / "passwords.toml"))
    os.environ.setdefault("TWONODE_DRBD_SECRET_FILE", str(drbd_secret_file()))
    cluster = load_cluster(inventory_file)
    unknown = [n.name for n in cluster.nodes if n.name not in NODE_INDEX]
    if unknown:
        raise SystemExit(f"the lab's guests are fiori and torchio; group_data names {unknown}")
    return [
        (
            node.name,
            {
                "node_name": node.name,
                "ssh_hostname": "127.0.0.1",
                "ssh_port": port_base() + NODE_INDEX[node.name],
                "ssh_user": "root",
                "ssh_key": str(lab_dir() / "ssh" / "id_ed25519"),
                "ssh_known_hosts_file": "/dev/null",
                "ssh_strict_host_key_checking": "no",
                "ssh_paramiko_connect_kwargs": SLOW_GUEST_SSH_TIMEOUTS,
            },
        )
        for node in cluster.nodes
    ]
