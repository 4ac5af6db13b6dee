"""What a poller has already written, so an unchanged document is not fetched again.

One Redis key per remembered item, each with a time to live, so the memory of a store stays
bounded however long it runs (a hash per store would only grow; Redis 7.0 has no per-field
expiry). Forgetting is safe: an order that changes again after its entry expired is fetched
and written once more, and its facts carry the same ids, so nothing downstream changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import redis.asyncio as aioredis

from engine.domain import polling

#: Longer than any return or refund window a marketplace allows after delivery.
SEEN_TTL = timedelta(days=120)


class SeenDocuments:
    """A store's memory of one kind of document (`orders`, `shipments`, `returns`)."""

    def __init__(
        self, redis: aioredis.Redis, store_id: str, kind: str, ttl: timedelta = SEEN_TTL
    ) -> None:
        self.redis, self.store_id, self.kind = redis, store_id, kind
        self.ttl_seconds = int(ttl.total_seconds())

    def key(self, item_id: str) -> str:
        return polling.poll_key(self.store_id, "seen", self.kind, item_id)

    async def get(self, item_id: str) -> bytes | None:
        return _bytes(await self.redis.get(self.key(item_id)))

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, bytes | None]:
        if not item_ids:
            return {}
        values = await self.redis.mget([self.key(item_id) for item_id in item_ids])
        return {item_id: _bytes(value) for item_id, value in zip(item_ids, values, strict=True)}

    async def remember(self, item_id: str, value: str | bytes = b"1") -> None:
        await self.redis.set(self.key(item_id), value, ex=self.ttl_seconds)


def _bytes(value: bytes | str | None) -> bytes | None:
    """A reply as bytes, whichever way the caller's client decodes responses."""
    return value.encode() if isinstance(value, str) else value
