"""The read-model projection against a real Redis: placement, counters, idempotency under replay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from engine.shell import readmodel as rm
from engine.shell.readmodel_writer import ReadModelWriter

#: A Redis database of its own, so flushing it leaves what other tests keep in Redis alone.
DATABASE = 6


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(f"{redis_url.rsplit('/', 1)[0]}/{DATABASE}")
    await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.aclose()


def summary(
    order: str,
    stage: str,
    updated_at: str,
    *,
    stage_since: str | None = None,
    store: str = "shop-a",
    marketplace: str = "shopify",
    **extra: Any,
) -> bytes:
    document = {
        "order_uuid": order,
        "marketplace": marketplace,
        "store_id": store,
        "external_order_id": "1001",
        "name": "#1001",
        "stage": stage,
        "customer": "Sanne de Vries",
        "country": "NL",
        "currency": "EUR",
        "total_gross": "24.20",
        "updated_at": updated_at,
        **extra,
    }
    if stage_since is not None:
        document["stage_since"] = stage_since
    return orjson.dumps(
        {"schema": "winkel.analytics/1", "type": "order.summary", "order": document}
    )


def audit(order: str, entry: str, to_stage: str, **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "schema": "winkel.audit/1",
            "entry_id": entry,
            "order_uuid": order,
            "at": "2026-11-02T10:00:00Z",
            "actor": "shopify",
            "from_stage": None,
            "to_stage": to_stage,
            "reason": "details_reported received",
            "source_event_id": "shopify:shop-a:1001:details",
            **extra,
        }
    )


def row(value: bytes) -> rm.SummaryRow:
    parsed = rm.summary_row(value)
    assert parsed is not None
    return parsed


async def stored(client: aioredis.Redis, key: str, field: str) -> dict[str, Any]:
    value = await client.hget(key, field)
    assert isinstance(value, bytes)
    document: dict[str, Any] = orjson.loads(value)
    return document


async def counts(client: aioredis.Redis) -> dict[str, dict[str, int]]:
    return rm.split_counts(await client.hgetall(rm.ORDER_COUNTS))


async def test_an_order_is_counted_once_under_its_current_stage(client: aioredis.Redis) -> None:
    writer = ReadModelWriter(client)
    order = str(uuid.uuid4())
    new = row(summary(order, "new", "2026-11-02T10:00:00Z"))
    paid = row(summary(order, "paid", "2026-11-02T10:02:00Z", stage_since="2026-11-02T10:02:00Z"))

    await writer.summaries([new, new])
    assert await counts(client) == {"shopify": {"new": 1}}
    await writer.summaries([paid])
    await writer.summaries([paid])  # redelivered after a crash

    assert await counts(client) == {"shopify": {"paid": 1}}
    assert await client.zcard(rm.stage_key("new")) == 0
    assert await client.zscore(rm.stage_key("paid"), order) == paid.stage_since
    assert await client.zscore(rm.store_key("shop-a"), order) == paid.updated
    assert (await stored(client, rm.ORDERS_HASH, order))["stage"] == "paid"


async def test_a_replayed_older_summary_does_not_roll_the_order_back(
    client: aioredis.Redis,
) -> None:
    writer = ReadModelWriter(client)
    order = str(uuid.uuid4())
    older = row(summary(order, "paid", "2026-11-02T10:02:00Z"))
    newer = row(summary(order, "invoiced", "2026-11-02T15:00:00Z"))
    await writer.summaries([older, newer])
    await writer.summaries([older])  # the projection re-reads from an earlier offset

    assert await counts(client) == {"shopify": {"invoiced": 1}}
    assert (await stored(client, rm.ORDERS_HASH, order))["stage"] == "invoiced"


async def test_stage_age_comes_from_stage_since_and_falls_back_to_the_last_change() -> None:
    order = str(uuid.uuid4())
    with_since = row(
        summary(order, "paid", "2026-11-02T12:00:00Z", stage_since="2026-11-02T10:00:00+00:00")
    )
    without = row(summary(order, "paid", "2026-11-02T12:00:00Z"))
    assert with_since.updated - with_since.stage_since == 7200
    assert without.stage_since == without.updated


def test_records_that_are_no_order_summary_are_skipped_or_refused() -> None:
    assert rm.summary_row(orjson.dumps({"type": "oss.threshold"})) is None
    with pytest.raises(rm.NotProjectable):
        rm.summary_row(b"not json")
    with pytest.raises(rm.NotProjectable):
        rm.summary_row(orjson.dumps({"type": "order.summary", "order": {"order_uuid": "x"}}))


async def test_the_same_audit_entry_twice_is_stored_announced_and_timed_once(
    client: aioredis.Redis,
) -> None:
    writer = ReadModelWriter(client)
    order = str(uuid.uuid4())
    entry = rm.audit_item(audit(order, "e-1", "paid", received_at="2026-11-02T10:00:00.000Z"))
    decided_at = entry.received_at + 0.120  # type: ignore[operator]
    pubsub = client.pubsub()
    await pubsub.subscribe(rm.ACTIVITY_CHANNEL)
    try:
        await writer.audit([(entry, decided_at), (entry, decided_at)])
        await writer.audit([(entry, decided_at)])
        notices = await _messages(pubsub)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert await client.hlen(rm.audit_key(order)) == 1
    assert notices == [{"kind": "audit", "order_uuid": order, "id": "e-1"}]
    second = int(decided_at)
    latency = rm.latency_samples([await client.hgetall(rm.latency_key(second))])
    assert latency == {second: (1, 120)}


async def test_triggers_are_kept_per_order_by_trigger_id(client: aioredis.Redis) -> None:
    writer = ReadModelWriter(client)
    order = str(uuid.uuid4())
    trigger = orjson.dumps(
        {"trigger_id": "t-1", "kind": "invoice", "order_uuid": order, "created_at": "…"}
    )
    credit = orjson.dumps({"trigger_id": "t-2", "kind": "credit_note", "order_uuid": order})
    items = [rm.trigger_item(trigger), rm.trigger_item(credit), rm.trigger_item(trigger)]
    await writer.triggers(items)
    await writer.triggers(items)
    stored = await client.hgetall(rm.triggers_key(order))
    assert sorted(stored) == [b"t-1", b"t-2"]
    assert orjson.loads(stored[b"t-1"])["kind"] == "invoice"


async def test_dead_letters_are_counted_once_and_remember_where_they_are(
    client: aioredis.Redis,
) -> None:
    writer = ReadModelWriter(client)
    letter = orjson.dumps(
        {
            "schema": "winkel.deadletter/1",
            "dead_letter_id": "winkel.raw.shopify:2:117",
            "source_topic": "winkel.raw.shopify",
            "partition": 2,
            "offset": 117,
            "key": {"encoding": "utf-8", "data": "delivery-1"},
            "reason": "body is not JSON",
            "failed_at": "2026-11-02T10:00:00Z",
            "original": {"encoding": "utf-8", "data": "x" * 5000},
        }
    )
    projected = rm.dead_letter_row(letter, partition=5, offset=42)
    await writer.dead_letters([projected, projected])

    assert await client.hlen(rm.DEAD_LETTERS) == 1
    row = await stored(client, rm.DEAD_LETTERS, "winkel.raw.shopify:2:117")
    assert row["location"] == {"partition": 5, "offset": 42}
    assert row["reason"] == "body is not JSON"
    assert len(row["original_preview"]) == rm.PREVIEW_CHARS
    assert row["original_chars"] == 5000
    assert await client.zrange(rm.RECENT_DEAD_LETTERS, 0, -1) == [b"winkel.raw.shopify:2:117"]


async def _messages(pubsub: Any, listen: float = 0.5) -> list[dict[str, Any]]:
    """Every message published on the subscribed channels within `listen` seconds."""
    received = []
    deadline = asyncio.get_running_loop().time() + listen
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None:
            received.append(orjson.loads(message["data"]))
    return received


async def index_state(client: aioredis.Redis) -> dict[str, Any]:
    """Every list index the writer keeps, member by member."""
    state: dict[str, Any] = {}
    async for raw in client.scan_iter(match="winkel:*"):
        key = raw.decode()
        kind = (await client.type(key)).decode()
        if kind == "set":
            state[key] = sorted(await client.smembers(key))
        elif kind == "zset":
            state[key] = await client.zrange(key, 0, -1, withscores=True)
    return state


async def test_the_list_indexes_follow_the_order_and_survive_replays(
    client: aioredis.Redis,
) -> None:
    writer = ReadModelWriter(client)
    order = str(uuid.uuid4())
    new = row(
        summary(
            order,
            "new",
            "2026-11-02T10:00:00Z",
            payment_status="pending",
            ordered_at="2026-11-02T09:58:00Z",
            lines=[{"sku": "MUG-BLUE"}],
        )
    )
    paid = row(
        summary(
            order,
            "paid",
            "2026-11-02T10:02:00Z",
            stage_since="2026-11-02T10:02:00Z",
            payment_status="paid",
            customer="Sanne Jansen",
            ordered_at="2026-11-02T09:58:00Z",
            lines=[{"sku": "LAMP-OAK"}],
        )
    )
    await writer.summaries([new, paid])
    after_once = await index_state(client)
    assert await client.smembers(rm.filter_key("payment_status", "paid")) == {order.encode()}
    assert await client.exists(rm.filter_key("payment_status", "pending")) == 0
    assert await client.zscore(rm.waiting_key("awaiting_shipment"), order) == paid.stage_since
    assert await client.exists(rm.waiting_key("awaiting_payment")) == 0
    words = {m.decode().split(" ")[0] for m in await client.zrange(rm.SEARCH, 0, -1)}
    assert {"jansen", "lamp-oak", "oak", "#1001", "1001"} <= words
    assert not {"vries", "mug-blue"} & words
    assert await client.zscore(rm.sort_key("ordered_at"), order) == 1793613480.0

    await writer.summaries([paid, new])  # redelivered, then an older one replayed
    assert await index_state(client) == after_once
