"""Reading the outputs captured on the lab guests (tests/fixtures, see its
README for the command, node and state of each file), for the fact tests."""

import sys
from pathlib import Path

FIX = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIX))
from capture_facts import fact_reads  # noqa: E402


def fx(name: str) -> str:
    """A captured output. A missing one is an error, never an empty output:
    empty is a real state of many commands (no DRBD module loaded, no
    mount), and a renamed fixture must not let a test pass on nothing."""
    path = FIX / name
    if not path.is_file():
        raise FileNotFoundError(f"no captured output {path.relative_to(FIX.parent.parent)}: "
                                "capture it on the lab (tests/fixtures/README.md), or fix the name")
    return path.read_text()


def lines(name: str) -> list[str]:
    return fx(name).splitlines()


def converged(node: str, name: str, state: str = "converged"):
    """The fact's value from its own command's output on the converged lab."""
    cls, kwargs = fact_reads()[name]
    fact = cls()
    fact.command(**kwargs)
    return fact.process(lines(f"facts/{state}_{node}__{name}.txt"))


#: The converged example cluster on Debian 12 guests and on Debian 13 ones.
CONVERGED_STATES = {"converged": "bookworm", "converged-trixie": "trixie"}


def section_of(output: str, name: str) -> str:
    """The lines of a batched fact output's ``@@name`` section."""
    from facts.sections import split_sections
    return "".join(f"{line}\n" for line in split_sections(output.splitlines()).get(name, []))
