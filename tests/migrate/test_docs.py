"""docs/migrations.md stays honest: its lint table is RULES, and every test its feature table
cites exists."""

from __future__ import annotations

import re
from pathlib import Path

from pgkeel.migrate import RULES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "migrations.md"
HERE = Path(__file__).resolve().parent


def test_lint_table_matches_the_rules():
    rows = re.findall(r"^\| (PGK\d{3}) \| `([a-z-]+)` \| (error|warning) \| (.+) \|$",
                      DOCS.read_text(), re.M)
    assert [(code, name, severity, message) for code, name, severity, message in rows] == [
        (r.code, r.name, str(r.severity), r.message) for r in RULES.values()]


def test_every_cited_test_exists():
    cited = re.findall(r"`(test_\w+)(?:\.py|::(test_\w+))`", DOCS.read_text())
    assert len(cited) >= 20
    for module, function in cited:
        source = (HERE / f"{module}.py").read_text()
        if function:
            assert f"def {function}(" in source, f"{module}::{function}"
