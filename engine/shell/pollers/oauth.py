"""What the bol and Amazon clients share: one OAuth access token per account and the rate
holds, both kept in Redis so that every process of every worker honours them.

bol IP-blocks callers that ask for tokens too often and Amazon's LWA is rate-limited too, so a
token is fetched by one process (a Redis lock) and reused by every process until shortly before
it expires. A rate hold is a deadline per account and bucket (a bol path bucket, an SP-API
operation): no process calls that bucket before it has passed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import orjson
import redis.asyncio as aioredis

from engine.shell.pollers.sink import PollError, text

log = logging.getLogger(__name__)

TOKEN_LOCK_MS = 15_000


class AccessToken(Protocol):
    """A token endpoint's answer as the pure marketplace modules parse it (`TokenCache`)."""

    @property
    def token(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


class SharedToken:
    """One account's access token, cached in Redis under `key` until `margin` before expiry.

    `fetch` asks the token endpoint (raising `PollError` with the marketplace's own reading of
    a refusal); `name` says whose token it is in errors ("the LWA token", "the bol token").
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        fetch: Callable[[], Awaitable[AccessToken]],
        margin: timedelta,
        name: str,
    ) -> None:
        self.redis, self.key, self.fetch, self.margin, self.name = redis, key, fetch, margin, name

    async def get(self) -> str:
        """A valid token: the cached one, or a new one fetched by this or another process."""
        deadline = time.monotonic() + TOKEN_LOCK_MS / 1000 * 2
        while True:
            raw = await self.redis.get(self.key)
            if raw:
                cached = orjson.loads(raw)
                expires_at = datetime.fromisoformat(cached["expires_at"])
                if cached["token"] and datetime.now(UTC) < expires_at - self.margin:
                    return str(cached["token"])
            lock = f"{self.key}:lock"
            me = secrets.token_hex(8)
            if await self.redis.set(lock, me, nx=True, px=TOKEN_LOCK_MS):
                try:
                    return await self._fetch_and_keep()
                finally:
                    if text(await self.redis.get(lock)) == me:
                        await self.redis.delete(lock)
            if time.monotonic() > deadline:
                raise PollError(f"timed out waiting for another process to fetch {self.name}")
            await asyncio.sleep(0.2)

    async def forget(self) -> None:
        """Drop the cached token (revoked or expired early): the next `get` fetches a new one."""
        await self.redis.delete(self.key)

    async def _fetch_and_keep(self) -> str:
        answer = await self.fetch()
        now = datetime.now(UTC)
        keep_ms = int((answer.expires_at - self.margin - now).total_seconds() * 1000)
        if keep_ms > 0:
            document = {"token": answer.token, "expires_at": answer.expires_at.isoformat()}
            await self.redis.set(self.key, orjson.dumps(document), px=keep_ms)
        return answer.token


class RateHolds:
    """Per-bucket deadlines under `prefix`; `name`, when given, logs each wait under that name."""

    def __init__(self, redis: aioredis.Redis, prefix: str, name: str | None = None) -> None:
        self.redis, self.prefix, self.name = redis, prefix, name

    async def wait(self, bucket: str) -> None:
        """Return once no hold on `bucket` is left (checked again at least every 5 s)."""
        key = f"{self.prefix}:{bucket}"
        while True:
            until = await self.redis.get(key)
            if until is None:
                return
            wait = float(until) - time.time()
            if wait <= 0:
                return
            if self.name is not None:
                log.info("%s budget for %s spent: waiting %.1f s", self.name, bucket, wait)
            await asyncio.sleep(min(wait, 5.0))

    async def hold(self, bucket: str, seconds: float) -> None:
        """Keep every process from calling `bucket` for `seconds`."""
        if seconds <= 0:
            return
        until = time.time() + seconds
        await self.redis.set(
            f"{self.prefix}:{bucket}", f"{until:.3f}", px=max(1, int(seconds * 1000))
        )
