"""The SQL the migration runner runs itself, as named constants.

`{table}`, `{schema}` and `{index}` are filled only with `psycopg.sql.Identifier`; every value
is a bound parameter.
"""

from __future__ import annotations

from typing import LiteralString

HISTORY_TABLE: LiteralString = "pgkeel_schema_history"

CURRENT_DATABASE: LiteralString = "SELECT current_database()"

CREATE_SCHEMA: LiteralString = "CREATE SCHEMA IF NOT EXISTS {schema}"

DROP_SCHEMA: LiteralString = "DROP SCHEMA IF EXISTS {schema} CASCADE"

# installed_rank is assigned as max + 1 under the migration lock, so ranks have no gaps.
CREATE_HISTORY: LiteralString = """
CREATE TABLE IF NOT EXISTS {table} (
    installed_rank     integer PRIMARY KEY,
    version            text,
    description        text NOT NULL,
    type               text NOT NULL CHECK (type IN ('SQL', 'UNDO', 'REPEATABLE', 'BASELINE',
                                                     'DELETE', 'REPAIR')),
    script             text NOT NULL,
    checksum           text,
    checksum_algo      text,
    installed_by       text NOT NULL DEFAULT current_user,
    installed_on       timestamptz NOT NULL DEFAULT now(),
    execution_ms       integer NOT NULL DEFAULT 0,
    success            boolean NOT NULL,
    statements_applied integer NOT NULL DEFAULT 0,
    statements_total   integer NOT NULL DEFAULT 0,
    applied_checksum   text,
    transactional      boolean NOT NULL DEFAULT true,
    error              text
)"""

COMMENT_HISTORY: LiteralString = (
    "COMMENT ON TABLE {table} IS"
    " 'pgkeel migration history: one row per apply, undo, baseline or repair (append-only)'"
)

HISTORY_EXISTS: LiteralString = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s)"
)

SELECT_HISTORY: LiteralString = """
SELECT installed_rank, version, description, type, script, checksum, checksum_algo,
       installed_by, installed_on, execution_ms, success, statements_applied,
       statements_total, applied_checksum, transactional, error
FROM {table}
ORDER BY installed_rank"""

INSERT_HISTORY: LiteralString = """
INSERT INTO {table} (installed_rank, version, description, type, script, checksum,
                     checksum_algo, execution_ms, success, statements_applied,
                     statements_total, applied_checksum, transactional, error)
SELECT COALESCE(max(installed_rank), 0) + 1, %(version)s, %(description)s, %(type)s,
       %(script)s, %(checksum)s, %(checksum_algo)s, %(execution_ms)s, %(success)s,
       %(statements_applied)s, %(statements_total)s, %(applied_checksum)s,
       %(transactional)s, %(error)s
FROM {table}
RETURNING installed_rank"""

UPDATE_PROGRESS: LiteralString = """
UPDATE {table}
SET statements_applied = %(statements_applied)s, applied_checksum = %(applied_checksum)s,
    success = %(success)s, execution_ms = %(execution_ms)s, error = %(error)s
WHERE installed_rank = %(rank)s"""

UPDATE_CHECKSUM: LiteralString = (
    "UPDATE {table} SET checksum = %s, checksum_algo = %s WHERE installed_rank = %s"
)

DELETE_HISTORY_ROWS: LiteralString = "DELETE FROM {table} WHERE installed_rank = ANY(%s)"

# -- per-migration settings (also printed by --dry-run, so they are real statements) --------

SET_SEARCH_PATH: LiteralString = "SET {scope} search_path TO {path}"
SET_LOCK_TIMEOUT: LiteralString = "SET {scope} lock_timeout = {value}"
SET_STATEMENT_TIMEOUT: LiteralString = "SET {scope} statement_timeout = {value}"
RESET_ALL: LiteralString = "RESET ALL"

# -- the runner's own session ----------------------------------------------------------------

# Keepalives make the server notice a vanished runner (and free its lock) within ~30 s.
SESSION_SETUP: LiteralString = (
    "SELECT set_config('tcp_keepalives_idle', '10', false),"
    " set_config('tcp_keepalives_interval', '5', false),"
    " set_config('tcp_keepalives_count', '3', false)"
)

TRY_LOCK: LiteralString = "SELECT pg_try_advisory_lock(%s)"
UNLOCK: LiteralString = "SELECT pg_advisory_unlock(%s)"

# Who holds the session advisory lock `key`: bigint keys show up split into classid / objid.
LOCK_HOLDER: LiteralString = """
SELECT a.pid, a.application_name, a.usename::text, host(a.client_addr), a.backend_start,
       a.state, left(a.query, 200)
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
LIMIT 1"""

# -- CREATE INDEX CONCURRENTLY cleanup ----------------------------------------------------

INVALID_INDEX: LiteralString = """
SELECT n.nspname::text, c.relname::text
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.indexrelid = to_regclass(%s) AND NOT i.indisvalid"""

DROP_INDEX_CONCURRENTLY: LiteralString = "DROP INDEX CONCURRENTLY IF EXISTS {index}"
