"""The README's layout names every package and module of the library."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_layout_lists_every_package_and_module():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n```\n", layout.index("```") + 3)]
    listed = set(re.findall(r"^  ([\w.]+/?)\s", layout, re.M))
    library = ROOT / "src" / "pgkeel"
    present = {f"{p.name}/" for p in library.iterdir() if (p / "__init__.py").exists()}
    present |= {p.name for p in library.glob("*.py") if not p.name.startswith("_")}
    missing = sorted(present - listed)
    assert missing == [], f"README.md's layout does not mention {missing}"
