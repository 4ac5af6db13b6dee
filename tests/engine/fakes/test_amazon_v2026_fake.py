"""The fake SP-API's Orders API v2026-01-01, and the poller reading it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.dev.fakes.amazon import AmazonShop, FakeAmazon, FakeClock, create_app
from engine.domain.config import InvoiceGranularity, Store
from engine.domain.marketplaces import amazon
from engine.domain.marketplaces.amazon import v2026 as amazon_v2026
from models.order import Marketplace

Client = TestClient[web.Request, web.Application]
DE = "A1PA6795UKMFR9"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 9, 12, 0, tzinfo=UTC))


@pytest.fixture
def fake(clock: FakeClock) -> FakeAmazon:
    fake = FakeAmazon(clock=clock, orders_page_size=4)
    shop = AmazonShop(seed=4, start=clock() - timedelta(days=3), business_share=0.5)
    for step in sorted((s for story in shop.stories(10) for s in story), key=lambda s: s.at):
        fake.apply(step)
    return fake


@pytest.fixture
async def client(fake: FakeAmazon) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(fake))) as test_client:
        yield test_client


async def _get(
    client: Client, fake: FakeAmazon, request: amazon.ApiRequest
) -> tuple[int, dict[str, str], bytes]:
    token, _ = fake.issue_token()
    signed = amazon.authorised(request, token)
    reply = await client.get(signed.path, params=dict(signed.query), headers=dict(signed.headers))
    return reply.status, dict(reply.headers), await reply.read()


async def test_search_orders_pages_with_the_pagination_token(
    client: Client, fake: FakeAmazon, clock: FakeClock
) -> None:
    after = clock() - timedelta(days=4)
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        status, headers, body = await _get(
            client, fake, amazon_v2026.search_request([DE], after, token)
        )
        assert status == 200, body
        assert headers["x-amzn-RateLimit-Limit"] == "0.0056"
        page = amazon_v2026.parse_search_page(body)
        assert len(page.orders) <= 4
        assert page.last_updated_before == clock() - amazon.MIN_LAG
        seen += [o.amazon_order_id for o in page.orders]
        token = page.next_token
        if token is None:
            break
    assert sorted(seen) == sorted(fake.orders)
    # a next page must repeat the first request's filters
    _, _, first = await _get(client, fake, amazon_v2026.search_request([DE], after))
    next_token = amazon_v2026.parse_search_page(first).next_token
    moved = amazon_v2026.search_request([DE], after + timedelta(hours=1), next_token)
    status, _, body = await _get(client, fake, moved)
    assert status == 400
    assert amazon.parse_errors(body)[0].code == "InvalidInput"


async def test_get_order_includes_what_is_asked_for(client: Client, fake: FakeAmazon) -> None:
    order_id = next(iter(fake.orders))
    status, _, body = await _get(client, fake, amazon_v2026.order_request(order_id))
    assert status == 200
    order = amazon_v2026.parse_order(body)
    assert {"fulfillment", "proceeds", "buyer"} <= set(order)
    assert all("proceeds" in item for item in order["orderItems"])
    bare = amazon.ApiRequest(f"/orders/2026-01-01/orders/{order_id}", {}, {}, "getOrder")
    status, _, body = await _get(client, fake, bare)
    order = orjson.loads(body)["order"]
    assert "proceeds" not in order
    assert "buyer" not in order
    assert order["orderItems"]  # the items always come
    wrong = bare._replace(query={"includedData": "BUYER,EVERYTHING"})
    status, _, body = await _get(client, fake, wrong)
    assert status == 400
    assert "EVERYTHING" in amazon.parse_errors(body)[0].message
    missing = bare._replace(path="/orders/2026-01-01/orders/999-0000000-0000000")
    status, _, body = await _get(client, fake, missing)
    assert status == 404
    assert amazon.parse_errors(body)[0].code == "NotFound"


async def test_the_search_quota_is_spent_after_its_burst_and_429_says_only_the_request_id(
    client: Client, fake: FakeAmazon, clock: FakeClock
) -> None:
    request = amazon_v2026.search_request([DE], clock() - timedelta(hours=1))
    statuses = [(await _get(client, fake, request))[0] for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    status, headers, body = await _get(client, fake, request)
    assert status == 429
    assert amazon.parse_errors(body)[0].code == "QuotaExceeded"
    assert "x-amzn-RateLimit-Limit" not in headers
    assert headers["x-amzn-RequestId"]
    wait = amazon.retry_after(status, headers, "searchOrders")
    assert wait is not None
    assert wait == pytest.approx(1 / 0.0056)  # about three minutes
    clock.advance(wait)
    assert (await _get(client, fake, request))[0] == 200


async def test_the_business_orders_carry_the_buyer_s_vat_registration(
    client: Client, fake: FakeAmazon
) -> None:
    registrations: list[dict[str, Any]] = []
    for order_id in fake.orders:
        _, _, body = await _get(client, fake, amazon_v2026.order_request(order_id))
        order = amazon_v2026.parse_order(body)
        registrations += (order.get("tax") or {}).get("taxRegistrations", [])
    assert registrations
    assert all(r["entityType"] == "BUYER" for r in registrations)
    assert all(r["taxRegistrationType"] == "VAT" for r in registrations)


@pytest.mark.integration  # a real broker and Redis
async def test_the_poller_reads_v2026_and_keeps_to_the_search_plan(
    kafka_bootstrap: str, redis_url: str
) -> None:
    import aiohttp
    import redis.asyncio as aioredis

    from engine.domain import polling
    from engine.domain.config import KafkaSettings
    from engine.domain.identity import order_uuid
    from engine.shell import kafka
    from engine.shell.pollers.amazon import AmazonPoller
    from engine.shell.pollers.sink import Sink
    from engine.shell.pollers.status import StatusBoard
    from models.codec import decode_raw
    from tests.support import read_topic

    now = datetime.now(UTC)
    fake = FakeAmazon(usage_plans={"getOrder@2026-01-01": (2.0, 1), "searchOrders": (0.0056, 20)})
    shop = AmazonShop(seed=23, start=now - timedelta(days=4), first_order_number=880001)
    for step in sorted((s for story in shop.stories(5) for s in story), key=lambda s: s.at):
        fake.apply(step)
    server = TestServer(create_app(fake))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    store = Store(
        "amazon-poll-2026",
        "winkel-nl",
        Marketplace.AMAZON,
        InvoiceGranularity.PER_ORDER,
        api_base_url=base,
        token_url=f"{base}/auth/o2/token",
        client_id_env="T_AMZ_ID",
        client_secret_env="T_AMZ_SECRET",
        refresh_token_env="T_AMZ_REFRESH",
        amazon_marketplace_id=DE,
    )
    assert store.orders_api_version == "2026-01-01"  # the default
    env = {
        "T_AMZ_ID": fake.client_id,
        "T_AMZ_SECRET": fake.client_secret,
        "T_AMZ_REFRESH": fake.refresh_token,
    }
    settings = KafkaSettings(bootstrap=kafka_bootstrap, partitions=4)
    await kafka.ensure_topics(settings)
    redis = aioredis.from_url(f"{redis_url.rsplit('/', 1)[0]}/13")
    await redis.flushdb()
    producer = kafka.producer(settings)
    await producer.start()
    session = aiohttp.ClientSession()
    try:
        sink = Sink(redis, producer, 3600)
        status = StatusBoard(redis, store, "test")
        poller = AmazonPoller.create(store, env, session, redis, sink, status, 60.0)
        assert await poller.cycle() == 5
        assert fake.throttled > 0  # one getOrder a burst: the poller waited and retried
        operations = {line.split(" ")[0] for line in fake.requests}
        assert operations == {"searchOrders", "getOrder@2026-01-01", "listFinancialEventsByOrderId"}
        assert await poller.cycle() == 0  # nothing changed: nothing written again
        searches = sum(line.startswith("searchOrders") for line in fake.requests)
        assert searches == 2
        # the burst of 20 spent, the poller stops searching instead of collecting 429s
        for _ in range(18):
            assert await poller._search_budget(datetime.now(UTC))
        throttled = fake.throttled
        assert await poller.cycle() == 0
        assert sum(line.startswith("searchOrders") for line in fake.requests) == searches
        assert fake.throttled == throttled
        # a notification still fetches its order at once
        late = AmazonShop(seed=24, start=now - timedelta(minutes=30), first_order_number=880100)
        story = late.order_story(880100)
        for step in story[:2]:
            fake.apply(step)
        new_id = story[0].order["AmazonOrderId"]  # type: ignore[union-attr]
        assert await poller.handle_push(polling.PushFetch("ORDER", new_id)) == 1
        records = await read_topic(kafka_bootstrap, "winkel.raw.amazon")
        keys = {str(order_uuid(store.id, Marketplace.AMAZON, i)).encode(): i for i in fake.orders}
        mine = [r for r in records if r.key in keys and r.value is not None]
        assert {keys[r.key] for r in mine if r.key is not None} == set(fake.orders)
        for record in mine:
            delivery = decode_raw(record.value or b"")
            assert delivery.topic == amazon_v2026.ORDER_DOCUMENT_TOPIC
            events = amazon.normalise(delivery, store)
            assert events[0].ref.external_order_id == keys[record.key or b""]
    finally:
        await session.close()
        await producer.stop()
        await redis.aclose()
        await server.close()
