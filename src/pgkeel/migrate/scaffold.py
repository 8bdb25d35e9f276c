"""`pgkeel migrate create NAME`: the next migration file(s), from a template.

The next version is one above the highest whole version in the directory (`V7__...` ->
`V8__...`); a directory that uses timestamps (`V20240501093000__...`) gets the current UTC
timestamp instead. Existing files are never overwritten.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pgkeel.errors import UsageError
from pgkeel.migrate.versions import Version

__all__ = ["create_migration", "next_version"]

_VERSIONED = re.compile(r"^V(?P<version>[^_].*?)__.+\.sql$")
_TIMESTAMP_FLOOR = 19_000_101  # a first part this large is a date or a timestamp

_TEMPLATE = """\
-- {description}
--
-- Runs in one transaction with a short lock_timeout (retried with backoff): if any statement
-- fails, nothing in this file is kept. CREATE INDEX CONCURRENTLY and friends need a file of
-- their own whose first line is `-- pgkeel: transaction=off`.

"""

_TEMPLATE_NO_TX = """\
-- pgkeel: transaction=off
-- {description}
--
-- Runs outside a transaction, one statement at a time; after a failure, `up` resumes at the
-- statement that failed. Ideal for CREATE INDEX CONCURRENTLY.

"""

_TEMPLATE_UNDO = """\
-- Undoes {target} (`pgkeel migrate down`). Runs in one transaction.

"""

_TEMPLATE_REPEATABLE = """\
-- {description}
--
-- Re-applied after the versioned migrations whenever this file changes: write it so it can
-- run again (CREATE OR REPLACE VIEW / FUNCTION ...).

"""


def _slug(name: str) -> str:
    slug = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    if not slug:
        raise UsageError(f"{name!r} is not a usable migration name.",
                         hint="Use letters and digits, e.g. `add users email index`.")
    return slug


def next_version(directory: Path) -> Version:
    """One above the highest whole version in `directory`, or a UTC timestamp version."""
    versions = []
    if directory.is_dir():
        for path in directory.rglob("V*.sql"):
            match = _VERSIONED.match(path.name)
            if match:
                try:
                    versions.append(Version.parse(match.group("version")))
                except ValueError:
                    continue
    highest = max(versions, default=None)
    if highest is None:
        return Version((1,))
    if highest.parts[0] >= _TIMESTAMP_FLOOR:
        stamp = Version.parse(datetime.now(UTC).strftime("%Y%m%d%H%M%S"))
        return stamp if stamp > highest else highest.next_major()
    return highest.next_major()


def create_migration(directory: Path | str, name: str, *, version: str | None = None,
                     undo: bool = False, repeatable: bool = False,
                     transactional: bool = True) -> list[Path]:
    """Write the new file(s); return their paths (the V file first)."""
    root = Path(directory)
    slug = _slug(name)
    description = name.strip()
    files: dict[Path, str] = {}
    if repeatable:
        if version is not None or undo:
            raise UsageError("A repeatable migration has no version and no undo file.")
        files[root / f"R__{slug}.sql"] = _TEMPLATE_REPEATABLE.format(description=description)
    else:
        try:
            chosen = Version.parse(version) if version else next_version(root)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        forward = root / f"V{chosen}__{slug}.sql"
        template = _TEMPLATE if transactional else _TEMPLATE_NO_TX
        files[forward] = template.format(description=description)
        if undo:
            files[root / f"U{chosen}__{slug}.sql"] = _TEMPLATE_UNDO.format(target=forward.name)
    for path in files:
        if path.exists():
            raise UsageError(f"{path} already exists.")
    root.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
