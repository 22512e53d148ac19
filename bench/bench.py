#!/usr/bin/env python3
"""Benchmarks on the lab; prints a Markdown table (copied into docs/benchmarks.md).

    .venv/bin/python bench/bench.py [--skip-sizes] [--lab-only | --noop | --link-cut | --vms N | --rejoin | --nfs]

1. Full bring-up of the example cluster from reset guests.
2. A no-op re-run of the whole deploy, against a pyinfra run of one trivial
   fact on both guests (the floor: connection set-up and one round trip);
   and the fact commands (round trips) per node that the no-op run makes.
   ``--noop`` (only this): the same from the ``provisioned`` checkpoint,
   five pairs of runs side by side (the machine's speed drifts; a pair
   sees the same speed), each time the median of five.
3. Bring-up of one 1 GiB and one 8 GiB replicated volume: the time must not
   grow with the size (no full-device zeroing, no initial resync).
4. The lab itself (``--lab-only`` measures just this): a reset to bare
   guests, against restoring each cached checkpoint (lab/checkpoints.py,
   built first if missing), verification included.
5. ``--link-cut`` (only this): the cluster link cut for 125 s on both nodes
   under a writer each (lab/linkcut.py, test_7's procedure), fencing on:
   how long I/O froze on the survivor (the longest gap between two of its
   acknowledged writes), and how many acknowledged writes were lost.
6. ``--vms N`` (only this): on the small cluster, N tiny VMs (test_9's: 32
   MiB, SeaBIOS, disk on the replicated volume) started on fiori; one live
   migration by hand, then ``tasks/vms.py --data empty=fiori`` (all N to
   torchio) and back.
7. ``--rejoin`` (only this): a node rebuilt (test_10's procedure: torchio
   powered off, then new blank disks and new MACs, ``lab.sh replace``), for
   one 256 MiB and one 1 GiB volume: the deploy that joins it, and DRBD's
   own account of the full sync inside it (a rebuilt node has no data: a
   full sync is inherent; its rate is the resync controller's).
8. ``--nfs`` (only this): on the small cluster (nfs.mode single, fiori
   serving), a client on each node's private bridge (lab/nfsclients.py):
   64 MiB written (fsync'd at the end) and read back (caches dropped)
   through NFS by each, against the same on the OCFS2 volume on fiori
   itself; both again with the volume remounted without ``sync`` (its
   price); then planned moves of the server while both clients write: the
   clients' longest pause (median of 3 moves).

Each measurement is a wall-clock time of a whole command; repeated ones
give the median. Destroys the lab's state (it resets the guests).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def sh(*cmd: str) -> float:
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return elapsed


def deploy(inventory: str = "lab/inventory.py", target: str = "deploy.py") -> float:
    return sh(PYINFRA, "-y", inventory, target)


def fact_round_trips() -> float:
    """Fact commands per node in a no-op run (pyinfra -v logs each one)."""
    result = subprocess.run([PYINFRA, "-y", "-v", "lab/inventory.py", "deploy.py"],
                            cwd=ROOT, capture_output=True, text=True)
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    loaded = re.findall(r"^\s*\[(\w+)\]\s+Loaded fact", text, re.M)
    return len(loaded) / max(1, len(set(loaded)))


def median(fn, n: int = 3) -> float:
    return statistics.median(fn() for _ in range(n))


def trivial_fact() -> float:
    return sh(PYINFRA, "-y", "lab/inventory.py", "fact", "server.Hostname")


def noop_ratio(pairs: int = 5) -> None:
    """The no-op re-run against the trivial fact, both timed in each of
    ``pairs`` pairs (the example cluster deployed first)."""
    runs = [(deploy(), trivial_fact()) for _ in range(pairs)]
    noop, fact = statistics.median(n for n, _ in runs), statistics.median(f for _, f in runs)
    row(f"no-op re-run of deploy.py (median of {pairs})", noop)
    row(f"one trivial fact on both guests (median of {pairs})", fact)
    row(f"ratio no-op re-run / trivial fact (median of {pairs} pairs)",
        f"{statistics.median(n / f for n, f in runs):.2f}x")
    row("fact commands (round trips) per node in a no-op run", f"{fact_round_trips():.0f}")


def row(label: str, value: float | str) -> None:
    """One table row, printed as soon as it is measured: a later failure
    (the lab, a deploy) does not lose the numbers already taken."""
    shown = value if isinstance(value, str) else f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    print(f"| {label} | {shown} |", flush=True)


def lab_steps() -> None:
    sys.path.insert(0, str(ROOT / "lab"))
    import checkpoints

    row("lab reset: bare guests booted to SSH, vg0 (median of 3)", median(lambda: sh("lab/lab.sh", "reset")))
    for name in checkpoints.CHECKPOINTS:
        checkpoints.restore(name)  # built here if the cache lacks it: not timed
        row(f"restore checkpoint {name}, verified (median of 3)",
            median(lambda: sh(sys.executable, "lab/checkpoints.py", name)))


def link_cut(seconds: int = 125) -> None:
    sys.path.insert(0, str(ROOT / "lab"))
    import checkpoints
    import linkcut

    ssh = checkpoints.ssh
    checkpoints.restore("converged-small")
    linkcut.start_writers(ssh)
    time.sleep(20)
    linkcut.cut_link(ssh)
    time.sleep(seconds)
    ssh("fiori", "ip link set eth1 up")  # torchio, fenced and booted again, has its end up
    # Joined: the state the checkpoint itself is verified by (both nodes
    # Connected, Primary/Primary, UpToDate, mounted).
    joined = checkpoints.CHECKPOINTS["converged-small"].verify
    deadline = time.monotonic() + 900
    while True:
        try:
            if not joined():
                break
        except checkpoints.CheckpointError:
            pass  # torchio still booting
        if time.monotonic() > deadline:
            sys.exit("torchio did not join within 15 min")
        time.sleep(5)
    linkcut.stop_writers(ssh)
    time.sleep(3)
    times = [t for _, t in linkcut.acked(ssh, "fiori")]
    row(f"link cut {seconds} s under a writer per node: I/O frozen on the survivor "
        "(longest gap between two acknowledged writes on fiori)", linkcut.longest_pause(times))
    row("acknowledged writes lost (both nodes)", f"{sum(len(linkcut.lost(ssh, n)) for n in linkcut.NODES)}")


def vms(count: int) -> None:
    sys.path[:0] = [str(ROOT / "lab"), str(ROOT / "tests" / "lab")]
    import checkpoints
    from test_9_vms import DISK, DOMAIN_XML, VM

    ssh = checkpoints.ssh
    checkpoints.restore("converged-small")
    names = [f"{VM}{i}" for i in range(count)]
    for name in names:
        disk = DISK.replace(VM, name)
        xml = DOMAIN_XML.replace(f"<name>{VM}</name>", f"<name>{name}</name>").replace(DISK, disk)
        ssh("fiori", f"mkdir -p /vol/small/vms && qemu-img create -q -f qcow2 {disk} 64M && "
                     f"cat > /root/{name}.xml <<'EOF'\n{xml}EOF\nvirsh define /root/{name}.xml && virsh start {name}")

    def there_and_back() -> float:
        move = f"virsh migrate --live --persistent --undefinesource {names[0]} qemu+ssh://{{}}-cluster/system"
        return (sh("lab/lab.sh", "ssh", "fiori", move.format("torchio"))
                + sh("lab/lab.sh", "ssh", "torchio", move.format("fiori")))

    row("live migration of one tiny VM between the nodes, by hand (`virsh migrate`; median of 3 round trips, "
        "halved)", median(there_and_back) / 2)
    inventory = "tests/lab/small/inventory.py"
    row(f"empty fiori of {count} tiny VMs (tasks/vms.py: checks, then one live migration each)",
        sh(PYINFRA, "-y", inventory, "--data", "empty=fiori", "tasks/vms.py"))
    row("the same again: nothing to move", sh(PYINFRA, "-y", inventory, "--data", "empty=fiori", "tasks/vms.py"))
    row(f"fill fiori again ({count} VMs back from torchio)",
        sh(PYINFRA, "-y", inventory, "--data", "empty=torchio", "tasks/vms.py"))


def rejoin() -> None:
    import tempfile
    sys.path[:0] = [str(ROOT / "lab"), str(ROOT / "tests" / "lab")]
    import checkpoints
    from conftest import variant
    from test_10_replace_node import with_new_macs

    for size, inventory in (("256 MiB", "tests/lab/small/inventory.py"), ("1 GiB", "bench/size-1g/inventory.py")):
        checkpoints.restore("provisioned")
        deploy(inventory)
        sh("lab/lab.sh", "kill", "torchio")
        # fiori fences torchio (race_delay, fence_redfish) and o2cb calls it dead.
        time.sleep(90)
        sh("lab/lab.sh", "replace", "torchio", str(checkpoints.root_disk("provisioned")))
        with tempfile.TemporaryDirectory() as work:
            row(f"rejoin of a rebuilt node, one {size} volume: the whole deploy (full sync included)",
                deploy(variant(Path(work), with_new_macs, inventory)))
        done = checkpoints.ssh("torchio", "dmesg | grep -o 'Resync done (total.*' | tail -n 1").strip()
        row(f"...of which DRBD's full sync of {size} (torchio's kernel)", done.removeprefix("Resync done ") or "?")


def nfs() -> None:
    sys.path.insert(0, str(ROOT / "lab"))
    import checkpoints
    import linkcut
    import nfsclients

    ssh = checkpoints.ssh
    checkpoints.restore("converged-small")
    clients = (nfsclients.Client("b1", "fiori", "192.168.10.41"), nfsclients.Client("b2", "torchio", "192.168.10.42"))
    for client in clients:
        nfsclients.attach(ssh, client)

    def throughput(node: str, directory: str) -> str:
        out = ssh(node, f"sync; echo 3 > /proc/sys/vm/drop_caches; "
                        f"dd if=/dev/zero of={directory}/bench bs=1M count=64 conv=fsync 2>&1 | tail -n 1; "
                        f"echo 3 > /proc/sys/vm/drop_caches; dd if={directory}/bench of=/dev/null bs=1M 2>&1 | tail -n 1; "
                        f"rm -f {directory}/bench")
        rates = re.findall(r", ([\d.,]+ [kMG]?B/s)", out)
        return " / ".join(rates) if len(rates) == 2 else out.strip()

    row("64 MiB written / read, OCFS2 on fiori itself (dd, fsync'd; caches dropped)", throughput("fiori", "/vol/small/home"))
    for client in clients:
        where = "the serving node's (fiori)" if client.node == "fiori" else "the other node's (torchio)"
        row(f"the same through NFS (v4.2) from a client on {where} bridge",
            throughput(client.node, client.mount_point))
    # What the volume's `sync` (Cluster.mount_options_of) costs: the same
    # without it, on the serving node, then back as the deploy mounts it.
    ssh("fiori", "mount -o remount,async /vol/small")
    row("without `sync` on the volume (not what twonode mounts): OCFS2 on fiori itself",
        throughput("fiori", "/vol/small/home"))
    row("without `sync`: through NFS from a client on the other node's bridge",
        throughput(clients[1].node, clients[1].mount_point))
    ssh("fiori", "mount -o remount,sync /vol/small")

    pauses = []
    for to in ("torchio", "fiori", "torchio"):
        for client in clients:
            nfsclients.start_writer(ssh, client)
        time.sleep(10)
        sh(PYINFRA, "-y", "tests/lab/small/inventory.py", "--data", f"serve_on={to}", "tasks/nfs.py")
        time.sleep(20)
        for client in clients:
            nfsclients.stop_writer(ssh, client)
        time.sleep(3)
        pauses.append(max(linkcut.longest_pause([t for _, t in nfsclients.acked(ssh, c)]) for c in clients))
    row("planned move of the NFS server while a client on each bridge writes: their longest pause "
        f"(median of 3 moves; each: {', '.join(f'{p:.0f}' for p in pauses)} s)", statistics.median(pauses))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-sizes", action="store_true")
    parser.add_argument("--lab-only", action="store_true")
    parser.add_argument("--noop", action="store_true")
    parser.add_argument("--link-cut", action="store_true")
    parser.add_argument("--vms", type=int, metavar="N")
    parser.add_argument("--rejoin", action="store_true")
    parser.add_argument("--nfs", action="store_true")
    args = parser.parse_args()
    print("| measurement | time |\n| --- | --- |", flush=True)
    if args.lab_only:
        lab_steps()
        return
    if args.noop:
        sys.path.insert(0, str(ROOT / "lab"))
        import checkpoints
        checkpoints.restore("provisioned")
        row("full bring-up of the example cluster (from provisioned)", deploy())
        noop_ratio()
        return
    if args.link_cut:
        link_cut()
        return
    if args.vms:
        vms(args.vms)
        return
    if args.rejoin:
        rejoin()
        return
    if args.nfs:
        nfs()
        return

    sh("lab/lab.sh", "reset")
    row("full bring-up of the example cluster (reset guests)", deploy())
    noop_ratio()

    if not args.skip_sizes:
        for size in ("1g", "8g"):
            sh("lab/lab.sh", "reset")
            row(f"bring-up of one {size} replicated volume (reset guests)", deploy(f"bench/size-{size}/inventory.py"))


if __name__ == "__main__":
    main()
