"""Fill in the URLs a `Settings` lacks by starting (or reusing) the embedded servers."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgkeel.config import Settings
from pgkeel.embedded.postgres import EmbeddedPostgres, ServerStatus
from pgkeel.embedded.sessions import SessionRegistry
from pgkeel.embedded.valkey import EmbeddedValkey

Server = EmbeddedPostgres | EmbeddedValkey


@dataclass
class EmbeddedServers:
    """The settings to use, and the embedded servers this process is using."""

    settings: Settings
    started: list[Server] = field(default_factory=list)
    """The servers this process started itself."""
    used: list[tuple[Server, str]] = field(default_factory=list)
    """Every embedded server this process joined (started or reused), with its entry."""
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
            servers.statuses["postgres"] = servers._join(embedded_pg)
            updates["database_url"] = embedded_pg.url()
        if redis and settings.redis_url is None:
            valkey = EmbeddedValkey(settings.pgkeel_home)
            servers.statuses["valkey"] = servers._join(valkey)
            updates["redis_url"] = valkey.url()
        if updates:
            servers.settings = settings.model_copy(update=updates)
        return servers

    def _join(self, server: Server) -> ServerStatus:
        server.require_installed()  # before the registry's lock file creates <home>
        registry = SessionRegistry(server.root)
        with registry.locked():
            status = server.start()
            entry = registry.join(started_here=status.started_here)
        if status.started_here:
            self.started.append(server)
        self.used.append((server, entry))
        return status

    def stop_started(self) -> None:
        """Leave every server this process used, stopping each one that a session started
        once the last session using it has left. Servers started by `pgkeel server start`
        keep running."""
        while self.used:
            server, entry = self.used.pop()
            registry = SessionRegistry(server.root)
            with registry.locked():
                if registry.leave(entry):
                    server.stop()
        self.started.clear()
