"""RedisServer starts a real redis-server, serves commands and stops."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from engine.runtime import RedisServer, free_port, port_open, redis_reachable

pytestmark = pytest.mark.integration  # starts real redis-server processes


def test_redis_server_set_get_stop(tmp_path: Path) -> None:
    port = free_port()
    server = RedisServer(tmp_path / "redis", port=port)
    assert server.url == f"redis://127.0.0.1:{port}/0"
    assert not redis_reachable(server.url)

    with server:
        assert server.alive()
        client = redis.Redis.from_url(server.url)
        try:
            client.set("winkel:test", "42")
            assert client.get("winkel:test") == b"42"
        finally:
            client.close()
        assert redis_reachable(server.url)

    assert not server.alive()
    assert not port_open("127.0.0.1", port)
    assert not redis_reachable(server.url)
    assert not list((tmp_path / "redis").glob("*.rdb"))  # persistence is off


def test_redis_kill_and_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, port=free_port())
    server.start()
    server.kill()
    assert not redis_reachable(server.url)
    server.start()
    assert redis_reachable(server.url)
    server.stop()
    server.stop()  # idempotent
