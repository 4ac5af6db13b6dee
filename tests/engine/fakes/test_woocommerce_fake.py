"""The fake WooCommerce store: its deliveries pass the real door and normaliser, and its REST API
answers the poller the way WooCommerce does (auth, paging, `modified_after`, refunds)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.dev.fakes.woocommerce import FakeShop, WooCommerceStore, fake_api, php_json
from engine.dev.simulator import Delivery
from engine.domain.config import InvoiceGranularity, Store
from engine.domain.exceptions import SignatureError
from engine.domain.marketplaces import woocommerce as wc
from models.events import OrderCancelled, OrderEvent, RefundIssued, ShipmentSent
from models.order import Marketplace
from models.raw import RawDelivery
from tests import woocommerce_payloads as woo

STORE = Store("woo-nl", "acme-nl", Marketplace.WOOCOMMERCE, InvoiceGranularity.PER_ORDER)
SECRET = b"fake-store-secret"
KEY, CONSUMER_SECRET = "ck_winkel", "cs_geheim"
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

Client = TestClient[web.Request, web.Application]


def received(delivery: Delivery) -> RawDelivery:
    """What the door makes of a delivery: ping first, then signature, then the dedupe id."""
    assert not wc.is_ping(delivery.body, delivery.headers)
    wc.verify(delivery.body, delivery.headers, [SECRET])
    topic = wc.topic(delivery.headers)
    dedupe_id = wc.delivery_id(delivery.headers, delivery.body)
    assert topic is not None
    assert dedupe_id is not None
    kept = {name: delivery.headers[name] for name in wc.KEPT_HEADERS}
    return RawDelivery(
        Marketplace.WOOCOMMERCE, STORE.id, dedupe_id, topic, NOW, kept, delivery.body
    )


def store(**options: Any) -> WooCommerceStore:
    return WooCommerceStore(STORE.id, SECRET, **options)


class TestDeliveries:
    def test_every_delivery_verifies_and_normalises(self) -> None:
        fake = store(refund_share=0.5, cancel_share=0.2, fail_share=0.1)
        seen: set[str] = set()
        for order_id in range(1001, 1201):
            for delivery in fake.order_story(order_id):
                seen.update(event.type for event in wc.normalise(received(delivery), STORE))
        assert seen == {
            "details_reported",
            "payment_captured",
            "shipment_sent",
            "order_cancelled",
            "cancellation_withdrawn",
        }  # refunds come from the refunds endpoint, see the sweep below

    def test_deliveries_carry_the_woocommerce_headers(self) -> None:
        created = store().order_story(1001)[0]
        assert created.headers["X-WC-Webhook-Topic"] == "order.created"
        assert created.headers["X-WC-Webhook-Resource"] == "order"
        assert created.headers["X-WC-Webhook-Event"] == "created"
        assert created.headers["X-WC-Webhook-Source"] == "https://winkel-demo.example/"
        assert created.headers["X-WC-Webhook-ID"] == "11"
        assert len(created.headers["X-WC-Webhook-Delivery-ID"]) == 32
        assert created.headers["User-Agent"].startswith("WooCommerce/")

    def test_bodies_are_encoded_like_php(self) -> None:
        created = store().order_story(1001)[0]
        assert b"https:\\/\\/winkel-demo.example\\/wp-json" in created.body
        assert b"\\u20ac" in created.body  # the currency symbol, escaped
        document = orjson.loads(created.body)
        assert document["date_created_gmt"].count(":") == 2  # no offset on GMT times

    def test_the_delivery_id_is_weak_and_the_dedupe_id_is_not(self) -> None:
        fake = store()
        at = datetime(2026, 11, 2, 9, 0, 0, 400_000, tzinfo=UTC)
        one = fake.deliver("order.updated", woo.order(1001), at)
        two = fake.deliver("order.updated", woo.order(1002), at + timedelta(milliseconds=300))
        assert one.headers[wc.DELIVERY_HEADER] == two.headers[wc.DELIVERY_HEADER]
        assert wc.delivery_id(one.headers, one.body) != wc.delivery_id(two.headers, two.body)

    def test_the_ping_is_unsigned_and_recognised_before_the_signature(self) -> None:
        ping = store().ping()
        assert ping.body == b"webhook_id=11"
        assert wc.is_ping(ping.body, ping.headers)
        with pytest.raises(SignatureError):
            wc.verify(ping.body, ping.headers, [SECRET])

    def test_deleted_and_restored(self) -> None:
        fake = store(cancel_share=0, fail_share=0, refund_share=0)
        fake.order_story(1001)
        deleted = wc.normalise(received(fake.deleted(1001, NOW)), STORE)
        assert [type(e.payload) for e in deleted] == [OrderCancelled]
        assert fake.shop.orders[1001]["status"] == "trash"
        restored = wc.normalise(received(fake.restored(1001, "completed", NOW)), STORE)
        assert any(isinstance(e.payload, ShipmentSent) for e in restored)

    def test_the_same_seed_tells_the_same_stories(self) -> None:
        assert [d.body for d in store(seed=7).order_story(1001)] == [
            d.body for d in store(seed=7).order_story(1001)
        ]

    def test_b2b_and_cross_border_orders_occur(self) -> None:
        fake = store()
        for order_id in range(1001, 1101):
            fake.order_story(order_id)
        countries = {o["shipping"]["country"] for o in fake.shop.orders.values()}
        assert {"NL", "BE", "DE", "FR"} <= countries
        reverse_charged = [
            o
            for o in fake.shop.orders.values()
            if o["billing"]["company"] and o["shipping"]["country"] != "NL"
        ]
        assert reverse_charged
        assert all(o["total_tax"] == "0.00" for o in reverse_charged)


@pytest.fixture
async def documented() -> AsyncIterator[Client]:
    """The API over a handful of hand-written orders with known times."""
    shop = FakeShop(site_offset=timedelta(hours=1))
    for order_id, modified in [
        (1001, "2026-11-02T09:00:00"),
        (1002, "2026-11-02T09:00:01"),
        (1003, "2026-11-02T10:30:00"),
        (1004, "2026-11-03T08:00:00"),
    ]:
        shop.put(woo.order(order_id, status="completed", modified=modified))
    shop.put(woo.order(1005, status="trash", modified="2026-11-03T09:00:00"))
    for number in range(12):
        shop.add_refund(1004, {**woo.DOCUMENTED_REFUNDS[1], "id": 2000 + number})
    async with _client(shop) as client:
        yield client


class _client:
    def __init__(self, shop: FakeShop) -> None:
        self.client: Client = TestClient(
            TestServer(fake_api(shop, consumer_key=KEY, consumer_secret=CONSUMER_SECRET))
        )

    async def __aenter__(self) -> Client:
        await self.client.start_server()
        return self.client

    async def __aexit__(self, *_: object) -> None:
        await self.client.close()


AUTH = {"Authorization": wc.basic_auth(KEY, CONSUMER_SECRET)}
ORDERS = "/wp-json/wc/v3/orders"


async def ids(client: Client, **params: str) -> list[int]:
    async with client.get(ORDERS, params=params, headers=AUTH) as reply:
        assert reply.status == 200, await reply.text()
        return [order["id"] for order in await reply.json()]


class TestApi:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": wc.basic_auth(KEY, "wrong")},
            {"Authorization": f"Bearer {CONSUMER_SECRET}"},
        ],
    )
    async def test_without_the_consumer_key_and_secret(
        self, documented: Client, headers: dict[str, str]
    ) -> None:
        for path in (ORDERS, f"{ORDERS}/1001", f"{ORDERS}/1001/refunds"):
            async with documented.get(path, headers=headers) as reply:
                assert reply.status == 401
                error = await reply.json()
                assert error["code"] == "woocommerce_rest_cannot_view"
                assert error["data"] == {"status": 401}

    async def test_paging(self, documented: Client) -> None:
        pages = []
        for page in (1, 2, 3):
            params = {"per_page": "2", "page": str(page), "orderby": "id", "order": "asc"}
            async with documented.get(ORDERS, params=params, headers=AUTH) as reply:
                assert reply.headers["X-WP-Total"] == "4"  # trash is not in `any`
                assert reply.headers["X-WP-TotalPages"] == "2"
                assert reply.content_type == "application/json"
                pages.append([order["id"] for order in await reply.json()])
                if page == 1:
                    assert 'rel="next"' in reply.headers["Link"]
        assert pages == [[1001, 1002], [1003, 1004], []]

    async def test_by_default_newest_first_ten_a_page(self, documented: Client) -> None:
        assert await ids(documented) == [1004, 1003, 1002, 1001]

    async def test_modified_after_in_gmt_is_exclusive(self, documented: Client) -> None:
        window = {"dates_are_gmt": "true", "orderby": "modified", "order": "asc"}
        after = await ids(documented, modified_after="2026-11-02T09:00:00", **window)
        assert after == [1002, 1003, 1004]

    async def test_modified_after_in_site_time(self, documented: Client) -> None:
        # Without dates_are_gmt the value is the site's local time, an hour ahead here.
        assert await ids(documented, modified_after="2026-11-02T10:00:00") == [1004, 1003, 1002]
        assert await ids(documented, modified_after="2026-11-02T10:00:00Z") == [1004, 1003]

    async def test_statuses(self, documented: Client) -> None:
        assert await ids(documented, status="trash") == [1005]
        assert await ids(documented, status="processing,trash") == [1005]

    @pytest.mark.parametrize(
        "params",
        [
            {"per_page": "101"},
            {"page": "0"},
            {"modified_after": "yesterday"},
            {"dates_are_gmt": "maybe"},
            {"orderby": "total"},
        ],
    )
    async def test_invalid_parameters(self, documented: Client, params: dict[str, str]) -> None:
        async with documented.get(ORDERS, params=params, headers=AUTH) as reply:
            assert reply.status == 400
            assert (await reply.json())["code"] == "rest_invalid_param"

    async def test_one_order(self, documented: Client) -> None:
        async with documented.get(f"{ORDERS}/1003", headers=AUTH) as reply:
            assert (await reply.json())["id"] == 1003
        async with documented.get(f"{ORDERS}/999", headers=AUTH) as reply:
            assert reply.status == 404
            assert (await reply.json())["code"] == "woocommerce_rest_shop_order_invalid_id"

    async def test_refunds_come_ten_a_page_unless_asked(self, documented: Client) -> None:
        async with documented.get(f"{ORDERS}/1004/refunds", headers=AUTH) as reply:
            assert (reply.headers["X-WP-Total"], reply.headers["X-WP-TotalPages"]) == ("12", "2")
            assert len(await reply.json()) == 10
        url, query = wc.refunds_request("", "1004")
        async with documented.get(url, params=query, headers=AUTH) as reply:
            events = wc.refund_events("1004", await reply.read(), STORE, received_at=NOW)
        assert len(events) == 12
        async with documented.get(f"{ORDERS}/999/refunds", headers=AUTH) as reply:
            assert reply.status == 404


async def sweep(client: Client, since: datetime, per_page: int) -> list[dict[str, Any]]:
    """What a poller does with the pure helpers: walk forward until caught up."""
    cursor, found = wc.PollCursor(since), list[dict[str, Any]]()
    for _ in range(1000):
        url, query = wc.orders_request("", cursor.modified_after, cursor.page, per_page)
        async with client.get(url, params=query, headers=AUTH) as reply:
            page = wc.parse_orders_page(reply.headers, await reply.read(), cursor.page)
        found.extend(page.orders)
        cursor, more = wc.next_cursor(cursor, page)
        if not more:
            return found
    raise AssertionError("the sweep did not finish")


class TestPollingTheFake:
    async def test_a_sweep_finds_every_order_and_every_refund(self) -> None:
        fake = store(refund_share=0.4, cancel_share=0.1, fail_share=0.05)
        for order_id in range(1001, 1081):
            fake.order_story(order_id)
        async with _client(fake.shop) as client:
            found = await sweep(client, fake.start - timedelta(days=1), per_page=7)
            assert {o["id"] for o in found} == set(fake.shop.orders)
            events: list[OrderEvent] = []
            for order in found:
                events += wc.normalise(wc.polled_delivery(STORE.id, order, NOW), STORE)
                external_id = str(order["id"])
                if wc.listed_refund_ids(php_json(order)):
                    url, query = wc.refunds_request("", external_id)
                    async with client.get(url, params=query, headers=AUTH) as reply:
                        events += wc.refund_events(
                            external_id, await reply.read(), STORE, received_at=NOW
                        )
        # The overlap re-reads some orders; their events are the same events.
        unique = {event.event_id: event for event in events}
        assert len(unique) < len(events)
        refunds = [e.payload.refund for e in unique.values() if isinstance(e.payload, RefundIssued)]
        assert refunds
        assert len(refunds) == sum(len(r) for r in fake.shop.refunds.values())
        for refund in refunds:
            assert refund.lines  # the fake refunds units, and the endpoint says which

    async def test_the_poll_finds_what_woocommerce_never_redelivered(self) -> None:
        fake = store(lost_share=0.5, cancel_share=0, fail_share=0, refund_share=0)
        delivered: set[str] = set()
        for order_id in range(1001, 1041):
            for delivery in fake.order_story(order_id):
                for event in wc.normalise(received(delivery), STORE):
                    delivered.add(event.event_id)
        async with _client(fake.shop) as client:
            found = await sweep(client, fake.start - timedelta(days=1), per_page=100)
        polled = {
            event.event_id
            for order in found
            for event in wc.normalise(wc.polled_delivery(STORE.id, order, NOW), STORE)
        }
        shipments = {e for e in polled if e.endswith(":shipment:completed")}
        assert len(shipments) == 40  # every order shipped; the poll sees all of them
        assert shipments - delivered  # some of which no webhook ever reported
