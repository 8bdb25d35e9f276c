"""Running one migration file on the runner's connection: transactional or not, with retries.

A transactional file runs as BEGIN; SET LOCAL search_path / lock_timeout / statement_timeout;
its statements one by one; its history row; COMMIT -- so a failure keeps nothing and names the
exact file:line. A `transaction=off` file runs one statement at a time: each statement that can
run in a transaction commits together with its progress counter, and the others (CREATE INDEX
CONCURRENTLY, VACUUM, ...) run alone with the counter updated right after, so a re-run resumes
after the last statement that succeeded. A lock timeout (55P03), deadlock or serialization
failure is retried with backoff: the whole file, or the one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, LiteralString

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection, sql

from pgkeel.db.retry import RetryPolicy
from pgkeel.errors import MigrationFailed
from pgkeel.migrate import _queries as q
from pgkeel.migrate.history import History, RowType, row_params
from pgkeel.migrate.loader import CHECKSUM_ALGO, MigrationFile
from pgkeel.migrate.planner import Step
from pgkeel.migrate.splitter import Statement, TokenKind, needs_autocommit

__all__ = ["AppliedMigration", "Executor", "RunSettings"]

_RETRYABLE = frozenset({"55P03", "40P01", "40001"})
_IN_TRANSACTION_BLOCK = "25001"
_INVALID_TRANSACTION_TERMINATION = "2D000"  # a procedure that COMMITs, CALLed in a block
_RUN_ALONE = frozenset({_IN_TRANSACTION_BLOCK, _INVALID_TRANSACTION_TERMINATION})


@dataclass(frozen=True)
class RunSettings:
    """Per-migration defaults; a file's `-- pgkeel:` header overrides them."""

    lock_timeout_ms: int = 5_000
    statement_timeout_ms: int = 0
    lock_retries: int = 3
    retry_base_delay_s: float = 0.25
    retry_max_delay_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt`: capped exponential with full jitter."""
        policy = RetryPolicy(self.lock_retries, self.retry_base_delay_s,
                             self.retry_max_delay_s)
        return policy.delay(attempt)


@dataclass
class AppliedMigration:
    """One file that ran (or, in a rehearsal, ran and was rolled back)."""

    script: str
    version: str | None
    type: str
    execution_ms: int
    statements: int
    resumed_from: int = 0
    attempts: int = 1
    notices: list[str] = field(default_factory=list)


class _StatementError(Exception):
    """A statement failed; carries what the report needs."""

    def __init__(self, exc: psycopg.Error, statement: Statement | None, attempts: int) -> None:
        super().__init__(str(exc))
        self.exc, self.statement, self.attempts = exc, statement, attempts


class Executor:
    """Runs migration files on one autocommit connection (the one holding the lock)."""

    def __init__(self, conn: AsyncConnection[Any], history: History,
                 settings: RunSettings) -> None:
        self.conn = conn
        self.history = history
        self.settings = settings
        self._notices: list[str] = []
        conn.add_notice_handler(self._on_notice)

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        self._notices.append(f"{diag.severity}: {diag.message_primary}")

    # -- the statements that frame a file ----------------------------------------------------

    def settings_statements(self, file: MigrationFile, scope: LiteralString) -> list[sql.Composed]:
        """SET search_path / lock_timeout / statement_timeout for one file."""
        schema = self.history.schema
        path = [sql.Identifier(schema)]
        if schema != "public":
            path.append(sql.Identifier("public"))
        lock_ms = file.options.lock_timeout_ms
        stmt_ms = file.options.statement_timeout_ms
        lock_ms = self.settings.lock_timeout_ms if lock_ms is None else lock_ms
        stmt_ms = self.settings.statement_timeout_ms if stmt_ms is None else stmt_ms
        return [
            sql.SQL(q.SET_SEARCH_PATH).format(scope=sql.SQL(scope), path=sql.SQL(", ").join(path)),
            sql.SQL(q.SET_LOCK_TIMEOUT).format(scope=sql.SQL(scope),
                                               value=sql.Literal(f"{lock_ms}ms")),
            sql.SQL(q.SET_STATEMENT_TIMEOUT).format(scope=sql.SQL(scope),
                                                    value=sql.Literal(f"{stmt_ms}ms")),
        ]

    def _retries(self, file: MigrationFile) -> int:
        retries = file.options.lock_retries
        return self.settings.lock_retries if retries is None else retries

    @staticmethod
    def _row(step: Step, **values: Any) -> dict[str, Any]:
        file = step.file
        return row_params(version=file.version, description=file.description,
                          row_type=step.row_type, script=file.script, checksum=file.checksum,
                          checksum_algo=CHECKSUM_ALGO, statements_total=len(file.statements),
                          transactional=file.options.transactional, **values)

    # -- running -------------------------------------------------------------------------------

    async def run(self, step: Step) -> AppliedMigration:
        """Run one file for real; MigrationFailed (file:line) if a statement fails."""
        self._notices = []
        started = time.perf_counter()
        try:
            if step.file.options.transactional:
                attempts = await self._run_transactional(step, started)
            else:
                attempts = await self._run_statements(step, started)
        finally:
            await self._reset_session()
        return AppliedMigration(step.file.script, _version(step.file), _kind(step.row_type),
                                _ms(started), len(step.file.statements), step.resume_from,
                                attempts, list(self._notices))

    async def _reset_session(self) -> None:
        """Undo any session-level SET a file made (RESET ALL keeps advisory locks, unlike
        DISCARD ALL), then restore the runner's own session settings."""
        if self.conn.closed:
            return
        with contextlib.suppress(psycopg.Error):
            await self.conn.execute(q.RESET_ALL)
            await self.conn.execute(q.SESSION_SETUP)

    async def _run_transactional(self, step: Step, started: float) -> int:
        file, attempts = step.file, 0
        while True:
            attempts += 1
            current: Statement | None = None
            try:
                async with self.conn.transaction():
                    for statement in self.settings_statements(file, "LOCAL"):
                        await self.conn.execute(statement)
                    for current in file.statements:
                        await self.conn.execute(current.text.encode())
                    current = None
                    await self.history.insert(self.conn, self._row(
                        step, execution_ms=_ms(started),
                        statements_applied=len(file.statements)))
                return attempts
            except psycopg.Error as exc:
                if exc.sqlstate in _RETRYABLE and attempts <= self._retries(file):
                    await asyncio.sleep(self.settings.delay(attempts))
                    continue
                error = self._failure(file, exc, current, attempts, kept=0)
                await self._record(self.history.insert(self.conn, self._row(
                    step, execution_ms=_ms(started), success=False, error=error.message)))
                raise error from exc

    async def _run_statements(self, step: Step, started: float) -> int:
        file, done = step.file, step.resume_from
        for statement in self.settings_statements(file, "SESSION"):
            await self.conn.execute(statement)
        rank = await self.history.insert(self.conn, self._row(
            step, success=False, statements_applied=done,
            applied_checksum=file.prefix_checksum(done)))
        attempts, index = 1, done
        try:
            for index in range(done, len(file.statements)):
                progress = {"rank": rank, "statements_applied": index + 1,
                            "applied_checksum": file.prefix_checksum(index + 1),
                            "success": False, "execution_ms": _ms(started), "error": None}
                attempts = max(attempts, await self._run_one(file, index, progress))
        except _StatementError as failed:
            error = self._failure(file, failed.exc, failed.statement, failed.attempts,
                                  kept=index)
            await self._record(self.history.update_progress(self.conn, {
                "rank": rank, "statements_applied": index,
                "applied_checksum": file.prefix_checksum(index), "success": False,
                "execution_ms": _ms(started), "error": error.message}))
            raise error from failed.exc
        await self.history.update_progress(self.conn, {
            "rank": rank, "statements_applied": len(file.statements),
            "applied_checksum": file.prefix_checksum(len(file.statements)), "success": True,
            "execution_ms": _ms(started), "error": None})
        return attempts

    async def _run_one(self, file: MigrationFile, index: int, progress: dict[str, Any]) -> int:
        """One statement of a `transaction=off` file, with its progress update; retried."""
        statement = file.statements[index]
        alone = needs_autocommit(statement)
        attempts = 0
        while True:
            attempts += 1
            try:
                if alone:
                    await self._drop_invalid_index(statement)
                    await self.conn.execute(statement.text.encode())
                    await self.history.update_progress(self.conn, progress)
                else:
                    async with self.conn.transaction():
                        await self.conn.execute(statement.text.encode())
                        await self.history.update_progress(self.conn, progress)
                return attempts
            except psycopg.Error as exc:
                if exc.sqlstate in _RUN_ALONE and not alone:
                    alone, attempts = True, attempts - 1
                    continue
                if alone:
                    await self._record(self._drop_invalid_index(statement))
                if exc.sqlstate in _RETRYABLE and attempts <= self._retries(file):
                    await asyncio.sleep(self.settings.delay(attempts))
                    continue
                raise _StatementError(exc, statement, attempts) from exc

    async def _drop_invalid_index(self, statement: Statement) -> None:
        """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind, which would
        make the retry fail (or, with IF NOT EXISTS, silently keep a useless index)."""
        name = _concurrent_index_name(statement)
        if name is None:
            return
        cursor = await self.conn.execute(q.INVALID_INDEX, (name,))
        row = await cursor.fetchone()
        if row is not None:
            await self.conn.execute(sql.SQL(q.DROP_INDEX_CONCURRENTLY).format(
                index=sql.Identifier(row[0], row[1])))

    async def _record(self, operation: Awaitable[object]) -> None:
        """Best-effort bookkeeping after a failure: never hide the original error."""
        with contextlib.suppress(psycopg.Error):
            await operation

    def _failure(self, file: MigrationFile, exc: psycopg.Error, statement: Statement | None,
                 attempts: int, *, kept: int, note: str = "") -> MigrationFailed:
        diag = exc.diag
        primary = diag.message_primary or str(exc).strip()
        line = None
        if statement is not None:
            position = diag.statement_position
            line = statement.line_of(int(position)) if position else statement.line
        where = f"{file.script}:{line}" if line else file.script
        if file.options.transactional or kept == 0:
            hint = "Nothing from this file was kept; fix the cause and run up again."
        else:
            hint = (f"Its first {kept} statement(s) were applied and kept; after fixing the "
                    f"cause, up resumes at statement {kept + 1}.")
        if exc.sqlstate == "55P03":
            hint = (f"Another session held a conflicting lock longer than lock_timeout "
                    f"({attempts} attempt(s)); find it in pg_stat_activity, or raise "
                    f"`-- pgkeel: lock_timeout=...` in the file. {hint}")
        elif exc.sqlstate == _IN_TRANSACTION_BLOCK:
            hint = "Put `-- pgkeel: transaction=off` on the file's first line."
        return MigrationFailed(
            f"{where}: {primary}{note}",
            details={"script": file.script, "version": _version(file), "line": line,
                     "sqlstate": exc.sqlstate, "detail": diag.message_detail,
                     "pg_hint": diag.message_hint, "attempts": attempts,
                     "statements_kept": kept,
                     "statement": None if statement is None else statement.text[:500]},
            hint=hint)

    # -- dry runs ------------------------------------------------------------------------------

    def render(self, step: Step) -> str:
        """The exact SQL `run` would send for this step, with its transaction framing."""
        file, conn = step.file, self.conn
        cursor = AsyncClientCursor(conn)
        lines = [f"-- {file.script}: " + ("one transaction" if file.options.transactional
                                          else "outside a transaction, statement by statement")
                 + (f", resuming at statement {step.resume_from + 1}" if step.resume_from
                    else "")]
        if file.options.transactional:
            lines.append("BEGIN;")
            lines += [s.as_string(conn) + ";" for s in self.settings_statements(file, "LOCAL")]
            lines += [s.text + ";" for s in file.statements]
            lines.append(cursor.mogrify(self.history.insert_query(), self._row(
                step, statements_applied=len(file.statements))).strip() + ";")
            lines.append("COMMIT;")
            return "\n".join(lines)
        lines += [s.as_string(conn) + ";" for s in self.settings_statements(file, "SESSION")]
        lines.append(cursor.mogrify(self.history.insert_query(), self._row(
            step, success=False, statements_applied=step.resume_from)).strip() + ";")
        for index in range(step.resume_from, len(file.statements)):
            statement = file.statements[index]
            update = cursor.mogrify(self.history.progress_query(), {
                "rank": "<rank>", "statements_applied": index + 1,
                "applied_checksum": file.prefix_checksum(index + 1),
                "success": index + 1 == len(file.statements), "execution_ms": 0,
                "error": None}).strip().replace("'<rank>'", "<rank>") + ";"
            if needs_autocommit(statement):
                lines += [statement.text + ";", update]
            else:
                lines += ["BEGIN;", statement.text + ";", update, "COMMIT;"]
        lines.append(q.RESET_ALL + ";")
        return "\n".join(lines)

    async def rehearse(self, steps: list[Step]) -> tuple[list[AppliedMigration], list[str]]:
        """Run the transactional steps inside one transaction that is always rolled back.
        Stops at the first `transaction=off` file: later files may depend on it."""
        verified: list[AppliedMigration] = []
        try:
            async with self.conn.transaction(force_rollback=True):
                for statement in self.history.create_statements():
                    await self.conn.execute(statement)
                for position, step in enumerate(steps):
                    if not step.file.options.transactional:
                        return verified, [s.file.script for s in steps[position:]]
                    verified.append(await self._rehearse_one(step))
        finally:
            await self._reset_session()
        return verified, []

    async def _rehearse_one(self, step: Step) -> AppliedMigration:
        file, started, current = step.file, time.perf_counter(), None
        self._notices = []
        try:
            for statement in self.settings_statements(file, "LOCAL"):
                await self.conn.execute(statement)
            for current in file.statements:
                await self.conn.execute(current.text.encode())
        except psycopg.Error as exc:
            raise self._failure(file, exc, current, 1, kept=0,
                                note=" (dry run: nothing was applied)") from exc
        return AppliedMigration(file.script, _version(file), _kind(step.row_type),
                                _ms(started), len(file.statements), notices=list(self._notices))


def _concurrent_index_name(statement: Statement) -> str | None:
    """`name` in CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON ..., as written."""
    words = statement.keywords
    if not (statement.starts_with("CREATE", "INDEX", "CONCURRENTLY")
            or statement.starts_with("CREATE", "UNIQUE", "INDEX", "CONCURRENTLY")):
        return None
    tokens = list(statement.tokens)
    start = [t.upper for t in tokens].index("CONCURRENTLY") + 1
    if words[words.index("CONCURRENTLY") + 1:][:3] == ["IF", "NOT", "EXISTS"]:
        start += 3
    name = []
    for token in tokens[start:]:
        if token.kind is TokenKind.WORD and token.upper == "ON":
            break
        name.append(token.text)
    return "".join(name) or None


def _version(file: MigrationFile) -> str | None:
    return None if file.version is None else str(file.version)


def _kind(row_type: RowType) -> str:
    return {RowType.SQL: "versioned", RowType.UNDO: "undo"}.get(row_type, "repeatable")


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
