"""Writing polled documents to the raw topics: once per delivery id, after the broker's ack."""

from __future__ import annotations

from uuid import UUID

import redis.asyncio as aioredis

from engine.domain.exceptions import TransientError
from engine.shell.ledger import DeliveryInProgress, DeliveryLedger, Outcome
from engine.shell.producer import Sender
from models.raw import RawDelivery


def text(raw: bytes | str | None) -> str:
    """A Redis reply as text (the pollers' client answers bytes)."""
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


class PollError(TransientError):
    """A poll step failed; the cursor stays where it was and the step is tried again later."""


class Sink:
    """The pollers' door to the raw topics: the delivery ledger over their producer."""

    def __init__(self, redis: aioredis.Redis, producer: Sender, ttl_seconds: int) -> None:
        self.ledger, self.producer = DeliveryLedger(redis, ttl_seconds), producer

    async def done(self, delivery: RawDelivery) -> bool:
        return await self.ledger.is_done(delivery)

    async def produce(self, delivery: RawDelivery, order: UUID | None) -> bool:
        """Write `delivery` unless a delivery with its id was written; True if written now.

        Keyed by the order UUID (the contract), acks=all: returns only once the broker has it.
        """
        try:
            outcome = await self.ledger.write_once(delivery, order, self.producer.send_and_wait)
        except DeliveryInProgress:
            raise PollError(
                f"delivery {delivery.delivery_id} is being written by another process"
            ) from None
        return outcome is Outcome.ACCEPTED
