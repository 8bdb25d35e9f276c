"""The customer-tags service: tags, their assignment to customers, and its cache."""

from __future__ import annotations

from pathlib import Path

from pgkeel_apps.tags.routes import router
from pgkeel_apps.tags.service import TagService
from pgkeel_apps.tags.tables import SCHEMA, TABLES

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = ["MIGRATIONS", "SCHEMA", "TABLES", "TagService", "router"]
