"""Fill in the URLs a `Settings` lacks by starting (or reusing) the embedded servers."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgkeel.config import Settings
from pgkeel.embedded.postgres import EmbeddedPostgres, ServerStatus
from pgkeel.embedded.valkey import EmbeddedValkey


@dataclass
class EmbeddedServers:
    """The settings to use, and which embedded servers this process started."""

    settings: Settings
    started: list[EmbeddedPostgres | EmbeddedValkey] = field(default_factory=list)
    statuses: dict[str, ServerStatus] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: Settings, *, postgres: bool = True,
                     redis: bool = True) -> EmbeddedServers:
        """Start an embedded server for each of DATABASE_URL / REDIS_URL that is unset
        (only those asked for)."""
        servers = cls(settings)
        updates: dict[str, str] = {}
        if postgres and settings.database_url is None:
            embedded_pg = EmbeddedPostgres(settings.pgkeel_home)
            status = embedded_pg.start()
            servers.statuses["postgres"] = status
            if status.started_here:
                servers.started.append(embedded_pg)
            updates["database_url"] = embedded_pg.url()
        if redis and settings.redis_url is None:
            valkey = EmbeddedValkey(settings.pgkeel_home)
            status = valkey.start()
            servers.statuses["valkey"] = status
            if status.started_here:
                servers.started.append(valkey)
            updates["redis_url"] = valkey.url()
        if updates:
            servers.settings = settings.model_copy(update=updates)
        return servers

    def stop_started(self) -> None:
        """Stop the servers this process started; ones it merely reused keep running."""
        while self.started:
            self.started.pop().stop()
