"""A process that appends one queued and one durable audit event, says so, and waits to be
killed (SIGKILL): what survives it is what `append_durable` promises.

    DATABASE_URL=... python -m tests.audit.crash_child <org>
"""

from __future__ import annotations

import asyncio
import sys

from pgkeel.audit import AuditAppender
from pgkeel.config import load_settings
from pgkeel.db import Database


async def main(org: str) -> None:
    async with Database.from_settings(load_settings(), min_size=1) as db, \
            AuditAppender(db, batch_size=1000, flush_interval_s=3600) as appender:
        await appender.append(action="items.viewed", entity_type="Item", entity_id=1,
                              org_id=org, actor_id="child")
        await appender.append_durable(action="users.login", entity_type="User", entity_id=1,
                                      org_id=org, actor_id=None)
        print("appended", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
