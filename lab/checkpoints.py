#!/usr/bin/env python3
"""Cached checkpoints of the two-node lab, keyed by what built them.

    .venv/bin/python lab/checkpoints.py NAME      # restore NAME, building it if missing or stale
    .venv/bin/python lab/checkpoints.py --keys    # each checkpoint's key

A checkpoint is both guests frozen together by ``lab/lab.sh save``: RAM,
devices and disk overlays. Restoring one (``lab.sh restore``) takes seconds
where a reset and a deploy from bare Debian take minutes under TCG.

A checkpoint is built by running the real thing (a pyinfra run of this
tree) and is keyed by the files that run read: when any of them changes,
the key changes and the checkpoint is built again, never trusted.
Keys chain: a checkpoint built on top of another includes its parent's key.
Every restore is verified (packages, DRBD states, mounts) before a test
relies on it; one that fails verification is deleted and built again once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from twonode.lab import bmc_credentials_dir, drbd_secret_file, lab_dir, lab_release
from twonode.packages import lab_packages
from twonode.releases import SUPPORTED

import bmc  # lab/bmc.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab" / "lab.sh"
PYINFRA = Path(sys.executable).with_name("pyinfra")
NODES = ("fiori", "torchio")
SMALL = "tests/lab/small/inventory.py"

#: Everything a deploy of this tree reads on the controller.
DEPLOY_INPUTS = ("deploy.py", "config.py", "tasks/*.py", "templates/**/*", "facts/*.py", "twonode/**/*.py")


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def lab_sh(*args: str, timeout: int = 900, release: str | None = None) -> str:
    """lab/lab.sh ARGS, for the lab's guests' release or ``release``."""
    env = {**os.environ, "TWONODE_LAB_RELEASE": release} if release else None
    result = subprocess.run([str(LAB), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise CheckpointError(f"lab.sh {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def ssh(node: str, command: str, timeout: int = 120) -> str:
    return lab_sh("ssh", node, command, timeout=timeout)


def pyinfra(inventory: str, deploy: str, timeout: int = 1800) -> None:
    result = subprocess.run([str(PYINFRA), "-y", inventory, deploy], cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise CheckpointError(f"pyinfra {inventory} {deploy} failed (rc {result.returncode}):\n"
                              f"{(result.stdout + result.stderr)[-4000:]}")


class CheckpointError(RuntimeError):
    pass


def cache_dir() -> Path:
    return lab_dir() / "checkpoints"


def proc_drbd_states(text: str) -> list[tuple[str, str, str]]:
    """(cs, ro, ds) of each device in /proc/drbd (DRBD 8.4)."""
    return re.findall(r"\d+: cs:(\S+) ro:(\S+) ds:(\S+)", text)


# --- What each checkpoint is.

def root_disk(name: str, release: str | None = None) -> Path:
    """Where checkpoint ``name`` keeps a root disk of its own, if it has one
    (beside its directory: ``lab.sh save`` replaces that directory)."""
    return path_of(name, release).with_suffix(".root.qcow2")


@contextmanager
def services_held(rootfs: Path):
    """A root file system where package scripts can run but start nothing:
    /proc mounted, and Debian's policy-rc.d "no" to every service start
    (the daemons would otherwise run on the build host itself)."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    subprocess.run(["mount", "--bind", "/proc", str(rootfs / "proc")], check=True)
    try:
        policy.write_text("#!/bin/sh\n# lab/checkpoints.py: nothing starts in the image build\nexit 101\n")
        policy.chmod(0o755)
        yield
    finally:
        policy.unlink(missing_ok=True)
        subprocess.run(["umount", str(rootfs / "proc")], check=False)


def provisioned_root(release: str | None = None) -> Path:
    """The ``provisioned`` checkpoint's root disk of ``release`` (default:
    the lab's), made when missing, without touching any running guest: the
    system disk of a node reinstalled on another release (test_1 on
    Debian 12) as well as the checkpoint's own.

    The deploy's install operation runs by pyinfra into a copy of the
    guests' root file system at the host's speed (the @chroot connector),
    rather than in a guest under TCG: minutes less on every rebuild. Which
    packages land, from which repository and with which options, is the
    same run; the bare bring-up (test_1) still installs them in a guest."""
    release = release or lab_release()
    disk = root_disk("provisioned", release)
    with one_build_at_a_time(release):
        if not disk.exists():
            with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
                rootfs = Path(work) / "rootfs"
                lab_sh("rootfs", str(rootfs), release=release)
                with services_held(rootfs):
                    pyinfra(f"@chroot/{rootfs}", "lab/provision.py")
                lab_sh("disk", str(rootfs), str(disk.with_suffix(".tmp")))
                disk.with_suffix(".tmp").replace(disk)
    return disk


def _build_provisioned() -> None:
    lab_sh("reset", str(provisioned_root()), timeout=1800)


def _verify_provisioned() -> list[str]:
    problems = []
    packages = lab_packages(SUPPORTED[lab_release()])
    for node in NODES:
        out = ssh(node, "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' " + " ".join(packages) + " || true")
        installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
        missing = sorted(set(packages) - installed)
        if missing:
            problems.append(f"{node}: packages not installed: {' '.join(missing)}")
    return problems


def _build_converged_small() -> None:
    restore("provisioned")
    pyinfra(SMALL, "deploy.py")


def converged_problems(node: str, run: Callable[[str, str], str] = ssh) -> list[str]:
    """Why ``node`` of the small cluster is not joined (Connected,
    Primary/Primary, UpToDate, /vol/small mounted); none when it is. The
    checkpoint's verification, and the lab tests' wait for a node that
    comes back (``run``: their own ssh)."""
    problems = []
    out = run(node, "cat /proc/drbd; echo @@; findmnt -n -o TARGET -t ocfs2 || true")
    proc, mounts = out.split("@@")
    if proc_drbd_states(proc) != [("Connected", "Primary/Primary", "UpToDate/UpToDate")]:
        problems.append(f"{node}: DRBD is not Connected Primary/Primary UpToDate: {proc.strip()}")
    if "/vol/small" not in mounts.split():
        problems.append(f"{node}: /vol/small is not mounted (ocfs2 mounts: {mounts.split()})")
    return problems


def _bmc_passwords() -> Path:
    """The lab BMC's passwords file, made now if no lab has started its BMC
    yet: the key must not change when the first one does (in CI the third
    lab read the key before any BMC had started, and looked for the
    checkpoint under that key after another lab had built it)."""
    bmc.credentials(bmc_credentials_dir())
    return bmc_credentials_dir() / "passwords.toml"


def _verify_converged_small() -> list[str]:
    return [problem for node in NODES for problem in converged_problems(node)]


@dataclass(frozen=True)
class Checkpoint:
    name: str
    #: The checkpoint this one is built on (None: the bare image).
    parent: str | None
    #: Globs, relative to the tree, of every file the build reads.
    inputs: tuple[str, ...]
    build: Callable[[], None]
    verify: Callable[[], list[str]]
    what: str
    #: Whether its guests boot a root disk of its own (root_disk()), not
    #: the bare image.
    own_root: bool = False
    #: Files outside the tree the build reads (their content goes into the
    #: key, never into a name or a log).
    outside: Callable[[], tuple[Path, ...]] = tuple


CHECKPOINTS = {c.name: c for c in (
    Checkpoint(
        "provisioned", None,
        ("lab/lab.sh", "lab/qmp.py", "lab/checkpoints.py", "lab/provision.py", "twonode/packages.py",
         "twonode/install.py", "twonode/releases.py", "facts/os_release.py"),
        _build_provisioned, _verify_provisioned,
        "the bare image with the deploy's packages installed by the deploy's own operation",
        own_root=True,
    ),
    Checkpoint(
        "converged-small", "provisioned",
        DEPLOY_INPUTS + ("tests/lab/small/**/*.py", "lab/inventory.py"),
        _build_converged_small, _verify_converged_small,
        "the small test cluster deployed by this tree: Primary/Primary, mounted on both",
        # The BMC password is in its nodes' fence options, the shared secret
        # in their resource files: a new one would leave fencing that cannot
        # log in, and nodes a deploy would give another secret.
        outside=lambda: (_bmc_passwords(), drbd_secret_file()),
    ),
)}


def input_files(patterns: tuple[str, ...], root: Path = ROOT) -> list[Path]:
    found = {p for pattern in patterns for p in root.glob(pattern)
             if p.is_file() and "__pycache__" not in p.parts}
    return sorted(found)


def key(name: str, root: Path = ROOT, release: str | None = None) -> str:
    """sha256 of the checkpoint's name, the guests' release (default: the
    lab's), its parent's key and every input file's path and content."""
    checkpoint = CHECKPOINTS[name]
    digest = hashlib.sha256(f"{name} {release or lab_release()}".encode())
    if checkpoint.parent:
        digest.update(key(checkpoint.parent, root, release).encode())
    for path in input_files(checkpoint.inputs, root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in checkpoint.outside():
        digest.update(path.read_bytes() if path.exists() else b"(none)")
    return digest.hexdigest()[:16]


def _release_prefix(name: str, release: str | None = None) -> str:
    """Named by the release too: one release's checkpoints never make the
    other's stale."""
    return f"{name}-{release or lab_release()}-"


def path_of(name: str, release: str | None = None) -> Path:
    return cache_dir() / f"{_release_prefix(name, release)}{key(name, release=release)}"


def cached(name: str) -> bool:
    """Whether the cache holds ``name`` under its current key: both guests'
    states, and every disk their overlays stand on."""
    where = path_of(name)
    files = [where / f"{node}.state" for node in NODES]
    files += [where / f"{node}{disk}.qcow2" for node in NODES for disk in ("", "-data")]
    if CHECKPOINTS[name].own_root:
        files.append(root_disk(name))
    parent = CHECKPOINTS[name].parent
    return all(f.exists() for f in files) and (parent is None or cached(parent))


def stale(name: str) -> list[Path]:
    """What the cache holds for ``name`` under other keys (never restored
    again), not what the current key owns (its directory, its root disk)."""
    current = path_of(name).name
    # NAME-KEY: made before checkpoints named their release.
    older = re.compile(rf"{re.escape(name)}-[0-9a-f]{{16}}(\..*)?")
    return sorted(p for p in cache_dir().glob(f"{name}-*")
                  if p.name != current and not p.name.startswith(current + ".")
                  and (p.name.startswith(_release_prefix(name)) or older.fullmatch(p.name)))


def build(name: str) -> Path:
    checkpoint, where = CHECKPOINTS[name], path_of(name)
    t0 = time.monotonic()
    log(f"building checkpoint {name} ({checkpoint.what}) as {where.name}")
    cache_dir().mkdir(parents=True, exist_ok=True)
    checkpoint.build()
    problems = checkpoint.verify()
    if problems:
        raise CheckpointError(f"checkpoint {name}: the build did not reach its state:\n" + "\n".join(problems))
    for old in stale(name):
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    lab_sh("save", str(where), timeout=600)
    log(f"checkpoint {name} built in {time.monotonic() - t0:.0f} s")
    return where


#: The build locks this process holds, by release, and how deep.
_builds_held: dict[str, int] = {}


@contextmanager
def one_build_at_a_time(release: str | None = None):
    """Holds the checkpoint cache for building: when both labs
    (TWONODE_LAB_INSTANCE) miss a checkpoint, one builds it and the other
    waits, then finds it cached. Re-entrant: a build restores its parent.
    One lock per release (default: the lab's): the labs of the other
    release build theirs meanwhile."""
    release = release or lab_release()
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f"build-{release}.lock", "w") as lock:
        if not _builds_held.get(release):
            fcntl.flock(lock, fcntl.LOCK_EX)
        _builds_held[release] = _builds_held.get(release, 0) + 1
        try:
            yield
        finally:
            _builds_held[release] -= 1


def restore(name: str) -> None:
    """Both guests in checkpoint ``name``, verified; built first when the
    cache has none for the current key."""
    checkpoint = CHECKPOINTS[name]
    for attempt in (1, 2):
        built = None
        if not cached(name):
            with one_build_at_a_time():
                if not cached(name):
                    built = build(name)
        # What this process built, under the key it built it as (the tree
        # edited during the build would give another); else the key as
        # now built (a key read before waiting for another lab's build
        # once named a checkpoint that was never made).
        where = built or path_of(name)
        t0 = time.monotonic()
        lab_sh("restore", str(where), timeout=600)
        problems = checkpoint.verify()
        if not problems:
            log(f"checkpoint {name} restored and verified in {time.monotonic() - t0:.0f} s")
            return
        log(f"checkpoint {name} failed verification after restore; deleting it:\n" + "\n".join(problems))
        shutil.rmtree(where, ignore_errors=True)
    raise CheckpointError(f"checkpoint {name}: verification failed twice:\n" + "\n".join(problems))


if __name__ == "__main__":
    if sys.argv[1:] == ["--keys"]:
        for name in CHECKPOINTS:
            print(name, key(name), "cached" if cached(name) else "missing")
    elif len(sys.argv) == 2 and sys.argv[1] in CHECKPOINTS:
        restore(sys.argv[1])
    else:
        raise SystemExit(__doc__)
