"""Migrations: SQL files applied in order, checked, locked, resumable and linted.

Public API:
    Migrator                      one migration set: create, up, down, status, validate,
                                  baseline, repair, reset, lint (`pgkeel.migrate.runner`)
    RunReport, StatusReport, RepairReport, DryRun      what the commands return
    StatusEntry, State, DriftIssue                     status lines (`pgkeel.migrate.planner`)
    AppliedMigration                                   one file that ran (`.executor`)
    LintFinding, Rule, RULES, Severity, lint_files     the linter (`pgkeel.migrate.lint`)
    MigrationFile, MigrationSet, load_directory, checksum, normalize   files (`.loader`)
    Statement, split_statements                        the SQL splitter (`.splitter`)
    Version                                            versions (`.versions`)
    LockHolder, lock_key, server_lock_key              the advisory lock (`.lock`)
    create_migration                                   templates (`.scaffold`)
"""

from pgkeel.migrate.executor import AppliedMigration
from pgkeel.migrate.lint import RULES, LintFinding, Rule, Severity, lint_files
from pgkeel.migrate.loader import (
    CHECKSUM_ALGO,
    MigrationFile,
    MigrationKind,
    MigrationSet,
    checksum,
    load_directory,
    normalize,
)
from pgkeel.migrate.lock import LockHolder, lock_key, server_lock_key
from pgkeel.migrate.planner import DriftIssue, State, StatusEntry
from pgkeel.migrate.runner import DryRun, Migrator, RepairReport, RunReport, StatusReport
from pgkeel.migrate.scaffold import create_migration
from pgkeel.migrate.splitter import Statement, split_statements
from pgkeel.migrate.versions import Version

__all__ = [
    "Migrator",
    "DryRun",
    "RunReport",
    "StatusReport",
    "RepairReport",
    "StatusEntry",
    "State",
    "DriftIssue",
    "AppliedMigration",
    "LintFinding",
    "Rule",
    "RULES",
    "Severity",
    "lint_files",
    "CHECKSUM_ALGO",
    "MigrationFile",
    "MigrationKind",
    "MigrationSet",
    "checksum",
    "load_directory",
    "normalize",
    "Statement",
    "split_statements",
    "Version",
    "LockHolder",
    "lock_key",
    "server_lock_key",
    "create_migration",
]
