"""The product speaks of the software, not of how it was made: the README,
the docs, docstrings, comments and test names say what twonode does and
why. Past runs, sessions, issue numbers and commit hashes belong in git's
log, where they stay true; in the product they age into riddles ("the
failure of ci7", "since the eighth session")."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Text the project writes itself: captured outputs (tests/fixtures) are
#: the machines' words, kept as they were.
SUFFIXES = {".md", ".py", ".sh", ".j2", ".service", ".timer", ".conf", ".cfg", ".toml", ".txt", ""}

HISTORY = {
    "an issue number": re.compile(r"\bissues?\s+#?\d+\b", re.I),
    "a CI run's name": re.compile(r"\bci-?\d+\b", re.I),
    "a session": re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|"
                            r"previous|earlier|this|\d+(?:st|nd|rd|th))\s+session\b", re.I),
    "an item of an issue": re.compile(r"\bhole\s+\d+\b", re.I),
    # A hash where prose would name a commit ("since 4fcb50a", "tree e2fb980"),
    # not the hex of a UUID or a register in a test's data.
    "a commit": re.compile(r"\b(?:commits?|since|before|after|in|at|of|on|tree|until)\s+"
                           r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b(?!-)", re.I),
}
#: Hex-looking words that are names, not commits.
NOT_COMMITS = {"ed25519"}


def product_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = [ROOT / line for line in listed.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts and ".venv" not in p.parts]
    # This file's examples of history are what it looks for.
    return [p for p in paths if p.suffix in SUFFIXES and p.is_file() and p != Path(__file__).resolve()
            and not p.relative_to(ROOT).parts[:2] == ("tests", "fixtures")]


def history_in(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in HISTORY.items():
            for match in pattern.finditer(line):
                if match.group(0).lower() not in NOT_COMMITS:
                    found.append(f"{number}: {what}: {match.group(0)!r} in {line.strip()[:120]!r}")
    return found


def test_the_scan_reads_the_readme_the_docs_and_the_code():
    names = {str(p.relative_to(ROOT)) for p in product_files()}
    assert {"README.md", "docs/benchmarks.md", "tasks/drbd.py", "templates/drbd/fence-peer.sh",
            "tests/lab/test_4_reboot.py", "lab/lab.sh"} <= names


@pytest.mark.parametrize("line", [
    "Fixed in issue 12, hole 3.", "as ci15 showed", "the eighth session found it", "since 4fcb50a the lab",
    "see commit 2ca323b4", "Issue #7 asks for it",
])
def test_each_kind_of_history_is_found(line):
    assert history_in(line), line


@pytest.mark.parametrize("line", [
    "ssh-keygen -t ed25519", "a session of its own (setsid)", "the checkpoint converged-small-trixie-92487e6d05afe03d",
    "UUID 0000000000000004", "192.168.10.1/24", "52:54:00:00:01:01", "the status issues no command",
])
def test_names_and_numbers_that_are_not_history_pass(line):
    assert history_in(line) == [], line


def test_the_product_tells_no_history():
    found = {str(path.relative_to(ROOT)): hits for path in product_files()
             if (hits := history_in(path.read_text(errors="replace")))}
    assert found == {}, "development history belongs in git's log, not the product:\n" + "\n".join(
        f"{path}:{hit}" for path, hits in found.items() for hit in hits)
