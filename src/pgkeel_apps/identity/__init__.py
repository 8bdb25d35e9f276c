"""The identity service: organizations, users, roles, sessions, `/v1/users`."""

from __future__ import annotations

from pathlib import Path

from pgkeel_apps.identity.auth import LoginGuard, SessionAuthenticator
from pgkeel_apps.identity.routes import router
from pgkeel_apps.identity.seed import load_sample_data, refuse_demo_accounts
from pgkeel_apps.identity.service import IdentityService
from pgkeel_apps.identity.tables import ROLES, SCHEMA, TABLES, USERS

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = ["MIGRATIONS", "ROLES", "SCHEMA", "TABLES", "USERS", "IdentityService",
           "LoginGuard", "SessionAuthenticator", "load_sample_data", "refuse_demo_accounts",
           "router"]
