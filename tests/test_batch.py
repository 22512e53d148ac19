"""facts/batch.py: several facts read by one command must give what each
fact gives when read alone. The commands run for real, in a local shell,
on files made for the test (pyinfra's own file facts and one of ours)."""

from __future__ import annotations

import subprocess

import pytest
from pyinfra.api import StringCommand
from pyinfra.facts.files import Directory, File, FileContents, Sha1File

from facts.batch import UNREAD, FactBatch
from facts.blockdev import DeviceSignatures
from facts.path_states import PathStates
from facts.systemd import UnitStates
from twonode import paths
from twonode.snapshot import key, merged


def run(command) -> list[str]:
    text = command.get_raw_value() if isinstance(command, StringCommand) else command
    result = subprocess.run(["sh", "-c", text], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def alone(cls, **kwargs):
    fact = cls()
    lines = run(fact.command(**kwargs))
    return fact.process(lines) if lines else fact.default()


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "exports").write_text("/vol/small/home 192.168.10.0/24(rw)\n# two lines\n")
    (tmp_path / "dir").mkdir()
    return tmp_path


# facts/path_states.py: PathStates must tell the helpers in twonode/ops.py what
# pyinfra's own File, Sha1File, Directory and FileContents tell them.
@pytest.fixture
def odd_tree(tree):
    (tree / "empty").write_text("")
    (tree / "no-newline").write_text("last line\twith tab  ")
    (tree / "crlf").write_bytes(b"a\r\n\nb:c\n")
    (tree / "a:b").write_text("colon in the name\n")
    (tree / "a").write_text("prefix of a:b\n")
    (tree / "x.sh").write_text("#!/bin/sh\n")
    (tree / "x.sh").chmod(0o755)
    (tree / "link").symlink_to(tree / "exports")
    return tree


def test_path_states_agree_with_pyinfras_file_facts(odd_tree):
    names = ["exports", "empty", "no-newline", "crlf", "a:b", "a", "x.sh", "dir", "link", "missing"]
    paths = tuple(str(odd_tree / n) for n in names)
    states = alone(PathStates, paths=paths)
    assert set(states) == set(paths) - {str(odd_tree / "missing")}
    for path in paths:
        found = states.get(path)
        info = alone(File, path=path)
        if found is None or not found.is_file:
            assert found is None or found.kind in ("directory", "link")
            assert found is None or found.lines is None and found.sha1 is None
            continue
        assert found.sha1 == alone(Sha1File, path=path)
        assert found.mode == info["mode"] and found.user == info["user"] and found.group == info["group"]
        assert list(found.lines) == (alone(FileContents, path=path) or [])
    assert states[str(odd_tree / "dir")].is_directory and alone(Directory, path=str(odd_tree / "dir"))
    assert states[str(odd_tree / "link")].kind == "link"
    assert states[str(odd_tree / "x.sh")].mode == 755
    assert states[str(odd_tree / "a")].lines == ("prefix of a:b",)


def test_a_secret_file_is_read_by_digest_and_mode_only(tree):
    secret = tree / "peer-options"
    secret.write_text("ip=10.0.2.100\npassword=s3cret=x\n")
    secret.chmod(0o600)
    command = PathStates().command(paths=(str(secret),), lines=False)
    assert "s3cret" not in "\n".join(run(command))
    found = alone(PathStates, paths=(str(secret),), lines=False)[str(secret)]
    assert found.is_file and found.mode == 600 and found.lines is None
    assert found.sha1 == alone(Sha1File, path=str(secret))


def test_reads_of_one_listing_fact_merge_into_one_command():
    keys = [key(PathStates, paths=("/etc/a",)), key(FileContents, path="/etc/b"),
            key(PathStates, paths=("/etc/c", "/etc/a")), key(DeviceSignatures, devices=("/dev/x",))]
    reads = merged(keys)
    assert list(reads) == [key(PathStates, paths=("/etc/a", "/etc/c")), key(FileContents, path="/etc/b"),
                           key(DeviceSignatures, devices=("/dev/x",))]
    assert reads[key(PathStates, paths=("/etc/a", "/etc/c"))] == [keys[0], keys[2]]


def wanted(tree):
    exports, missing, folder = str(tree / "exports"), str(tree / "missing"), str(tree / "dir")
    return (
        (Sha1File, (("path", exports),)),
        (Sha1File, (("path", missing),)),
        (FileContents, (("path", exports),)),
        (FileContents, (("path", missing),)),
        (Directory, (("path", folder),)),
        (Directory, (("path", exports),)),
        (File, (("path", missing),)),
    )


def test_a_batch_gives_what_each_fact_gives_alone(tree):
    batch = FactBatch()
    together = batch.process(run(batch.command(wanted(tree))))
    separately = [alone(cls, **dict(kwargs)) for cls, kwargs in wanted(tree)]
    # Directory's mtime/atime are read twice; compare what operations use.
    assert [r if not isinstance(r, dict) else {k: r[k] for k in ("mode", "user", "size")}
            for r in together] == \
           [r if not isinstance(r, dict) else {k: r[k] for k in ("mode", "user", "size")}
            for r in separately]
    assert together[0] is not None and together[1] is None
    assert together[2] == ["/vol/small/home 192.168.10.0/24(rw)", "# two lines"]
    assert together[5] is False  # a file is not a directory


def test_a_failing_command_is_left_unread_and_the_rest_still_read(tree):
    class Fails(File):
        def command(self, path):
            return "false"

    batch = FactBatch()
    results = batch.process(run(batch.command((
        (Fails, (("path", "/"),)),
        (FileContents, (("path", str(tree / "exports")),)),
    ))))
    assert results[0] is UNREAD
    assert results[1] == ["/vol/small/home 192.168.10.0/24(rw)", "# two lines"]


def test_a_missing_required_command_gives_the_default():
    class NeedsNothingThere(FileContents):
        requires_command = "twonode-no-such-command"

    batch = FactBatch()
    assert batch.process(run(batch.command(((NeedsNothingThere, (("path", "/etc/hostname"),)),)))) == [None]


def test_our_own_facts_batch_too(odd_tree):
    # wipefs on a path that does not exist: the fact's own "absent" answer.
    none = (DeviceSignatures, (("devices", ("/dev/twonode-none",)),))
    paths = (PathStates, (("paths", (str(odd_tree / "exports"), str(odd_tree / "a:b"))),))
    batch = FactBatch()
    devices, files = batch.process(run(batch.command((none, paths))))
    assert devices == alone(DeviceSignatures, devices=("/dev/twonode-none",))
    assert not devices["/dev/twonode-none"].exists
    assert files == alone(PathStates, paths=paths[1][0][1])


# twonode.ops.line_is_current decides, from the batched file contents,
# whether files.line may be skipped; skipping wrongly would leave a stale
# line, so every doubtful case must answer False (the operation then runs).
from twonode.ops import line_is_current  # noqa: E402

FSTAB = [
    "UUID=1234 / ext4 errors=remount-ro 0 1",
    "/dev/drbd_small /vol/small ocfs2 _netdev,defaults,noatime 0 0",
]


@pytest.mark.parametrize("lines, replace, current", [
    (FSTAB, "/dev/drbd_small /vol/small ocfs2 _netdev,defaults,noatime 0 0", True),
    (FSTAB, "/dev/drbd_small /vol/small ocfs2 _netdev,defaults 0 0", False),  # options changed
    (FSTAB + ["/dev/sdb1 /vol/small xfs defaults 0 2"],
     "/dev/drbd_small /vol/small ocfs2 _netdev,defaults,noatime 0 0", False),  # a second, stale entry
    (FSTAB[:1], "/dev/drbd_small /vol/small ocfs2 _netdev,defaults,noatime 0 0", False),  # missing
    (None, "/dev/drbd_small /vol/small ocfs2 _netdev,defaults,noatime 0 0", False),  # no file
])
def test_a_line_is_current_only_when_every_match_is_the_wanted_line(lines, replace, current):
    assert line_is_current(lines, r"^\S+\s+/vol/small\s", replace) is current


# twonode/reads.py: the deploy's up-front read of the example cluster is
# one well-formed shell command, with no fact asked twice, and one read
# for all the paths, all the block devices and all the units.
def test_the_whole_deploys_reads_make_one_valid_command():
    from pathlib import Path

    from twonode import reads
    from twonode.loader import load_cluster

    root = Path(__file__).resolve().parents[1]
    c = load_cluster(root / "inventory.py")
    wanted = reads.every_task(c)
    assert len(wanted) == len(set(wanted))
    # Every area's reads are in it; the planner's too.
    for area in (reads.network, reads.storage, reads.drbd, reads.ocfs2, reads.nfs, reads.libvirt):
        assert set(area(c)) <= set(wanted)
    batched = tuple(merged(list(wanted)))
    assert sum(cls is PathStates for cls, _ in wanted) > 20
    for cls in (DeviceSignatures, UnitStates):
        assert [k[0] for k in batched].count(cls) == 1
    # The paths in two reads of the one command: with their lines, and the
    # secret files (the peer's BMC options) by digest only.
    path_reads = {dict(k[1]).get("lines", True): dict(k[1])["paths"] for k in batched if k[0] is PathStates}
    assert set(path_reads) == {True, False} and path_reads[False] == (paths.FENCE_OPTIONS,)
    assert "grep" not in PathStates().command(paths=path_reads[False], lines=False)
    command = FactBatch().command(batched)
    syntax = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    assert command.count("@@twonode-batch' ") == 0 and command.count("echo '@@twonode-batch ") == len(batched)


# twonode.ops.refuse_unless_blank is the last guard before a destructive
# command: run for real on image files, it must pass only a blank one.
from twonode.shell import refuse_unless_blank  # noqa: E402


@pytest.mark.parametrize("make, passes, says", [
    ("truncate -s 4M {img}", True, ""),
    ("truncate -s 4M {img} && mkfs.ext4 -q -F {img}", False, "it holds"),
    ("true", False, "wipefs cannot read it"),  # no such file: unknown, not blank
])
def test_the_last_guard_passes_only_a_blank_device(tmp_path, make, passes, says):
    img = tmp_path / "disk.img"
    subprocess.run(["sh", "-c", make.format(img=img)], check=True, capture_output=True)
    result = subprocess.run(["sh", "-c", refuse_unless_blank(str(img), "format")], capture_output=True, text=True)
    assert (result.returncode == 0) is passes, result.stderr
    assert says in result.stderr


# twonode.ops.wait_for polls a drbdadm query: run for real against a stand-in
# drbdadm that reports what a state file holds, it must pass once the state
# is reached and otherwise fail after its timeout, saying where it stuck.
from twonode.shell import wait_for  # noqa: E402


@pytest.mark.parametrize("role, passes", [("Primary/Primary", True), ("Secondary/Primary", False)])
def test_wait_for_passes_on_the_state_and_times_out_saying_where(tmp_path, role, passes):
    (tmp_path / "role").write_text(role + "\n")
    drbdadm = tmp_path / "drbdadm"
    drbdadm.write_text(
        f"#!/bin/sh\ncase $1 in role) cat {tmp_path}/role;; cstate) echo WFConnection;; dstate) echo UpToDate/DUnknown;; esac\n"
    )
    drbdadm.chmod(0o755)
    test = '[ "$(drbdadm role r0 | cut -d/ -f1)" = Primary ]'
    result = subprocess.run(
        ["sh", "-c", wait_for("r0", test, "Primary", 1)],
        capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
    )
    assert (result.returncode == 0) is passes, result.stderr
    if not passes:
        assert "r0: timed out after 1s waiting for Primary: cstate WFConnection dstate UpToDate/DUnknown" in result.stderr


@pytest.mark.parametrize("cstate, passes", [("SyncTarget", True), ("WFConnection", False)])
def test_waiting_for_a_sync_stops_when_the_peer_is_gone(tmp_path, cstate, passes):
    # dstate turns UpToDate on the 4th query; the peer's absence is given
    # 1 s of grace: a sync that goes on passes, one whose source is gone
    # fails early, saying so.
    drbdadm = tmp_path / "drbdadm"
    drbdadm.write_text(
        "#!/bin/sh\n"
        f"case $1 in cstate) echo {cstate};; dstate) n=$(cat {tmp_path}/n 2>/dev/null || echo 0); "
        f"echo $((n+1)) > {tmp_path}/n; [ $n -ge 3 ] && echo UpToDate/UpToDate || echo Inconsistent/DUnknown;; esac\n"
    )
    drbdadm.chmod(0o755)
    test = "drbdadm dstate r0 | grep -q '^UpToDate/'"
    result = subprocess.run(
        ["sh", "-c", wait_for("r0", test, "UpToDate (sync)", 60, peer_grace=1)],
        capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, timeout=30,
    )
    assert (result.returncode == 0) is passes, result.stderr
    if not passes:
        assert "r0: the peer has been away for 1s while waiting for UpToDate (sync): cstate WFConnection" \
            in result.stderr


# twonode.ops.hosts_line_names: the /etc/hosts line for a cluster address
# gets our name without losing the admin's.
from twonode.ops import hosts_line_names  # noqa: E402


@pytest.mark.parametrize("current, ours, names", [
    ([], ["fiori-cluster"], ["fiori-cluster"]),
    (["fiori-cluster"], ["fiori-cluster"], None),
    (["fiori-cluster", "fiori-drbd"], ["fiori-cluster"], None),
    (["fiori-drbd"], ["fiori-cluster"], ["fiori-cluster", "fiori-drbd"]),
    (["storage", "fiori-old"], ["fiori-cluster"], ["fiori-cluster", "storage", "fiori-old"]),
])
def test_hosts_line_keeps_the_admins_names(current, ours, names):
    assert hosts_line_names(current, ours) == names


# twonode.ops.fstab_foreign_lines: an admin's line for our mount point.
from twonode.ops import fstab_foreign_lines  # noqa: E402

FSTAB_LINES = (
    "/dev/vda / ext4 defaults 0 1",
    "/dev/drbd_small /vol/small ocfs2 _netdev,noatime 0 0",
    "# /dev/sdb1 /vol/pub xfs defaults 0 2",
    "UUID=1234-abcd /vol/pub xfs defaults 0 2",
)


@pytest.mark.parametrize("device, mount_point, foreign", [
    ("/dev/drbd_small", "/vol/small", []),
    ("/dev/drbd_pub", "/vol/pub", ["UUID=1234-abcd /vol/pub xfs defaults 0 2"]),
    ("/dev/drbd_small", "/vol/smal", []),
    ("/dev/drbd_other", "/vol/small", ["/dev/drbd_small /vol/small ocfs2 _netdev,noatime 0 0"]),
    ("/dev/mapper/vg0-local", "/vol/local", []),
])
def test_an_admins_fstab_line_for_our_mount_point_is_found(device, mount_point, foreign):
    assert fstab_foreign_lines(FSTAB_LINES, device, mount_point) == foreign
