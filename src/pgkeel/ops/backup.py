"""`pgkeel backup`, `pgkeel restore`, `pgkeel backup verify`: pg_dump custom-format archives
with naming, retention, and a restore test that compares row counts.

    made = await backup(url, Path("backups"), keep=7)     # backups/<db>-<UTC time>Z.dump
    await restore(url, made.path, "restored_copy")        # into a new database
    report = await verify(url, made.path)                 # scratch restore + row counts

The archive is written with the pg_dump of the server's own major version (PGKEEL_PG_BIN,
Debian's /usr/lib/postgresql/<major>/bin, the embedded wheel's, then PATH): an older one
refuses a newer server, and a newer one writes settings an older server rejects on restore.
Next to each archive, `<name>.json` holds the exact row count of every table, counted in
the very snapshot pg_dump dumped (`pg_export_snapshot`), so `verify` compares the restored
copy with what was dumped, not with a database that has moved on since.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgkeel.embedded.postgres import _bin_dir
from pgkeel.errors import EmbeddedServerError, OpsError, OpsNotInstalled, UsageError
from pgkeel.ops import queries

__all__ = ["Backup", "VerifyReport", "backup", "backup_script", "compare_counts", "find_tool",
           "restore", "row_counts", "verify"]

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True)
class Backup:
    """One archive: where, how big, of which database and server, and its row counts."""

    path: Path
    database: str
    server_major: int
    bytes: int
    created_at: datetime
    row_counts: dict[str, int]
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "created_at": self.created_at.isoformat(),
                "tables": len(self.row_counts)}


@dataclass(frozen=True)
class VerifyReport:
    """A restore test: `ok` when every table has the row count it had when dumped."""

    path: Path
    scratch_database: str
    tables: int
    rows: int
    mismatches: dict[str, dict[str, int | None]]
    compared_with: str

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "ok": self.ok}


def _candidates(major: int) -> list[Path]:
    found = [Path(p) for p in (os.environ.get("PGKEEL_PG_BIN", ""),) if p]
    found.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    with suppress(EmbeddedServerError):  # no embedded wheel: the other candidates remain
        found.append(_bin_dir())
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(Path(on_path).parent)
    return found


async def _major_of(tool: Path) -> int | None:
    proc = await asyncio.create_subprocess_exec(str(tool), "--version",
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    match = _VERSION.search(out.decode(errors="replace"))
    return int(match.group(1)) if match else None


async def find_tool(name: str, server_major: int) -> Path:
    """`pg_dump` or `pg_restore` of major version `server_major` (see the module doc)."""
    seen: list[str] = []
    for directory in _candidates(server_major):
        tool = directory / name
        if not tool.exists():
            continue
        major = await _major_of(tool)
        seen.append(f"{tool} ({major})")
        if major == server_major:
            return tool
    raise OpsError(f"No {name} of PostgreSQL {server_major} found.",
                   details={"tried": seen},
                   hint=f"Install PostgreSQL {server_major}'s client tools (Debian: "
                        f"postgresql-client-{server_major}) or set PGKEEL_PG_BIN to their bin "
                        "directory.")


def _database_of(url: str) -> str:
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise UsageError("The database URL names no database.")
    return str(name)


async def row_counts(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    """The exact row count of every ordinary table (partitions counted on their own)."""
    cursor = await conn.execute(queries.BACKUP_TABLES)
    counts: dict[str, int] = {}
    for schema, table in await cursor.fetchall():
        counted = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, table)))
        row = await counted.fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment that passes it (PGPASSWORD), so it
    never shows in the process list."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


async def _run(tool: Path, *args: str, url: str) -> None:
    """Run `tool` with `args` and `--dbname=<url>` (password through the environment)."""
    safe_url, env = _without_password(url)
    proc = await asyncio.create_subprocess_exec(str(tool), *args, f"--dbname={safe_url}",
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise OpsError(f"{tool.name} failed: {err.decode(errors='replace').strip()[-2000:]}",
                       details={"exit_code": proc.returncode})


async def backup(url: str, directory: Path, *, keep: int | None = None) -> Backup:
    """Dump the database at `url` to `directory/<db>-<UTC time>.dump` (custom format) and its
    row counts to `.json` next to it; then keep the newest `keep` archives of this database
    (None: keep all)."""
    if keep is not None and keep < 1:
        raise UsageError("keep must be at least 1.")
    database = _database_of(url)
    _make_dir(directory)
    created = datetime.now(UTC)
    path = directory / f"{database}-{created:%Y%m%dT%H%M%S.%fZ}.dump"
    partial = path.with_suffix(".dump.partial")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        major = conn.info.server_version // 10000
        pg_dump = await find_tool("pg_dump", major)
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = await (await conn.execute(queries.EXPORT_SNAPSHOT)).fetchone()
        assert snapshot is not None
        counts = await row_counts(conn)
        await _run(pg_dump, "--format=custom", f"--snapshot={snapshot[0]}", f"--file={partial}",
                   url=url)
        await conn.execute("COMMIT")
    partial.rename(path)
    path.with_suffix(".json").write_bytes(orjson.dumps(
        {"database": database, "server_major": major, "created_at": created.isoformat(),
         "row_counts": counts}, option=orjson.OPT_INDENT_2))
    removed = _retain(directory, database, keep) if keep is not None else []
    return Backup(path, database, major, path.stat().st_size, created, counts, removed)


def _retain(directory: Path, database: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` archives of `database` (names sort by time)."""
    own = re.compile(rf"^{re.escape(database)}-\d{{8}}T\d{{6}}\.\d{{6}}Z\.dump$")
    archives = sorted(p for p in directory.glob(f"{database}-*.dump") if own.match(p.name))
    removed = []
    for old in archives[:-keep]:
        old.unlink()
        old.with_suffix(".json").unlink(missing_ok=True)
        removed.append(old.name)
    return removed


def _make_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)


def _must_exist(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"No backup file {path}.")


def _admin_url(url: str) -> str:
    return make_conninfo(url, dbname="postgres")


async def restore(url: str, path: Path, target: str, *, create: bool = True) -> None:
    """Restore archive `path` into database `target` on the server of `url`: created first
    (it must not exist) unless `create` is False. Objects keep no owner from the archive:
    the connecting role owns them."""
    _must_exist(path)
    target_url = make_conninfo(url, dbname=target)
    async with await psycopg.AsyncConnection.connect(_admin_url(url), autocommit=True) as conn:
        major = conn.info.server_version // 10000
        if create:
            exists = await (await conn.execute(queries.DATABASE_EXISTS, (target,))).fetchone()
            if exists and exists[0]:
                raise UsageError(f"Database {target!r} already exists.",
                                 hint="Restore into a new name, or drop it first.")
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
    pg_restore = await find_tool("pg_restore", major)
    await _run(pg_restore, "--no-owner", "--exit-on-error", str(path), url=target_url)


async def verify(url: str, path: Path) -> VerifyReport:
    """Restore `path` into a scratch database on the server of `url`, count every table's
    rows there, compare with the counts taken when it was dumped (its `.json`; without one,
    with the database at `url` now), drop the scratch database, and report."""
    manifest = path.with_suffix(".json")
    scratch = f"pgkeel_verify_{secrets.token_hex(4)}"
    try:
        await restore(url, path, scratch)
        async with await psycopg.AsyncConnection.connect(
                make_conninfo(url, dbname=scratch)) as conn:
            restored = await row_counts(conn)
    finally:
        async with await psycopg.AsyncConnection.connect(_admin_url(url),
                                                         autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(scratch)))
    if manifest.is_file():
        expected = {k: int(v) for k, v in orjson.loads(manifest.read_bytes())["row_counts"].items()}
        compared = f"the row counts taken when the backup was made ({manifest.name})"
    else:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            expected = await row_counts(conn)
        compared = "the live database (no manifest next to the backup)"
    return VerifyReport(path, scratch, len(restored), sum(restored.values()),
                        compare_counts(expected, restored), compared)


def compare_counts(expected: dict[str, int], restored: dict[str, int]
                   ) -> dict[str, dict[str, int | None]]:
    """The tables whose counts differ (None: the table is missing on that side)."""
    return {name: {"expected": expected.get(name), "restored": restored.get(name)}
            for name in sorted(set(expected) | set(restored))
            if expected.get(name) != restored.get(name)}


async def backup_script(url: str, *, backup_dir: str = "/var/backups/postgresql",
                        keep_days: int = 7) -> str:
    """`ops.generate_backup_script()`: a sh script doing a backup of the database at `url`."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        try:
            row = await (await conn.execute(queries.GENERATE_BACKUP_SCRIPT,
                                            (backup_dir, keep_days))).fetchone()
        except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName) as exc:
            raise OpsNotInstalled("The ops schema is not installed in this database.",
                                  hint="Run `pgkeel ops install`.") from exc
    assert row is not None
    return str(row[0])
