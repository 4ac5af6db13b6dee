"""The delivery ledger: each delivery id is written to its raw topic once, after the broker's ack.

Both doors in (the webhook handlers and the pollers) write through it, so they read each
other's keys: a delivery claims its key `pending` (SET NX, expiring), is produced with acks=all,
and is then marked `done` for the dedupe TTL. A failed write releases its claim so a retry can
write it; a second writer finding the claim `pending` is told the delivery is in progress.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from enum import Enum
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine.domain import topics
from engine.domain.exceptions import TransientError
from engine.shell.readmodel import delivery_key
from models.codec import encode_raw
from models.raw import RawDelivery

log = logging.getLogger(__name__)

#: How long a delivery may be "being written" before a retry of it is allowed to write again.
PENDING_SECONDS = 60
PENDING, DONE = b"pending", b"done"

#: Writes one record (topic, value, key) and returns once the broker has acknowledged it.
SendRecord = Callable[[str, bytes, bytes], Awaitable[object]]


class Outcome(Enum):
    """What writing a delivery did."""

    ACCEPTED = "accepted"  # written now
    DUPLICATE = "duplicate"  # written before: nothing was written


class DeliveryInProgress(TransientError):
    """Another writer holds the delivery's claim and has not finished; try again later."""


class DeliveryLedger:
    """Once-per-delivery-id writes over a Redis client that answers bytes."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self.redis, self.ttl_seconds = redis, ttl_seconds

    async def is_done(self, delivery: RawDelivery) -> bool:
        """True when a delivery with this id was written (and its mark not yet expired)."""
        return bool(await self.redis.get(_key(delivery)) == DONE)

    async def write_once(
        self, delivery: RawDelivery, order: UUID | None, send: SendRecord
    ) -> Outcome:
        """Write `delivery` with `send` unless a delivery with its id was written.

        The record is keyed by the order's UUID where the delivery names its order, so one
        order's deliveries keep their order through the partition; otherwise by the delivery id.
        Raises `DeliveryInProgress` while another writer holds the claim, `RedisError` when the
        claim cannot be taken, and whatever `send` raises (after releasing the claim).
        """
        key = _key(delivery)
        claimed = await self.redis.set(key, PENDING, nx=True, ex=PENDING_SECONDS)
        if not claimed:
            if await self.redis.get(key) == DONE:
                return Outcome.DUPLICATE
            raise DeliveryInProgress(f"delivery {delivery.delivery_id} is being written")
        try:
            await send(
                topics.raw(delivery.marketplace),
                encode_raw(delivery),
                (delivery.delivery_id if order is None else str(order)).encode(),
            )
        except Exception:
            # Let a retry write it; if Redis is gone too, the claim expires by itself.
            with contextlib.suppress(RedisError):
                await self.redis.delete(key)
            raise
        try:
            await self.redis.set(key, DONE, ex=self.ttl_seconds)
        except RedisError as exc:
            # The delivery is safely in Kafka; a retry may write it again, which the worker absorbs.
            log.warning("could not mark delivery %s done: %s", delivery.delivery_id, exc)
        return Outcome.ACCEPTED


def _key(delivery: RawDelivery) -> str:
    return delivery_key(delivery.marketplace.value, delivery.store_id, delivery.delivery_id)
