"""A local Redis Cluster for tests: 3 primaries, each with a replica, on free ports.

Built from the `valkey-server` the tests already have (the embedded wheel's, or valkey-server
/ redis-server on PATH) with `--cluster-enabled yes`, joined with `valkey-cli --cluster create`
(or redis-cli). `kill_primary_of(key)` SIGKILLs the primary owning a key's slot and waits for
its replica to take over -- a failover.

    with ValkeyCluster(tmp_path) as cluster:
        cluster.url        # redis+cluster://127.0.0.1:<port>,127.0.0.1:<port>,...
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from pgkeel.embedded._process import free_port, wait_until
from pgkeel.errors import EmbeddedServerError
from pgkeel.testing.valkey import ValkeyProcess, find_valkey_server

__all__ = ["ValkeyCluster", "find_cluster_cli"]

BUS_OFFSET = 10000
"""Each node also listens on port + 10000 for the cluster bus."""
NODE_TIMEOUT_MS = 1000
"""cluster-node-timeout: how long a primary may be silent before its replica takes over."""


def find_cluster_cli() -> str | None:
    """valkey-cli next to the server binary, else valkey-cli or redis-cli on PATH."""
    server = find_valkey_server()
    if server is not None:
        sibling = Path(server).with_name("valkey-cli")
        if sibling.exists():
            return str(sibling)
    return shutil.which("valkey-cli") or shutil.which("redis-cli")


def _cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus ports (port + 10000) are free too."""
    ports: list[int] = []
    taken: set[int] = set()
    for _ in range(1000):
        port = free_port()
        bus = port + BUS_OFFSET
        if (bus < 65536 and port not in taken and bus not in taken
                and free_port(bus) == bus):
            ports.append(port)
            taken |= {port, bus}
            if len(ports) == count:
                return ports
    raise EmbeddedServerError("No free port pairs for the cluster.")  # pragma: no cover


class ValkeyCluster:
    """`primaries` primaries with `replicas` replicas each, under `home`."""

    def __init__(self, home: Path, *, primaries: int = 3, replicas: int = 1) -> None:
        cli = find_cluster_cli()
        if cli is None:
            raise EmbeddedServerError("No valkey-cli or redis-cli to create the cluster with.")
        self.cli = cli
        self.home = home
        self.replicas = replicas
        extra = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                 # A replica may take over however long it was cut off (tests kill early).
                 "--cluster-replica-validity-factor", "0")
        ports = _cluster_ports(primaries * (1 + replicas))
        self.nodes = [ValkeyProcess(home / f"node{i}", port=port, extra=extra)
                      for i, port in enumerate(ports)]

    @property
    def url(self) -> str:
        """A `redis+cluster://` URL listing every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        try:
            subprocess.run([self.cli, "--cluster", "create", *addresses,  # noqa: S603
                            "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                           check=True, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        except subprocess.CalledProcessError as exc:
            output = (exc.stdout + exc.stderr).decode(errors="replace")
            raise EmbeddedServerError(f"cluster create failed: {output[-500:]}") from exc
        wait_until(self._healthy, 60, "the cluster to be ready")

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    def __enter__(self) -> ValkeyCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------

    def primary_of(self, key: str) -> ValkeyProcess:
        """The node currently serving `key`'s slot."""
        slot = key_slot(key.encode())
        for node in self._alive():
            for start, end, primary, *_ in self._slots(node):
                if int(start) <= slot <= int(end):
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise EmbeddedServerError(f"No node serves slot {slot}.")

    def kill_primary_of(self, key: str, timeout_s: float = 30.0) -> float:
        """SIGKILL the primary of `key`'s slot; return once another node serves the slot
        (how many seconds that took)."""
        victim = self.primary_of(key)
        victim.kill()
        started = time.monotonic()
        wait_until(lambda: self._healthy() and self.primary_of(key) is not victim, timeout_s,
                   "a replica to take over")
        return time.monotonic() - started

    # -- internals ---------------------------------------------------------------------------

    def _alive(self) -> list[ValkeyProcess]:
        return [n for n in self.nodes if n.running]

    @staticmethod
    def _client(node: ValkeyProcess) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2)

    @staticmethod
    def _slots(node: ValkeyProcess) -> list[list[Any]]:
        with ValkeyCluster._client(node) as client:
            return list(client.execute_command("CLUSTER SLOTS"))

    def _healthy(self) -> bool:
        try:
            for node in self._alive():
                with self._client(node) as client:
                    info = client.execute_command("CLUSTER INFO")  # parsed into a dict
                    if info.get("cluster_state") != "ok":
                        return False
                    replication = client.info("replication")
                    if (replication.get("role") in ("slave", "replica")
                            and replication.get("master_link_status") != "up"):
                        return False
            return True
        except redis.RedisError:
            return False
