"""Amazon end to end on real processes: a relayed notification at the web process, and orders
fetched from the fake SP-API by the Amazon poller, normalised and invoiced by the worker.

Order ids of this module: 860000-869999 (`AmazonShop.order_id` puts the number in the middle).
The poller runs in the test process (the worker's poll runner does not build Amazon pollers
yet), writing to the same Kafka the worker reads.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from engine.dev.fakes.amazon import AmazonShop, FakeAmazon, create_app
from engine.domain import lifecycle, polling
from engine.domain.config import InvoiceGranularity, KafkaSettings, Store
from engine.domain.identity import order_uuid
from engine.shell import kafka
from engine.shell.pollers.amazon import AmazonPoller
from engine.shell.pollers.sink import Sink
from engine.shell.pollers.status import StatusBoard
from models.order import Marketplace
from tests import amazon_payloads as p
from tests.support import Stack, Stacks, read_topic, wait_until

pytestmark = pytest.mark.integration

AMAZON_STORES = """
[[stores]]
id = "amazon-int"
company_id = "acme-nl"
marketplace = "amazon"
invoice_granularity = "per_order"
webhook_secret_env = "TEST_AMAZON_RELAY_SECRET"

[[stores]]
id = "amazon-int-vcs"
company_id = "acme-nl"
marketplace = "amazon"
invoice_granularity = "per_order"
amazon_issues_invoices = true
"""
DE = "A1PA6795UKMFR9"


@pytest.fixture(scope="module")
def stack(stacks: Stacks) -> Stack:
    return stacks.start(
        "amazon-stack", AMAZON_STORES, {"TEST_AMAZON_RELAY_SECRET": p.SHARED_SECRET}
    )


async def test_a_relayed_notification_is_kept_and_queued_for_fetching(stack: Stack) -> None:
    order_id = "028-0860001-0000001"
    body = p.notification_body(notification_id=str(uuid.uuid4()), order_id=order_id)
    url = f"{stack.url}/webhooks/amazon/amazon-int"
    async with aiohttp.ClientSession() as session:
        for token, expected in (("wrong", 401), (p.SHARED_SECRET, 200), (p.SHARED_SECRET, 200)):
            async with session.post(url, data=body, headers={"X-Winkel-Token": token}) as reply:
                assert reply.status == expected
    redis = aioredis.from_url(stack.redis_url)
    try:
        queued = await redis.lrange(polling.pending_fetches_key("amazon-int"), 0, -1)  # type: ignore[misc]
    finally:
        await redis.aclose()
    assert queued.count(f"ORDER:{order_id}".encode()) == 1  # the redelivery queued nothing
    key = str(order_uuid("amazon-int", Marketplace.AMAZON, order_id)).encode()
    raw = await read_topic(stack.bootstrap, "winkel.raw.amazon")
    assert sum(1 for record in raw if record.key == key) == 1


async def _poll(stack: Stack, store: Store, fake: FakeAmazon) -> int:
    server = TestServer(create_app(fake))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    polled = Store(
        store.id,
        store.company_id,
        store.marketplace,
        store.invoice_granularity,
        api_base_url=base,
        token_url=f"{base}/auth/o2/token",
        client_id_env="A_ID",
        client_secret_env="A_SECRET",
        refresh_token_env="A_REFRESH",
        amazon_marketplace_id=DE,
        amazon_issues_invoices=store.amazon_issues_invoices,
    )
    env = {"A_ID": fake.client_id, "A_SECRET": fake.client_secret, "A_REFRESH": fake.refresh_token}
    redis = aioredis.from_url(stack.redis_url)
    producer = kafka.producer(KafkaSettings(bootstrap=stack.bootstrap))
    await producer.start()
    session = aiohttp.ClientSession()
    try:
        sink = Sink(redis, producer, 3600)
        status = StatusBoard(redis, polled, "amazon-flow-test")
        poller = AmazonPoller.create(polled, env, session, redis, sink, status, 60.0)
        return await poller.cycle()
    finally:
        await session.close()
        await producer.stop()
        await redis.aclose()
        await server.close()


async def test_polled_orders_are_invoiced_unless_amazon_invoices_them(stack: Stack) -> None:
    now = datetime.now(UTC)
    fake = FakeAmazon(usage_plans={})
    shop = AmazonShop(
        seed=86, start=now - timedelta(days=4), first_order_number=860100, cancel_share=0.0
    )
    stories = shop.stories(12)
    for step in sorted((s for story in stories for s in story), key=lambda s: s.at):
        fake.apply(step)
    store = Store("amazon-int", "acme-nl", Marketplace.AMAZON, InvoiceGranularity.PER_ORDER)
    assert await _poll(stack, store, fake) == 12

    vcs_fake = FakeAmazon(usage_plans={})
    vcs_shop = AmazonShop(
        seed=87,
        start=now - timedelta(days=4),
        first_order_number=860200,
        cancel_share=0.0,
        deemed_share=0.0,
        ioss_share=0.0,
        sold_by_ab_share=0.0,
    )
    for step in sorted((s for story in vcs_shop.stories(3) for s in story), key=lambda s: s.at):
        vcs_fake.apply(step)
    vcs = Store(
        "amazon-int-vcs",
        "acme-nl",
        Marketplace.AMAZON,
        InvoiceGranularity.PER_ORDER,
        amazon_issues_invoices=True,
    )
    assert await _poll(stack, vcs, vcs_fake) == 3

    def keys(store_id: str, fake: FakeAmazon) -> dict[bytes, dict[str, object]]:
        return {
            str(order_uuid(store_id, Marketplace.AMAZON, oid)).encode(): order
            for oid, order in fake.orders.items()
        }

    orders = keys("amazon-int", fake)
    vcs_orders = keys("amazon-int-vcs", vcs_fake)
    collected = {
        key
        for key, order in orders.items()
        if order["IsSoldByAB"]
        or any(
            "DeemedResellerCategory" in item or "IossNumber" in item
            for item in fake.items[str(order["AmazonOrderId"])]
        )
    }
    shipped = {key for key, order in orders.items() if order["OrderStatus"] == "Shipped"}
    expected = shipped - collected
    assert expected

    async def invoices() -> dict[bytes, list[dict[str, object]]] | None:
        records = await read_topic(stack.bootstrap, "winkel.triggers.invoice")
        found: dict[bytes, list[dict[str, object]]] = {}
        for record in records:
            if record.key in orders or record.key in vcs_orders:
                found.setdefault(record.key, []).append(orjson.loads(record.value or b""))
        return found if set(found) >= expected else None

    try:
        found = await wait_until(invoices, 120, what="the Amazon invoices")
    except AssertionError:
        letters = await read_topic(stack.bootstrap, "winkel.deadletter")
        events = await read_topic(stack.bootstrap, "winkel.orders.events")
        mine = [orjson.loads(r.value or b"")["reason"] for r in letters if r.key in orders]
        seen = sum(1 for r in events if r.key in orders)
        raise AssertionError(
            f"no invoices; {seen} order events; dead letters: {mine[:5]}"
        ) from None
    assert set(found) == expected  # none for marketplace-collected, VCS or unshipped orders
    for key, triggers in found.items():
        assert len({t["trigger_id"] for t in triggers}) == 1
        trigger = triggers[0]
        assert trigger["marketplace"] == "amazon"
        assert trigger["external_order_id"] == orders[key]["AmazonOrderId"]

    async def notes() -> set[bytes] | None:
        records = await read_topic(stack.bootstrap, "winkel.audit")
        seen = {
            record.key
            for record in records
            if record.key is not None
            and (record.key in orders or record.key in vcs_orders)
            and orjson.loads(record.value or b"")["reason"].startswith(
                lifecycle.NOT_INVOICED_PREFIX
            )
        }
        wanted = (collected & shipped) | {
            k for k, o in vcs_orders.items() if o["OrderStatus"] == "Shipped"
        }
        return seen if seen >= wanted and wanted else None

    assert await wait_until(notes, 60, what="the 'no seller invoice' audit entries")
