"""The fake Amazon SP-API and LWA, driven through aiohttp's test client and the pure module."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine import lifecycle
from engine.config import Company, InvoiceGranularity, Store
from engine.fakes.amazon import (
    AmazonShop,
    AuthorisePayment,
    Cancel,
    FakeAmazon,
    FakeClock,
    PlaceOrder,
    Ship,
    create_app,
)
from engine.marketplaces import amazon
from models.events import DetailsReported, OrderEvent, ShipmentSent
from models.order import Marketplace, OrderState, Stage

COMPANY = Company("winkel-nl", "Winkel B.V.", "NL", "NL004495445B01", oss_registered=True)
STORE = Store("amazon-de", COMPANY.id, Marketplace.AMAZON, InvoiceGranularity.PER_ORDER)
Client = TestClient[web.Request, web.Application]
DE = "A1PA6795UKMFR9"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 9, 12, 0, tzinfo=UTC))


@pytest.fixture
def fake(clock: FakeClock) -> FakeAmazon:
    return FakeAmazon(clock=clock, usage_plans={})


@pytest.fixture
async def client(fake: FakeAmazon) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(fake))) as test_client:
        yield test_client


class Fetcher:
    """The smallest shell around the pure module: a cached LWA token and paged GETs."""

    def __init__(self, client: Client, fake: FakeAmazon) -> None:
        self.client, self.fake = client, fake
        self.token: amazon.TokenCache | None = None
        self.statuses: list[int] = []

    async def access_token(self) -> amazon.TokenCache:
        now = self.fake.clock()
        if self.token is None or not self.token.valid(now):
            request = amazon.token_request(
                self.fake.client_id,
                self.fake.client_secret,
                self.fake.refresh_token,
                "/auth/o2/token",
            )
            reply = await self.client.post(
                request.url, data=request.body, headers=dict(request.headers)
            )
            assert reply.status == 200, await reply.text()
            self.token = amazon.TokenCache.from_response(await reply.read(), now)
        return self.token

    async def get(self, request: amazon.ApiRequest) -> tuple[int, dict[str, str], bytes]:
        signed = amazon.authorised(request, await self.access_token())
        reply = await self.client.get(
            signed.path, params=dict(signed.query), headers=dict(signed.headers)
        )
        self.statuses.append(reply.status)
        return reply.status, dict(reply.headers), await reply.read()

    async def ok(self, request: amazon.ApiRequest) -> bytes:
        status, _, body = await self.get(request)
        assert status == 200, body
        return body

    async def changed_orders(self, after: datetime) -> list[amazon.OrderSummary]:
        found: list[amazon.OrderSummary] = []
        page = amazon.parse_orders_page(await self.ok(amazon.orders_request([DE], after)))
        found += page.orders
        while page.next_token is not None:
            request = amazon.orders_request([DE], next_token=page.next_token)
            page = amazon.parse_orders_page(await self.ok(request))
            found += page.orders
        return found

    async def document(self, order_id: str) -> bytes:
        order = amazon.parse_order(await self.ok(amazon.order_request(order_id)))
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = amazon.parse_order_items_page(
                await self.ok(amazon.order_items_request(order_id, token))
            )
            items += page.items
            token = page.next_token
            if token is None:
                break
        finances = amazon.parse_financial_events_page(
            await self.ok(amazon.financial_events_request(order_id))
        )
        return amazon.order_document(order, items, finances.events)


def play(fake: FakeAmazon, stories: list[list[Any]]) -> list[dict[str, Any]]:
    steps = sorted((step for story in stories for step in story), key=lambda step: step.at)
    notifications = []
    for step in steps:
        notifications += fake.apply(step)
    return notifications


# --- LWA ------------------------------------------------------------------------------------------


async def test_lwa_issues_an_hour_long_token_for_the_refresh_token(
    client: Client, fake: FakeAmazon
) -> None:
    token = await Fetcher(client, fake).access_token()
    assert token.expires_at == fake.clock() + timedelta(hours=1)
    assert fake.token_requests == 1


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"client_secret": "nope"}, 401, "invalid_client"),
        ({"refresh_token": "Atzr|revoked"}, 400, "invalid_grant"),
    ],
)
async def test_lwa_refuses_bad_grants_in_its_error_shape(
    client: Client, fake: FakeAmazon, form: dict[str, str], status: int, error: str
) -> None:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": fake.refresh_token,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        **form,
    }
    reply = await client.post("/auth/o2/token", data=data)
    assert reply.status == status
    parsed = amazon.parse_token_error(await reply.read())
    assert parsed.error == error
    assert parsed.needs_new_credentials == (error != "unsupported_grant_type")


async def test_calls_without_a_valid_token_are_denied(
    client: Client, fake: FakeAmazon, clock: FakeClock
) -> None:
    for headers in ({}, {"x-amz-access-token": "Atza|made-up"}):
        reply = await client.get("/orders/v0/orders/028-0000001-0007919", headers=headers)
        assert reply.status == 403
        (error,) = amazon.parse_errors(await reply.read())
        assert error.code == "Unauthorized"
        assert reply.headers["x-amzn-RequestId"]
    fetcher = Fetcher(client, fake)
    token = await fetcher.access_token()
    clock.advance(3601)
    reply = await client.get("/orders/v0/orders/x", headers={"x-amz-access-token": token.token})
    assert reply.status == 403
    assert "expired" in amazon.parse_errors(await reply.read())[0].details
    # the shell's cache knew: it fetches a new token before the old one lapses
    assert not token.valid(clock())


# --- getOrders paging -----------------------------------------------------------------------------


async def test_get_orders_pages_with_next_token_and_filters_by_last_update(
    client: Client, fake: FakeAmazon
) -> None:
    fake.orders_page_size = 3
    shop = AmazonShop(seed=3, start=datetime(2026, 11, 2, 8, tzinfo=UTC))
    play(fake, shop.stories(8))
    fetcher = Fetcher(client, fake)
    everything = await fetcher.changed_orders(datetime(2026, 11, 1, tzinfo=UTC))
    assert sorted(o.amazon_order_id for o in everything) == sorted(fake.orders)
    assert len([r for r in fake.requests if r.startswith("getOrders")]) == 3  # 3 + 3 + 2
    assert all("NextToken=" in r for r in fake.requests[1:3])
    times = [o.last_update for o in everything]
    assert times == sorted(times)
    cutoff = sorted(times)[5]
    later = await fetcher.changed_orders(cutoff)
    assert {o.amazon_order_id for o in later} == {
        o.amazon_order_id for o in everything if o.last_update >= cutoff
    }


async def test_get_orders_answers_bad_input_in_the_error_shape(
    client: Client, fake: FakeAmazon
) -> None:
    fetcher = Fetcher(client, fake)
    bad = [
        amazon.ApiRequest(
            "/orders/v0/orders", {"LastUpdatedAfter": "2026-11-01T00:00:00Z"}, {}, "x"
        ),
        amazon.ApiRequest("/orders/v0/orders", {"MarketplaceIds": DE}, {}, "x"),
        amazon.ApiRequest(
            "/orders/v0/orders", {"MarketplaceIds": DE, "LastUpdatedAfter": "yesterday"}, {}, "x"
        ),
        amazon.orders_request([DE], fake.clock()),  # not two minutes in the past
        amazon.orders_request([DE], next_token="not-a-token"),
    ]
    for request in bad:
        status, _, body = await fetcher.get(request)
        assert status == 400
        assert amazon.parse_errors(body)[0].code == "InvalidInput"


async def test_order_items_page_too(client: Client, fake: FakeAmazon) -> None:
    fake.items_page_size = 1
    shop = AmazonShop(seed=5)
    story = next(s for s in shop.stories(20) if len(s[0].items) >= 2)  # type: ignore[union-attr]
    play(fake, [story])
    order_id = story[0].order["AmazonOrderId"]  # type: ignore[union-attr]
    fetcher = Fetcher(client, fake)
    document = orjson.loads(await fetcher.document(order_id))
    assert len(document["OrderItems"]) == len(story[0].items)  # type: ignore[union-attr]
    assert (
        sum("orderItems?NextToken=" in r for r in fake.requests) == len(document["OrderItems"]) - 1
    )
    status, _, body = await fetcher.get(amazon.order_request("028-9999999-9999999"))
    assert status == 404
    assert amazon.parse_errors(body)[0].code == "NotFound"


# --- 429 ------------------------------------------------------------------------------------------


async def test_an_empty_bucket_answers_429_quota_exceeded_until_it_refills(
    client: Client, fake: FakeAmazon, clock: FakeClock
) -> None:
    fake.usage_plans = {"getOrder": (0.5, 2)}
    play(fake, [AmazonShop(seed=1).order_story(1)])
    order_id = next(iter(fake.orders))
    fetcher = Fetcher(client, fake)
    replies = [await fetcher.get(amazon.order_request(order_id)) for _ in range(3)]
    assert [status for status, _, _ in replies] == [200, 200, 429]
    status, headers, body = replies[2]
    assert amazon.parse_errors(body)[0].code == "QuotaExceeded"
    assert "x-amzn-RateLimit-Limit" not in headers  # the models list only the request id
    assert headers["x-amzn-RequestId"]
    assert replies[0][1]["x-amzn-RateLimit-Limit"] == "0.5"
    known = amazon.reported_rate(replies[0][1])
    wait = amazon.retry_after(status, headers, "getOrder", known_rate=known)
    assert wait == 2.0
    assert fake.throttled == 1
    clock.advance(wait)
    status, _, _ = await fetcher.get(amazon.order_request(order_id))
    assert status == 200
    # items are metered separately: their bucket is untouched
    status, _, _ = await fetcher.get(amazon.order_items_request(order_id))
    assert status == 200


async def test_a_shell_that_follows_the_bucket_never_sees_a_429(
    client: Client, fake: FakeAmazon, clock: FakeClock
) -> None:
    fake.usage_plans = {"getOrder": (0.5, 3)}
    play(fake, [AmazonShop(seed=1).order_story(1)])
    order_id = next(iter(fake.orders))
    fetcher = Fetcher(client, fake)
    bucket = amazon.Bucket.full(amazon.UsagePlan(0.5, 3), clock())
    for _ in range(8):
        bucket, wait = bucket.take(clock())
        clock.advance(wait)
        status, _, _ = await fetcher.get(amazon.order_request(order_id))
        assert status == 200
    assert fake.throttled == 0


# --- generated traffic through the engine ---------------------------------------------------------


def test_the_generator_makes_a_realistic_mix() -> None:
    shop = AmazonShop(seed=11)
    stories = shop.stories(400)
    placed = [s[0] for s in stories if isinstance(s[0], PlaceOrder)]
    assert len(placed) == 400
    orders = [p.order for p in placed]
    items = [item for p in placed for item in p.items]
    channels = Counter(o["FulfillmentChannel"] for o in orders)
    assert channels["AFN"] > 100 and channels["MFN"] > 150
    assert sum(o["IsBusinessOrder"] for o in orders) > 30
    assert any("BuyerTaxInfo" in o["BuyerInfo"] for o in orders)
    assert sum(p.address["CountryCode"] != "DE" for p in placed) > 80
    assert any(i.get("DeemedResellerCategory") == "UOSS" for i in items)
    assert any(i.get("IossNumber") for i in items)
    assert any(o["IsSoldByAB"] for o in orders)
    steps = [step for story in stories for step in story]
    assert sum(isinstance(s, Cancel) for s in steps) > 20
    assert any(s.buyer_requested for s in steps if isinstance(s, Cancel))
    split = [s for s in stories if sum(isinstance(x, Ship) for x in s) > 1]
    assert len(split) > 10
    assert all(isinstance(s[1], AuthorisePayment | Cancel) for s in stories)
    again = AmazonShop(seed=11).stories(400)
    assert again == stories  # repeatable


def test_every_change_queues_an_order_change_notification() -> None:
    fake = FakeAmazon(usage_plans={})
    story = AmazonShop(seed=2).order_story(7)
    notifications = play(fake, [story])
    assert len(notifications) == len(story)
    parsed = [amazon.parse_notification(orjson.dumps(n)) for n in notifications]
    assert all(p is not None for p in parsed)
    assert {p.amazon_order_id for p in parsed if p} == set(fake.orders)
    assert len({p.notification_id for p in parsed if p}) == len(parsed)
    # the same change notified twice (an SQS redelivery) keeps its NotificationId
    assert (
        notifications[0]["NotificationMetadata"]["NotificationId"]
        == (FakeAmazon(usage_plans={}).apply(story[0])[0]["NotificationMetadata"]["NotificationId"])
    )


async def test_fetched_orders_normalise_and_invoice_as_the_lifecycle_decides(
    client: Client, fake: FakeAmazon
) -> None:
    shop = AmazonShop(seed=7, start=datetime(2026, 11, 2, 8, tzinfo=UTC))
    stories = shop.stories(60)
    play(fake, stories)
    fetcher = Fetcher(client, fake)
    states: dict[str, OrderState] = {}
    invoiced: set[str] = set()
    for summary in await fetcher.changed_orders(datetime(2026, 11, 1, tzinfo=UTC)):
        body = await fetcher.document(summary.amazon_order_id)
        state: OrderState | None = None
        events: list[OrderEvent] = amazon.normalise_order(body, STORE, fake.clock())
        for event in events:
            transition = lifecycle.apply(state, event, STORE, COMPANY)
            state = transition.state
            if transition.triggers:
                invoiced.add(summary.amazon_order_id)
                (trigger,) = transition.triggers
                assert trigger.marketplace is Marketplace.AMAZON
                assert trigger.totals.gross == sum(
                    line.gross
                    for line in state.details.lines  # type: ignore[union-attr]
                )
        assert state is not None
        states[summary.amazon_order_id] = state
    assert set(states) == set(fake.orders)
    for order_id, state in states.items():
        order = fake.orders[order_id]
        details = state.details
        assert details is not None
        collected = details.invoiced_by_marketplace is not None
        status = order["OrderStatus"]
        if status == "Canceled":
            assert state.stage is Stage.CANCELLED
        elif status == "Shipped":
            assert state.stage is (Stage.SHIPPED if collected else Stage.INVOICED)
            assert (order_id in invoiced) is not collected
            if order["FulfillmentChannel"] == "AFN":
                assert dict(details.costs)["FBAPerUnitFulfillmentFee"] > 0
                assert {s.location_id for s in state.shipments} == {"AFN"}
            assert dict(details.costs)["Commission"] > 0
        assert order_id not in invoiced or status == "Shipped"
    assert any(s.details and s.details.invoiced_by_marketplace for s in states.values())
    assert invoiced


async def test_a_partial_shipment_is_seen_by_a_fetch_in_between(
    client: Client, fake: FakeAmazon
) -> None:
    shop = AmazonShop(seed=5, split_share=1.0, afn_share=0.0, cancel_share=0.0)
    story = next(s for s in shop.stories(30) if sum(isinstance(x, Ship) for x in s) > 1)
    first_ship = next(i for i, x in enumerate(story) if isinstance(x, Ship))
    play(fake, [story[: first_ship + 1]])
    fetcher = Fetcher(client, fake)
    order_id = story[0].order["AmazonOrderId"]  # type: ignore[union-attr]
    partial = amazon.normalise_order(await fetcher.document(order_id), STORE, fake.clock())
    assert fake.orders[order_id]["OrderStatus"] == "PartiallyShipped"
    shipments = [e for e in partial if isinstance(e.payload, ShipmentSent)]
    assert len(shipments) == 1
    play(fake, [story[first_ship + 1 :]])
    full = amazon.normalise_order(await fetcher.document(order_id), STORE, fake.clock())
    full_shipments = {e.event_id for e in full if isinstance(e.payload, ShipmentSent)}
    assert {e.event_id for e in shipments} < full_shipments
    (details,) = [e.payload for e in full if isinstance(e.payload, DetailsReported)]
    assert details.details.costs  # commission posted per shipment


# --- the real poller against the fake, on a real Redis and Kafka ----------------------------------


async def test_the_poller_polls_fetches_on_notification_and_rides_out_429s(
    kafka_bootstrap: str, redis_url: str
) -> None:
    import aiohttp
    import redis.asyncio as aioredis

    from engine import kafka, polling
    from engine.config import KafkaSettings
    from engine.identity import order_uuid
    from engine.pollers.amazon import AmazonPoller
    from engine.pollers.sink import Sink
    from engine.pollers.status import StatusBoard
    from models.codec import decode_raw
    from tests.support import read_topic

    now = datetime.now(UTC)
    fake = FakeAmazon(usage_plans={"getOrderItems": (2.0, 1)})  # the wall clock: a real server
    shop = AmazonShop(seed=21, start=now - timedelta(days=4), first_order_number=860001)
    play(fake, shop.stories(6))
    server = TestServer(create_app(fake))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    store = Store(
        "amazon-poll",
        COMPANY.id,
        Marketplace.AMAZON,
        InvoiceGranularity.PER_ORDER,
        api_base_url=base,
        token_url=f"{base}/auth/o2/token",
        client_id_env="T_AMZ_ID",
        client_secret_env="T_AMZ_SECRET",
        refresh_token_env="T_AMZ_REFRESH",
        amazon_marketplace_id=DE,
        orders_api_version="v0",
    )
    env = {
        "T_AMZ_ID": fake.client_id,
        "T_AMZ_SECRET": fake.client_secret,
        "T_AMZ_REFRESH": fake.refresh_token,
    }
    settings = KafkaSettings(bootstrap=kafka_bootstrap, partitions=4)
    await kafka.ensure_topics(settings)
    redis = aioredis.from_url(f"{redis_url.rsplit('/', 1)[0]}/12")
    await redis.flushdb()
    producer = kafka.producer(settings)
    await producer.start()
    session = aiohttp.ClientSession()
    try:
        sink = Sink(redis, producer, 3600)
        status = StatusBoard(redis, store, "test")
        poller = AmazonPoller.create(store, env, session, redis, sink, status, 60.0)
        assert await poller.cycle() == 6
        assert fake.throttled > 0  # one getOrderItems a burst: the poller waited and retried
        assert fake.token_requests == 1
        assert await poller.cycle() == 0  # nothing changed: nothing written again
        # a notification-triggered fetch of a new order
        late = AmazonShop(seed=22, start=now - timedelta(minutes=30), first_order_number=860100)
        story = late.order_story(860100)
        play(fake, [story[:2]])  # placed and paid, already in the past
        new_id = story[0].order["AmazonOrderId"]  # type: ignore[union-attr]
        assert await poller.handle_push(polling.PushFetch("ORDER", new_id)) == 1
        assert await poller.handle_push(polling.PushFetch("ORDER", new_id)) == 0  # same snapshot
        records = await read_topic(kafka_bootstrap, "winkel.raw.amazon")
        ids = [*fake.orders]
        keys = {str(order_uuid(store.id, Marketplace.AMAZON, i)).encode(): i for i in ids}
        mine = [r for r in records if r.key in keys and r.value is not None]
        assert {keys[r.key] for r in mine if r.key is not None} == set(ids)
        for record in mine:
            delivery = decode_raw(record.value or b"")
            events = amazon.normalise(delivery, store)
            assert events[0].ref.external_order_id == keys[record.key or b""]
        assert await redis.hget(polling.status_key(store.id), "throttled")
    finally:
        await session.close()
        await producer.stop()
        await redis.aclose()
        await server.close()


async def test_the_demo_plays_stories_live_and_relays_their_notifications() -> None:
    import asyncio

    from engine.fakes.amazon import play_demo
    from engine.runtime import free_port

    received: list[tuple[str | None, bytes]] = []

    async def relay(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Winkel-Token"), await request.read()))
        return web.json_response({"status": "accepted"})

    app = web.Application()
    app.router.add_post("/webhooks/amazon/demo", relay)
    async with TestServer(app) as relay_server:
        fake = FakeAmazon(usage_plans={})
        port = free_port()
        url = str(relay_server.make_url("/webhooks/amazon/demo"))
        demo = asyncio.ensure_future(
            play_demo(fake, "127.0.0.1", port, url, "demo-secret", steps_per_second=40)
        )
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                if len(received) >= 10:
                    break
        finally:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
    assert len(received) >= 10
    assert {token for token, _ in received} == {"demo-secret"}
    changes = [amazon.parse_notification(body) for _, body in received]
    assert all(change is not None for change in changes)
    assert {c.amazon_order_id for c in changes if c} <= set(fake.orders)
    # steps are stamped as they are played: every order was placed just now
    for order in fake.orders.values():
        placed = datetime.fromisoformat(order["PurchaseDate"])
        assert datetime.now(UTC) - placed < timedelta(minutes=1)
