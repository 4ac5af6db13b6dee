"""A poller's memory of written documents on a real Redis: remembered, read back, and bounded."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from engine.shell.pollers.seen import SEEN_TTL, SeenDocuments


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def store_id() -> str:
    return f"test-seen-{secrets.token_hex(4)}"


async def test_remembered_documents_are_read_back_and_others_are_unknown(
    redis: aioredis.Redis, store_id: str
) -> None:
    orders = SeenDocuments(redis, store_id, "orders")
    await orders.remember("A-1", "2026-11-02T08:00:00+00:00|2")
    await orders.remember("A-2")
    assert await orders.get_many(["A-1", "A-2", "A-3"]) == {
        "A-1": b"2026-11-02T08:00:00+00:00|2",
        "A-2": b"1",
        "A-3": None,
    }
    assert await orders.get_many([]) == {}
    # kinds and stores are separate memories
    assert await SeenDocuments(redis, store_id, "shipments").get("A-1") is None
    assert await SeenDocuments(redis, f"{store_id}-other", "orders").get("A-1") is None


async def test_a_newer_value_replaces_the_older_one(redis: aioredis.Redis, store_id: str) -> None:
    returns = SeenDocuments(redis, store_id, "returns")
    await returns.remember("R-9:open", "fingerprint-1")
    await returns.remember("R-9:open", "fingerprint-2")
    assert await returns.get("R-9:open") == b"fingerprint-2"


async def test_every_entry_expires_so_memory_stays_bounded(
    redis: aioredis.Redis, store_id: str
) -> None:
    shipments = SeenDocuments(redis, store_id, "shipments")
    await shipments.remember("S-1")
    ttl = await redis.ttl(shipments.key("S-1"))
    assert SEEN_TTL.total_seconds() - 60 < ttl <= SEEN_TTL.total_seconds()

    daily = SeenDocuments(redis, store_id, "orders", ttl=timedelta(days=1))
    await daily.remember("A-1")
    assert 86_400 - 60 < await redis.ttl(daily.key("A-1")) <= 86_400
