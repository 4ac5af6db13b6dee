"""Order summaries from `winkel.analytics` -> the Redis read model and its live channel."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine.readmodel import ORDERS_HASH, RECENT_ORDERS, UPDATES_CHANNEL
from models.codec import parse_utc

if TYPE_CHECKING:
    from engine.app import Wiring

log = logging.getLogger(__name__)


def register(wiring: Wiring) -> None:
    client: aioredis.Redis = aioredis.from_url(wiring.config.redis_url)

    @wiring.app.agent(wiring.analytics, name="projections")
    async def project(stream: Any) -> None:
        async for event in stream.events():
            try:
                document = orjson.loads(event.value)
                if document.get("type") != "order.summary":
                    continue
                order = document["order"]
                uuid = order["order_uuid"]
                updated = parse_utc(order["updated_at"]).timestamp()
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                log.warning("skipping analytics record that is no summary: %s", exc)
                continue
            await _write(client, uuid, updated, orjson.dumps(order))


async def _write(client: aioredis.Redis, uuid: str, updated: float, summary: bytes) -> None:
    """Write one summary, waiting out a Redis outage (the read model lags, nothing is lost)."""
    delay = 0.2
    while True:
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hset(ORDERS_HASH, uuid, summary)
                pipe.zadd(RECENT_ORDERS, {uuid: updated})
                pipe.publish(UPDATES_CHANNEL, summary)
                await pipe.execute()
            return
        except RedisError as exc:
            log.warning("read model write failed, retrying in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
