"""Errors of the migration runner (`pgkeel.migrate`, `pgkeel migrate`)."""

from __future__ import annotations

from pgkeel.errors.base import PgkeelError

__all__ = [
    "MigrationError",
    "InvalidMigrationFile",
    "MigrationFailed",
    "MigrationDrift",
    "OutOfOrder",
    "IrreversibleMigration",
    "LintFailed",
    "MigrationLockTimeout",
    "BaselineRefused",
    "ProductionRefused",
]


class MigrationError(PgkeelError):
    """A migration set could not be read, checked or applied."""

    code = "migration_error"


class InvalidMigrationFile(MigrationError):
    """A migration file's name, header or SQL text is malformed."""

    code = "invalid_migration_file"


class MigrationFailed(MigrationError):
    """A migration statement failed."""

    code = "migration_failed"


class MigrationDrift(MigrationError):
    """The migration history no longer matches the migration files."""

    code = "migration_drift"


class OutOfOrder(MigrationError):
    """A pending migration's version is older than one already applied."""

    code = "migration_out_of_order"


class IrreversibleMigration(MigrationError):
    """An applied migration has no undo file, so it cannot be undone."""

    code = "irreversible_migration"


class LintFailed(MigrationError):
    """Pending migrations have lint errors."""

    code = "migration_lint_failed"


class MigrationLockTimeout(MigrationError):
    """Another migration runner held the migration lock for too long."""

    code = "migration_lock_timeout"


class BaselineRefused(MigrationError):
    """A baseline can only be set on a history without applied migrations."""

    code = "baseline_refused"


class ProductionRefused(MigrationError):
    """This destructive command is refused when APP_ENV=production."""

    code = "production_refused"
