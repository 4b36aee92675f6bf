"""BENCHMARKS.md is made of sections (``## ...``), each written by one benchmark script."""

from __future__ import annotations

from pathlib import Path

TITLE = "# Benchmarks\n"


def replace_section(path: Path, heading: str, body: str) -> None:
    """Write ``heading`` + ``body`` in place of that section of ``path`` (or at the end); other sections are kept.

    ``heading`` is the whole heading line (``## Name``); ``""`` means the part before the first section.
    """
    text = path.read_text() if path.exists() else TITLE
    parts = _sections(text)
    new = f"{heading}\n\n{body.strip()}\n" if heading else f"{body.strip()}\n"
    keys = [h for h, _ in parts]
    if heading in keys:
        parts[keys.index(heading)] = (heading, new)
    elif heading:
        parts.append((heading, new))
    else:
        parts.insert(0, ("", new))
    path.write_text("\n".join(chunk.rstrip("\n") + "\n" for _, chunk in parts))


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading line, text of the section incl. its heading); the part before the first ``## `` has heading ""."""
    parts: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if line.startswith("## "):
            parts.append((line, []))
        parts[-1][1].append(line)
    return [(h, "\n".join(lines)) for h, lines in parts if h or any(s.strip() for s in lines)]
