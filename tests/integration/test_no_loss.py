"""Proof that the engine loses nothing on Apache Kafka when workers die, join and leave.

Each scenario streams >= 20,000 raw Shopify deliveries over 4 partitions into a real broker
while real worker processes consume them, disturbs the workers mid-stream, and then checks the
outcome against what the input requires:

- every expected invoice trigger id is on `winkel.triggers.invoice` (repeats allowed, no gaps),
  and no trigger exists for an order that must not have one;
- the per-order table, read back from its changelog topic, holds every order in its final stage.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from engine.dev.runtime import KafkaBroker, free_port
from models.codec import decode_state, encode_raw
from models.order import Marketplace, Stage
from models.raw import RawDelivery
from tests import shopify_payloads as shop
from tests.support import Stack, latest_by_key, read_topic, tails, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
STORE = "shop-order"
ORDERS = 7_000  # x 3 deliveries = 21,000 raw events (and ~35,000 order events downstream)
CANCEL_EVERY = 10
PRODUCE_RATE = 1_500  # deliveries per second: the stream is still flowing when we disturb it
CHANGELOG = "winkel-orders-orders-changelog"


@dataclass(frozen=True)
class Expectation:
    # order key -> (final stage, number of distinct facts the order's deliveries carry)
    orders: dict[bytes, tuple[Stage, int]]
    trigger_ids: set[str]


def deliveries(first_order_id: int) -> tuple[list[RawDelivery], Expectation]:
    """Three deliveries per order (created, paid, shipped or cancelled), in a shuffled stream."""
    rng = random.Random(first_order_id)
    stream: list[RawDelivery] = []
    orders: dict[bytes, tuple[Stage, int]] = {}
    trigger_ids: set[str] = set()
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for n in range(ORDERS):
        order_id = first_order_id + n
        created = start + timedelta(seconds=n)
        mug, lamp = order_id * 10 + 501, order_id * 10 + 502
        story = [("orders/create", shop.order(order_id, updated_at=created.isoformat()))]
        paid_at = (created + timedelta(minutes=5)).isoformat()
        story.append(
            ("orders/paid", shop.order(order_id, financial_status="paid", updated_at=paid_at))
        )
        order_uuid = uuid.uuid5(NAMESPACE, f"{STORE}:shopify:{order_id}")
        if n % CANCEL_EVERY == 0:
            cancelled = (created + timedelta(hours=1)).isoformat()
            story.append(
                (
                    "orders/cancelled",
                    shop.order(
                        order_id,
                        financial_status="paid",
                        updated_at=cancelled,
                        cancelled_at=cancelled,
                    ),
                )
            )
            # created: details; paid: details, payment; cancelled: details, payment, cancellation
            orders[str(order_uuid).encode()] = (Stage.CANCELLED, 6)
        else:
            shipped_at = (created + timedelta(hours=4)).isoformat()
            story.append(
                (
                    "fulfillments/create",
                    shop.fulfillment(order_id, 1, [(mug, 2), (lamp, 1)], created_at=shipped_at),
                )
            )
            # created: details; paid: details, payment; fulfilment: shipment
            orders[str(order_uuid).encode()] = (Stage.INVOICED, 4)
            trigger_ids.add(str(uuid.uuid5(order_uuid, "trigger:invoice:order:0")))
        for topic, document in story:
            stream.append(
                RawDelivery(
                    marketplace=Marketplace.SHOPIFY,
                    store_id=STORE,
                    delivery_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    topic=topic,
                    received_at=created,
                    headers={"X-Shopify-Topic": topic},
                    body=orjson.dumps(document),
                )
            )
    # Neighbouring orders interleave, and an order's own deliveries may arrive out of order.
    for index in range(0, len(stream), 50):
        window = stream[index : index + 50]
        rng.shuffle(window)
        stream[index : index + 50] = window
    return stream, Expectation(orders, trigger_ids)


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[str]:
    """A broker of the test's own: the scenario's consumer group and topics start empty."""
    broker = KafkaBroker(tmp_path / "kafka", port=free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


async def produce(bootstrap: str, stream: list[RawDelivery]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=120_000
    )
    await producer.start()
    try:
        started = time.monotonic()
        acknowledgements = []
        for sent, delivery in enumerate(stream, start=1):
            acknowledgements.append(
                await producer.send(
                    "winkel.raw.shopify", encode_raw(delivery), key=delivery.delivery_id.encode()
                )
            )
            if sent % 100 == 0:
                await asyncio.sleep(max(0.0, started + sent / PRODUCE_RATE - time.monotonic()))
        # Every input record must be in Kafka, or a "loss" could be the test's own.
        await asyncio.gather(*acknowledgements)
    finally:
        await producer.stop()


async def trigger_ids(bootstrap: str) -> Counter[str]:
    records = await read_topic(bootstrap, "winkel.triggers.invoice")
    return Counter(orjson.loads(record.value)["trigger_id"] for record in records)


async def progress_reaches(bootstrap: str, share: float, expected: Expectation) -> None:
    async def far_enough() -> bool:
        return len(await trigger_ids(bootstrap)) >= share * len(expected.trigger_ids)

    await wait_until(far_enough, 240, interval=0.5, what=f"{share:.0%} of the triggers")


async def verify(stack: Stack, expected: Expectation, started: float) -> None:
    async def all_triggers() -> Counter[str] | None:
        seen = await trigger_ids(stack.bootstrap)
        return seen if expected.trigger_ids <= set(seen) else None

    async def final_table() -> dict[bytes, tuple[Stage, int]] | None:
        # Every fact of every delivery must have been applied: a lost delivery or event shows
        # as a missing fact even where a later snapshot would mask it in the stage.
        latest = latest_by_key(await read_topic(stack.bootstrap, CHANGELOG))
        states = {key: decode_state(value) for key, value in latest.items()}
        found = {key: (s.stage, len(s.applied_event_ids)) for key, s in states.items()}
        return found if found == expected.orders else None

    try:
        seen = await wait_until(all_triggers, 300, interval=2, what="every invoice trigger")
        await wait_until(final_table, 120, interval=2, what="final stages in the changelog")
    except AssertionError:
        seen = await trigger_ids(stack.bootstrap)
        missing = expected.trigger_ids - set(seen)
        raw = len(await read_topic(stack.bootstrap, "winkel.raw.shopify"))
        print(f"MISSING {len(missing)} of {len(expected.trigger_ids)} triggers; raw input {raw}")
        states = latest_by_key(await read_topic(stack.bootstrap, CHANGELOG))
        for key, (stage, facts) in expected.orders.items():
            state = decode_state(states[key]) if key in states else None
            if state is None or (state.stage, len(state.applied_event_ids)) != (stage, facts):
                found = None if state is None else (state.stage, state.applied_event_ids)
                print(f"  {key.decode()}: expected {stage} with {facts} facts, found {found}")
        for tail in tails(stack):
            print(tail)
        raise
    unexpected = set(seen) - expected.trigger_ids
    assert not unexpected, f"{len(unexpected)} triggers for orders that must not be invoiced"
    repeats = sum(seen.values()) - len(seen)
    print(
        f"\nno-loss: {len(expected.trigger_ids)} triggers all present, {repeats} repeated; "
        f"{len(expected.orders)} orders final in the changelog; "
        f"{time.monotonic() - started:.1f}s"
    )


async def test_worker_killed_mid_stream_and_replaced_loses_nothing(
    own_kafka: str, redis_url: str, tmp_path: Path
) -> None:
    stream, expected = deliveries(first_order_id=3_000_000)
    stack = Stack(tmp_path / "stack", own_kafka, redis_url)
    started = time.monotonic()
    try:
        first = stack.start_worker("worker-a", tmp_path / "worker-a")
        producing = asyncio.create_task(produce(own_kafka, stream))
        await progress_reaches(own_kafka, 0.3, expected)
        first.kill()  # SIGKILL: no commit, no flush, no goodbye to the group
        # A replacement on a new machine: nothing local, the table must come from its changelog.
        shutil.rmtree(tmp_path / "worker-a")
        stack.start_worker("worker-a2", tmp_path / "worker-a2")
        await producing
        await verify(stack, expected, started)
    finally:
        stack.stop()


async def test_second_worker_joining_and_leaving_mid_stream_loses_nothing(
    own_kafka: str, redis_url: str, tmp_path: Path
) -> None:
    stream, expected = deliveries(first_order_id=4_000_000)
    stack = Stack(tmp_path / "stack", own_kafka, redis_url)
    started = time.monotonic()
    try:
        stack.start_worker("worker-a", tmp_path / "worker-a")
        producing = asyncio.create_task(produce(own_kafka, stream))
        await progress_reaches(own_kafka, 0.2, expected)
        second = stack.start_worker("worker-b", tmp_path / "worker-b")
        await progress_reaches(own_kafka, 0.6, expected)
        assert second.alive()
        second.terminate(timeout=30)  # SIGTERM: a graceful leave, partitions handed back
        await producing
        await verify(stack, expected, started)
    finally:
        stack.stop()


async def test_worker_restarted_repeatedly_mid_stream_loses_nothing(
    own_kafka: str, redis_url: str, tmp_path: Path
) -> None:
    """Rolling restarts, as in a deploy: each is a rebalance and a table recovery while
    records keep arriving, the moment faust could drop them (see agents/faustfix.py)."""
    stream, expected = deliveries(first_order_id=5_000_000)
    stack = Stack(tmp_path / "stack", own_kafka, redis_url)
    started = time.monotonic()
    try:
        current = stack.start_worker("worker-0", tmp_path / "worker")
        producing = asyncio.create_task(produce(own_kafka, stream))
        for restart, share in enumerate((0.15, 0.35, 0.55, 0.75), start=1):
            await progress_reaches(own_kafka, share, expected)
            current.terminate(timeout=30)
            current = stack.start_worker(f"worker-{restart}", tmp_path / "worker")
        await producing
        await verify(stack, expected, started)
    finally:
        stack.stop()
