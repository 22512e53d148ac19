"""Where the code sends its reader (`docs/concepts.md, "Fencing"`,
`docs/operations.md, "Split brain"`), that section exists: a heading
renamed or moved fails here, instead of leaving comments and messages that
point nowhere."""

import re
from pathlib import Path

import pytest

from test_no_history import product_files

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"\b(README|CONTRIBUTING|docs/[a-z_]+\.md)(?:\.md)?[,:]? (?:\"([^\"]+)\"|'([^']+)')")


def headings(document: str) -> set[str]:
    path = ROOT / (document if document.endswith(".md") else f"{document}.md")
    return {line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")}


def references() -> list[tuple[str, str, str]]:
    found = []
    for path in product_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for match in REFERENCE.finditer(line):
                found.append((f"{path.relative_to(ROOT)}:{number}", match.group(1), match.group(2) or match.group(3)))
    return found


def test_the_scan_finds_the_references():
    assert ("docs/concepts.md", "Fencing") in {(doc, title) for _, doc, title in references()}


@pytest.mark.parametrize("where, document, title", references(), ids=lambda v: v if ":" in str(v) else None)
def test_each_reference_names_a_heading_of_its_document(where, document, title):
    assert title in headings(document), f"{where} sends the reader to {document}, \"{title}\": no such heading"
