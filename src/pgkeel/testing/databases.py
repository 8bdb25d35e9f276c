"""Create and drop throw-away databases (used by the pytest plugin and the test suite)."""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def database_url(url: str, dbname: str) -> str:
    """The same server and credentials as `url`, but database `dbname` (a URL stays a URL)."""
    if "://" in url:
        return urlunsplit(urlsplit(url)._replace(path=f"/{quote(dbname)}"))
    return make_conninfo(url, dbname=dbname)


def create_database(admin_url: str, prefix: str = "pgkeel_test") -> str:
    """Create a uniquely named empty database; return its connection string."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database `url` points at, disconnecting anyone still in it."""
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(str(name))))


# Databases named `<prefix>_*` that nobody is connected to and that were created before the
# cut-off: the creation time is that of the database's PG_VERSION file, written once when the
# database is created (NULL, so skipped, where the file is not under base/).
STALE_DATABASES = """
SELECT d.datname FROM pg_database d
WHERE starts_with(d.datname, %(prefix)s)
  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)
  AND (pg_stat_file('base/' || d.oid || '/PG_VERSION', true)).modification
      < now() - make_interval(secs => %(age)s)
ORDER BY 1
"""


def drop_stale_databases(admin_url: str, prefix: str = "pgkeel_test",
                         older_than_s: float = 86_400) -> list[str]:
    """Drop `<prefix>_*` databases left behind by killed runs: no live session, created more
    than `older_than_s` ago. Returns the names dropped. A server that does not let this role
    read file times (`pg_stat_file` needs superuser or pg_read_server_files) drops nothing; a
    database someone connects to meanwhile is left alone (DROP without FORCE)."""
    dropped: list[str] = []
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        try:
            rows = conn.execute(STALE_DATABASES, {"prefix": f"{prefix}_",
                                                  "age": older_than_s}).fetchall()
        except psycopg.errors.InsufficientPrivilege:
            return dropped
        for (name,) in rows:
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.errors.ObjectInUse:
                continue
            dropped.append(name)
    return dropped
