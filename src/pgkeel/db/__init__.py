"""The database core: pools, transactions with retries, request context, replica routing.

Public API:
    Database, PingResult            pools and transactions (`pgkeel.db.database`)
    Transaction, Isolation          one transaction (`pgkeel.db.transaction`)
    RetryPolicy                     backoff for `run_in_tx` (`pgkeel.db.retry`)
    DbContext, use_context, current_context   org / actor / request id (`pgkeel.db.context`)
    primary_reads, reads_need_primary         reads that must not use a replica (cache fills)
"""

from pgkeel.db.context import (
    DbContext,
    current_context,
    primary_reads,
    reads_need_primary,
    use_context,
)
from pgkeel.db.database import Database, PingResult
from pgkeel.db.retry import RetryPolicy
from pgkeel.db.transaction import Isolation, Transaction

__all__ = [
    "Database",
    "DbContext",
    "Isolation",
    "PingResult",
    "RetryPolicy",
    "Transaction",
    "current_context",
    "primary_reads",
    "reads_need_primary",
    "use_context",
]
