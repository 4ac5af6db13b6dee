"""The VIES client: an aiohttp client of the EU's VIES REST interface, with a cache per number
per day in Redis. The wire format is read and written by the pure `engine.tax.vies`; the VAT
agent asks through `lookup_bounded`, which never waits longer than its timeout and never
raises, so an order is never held up or lost by VIES (docs/vat.md §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine.tax.vies import (
    CACHE_TTL_SECONDS,
    CHECK_PATH,
    ViesAnswer,
    cache_key,
    decode_answer,
    encode_answer,
    parse_response,
    request_body,
    split,
)

log = logging.getLogger(__name__)


class ViesClient:
    """`POST <base_url>/check-vat-number`, one request per question, bounded by `timeout`."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float) -> None:
        self.session, self.url, self.timeout = session, base_url.rstrip("/") + CHECK_PATH, timeout

    async def lookup(self, vat_id: str, requester_vat_id: str | None = None) -> ViesAnswer:
        """VIES's answer; a failure of any kind is an answer without a result (`error`)."""
        compact = "".join(split(vat_id))
        try:
            async with self.session.post(
                self.url,
                data=request_body(vat_id, requester_vat_id),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as reply:
                return parse_response(reply.status, await reply.read(), vat_id)
        except TimeoutError:
            return ViesAnswer(compact, None, error="timeout")
        except aiohttp.ClientError as exc:
            return ViesAnswer(compact, None, error=f"transport: {type(exc).__name__}")

    async def check(self, vat_id: str) -> bool | None:
        """The `engine.tax.VatNumberChecker` protocol: registered, not, or no answer."""
        return (await self.lookup(vat_id)).valid


class CachedVies:
    """A client behind a cache of answers per number per UTC day in Redis.

    Only answers are cached (registered or not); an error is asked again next time. Redis
    being away only costs the cache.
    """

    def __init__(self, client: ViesClient, redis: aioredis.Redis) -> None:
        self.client, self.redis = client, redis

    async def lookup(
        self, vat_id: str, requester_vat_id: str | None, today: date | None = None
    ) -> ViesAnswer:
        key = cache_key(vat_id, today or datetime.now(UTC).date())
        cached = None
        try:
            stored = await self.redis.get(key)
            cached = (
                None
                if stored is None
                else decode_answer(bytes(stored, "utf-8") if isinstance(stored, str) else stored)
            )
        except RedisError as exc:
            log.warning("VIES cache unavailable: %s", exc)
        if cached is not None and cached.answered:
            return cached
        answer = await self.client.lookup(vat_id, requester_vat_id)
        if answer.answered:
            with contextlib.suppress(RedisError):
                await self.redis.set(key, encode_answer(answer), ex=CACHE_TTL_SECONDS)
        return answer


async def lookup_bounded(
    vies: CachedVies, vat_id: str, requester_vat_id: str | None, patience: float
) -> ViesAnswer:
    """The answer within `patience` seconds (cache and VIES together), else none: `timeout`."""
    try:
        return await asyncio.wait_for(vies.lookup(vat_id, requester_vat_id), patience)
    except TimeoutError:
        return ViesAnswer("".join(split(vat_id)), None, error="timeout")
    except Exception as exc:  # the order must not stop on VIES: go on with the checksum
        log.warning("VIES lookup of %s failed: %r", vat_id, exc)
        return ViesAnswer("".join(split(vat_id)), None, error=f"failed: {type(exc).__name__}")
