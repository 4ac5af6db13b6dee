"""Writing polled documents to the raw topics: once per delivery id, after the broker's ack."""

from __future__ import annotations

import contextlib
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine import topics
from engine.exceptions import TransientError
from engine.producer import Sender
from engine.readmodel import delivery_key
from models.codec import encode_raw
from models.raw import RawDelivery

#: The same markers as the webhook door (web/ingest.py), so both read each other's keys.
PENDING, DONE = b"pending", b"done"
PENDING_SECONDS = 60


def text(raw: bytes | str | None) -> str:
    """A Redis reply as text (the pollers' client answers bytes)."""
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


class PollError(TransientError):
    """A poll step failed; the cursor stays where it was and the step is tried again later."""


class Sink:
    def __init__(self, redis: aioredis.Redis, producer: Sender, ttl_seconds: int) -> None:
        self.redis, self.producer, self.ttl_seconds = redis, producer, ttl_seconds

    async def done(self, delivery: RawDelivery) -> bool:
        key = delivery_key(delivery.marketplace.value, delivery.store_id, delivery.delivery_id)
        return bool(await self.redis.get(key) == DONE)

    async def produce(self, delivery: RawDelivery, order: UUID | None) -> bool:
        """Write `delivery` unless a delivery with its id was written; True if written now.

        Keyed by the order UUID (the contract), acks=all: returns only once the broker has it.
        """
        key = delivery_key(delivery.marketplace.value, delivery.store_id, delivery.delivery_id)
        claimed = await self.redis.set(key, PENDING, nx=True, ex=PENDING_SECONDS)
        if not claimed:
            if await self.redis.get(key) == DONE:
                return False
            raise PollError(f"delivery {delivery.delivery_id} is being written by another process")
        try:
            await self.producer.send_and_wait(
                topics.raw(delivery.marketplace),
                value=encode_raw(delivery),
                key=(delivery.delivery_id if order is None else str(order)).encode(),
            )
        except Exception:
            with contextlib.suppress(RedisError):
                await self.redis.delete(key)
            raise
        await self.redis.set(key, DONE, ex=self.ttl_seconds)
        return True
