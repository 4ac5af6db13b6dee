"""A local Redis server for tests and ``winkel run``, persistent (AOF) in its data directory."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import redis as redis_py

from engine.runtime.exceptions import InfrastructureError
from engine.runtime.processes import (
    LocalService,
    ManagedProcess,
    died_error,
    ensure_port_free,
    timeout_error,
    wait_for_port,
)

__all__ = ["RedisServer", "redis_reachable", "redis_server_binary"]

log = logging.getLogger(__name__)

_INSTALL_HINT = "sudo apt-get install redis-server"
_SEARCH_DIRS = (Path("/usr/bin"), Path("/usr/sbin"), Path("/usr/local/bin"))


def redis_reachable(url: str) -> bool:
    """True if a Redis at ``url`` answers PING within one second."""
    client = redis_py.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except (redis_py.RedisError, OSError):
        return False
    finally:
        client.close()


def _find_redis_server() -> Path | None:
    found = shutil.which("redis-server")
    if found is not None:
        return Path(found)
    for folder in _SEARCH_DIRS:
        candidate = folder / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )


def redis_server_binary() -> Path:
    """The ``redis-server`` executable; installed with apt-get when missing and run as root."""
    found = _find_redis_server()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise InfrastructureError(
            f"redis-server is not installed; install it with `{_INSTALL_HINT}`."
        )
    log.warning("redis-server is missing; installing it with apt-get")
    try:
        result = _apt_get("install", "-y", "-qq", "redis-server")
        if result.returncode != 0:  # stale or absent package lists: update, then retry
            _apt_get("update", "-qq")
            result = _apt_get("install", "-y", "-qq", "redis-server")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(
            f"installing redis-server with apt-get failed ({exc}); run `{_INSTALL_HINT}`."
        ) from exc
    found = _find_redis_server()
    if result.returncode != 0 or found is None:
        raise InfrastructureError(
            f"installing redis-server with apt-get failed (exit code {result.returncode}); "
            f"run `{_INSTALL_HINT}`.\n{(result.stdout + result.stderr)[-2000:]}"
        )
    return found


class RedisServer(LocalService):
    """``redis-server`` in the foreground, bound to loopback, persisting to an append-only file.

    A restart on the same ``data_dir`` keeps the read model and the webhook dedupe memory.
    """

    def __init__(self, data_dir: Path, port: int = 6379, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.host = host
        self.process_log = self.data_dir / "redis.log"
        super().__init__()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        """Start Redis and block until it answers PING."""
        if self.alive():
            return
        started = time.monotonic()
        ensure_port_free(self.host, self.port, "Redis")
        binary = redis_server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        self._process = ManagedProcess(cmd, self.process_log, cwd=self.data_dir, name="redis")
        try:
            wait_for_port(self.host, self.port, timeout, self._process)
            deadline = started + timeout
            while not redis_reachable(self.url):
                if not self._process.alive():
                    raise died_error(self._process, f"before {self.url} answered PING")
                if time.monotonic() >= deadline:
                    raise timeout_error(
                        self._process, f"{self.url} answered no PING within {timeout:.0f} s"
                    )
                time.sleep(0.05)
        except BaseException:
            self._process.kill()
            raise
        log.info("Redis up at %s in %.2f s", self.url, time.monotonic() - started)

    def __repr__(self) -> str:
        return f"RedisServer(url={self.url!r})"
