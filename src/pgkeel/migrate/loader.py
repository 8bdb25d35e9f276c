"""Reading a migration set from disk: names, headers, checksums, statements.

    V<version>__<description>.sql   versioned, applied once in version order
    U<version>__<description>.sql   undoes V<version> (`pgkeel migrate down`)
    R__<description>.sql            repeatable, re-applied whenever its checksum changes

Checksums are SHA-256 of the text decoded as UTF-8 with any BOM removed and CRLF / CR turned
into LF, so a Windows checkout never drifts; the file's path is never part of it. A `.sql` file
whose name does not follow the pattern is an error rather than silently skipped, and header
directives are checked, so a typo cannot quietly change how a migration runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pgkeel.errors import InvalidMigrationFile, MigrationError
from pgkeel.migrate.splitter import SqlSyntaxError, Statement, Token, split_statements
from pgkeel.migrate.versions import Version

__all__ = [
    "CHECKSUM_ALGO",
    "FileOptions",
    "MigrationFile",
    "MigrationKind",
    "MigrationSet",
    "checksum",
    "load_directory",
    "load_file",
    "normalize",
    "parse_duration_ms",
]

CHECKSUM_ALGO = "sha256-lf"
"""Recorded with every checksum, so a future algorithm can be adopted explicitly."""

_NAME = re.compile(r"^(?P<prefix>[VU])(?P<version>[^_].*?)__(?P<desc>.+)\.sql$")
_REPEATABLE = re.compile(r"^R__(?P<desc>.+)\.sql$")
_DIRECTIVE = re.compile(r"^--\s*pgkeel:\s*(?P<body>.*)$", re.IGNORECASE)
_DURATION = re.compile(r"^(?P<n>[0-9]+)\s*(?P<unit>ms|s|min|h)?$")
_UNITS_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


class MigrationKind(StrEnum):
    VERSIONED = "versioned"
    UNDO = "undo"
    REPEATABLE = "repeatable"


def normalize(data: bytes | str) -> str:
    """The text a checksum covers and statements are split from: UTF-8, no BOM, LF only."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def checksum(data: bytes | str) -> str:
    """SHA-256 (hex) of the normalised text."""
    return hashlib.sha256(normalize(data).encode("utf-8")).hexdigest()


def parse_duration_ms(value: str) -> int:
    """`500ms`, `5s`, `2min`, `1h` or a bare number of milliseconds."""
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise ValueError(f"invalid duration {value!r}: use e.g. 500ms, 5s, 2min")
    return int(match.group("n")) * _UNITS_MS[match.group("unit") or "ms"]


@dataclass(frozen=True)
class FileOptions:
    """How one file runs, from its `-- pgkeel: key=value` header lines."""

    transactional: bool = True
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    lock_retries: int | None = None
    out_of_order: bool = False
    """This file may be applied after higher versions (a per-file `--allow-out-of-order`)."""


@dataclass(frozen=True)
class MigrationFile:
    """One migration file, read and split."""

    kind: MigrationKind
    version: Version | None
    description: str
    path: Path
    text: str
    checksum: str
    options: FileOptions
    statements: tuple[Statement, ...]
    comments: tuple[Token, ...] = field(repr=False)

    @property
    def script(self) -> str:
        """The file name as recorded in the history (never the directory)."""
        return self.path.name

    def prefix_checksum(self, count: int) -> str | None:
        """Checksum of the first `count` statements: proves a half-run file is unchanged
        where it already ran before it is resumed."""
        if count <= 0:
            return None
        body = "\x00".join(statement.text for statement in self.statements[:count])
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MigrationSet:
    """Every file of one migration directory, checked for duplicates and orphans."""

    directory: Path
    versioned: tuple[MigrationFile, ...]
    undo: dict[Version, MigrationFile]
    repeatable: tuple[MigrationFile, ...]

    def by_version(self) -> dict[Version, MigrationFile]:
        return {f.version: f for f in self.versioned if f.version is not None}

    def all_files(self) -> list[MigrationFile]:
        return [*self.versioned, *self.undo.values(), *self.repeatable]


_OPTION_FIELDS = {"transaction": "transactional", "lock_timeout": "lock_timeout_ms",
                  "statement_timeout": "statement_timeout_ms", "lock_retries": "lock_retries",
                  "out_of_order": "out_of_order"}


def _options(path: Path, comments: Iterable[Token], first_line: int | None) -> FileOptions:
    values: dict[str, Any] = {}
    for comment in comments:
        match = _DIRECTIVE.match(comment.text)
        if not match:
            continue
        body = match.group("body").strip()
        if body.lower().startswith("lint-ignore"):
            continue
        where = f"{path.name}:{comment.line}"
        if first_line is not None and comment.line > first_line:
            raise InvalidMigrationFile(
                f"{where}: `-- pgkeel: {body}` must come before the first statement.",
                details={"script": path.name, "line": comment.line})
        for item in body.split():
            key, _, value = item.partition("=")
            key, value = key.strip().lower().replace("-", "_"), value.strip().lower()
            try:
                values[_OPTION_FIELDS.get(key, key)] = _option_value(key, value)
            except ValueError as exc:
                raise InvalidMigrationFile(
                    f"{where}: {exc}", details={"script": path.name, "line": comment.line},
                    hint="Known settings: transaction=on|off, lock_timeout=5s, "
                         "statement_timeout=10min, lock_retries=3, out_of_order=allow; "
                         "and lint-ignore <code>.") from None
    return FileOptions(**values)


def _option_value(key: str, value: str) -> object:
    if key == "transaction":
        if value in _TRUE | _FALSE:
            return value in _TRUE
        raise ValueError(f"transaction must be on or off, not {value!r}")
    if key in {"lock_timeout", "statement_timeout"}:
        return parse_duration_ms(value)
    if key == "lock_retries":
        if value.isdigit():
            return int(value)
        raise ValueError(f"lock_retries must be a whole number, not {value!r}")
    if key == "out_of_order":
        if value in {"allow", "allowed", *_TRUE}:
            return True
        raise ValueError(f"out_of_order can only be `allow`, not {value!r}")
    raise ValueError(f"unknown setting {key!r}")


def load_file(path: Path, data: bytes | None = None) -> MigrationFile:
    """Read one migration file; InvalidMigrationFile on a bad name, header or SQL text."""
    name = path.name
    if match := _NAME.match(name):
        kind = MigrationKind.VERSIONED if match.group("prefix") == "V" else MigrationKind.UNDO
        try:
            version: Version | None = Version.parse(match.group("version"))
        except ValueError as exc:
            raise InvalidMigrationFile(f"{name}: {exc}", details={"script": name}) from None
        description = match.group("desc")
    elif match := _REPEATABLE.match(name):
        kind, version, description = MigrationKind.REPEATABLE, None, match.group("desc")
    else:
        raise InvalidMigrationFile(
            f"{name}: not a migration file name.", details={"script": name},
            hint="Use V<version>__<description>.sql, U<version>__<description>.sql or "
                 "R__<description>.sql (two underscores).")
    raw = path.read_bytes() if data is None else data
    try:
        text = normalize(raw)
    except UnicodeDecodeError:
        raise InvalidMigrationFile(f"{name}: not valid UTF-8.", details={"script": name},
                                   hint="Save the file as UTF-8.") from None
    try:
        statements, comments = split_statements(text)
    except SqlSyntaxError as exc:
        raise InvalidMigrationFile(f"{name}:{exc.line}: {exc}",
                                   details={"script": name, "line": exc.line}) from None
    first_line = statements[0].line if statements else None
    options = _options(path, comments, first_line)
    return MigrationFile(kind, version, description.replace("_", " ").strip(), path, text,
                         checksum(text), options, tuple(statements), tuple(comments))


def load_directory(directory: Path | str) -> MigrationSet:
    """Read every `*.sql` file under `directory` (recursively, hidden files skipped)."""
    root = Path(directory)
    if not root.is_dir():
        raise MigrationError(f"The migrations directory {str(root)!r} does not exist.",
                             details={"directory": str(root)},
                             hint="Pass --dir, set MIGRATIONS_DIR, or run `pgkeel migrate "
                                  "create NAME` to start one.")
    versioned: dict[Version, MigrationFile] = {}
    undo: dict[Version, MigrationFile] = {}
    repeatable: dict[str, MigrationFile] = {}
    for path in sorted(root.rglob("*.sql")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        loaded = load_file(path)
        if loaded.kind is MigrationKind.REPEATABLE:
            seen = repeatable.setdefault(loaded.script, loaded)
        else:
            assert loaded.version is not None
            bucket = versioned if loaded.kind is MigrationKind.VERSIONED else undo
            seen = bucket.setdefault(loaded.version, loaded)
        if seen is not loaded:
            raise InvalidMigrationFile(
                f"{loaded.script} and {seen.script} have the same version.",
                details={"scripts": [seen.script, loaded.script]},
                hint="Give one of them the next free version.")
    for version, file in undo.items():
        if version not in versioned:
            raise InvalidMigrationFile(
                f"{file.script} undoes version {version}, but there is no V{version} file.",
                details={"script": file.script})
    return MigrationSet(root, tuple(sorted(versioned.values(), key=_version_key)), undo,
                        tuple(sorted(repeatable.values(), key=lambda f: f.script)))


def _version_key(file: MigrationFile) -> Version:
    assert file.version is not None
    return file.version
