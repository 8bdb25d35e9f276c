"""The reference apps use only pgkeel's public API: `pgkeel.<capability>` and the names its
`__init__` exports (`__all__`), never a submodule such as `pgkeel.web.listing`."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pgkeel_apps

APPS = Path(pgkeel_apps.__file__).parent


def _public_names(module: str) -> set[str]:
    exported = getattr(importlib.import_module(module), "__all__", None)
    assert exported is not None, f"{module} declares no __all__"
    return set(exported)


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    aliases: dict[str, str] = {}        # `from pgkeel import audit` -> {"audit": "pgkeel.audit"}

    def check_module(module: str, line: int) -> bool:
        parts = module.split(".")
        if len(parts) != 2 or parts[1].startswith("_"):
            found.append(f"{path.name}:{line}: imports {module}, not a public pgkeel package")
            return False
        return True

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pgkeel.") and check_module(alias.name, node.lineno):
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "pgkeel" or node.module.startswith("pgkeel.")):
            if node.module == "pgkeel":
                for alias in node.names:
                    if alias.name != "__version__" and check_module(
                            f"pgkeel.{alias.name}", node.lineno):
                        aliases[alias.asname or alias.name] = f"pgkeel.{alias.name}"
            elif check_module(node.module, node.lineno):
                public = _public_names(node.module)
                found += [f"{path.name}:{node.lineno}: {node.module}.{a.name} is not exported"
                          for a in node.names if a.name not in public]
    for node in ast.walk(tree):              # `audit.record(...)` after `from pgkeel import audit`
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            module = aliases[node.value.id]
            if node.attr not in _public_names(module):
                found.append(f"{path.name}:{node.lineno}: {module}.{node.attr} is not exported")
    return found


def test_apps_import_only_public_packages_and_their_exports():
    files = sorted(APPS.rglob("*.py"))
    assert len(files) > 10
    violations = [v for path in files for v in _violations(path)]
    assert violations == []


def test_the_check_catches_a_submodule_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from pgkeel.web.listing import list_query\n"
                   "from pgkeel.repo import Repository, build_list\n"
                   "from pgkeel import audit\n"
                   "audit.queries\n")
    assert len(_violations(bad)) == 3
