"""`pgkeel migrate lint`: dangerous-DDL rules in the spirit of squawk and strong_migrations.

Rules read the splitter's tokens, never raw text, so nothing inside a string, a comment or a
function body can trigger them. Each knows the transaction mode the file really runs in and
which tables the file itself creates (a brand-new table is empty, so locking it is harmless).
A finding is suppressed by `-- pgkeel: lint-ignore <code or name>` on the statement or on the
line(s) just before it, or for a whole file by `-- pgkeel: lint-ignore-file <code>`; an ignore
that suppresses nothing is itself reported. Errors stop `up`; warnings are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pgkeel.migrate import _lint_checks as checks
from pgkeel.migrate.loader import MigrationFile, MigrationKind, MigrationSet
from pgkeel.migrate.splitter import Statement

__all__ = ["RULES", "LintFinding", "Rule", "Severity", "lint_file", "lint_files"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """One lint rule: what is dangerous, and the safe way to get the same result."""

    code: str
    name: str
    severity: Severity
    message: str


_E, _W = Severity.ERROR, Severity.WARNING

RULES: dict[str, Rule] = {rule.code: rule for rule in [
    Rule("PGK001", "index-not-concurrent", _E,
         "CREATE INDEX on an existing table blocks its writes until the build ends. Use "
         "CREATE INDEX CONCURRENTLY in a file headed `-- pgkeel: transaction=off`."),
    Rule("PGK002", "drop-index-not-concurrent", _E,
         "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table. Use DROP INDEX "
         "CONCURRENTLY in a `transaction=off` file."),
    Rule("PGK003", "reindex-not-concurrent", _E,
         "REINDEX blocks writes (and reads using the index). Use REINDEX ... CONCURRENTLY in "
         "a `transaction=off` file."),
    Rule("PGK004", "concurrently-in-transaction", _E,
         "This statement cannot run inside a transaction block. Put `-- pgkeel: "
         "transaction=off` on the file's first line (pgkeel then resumes it statement by "
         "statement)."),
    Rule("PGK005", "add-column-not-null", _E,
         "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table with rows. Add it with a "
         "non-volatile DEFAULT, or add it nullable, backfill, then add the constraint."),
    Rule("PGK006", "add-column-rewrite", _E,
         "This ADD COLUMN rewrites the whole table under an ACCESS EXCLUSIVE lock (volatile "
         "DEFAULT, serial, identity or stored generated column). Add the column without it, "
         "backfill in batches, then set the default for new rows."),
    Rule("PGK007", "column-type-change", _E,
         "Changing a column's type rewrites the table (and its indexes) under an ACCESS "
         "EXCLUSIVE lock. Add a new column, backfill it in batches, switch readers, then drop "
         "the old one."),
    Rule("PGK008", "set-not-null", _E,
         "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock. First ADD "
         "CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT (in a "
         "later migration), then SET NOT NULL, which then skips the scan."),
    Rule("PGK009", "constraint-not-valid", _E,
         "Adding a FOREIGN KEY or CHECK constraint validates every row while holding a lock "
         "that blocks writes. Add it with NOT VALID, then VALIDATE CONSTRAINT in a later "
         "migration (which only takes a SHARE UPDATE EXCLUSIVE lock)."),
    Rule("PGK010", "unique-constraint-lock", _E,
         "Adding a UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index under an ACCESS "
         "EXCLUSIVE lock. Build a unique index CONCURRENTLY first, then ADD CONSTRAINT ... "
         "USING INDEX."),
    Rule("PGK011", "drop-column", _W,
         "Dropping a column breaks code that still reads it. Stop using it in the application "
         "and deploy that first, then drop it."),
    Rule("PGK012", "drop-table", _W,
         "Dropping a table breaks code that still uses it and cannot be undone without a "
         "backup. Stop using it first; consider renaming it away for a release."),
    Rule("PGK013", "rename", _W,
         "Renaming a table or column breaks running code that uses the old name. Add the new "
         "name (or a view), move the code over, then remove the old one."),
    Rule("PGK014", "transaction-control", _E,
         "pgkeel manages transactions itself; BEGIN/COMMIT/ROLLBACK/SAVEPOINT in a file break "
         "its atomicity and resume logic. Remove them; use `-- pgkeel: transaction=off` for "
         "statements that must run outside a transaction."),
    Rule("PGK015", "lock-timeout-disabled", _W,
         "A lock_timeout of 0 or above 10 s lets this migration queue every other query on the "
         "table behind its lock. Keep it short and let pgkeel retry with backoff."),
    Rule("PGK016", "table-rewrite-command", _E,
         "VACUUM FULL and CLUSTER rewrite the table under an ACCESS EXCLUSIVE lock for the "
         "whole run. Use pg_repack (or pg_squeeze) instead."),
    Rule("PGK017", "refresh-not-concurrent", _W,
         "REFRESH MATERIALIZED VIEW blocks every read of the view until it finishes. Use "
         "REFRESH MATERIALIZED VIEW CONCURRENTLY (it needs a unique index on the view)."),
    Rule("PGK018", "prefer-timestamptz", _W,
         "timestamp without time zone stores wall-clock values whose zone is lost. Use "
         "timestamptz."),
    Rule("PGK019", "prefer-text", _W,
         "varchar(n) / char(n) limits can only be tightened with a table scan or rewrite, and "
         "char(n) pads with spaces. Use text with a CHECK (length(col) <= n) constraint."),
    Rule("PGK020", "identifier-too-long", _E,
         "PostgreSQL silently truncates identifiers to 63 bytes, so two long names can "
         "collide. Shorten the name."),
    Rule("PGK021", "prefer-bigint-identity", _W,
         "An integer / serial primary key runs out at 2.1 billion and is costly to widen "
         "later. Use bigint GENERATED ALWAYS AS IDENTITY."),
    Rule("PGK022", "detach-partition-not-concurrent", _W,
         "DETACH PARTITION takes an ACCESS EXCLUSIVE lock on the parent table. Use DETACH "
         "PARTITION ... CONCURRENTLY in a `transaction=off` file."),
    Rule("PGK099", "unused-ignore", _W,
         "This lint-ignore suppresses nothing (or names an unknown rule). Remove it."),
]}

_BY_NAME = {rule.name: code for code, rule in RULES.items()}
_IGNORE = re.compile(r"^--\s*pgkeel:\s*lint-ignore(?P<file>-file)?\b(?P<codes>.*)$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class LintFinding:
    """One rule violation at file:line."""

    code: str
    rule: str
    severity: Severity
    script: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.script}:{self.line}: {self.code} {self.rule} [{self.severity}] " \
               f"{self.message}"


@dataclass
class _Ignore:
    line: int
    codes: dict[str, bool]
    """Rule code -> used yet (unknown names are kept as given, and never used)."""
    whole_file: bool


def _ignores(file: MigrationFile) -> list[_Ignore]:
    found = []
    for comment in file.comments:
        match = _IGNORE.match(comment.text)
        if match:
            names = [n for n in re.split(r"[\s,]+", match.group("codes")) if n]
            codes = {_BY_NAME.get(n.lower(), n.upper()): False for n in names}
            found.append(_Ignore(comment.line, codes, bool(match.group("file"))))
    return found


def _applies(ignore: _Ignore, statement: Statement, previous_end: int) -> bool:
    return ignore.whole_file or previous_end < ignore.line <= statement.end_line


def lint_file(file: MigrationFile) -> list[LintFinding]:
    """Every finding in one file, suppressions applied, in line order."""
    ignores = _ignores(file)
    findings: list[LintFinding] = []
    context = checks.FileContext(transactional=file.options.transactional)
    previous_end = 0
    raw = list(checks.check_header(file.options.lock_timeout_ms,
                                   file.statements[0].line if file.statements else 1))
    for index, statement in enumerate(file.statements):
        hits = raw if index == 0 else []
        hits += checks.check_statement(statement, context)
        for code, line in hits:
            if not _suppressed(code, statement, previous_end, ignores):
                findings.append(_finding(code, file.script, line))
        previous_end = statement.end_line
        raw = []
    for ignore in ignores:
        for code, used in ignore.codes.items():
            if not used and code != "PGK099":
                findings.append(_finding("PGK099", file.script, ignore.line, extra=code))
    return sorted(findings, key=lambda f: (f.line, f.code))


def _suppressed(code: str, statement: Statement, previous_end: int,
                ignores: list[_Ignore]) -> bool:
    for ignore in ignores:
        if code in ignore.codes and _applies(ignore, statement, previous_end):
            ignore.codes[code] = True
            return True
    return False


def _finding(code: str, script: str, line: int, *, extra: str = "") -> LintFinding:
    rule = RULES[code]
    message = f"{rule.message} ({extra})" if extra else rule.message
    return LintFinding(code, rule.name, rule.severity, script, line, message)


def lint_files(files: MigrationSet | list[MigrationFile]) -> list[LintFinding]:
    """Lint versioned and repeatable files (undo files are expected to drop things)."""
    chosen = files.all_files() if isinstance(files, MigrationSet) else files
    findings: list[LintFinding] = []
    for file in chosen:
        if file.kind is not MigrationKind.UNDO:
            findings += lint_file(file)
    return findings
