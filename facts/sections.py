"""Several reads in one round trip: a fact's command prints ``@@<name>``
before each part, and :func:`split_sections` cuts the output back apart."""

from __future__ import annotations


def split_sections(output: list[str]) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in output:
        if line.startswith("@@"):
            current = line[2:].strip()
            sections.setdefault(current, [])
            continue
        sections.setdefault(current, []).append(line)
    return sections


def section_text(output: list[str]) -> dict[str, str]:
    return {name: "\n".join(lines) for name, lines in split_sections(output).items()}
