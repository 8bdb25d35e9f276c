"""The SQL the database core runs itself, as named constants."""

from __future__ import annotations

from typing import LiteralString

# The pooled connection's defaults, set once when the pool opens it (and again after a
# transaction changed session settings): a transaction that keeps them sends no timeouts.
CONFIGURE_SESSION: LiteralString = "SELECT set_config('statement_timeout', %s, false)"
RESET_SESSION: LiteralString = "RESET ALL"

# One statement sets the timeouts and the request context for the current transaction only.
# A NULL timeout keeps the connection's default.
SET_TRANSACTION_CONTEXT: LiteralString = (
    "SELECT set_config('statement_timeout', COALESCE(%s, current_setting('statement_timeout')),"
    " true),"
    " set_config('lock_timeout', COALESCE(%s, current_setting('lock_timeout')), true),"
    " set_config('pgkeel.org_id', %s, true),"
    " set_config('pgkeel.actor_id', %s, true),"
    " set_config('pgkeel.request_id', %s, true)"
)

# The same for a read-only transaction that is the pipeline's implicit one (no BEGIN):
# `transaction_read_only` set locally is what BEGIN READ ONLY sets.
SET_READONLY_TRANSACTION_CONTEXT: LiteralString = (
    SET_TRANSACTION_CONTEXT + ", set_config('transaction_read_only', 'on', true)")

# The request context alone, for a compiled read of a table whose row-level security policy
# reads it: sent in the same implicit transaction as the read, so it ends with it.
SET_CONTEXT: LiteralString = (
    "SELECT set_config('pgkeel.org_id', %s, true),"
    " set_config('pgkeel.actor_id', %s, true),"
    " set_config('pgkeel.request_id', %s, true)"
)

# Whether the database reads the request context when this role reads this table: row-level
# security is on and the connected role is subject to it (not a superuser, not BYPASSRLS).
# No row (an unknown table) is read as "yes".
# A view counts as yes: it may read tables with row-level security as its reader
# (security_invoker) or filter by the context itself.
READS_CONTEXT: LiteralString = (
    "SELECT (c.relrowsecurity OR c.relkind = 'v') AND NOT (r.rolsuper OR r.rolbypassrls)"
    " FROM pg_catalog.pg_class c, pg_catalog.pg_roles r"
    " WHERE c.oid = to_regclass(%s) AND r.rolname = current_user"
)

PING: LiteralString = "SELECT current_setting('server_version_num')::int, pg_is_in_recovery()"

# Seconds behind the primary on a standby; 0 on a primary or a caught-up standby. A standby
# with WAL waiting that has replayed no transaction since it started has no replay timestamp:
# it is behind by at least the time since it started.
REPLICA_LAG: LiteralString = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0::float8"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8"
    " ELSE EXTRACT(EPOCH FROM now() - COALESCE(pg_last_xact_replay_timestamp(),"
    " pg_postmaster_start_time()))::float8"
    " END"
)
