"""The engine's Redis client: bounded waits, so a Redis outage is an error in time, not a hang.

Without socket timeouts a stopped (or partitioned) Redis makes every request wait for the
kernel's TCP timeout; with them a webhook gets its 503 within the web's deadline, and the
client reconnects by itself on the next command once Redis is back.
"""

from __future__ import annotations

import redis.asyncio as aioredis

#: Seconds to connect, and to wait for any one reply.
CONNECT_SECONDS = 1.0
REPLY_SECONDS = 1.0


def client(url: str, *, reply_seconds: float | None = REPLY_SECONDS) -> aioredis.Redis:
    """A client for `url` whose every command fails within a bounded time when Redis is gone.

    `reply_seconds=None` for a client that blocks on purpose (BLPOP): it only bounds connects.
    """
    return aioredis.from_url(
        url,
        socket_connect_timeout=CONNECT_SECONDS,
        socket_timeout=reply_seconds,
        health_check_interval=10,
    )
