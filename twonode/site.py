"""A site of one's own: a directory outside the repository with an
inventory and a group_data/all.py for two real servers.

    .venv/bin/python -m twonode.site ~/mycluster

pyinfra, run from the repository, reads the repository's group_data/ (the
lab's example) first and the site's last, so the site's cluster is the one
validated and deployed (twonode/loader.py), and `make deploy` keeps the
lab's. The new group_data/all.py is a commented description of two real
servers (twonode/site_template/all.py) with every value to change marked.
An existing file is never overwritten.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import paths

TEMPLATE = Path(__file__).parent / "site_template" / "all.py"


class SiteExists(Exception):
    pass


def make_site(directory: Path) -> list[Path]:
    """The site's files, written; SiteExists when any of them is there."""
    directory = directory.expanduser()
    files = {directory / "inventory.py": (paths.REPOSITORY / "inventory.py").read_text(),
             directory / "group_data" / "all.py": TEMPLATE.read_text()}
    there = [str(p) for p in files if p.exists()]
    if there:
        raise SiteExists(f"{', '.join(there)} already there: nothing was written (a site is made once; "
                         "edit it, or give another directory)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        written = make_site(Path(argv[0]))
    except SiteExists as error:
        print(error, file=sys.stderr)
        return 1
    site = Path(argv[0])
    print("\n".join(f"wrote {p}" for p in written))
    print(f"\nNext: edit {site / 'group_data' / 'all.py'} (every CHANGE), put the secrets where its docstring "
          f"says, then from the repository:\n"
          f"  .venv/bin/pyinfra {site / 'inventory.py'} tasks/check.py    # the preflight: changes nothing\n"
          f"  .venv/bin/pyinfra {site / 'inventory.py'} deploy.py --dry\n"
          f"  .venv/bin/pyinfra {site / 'inventory.py'} deploy.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
