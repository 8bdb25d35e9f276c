"""Zero-setup servers: embedded PostgreSQL and Valkey, used when no URL is configured.

    servers = EmbeddedServers.for_settings(settings)   # starts what is missing
    settings = servers.settings                        # URLs filled in
    servers.stop_started()                             # stop only what this process started
"""

from pgkeel.embedded.postgres import EmbeddedPostgres, ServerStatus
from pgkeel.embedded.servers import EmbeddedServers
from pgkeel.embedded.valkey import EmbeddedValkey

__all__ = ["EmbeddedPostgres", "EmbeddedServers", "EmbeddedValkey", "ServerStatus"]
