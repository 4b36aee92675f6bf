"""DESIGN.md's module map lists every module of the package, and nothing that is not there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_map() -> str:
    design = (ROOT / "DESIGN.md").read_text()
    start = design.index("**Module map**")
    return design[design.index("```", start) + 3 : design.index("```", design.index("```", start) + 3)]


def mapped_modules() -> set[str]:
    """``package/module.py`` paths named by the map: a line's indented folder (``flows/``) scopes the names after it."""
    names, folder = set(), ""
    for line in module_map().splitlines():
        head = re.match(r"^(\s*)(\w+)/(\s|$)", line)
        if head and head.group(2) != "temcoco":
            depth = len(head.group(1))
            folder = head.group(2) + "/" if depth <= 2 else folder.split("/")[0] + "/" + head.group(2) + "/"
        elif not line.startswith("      ") and not head:
            folder = ""
        names |= {folder + name for name in re.findall(r"\b(\w+\.py)\b", line)}
    return names


def test_the_module_map_matches_the_tree():
    package = ROOT / "temcoco"
    tree = {str(p.relative_to(package)) for p in package.rglob("*.py") if p.name != "__init__.py"}
    mapped = mapped_modules()
    assert not tree - mapped, f"modules missing from DESIGN.md's module map: {sorted(tree - mapped)}"
    assert not mapped - tree, f"DESIGN.md's module map names modules that do not exist: {sorted(mapped - tree)}"
