"""The fstab regexes run by grep -E and sed -E on the nodes, tried with the
real tools on a file: an option change on the lab appended a second line for
/vol/small beside the old one (pyinfra's files.line greps a basic regex by
default, where `+` is a literal, so the old line never matched)."""

import subprocess

import pytest

from twonode.ops import fstab_regex, line_is_current
from twonode.shell import ere_escape, one_line_command

OLD = ("/dev/drbd_small /vol/small ocfs2 _netdev,noatime,data=writeback,commit=60,nodiratime,"
       "x-systemd.requires=drbd.service,x-systemd.after=o2cb.service 0 0")
NEW = "/dev/drbd_small /vol/small ocfs2 noauto," + OLD.split(" ", 3)[3]
OTHER = "/dev/vg0/local /vol/local xfs defaults 0 2"
NEIGHBOUR = "/dev/drbd_small2 /vol/small2 ocfs2 _netdev 0 0"


def grep(args: list[str], pattern: str, path) -> list[str]:
    out = subprocess.run(["grep", *args, "-e", pattern, str(path)], capture_output=True, text=True)
    return out.stdout.splitlines()


@pytest.mark.parametrize("mount_point", ["/vol/small", "/vol/a.b-c", "/srv/x+y"])
def test_the_regex_finds_the_line_with_grep_E_and_python_alike(tmp_path, mount_point):
    fstab = tmp_path / "fstab"
    line = f"/dev/x {mount_point} ocfs2 _netdev 0 0"
    fstab.write_text(f"{OTHER}\n{line}\n{NEIGHBOUR}\n")
    regex = fstab_regex(mount_point)
    assert grep(["-E"], regex, fstab) == [line]
    assert not line_is_current([OTHER, line, NEIGHBOUR], regex, line + " ")
    assert line_is_current([OTHER, line, NEIGHBOUR], regex, line)


def test_basic_grep_misses_it_which_is_why_line_uses_extended():
    # The failure itself: without -E the pattern matches nothing.
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix="fstab") as f:
        f.write(OLD + "\n")
        f.flush()
        assert grep([], fstab_regex("/vol/small"), f.name) == []
        assert grep(["-E"], fstab_regex("/vol/small"), f.name) == [OLD]


def test_duplicate_lines_become_one(tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{OTHER}\n{OLD}\n{NEIGHBOUR}\n{NEW}\n")
    subprocess.run(["sh", "-c", one_line_command(str(fstab), fstab_regex("/vol/small"), NEW)], check=True)
    assert fstab.read_text().splitlines() == [OTHER, NEIGHBOUR, NEW]


def test_ere_escape_leaves_dashes_and_slashes_alone():
    assert ere_escape("/vol/a.b-c") == r"/vol/a\.b-c"
