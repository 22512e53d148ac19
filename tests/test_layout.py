"""CONTRIBUTING.md's layout table names every module: a newcomer
finds each file there, and a module added without a line fails here."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def layout_rows() -> list[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    start = text.index("## Layout\n")
    end = text.find("\n## ", start + 1)
    table = text[start:end if end != -1 else len(text)]
    return [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


def names_by_directory() -> dict[str, set[str]]:
    """{directory: the names its rows give in backticks}. A bold row opens
    a directory's section (twonode/, facts/, lab/); a row whose first cell
    is a directory (tasks/, model/) names that directory's modules by stem
    in its second cell."""
    found: dict[str, set[str]] = {}
    section = ""
    for row in layout_rows():
        first, rest = row.split("|")[1], "|".join(row.split("|")[2:])
        if first.strip().startswith("**"):
            section = re.search(r"`([^`]+)/`", first).group(1)
            continue
        cell_names = [n for cell in re.findall(r"`([^`]+)`", first) for n in re.split(r",\s*", cell)]
        for name in cell_names:
            if name.endswith("/"):
                directory = f"{section}/{name[:-1]}" if section else name[:-1]
                found.setdefault(directory, set()).update(re.findall(r"`([\w]+)`", rest))
            else:
                found.setdefault(section or ".", set()).add(name)
    return found


MODULES = sorted(p.relative_to(ROOT) for pattern in ("twonode/*.py", "twonode/model/*.py", "facts/*.py",
                                                        "lab/*.py", "lab/*.sh", "tasks/*.py")
                 for p in ROOT.glob(pattern) if p.name != "__init__.py")


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_the_layout_table_names_every_module(module):
    by_directory = names_by_directory()
    names = by_directory.get(str(module.parent), set()) | by_directory.get(".", set())
    assert module.name in names or module.stem in names or str(module) in names, \
        f"CONTRIBUTING.md 'Layout' does not name {module} in the rows of {module.parent}/: add it to the table"


def test_every_file_the_table_names_exists():
    for directory, names in names_by_directory().items():
        for name in names:
            if re.fullmatch(r"[\w/]+\.(py|sh)", name):
                assert (ROOT / directory / name).exists() or (ROOT / name).exists(), \
                    f"CONTRIBUTING.md 'Layout' names {directory}/{name}, which does not exist"


#: Where the nodes keep what twonode writes and reads. A literal of one of
#: these outside twonode/paths.py is a path built twice (docstrings and
#: facts' examples aside).
REMOTE_PREFIXES = ("/etc/", "/usr/local/lib/twonode", "/var/lib/twonode", "/root/", "/dev/")


def string_literals(path: Path):
    import ast
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_the_scan_finds_the_remote_paths_where_they_are_written():
    # twonode/paths.py is where they live: the scan below must see them there.
    found = [text for _, text in string_literals(ROOT / "twonode/paths.py") if text.startswith(REMOTE_PREFIXES)]
    assert {"/etc/fstab", "/etc/exports", "/etc/twonode/fence"} <= set(found), found


@pytest.mark.parametrize("module", [m for m in MODULES if m.parts[0] in ("twonode", "tasks")
                                    and m != Path("twonode/paths.py")]
                         + sorted(p.relative_to(ROOT) for p in ROOT.glob("facts/*.py")), ids=str)
def test_remote_paths_are_written_in_paths_py_only(module):
    found = [(line, text) for line, text in string_literals(ROOT / module)
             if text.startswith(REMOTE_PREFIXES) and text != "/dev/null"]
    assert not found, f"{module}: remote paths outside twonode/paths.py: {found}"
