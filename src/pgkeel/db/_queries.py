"""The SQL the database core runs itself, as named constants."""

from __future__ import annotations

from typing import LiteralString

# One statement sets the timeouts and the request context for the current transaction only.
# A NULL timeout keeps the session's (or role's) own value.
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

PING: LiteralString = "SELECT current_setting('server_version_num')::int, pg_is_in_recovery()"

# Seconds behind the primary on a standby; 0 on a primary or a caught-up standby.
REPLICA_LAG: LiteralString = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0::float8"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)::float8"
    " END"
)
