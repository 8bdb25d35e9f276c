"""Least-privilege roles for the reference service: migrations as the migrator, requests as
the app role (`make demo` sets them up, see docs/security.md)."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from pgkeel.config import Settings
from pgkeel.runtime import open_migration_database
from pgkeel.security import RoleNames, provision_roles, role_url
from pgkeel_apps.main import SCHEMAS, migrate


async def serve_as_roles(settings: Settings, service: str = "pgkeel") -> Settings:
    """Create (or check) `<service>_migrator`, `_app` and `_readonly` with DATABASE_URL's
    admin role, apply the migrations as the migrator, grant the library tables they created,
    and return settings that migrate as the migrator (MIGRATION_DATABASE_URL) and serve as
    the app role (DATABASE_URL; replicas too). Passwords are derived from the admin's; on
    trust authentication there are none."""
    schemas = SCHEMAS
    admin_url = settings.database_url
    assert admin_url is not None, "resolve the URLs first (EmbeddedServers.for_settings)"
    names = RoleNames.for_service(service)
    _, urls = await provision_roles(admin_url, names, schemas)
    migrating = settings.model_copy(update={"migration_database_url": urls[names.migrator]})
    async with open_migration_database(migrating) as owner:
        await migrate(owner, migrating)
    # Library schemas (audit) are granted table by table: again, now that their tables exist.
    await provision_roles(admin_url, names, schemas)
    replicas = tuple(_same_role(url, urls[names.app]) for url in settings.database_replica_urls)
    return settings.model_copy(update={
        "database_url": urls[names.app], "migration_database_url": urls[names.migrator],
        "database_replica_urls": replicas})


def _same_role(replica_url: str, app_url: str) -> str:
    """A replica URL that logs in like `app_url` does (same user and password)."""
    app = conninfo_to_dict(app_url)
    password = app.get("password")
    return role_url(replica_url, str(app["user"]), None if password is None else str(password))
