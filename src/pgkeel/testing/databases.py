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
