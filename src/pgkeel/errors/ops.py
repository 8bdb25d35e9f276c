"""Errors of operations (`pgkeel.ops`: health, stats, advise)."""

from __future__ import annotations

from typing import ClassVar

from pgkeel.errors.base import PgkeelError

__all__ = ["MaintenanceFailed", "OpsError", "OpsNotInstalled"]


class OpsError(PgkeelError):
    """An operations command could not do what was asked."""

    code = "ops_error"


class OpsNotInstalled(OpsError):
    """The ops schema (its statistics and health functions) is not installed in this
    database."""

    code = "ops_not_installed"
    http_status: ClassVar[int] = 503


class MaintenanceFailed(OpsError):
    """A maintenance job's statement failed (e.g. a REINDEX that meets duplicate rows);
    `details` lists what failed and what was done."""

    code = "maintenance_failed"
