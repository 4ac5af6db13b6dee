"""The fake bol.com Retailer API, driven through aiohttp's test client and the pure bol module."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import pytest
from aiohttp import BasicAuth, web
from aiohttp.test_utils import TestClient, TestServer

from engine.dev.fakes import bol as fake_bol
from engine.dev.fakes.bol import (
    BolShop,
    FakeBol,
    FakeClock,
    HandleReturn,
    PlaceOrder,
    RateRule,
    Ship,
    create_app,
)
from engine.domain.config import InvoiceGranularity, Store
from engine.domain.marketplaces import bol
from models.events import OrderEvent, ReturnReceived, ShipmentSent
from models.order import Marketplace

STORE = Store("bol-nl", "acme-nl", Marketplace.BOL, InvoiceGranularity.PER_SHIPMENT)
Client = TestClient[web.Request, web.Application]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeBol:
    return FakeBol(clock=clock, rate_rules={})


@pytest.fixture
async def client(fake: FakeBol) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(fake))) as test_client:
        yield test_client


class Poller:
    """The smallest shell around the pure module: one cached token, GETs with back-off info."""

    def __init__(self, client: Client, fake: FakeBol) -> None:
        self.client, self.fake = client, fake
        self.token: bol.TokenCache | None = None

    async def token_for_now(self) -> bol.TokenCache:
        now = self.fake.clock()
        if self.token is None or not self.token.valid(now):
            url, headers, body = bol.token_request(self.fake.client_id, self.fake.client_secret)
            assert url.endswith("/token")
            async with self.client.post("/token", headers=dict(headers), data=body) as response:
                assert response.status == 200, await response.text()
                self.token = bol.TokenCache.from_response(await response.read(), now)
        return self.token

    async def get(self, request: bol.ApiRequest) -> tuple[int, dict[str, str], bytes]:
        path, query, headers = bol.authorised(request, await self.token_for_now())
        async with self.client.get(path, params=dict(query), headers=dict(headers)) as response:
            return response.status, dict(response.headers), await response.read()

    async def ok(self, request: bol.ApiRequest) -> bytes:
        status, _, body = await self.get(request)
        assert status == 200, body
        return body


def load(fake: FakeBol, stories: int, shop: BolShop | None = None) -> list[fake_bol.Push]:
    shop = shop or BolShop(seed=7)
    pushes = []
    for story in (shop.order_story(n) for n in range(1, stories + 1)):
        pushes += fake.apply_all(story)
    return pushes


class TestToken:
    async def test_client_credentials_in_a_basic_header(
        self, client: Client, fake: FakeBol
    ) -> None:
        _, headers, body = bol.token_request(fake.client_id, fake.client_secret)
        async with client.post("/token", headers=dict(headers), data=body) as response:
            assert response.status == 200
            answer = await response.json()
        assert answer["token_type"] == "Bearer"
        assert answer["expires_in"] == 299
        assert fake.token_valid(answer["access_token"])
        assert fake.token_requests == 1

    async def test_credentials_in_the_form_body_work_too(
        self, client: Client, fake: FakeBol
    ) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        }
        async with client.post("/token", data=form) as response:
            assert response.status == 200

    async def test_wrong_credentials_and_grants_are_refused_and_still_counted(
        self, client: Client, fake: FakeBol
    ) -> None:
        wrong = BasicAuth(fake.client_id, "guess")
        async with client.post(
            "/token", auth=wrong, data={"grant_type": "client_credentials"}
        ) as r:
            assert r.status == 401
        right = BasicAuth(fake.client_id, fake.client_secret)
        async with client.post("/token", auth=right, data={"grant_type": "password"}) as r:
            assert r.status == 400
        assert fake.token_requests == 2

    async def test_the_token_cache_keeps_token_requests_to_one_per_lifetime(
        self, client: Client, fake: FakeBol, clock: FakeClock
    ) -> None:
        load(fake, 3)
        poller = Poller(client, fake)
        for _ in range(10):
            await poller.ok(bol.orders_request("ALL"))
            clock.advance(20)  # 10 calls over 200 s: inside 299 s minus the 30 s margin
        assert fake.token_requests == 1
        clock.advance(70)  # now 270 s after the token was issued: within the margin
        await poller.ok(bol.orders_request("ALL"))
        assert fake.token_requests == 2
        assert len(fake.requests) == 11

    async def test_an_expired_or_missing_token_is_unauthorised(
        self, client: Client, fake: FakeBol, clock: FakeClock
    ) -> None:
        path, query, headers = bol.orders_request("FBR")
        async with client.get(path, params=dict(query), headers=dict(headers)) as response:
            assert response.status == 401
        token, _ = fake.issue_token()
        clock.advance(300)
        authorised = bol.authorised(bol.orders_request("FBR"), token)
        async with client.get(path, params=dict(query), headers=dict(authorised.headers)) as r:
            assert r.status == 401
            assert (await r.json())["status"] == 401

    async def test_an_unknown_media_type_is_not_acceptable(
        self, client: Client, fake: FakeBol
    ) -> None:
        token, _ = fake.issue_token()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        async with client.get("/retailer/orders", headers=headers) as response:
            assert response.status == 406


class TestOrders:
    async def test_pages_of_fifty_until_an_empty_object(
        self, client: Client, fake: FakeBol
    ) -> None:
        load(fake, 120)
        poller = Poller(client, fake)
        seen: list[str] = []
        page: int | None = 1
        sizes = []
        while page is not None:
            body = await poller.ok(bol.orders_request("ALL", page=page))
            refs = bol.parse_orders_page(body)
            sizes.append(len(refs))
            seen += [ref.order_id for ref in refs]
            page = bol.next_page(page, len(refs))
        assert sizes == [50, 50, 20]
        assert len(set(seen)) == 120
        assert await poller.ok(bol.orders_request("ALL", page=4)) == b"{}"

    async def test_filters_on_fulfilment_method_and_status(
        self, client: Client, fake: FakeBol
    ) -> None:
        load(fake, 60, BolShop(seed=7, fbb_share=0.5))
        poller = Poller(client, fake)
        fbb = bol.parse_orders_page(await poller.ok(bol.orders_request("FBB")))
        assert fbb
        assert {i.fulfilment_method for ref in fbb for i in ref.items} == {"FBB"}
        everything = bol.parse_orders_page(await poller.ok(bol.orders_request("ALL")))
        open_only = bol.parse_orders_page(await poller.ok(bol.orders_request("ALL", status="OPEN")))
        assert {i.fulfilment_status for ref in open_only for i in ref.items} <= {"OPEN"}
        assert len(open_only) < len(everything)
        default = fake.order_list("FBR", "OPEN", None, None)  # bol's defaults: FBR, OPEN
        assert all(i["fulfilmentMethod"] == "FBR" for o in default for i in o["orderItems"])

    async def test_change_interval_minute_and_the_48_hour_window(
        self, client: Client, fake: FakeBol, clock: FakeClock
    ) -> None:
        order = BolShop(seed=3).order_story(1)[0]
        assert isinstance(order, PlaceOrder)
        clock.now = order.at + timedelta(minutes=3)
        fake.apply(order)
        poller = Poller(client, fake)
        recent = await poller.ok(bol.orders_request("ALL", change_interval_minute=5))
        assert [r.order_id for r in bol.parse_orders_page(recent)] == [order.order["orderId"]]
        clock.advance(10 * 60)
        assert await poller.ok(bol.orders_request("ALL", change_interval_minute=5)) == b"{}"
        # shipped in full: handled, so it leaves the list 48 hours after its last change
        items = tuple((i["orderItemId"], i["quantity"]) for i in order.order["orderItems"])
        fake.apply(Ship(clock.now, "9001", order.order["orderId"], items))
        assert bol.parse_orders_page(await poller.ok(bol.orders_request("ALL")))
        clock.advance(49 * 3600)
        assert await poller.ok(bol.orders_request("ALL")) == b"{}"
        assert await poller.ok(bol.order_request(order.order["orderId"])) != b"{}"

    async def test_bad_parameters_are_bad_requests(self, client: Client, fake: FakeBol) -> None:
        poller = Poller(client, fake)
        for query in ({"page": "0"}, {"status": "LOST"}, {"change-interval-minute": "x"}):
            request = bol.ApiRequest("/retailer/orders", query, {"Accept": bol.MEDIA_TYPE})
            status, _, _ = await poller.get(request)
            assert status == 400
        status, _, body = await poller.get(bol.order_request("404"))
        assert status == 404
        assert orjson.loads(body)["title"] == "Not Found"


class TestRateLimits:
    async def test_a_spent_budget_answers_429_with_the_documented_headers(
        self, client: Client, fake: FakeBol, clock: FakeClock
    ) -> None:
        fake.rate_rules = {"GET /retailer/orders/*": RateRule(2, 60)}
        load(fake, 1)
        order_id = next(iter(fake.orders))
        poller = Poller(client, fake)
        status, headers, _ = await poller.get(bol.order_request(order_id))
        assert status == 200
        assert bol.RateLimit.from_headers(headers) == bol.RateLimit(2, 1, 60.0)
        assert bol.retry_after(status, headers) is None
        clock.advance(15)
        status, headers, _ = await poller.get(bol.order_request(order_id))
        assert (status, bol.RateLimit.from_headers(headers).remaining) == (200, 0)
        assert bol.retry_after(status, headers) == 45.0  # the last of the budget: wait first
        status, headers, body = await poller.get(bol.order_request(order_id))
        assert status == 429
        assert orjson.loads(body)["status"] == 429
        assert headers["Retry-After"] == "45"
        wait = bol.retry_after(status, headers)
        assert wait == 45.0
        assert fake.throttled == 1
        assert wait is not None
        clock.advance(wait)
        status, _, _ = await poller.get(bol.order_request(order_id))
        assert status == 200

    async def test_budgets_are_per_path_rule(self, client: Client, fake: FakeBol) -> None:
        fake.rate_rules = {
            "GET /retailer/orders": RateRule(1, 180),
            "GET /retailer/orders/*": RateRule(5, 60),
        }
        load(fake, 1)
        poller = Poller(client, fake)
        assert (await poller.get(bol.orders_request("ALL")))[0] == 200
        assert (await poller.get(bol.orders_request("ALL")))[0] == 429
        assert (await poller.get(bol.order_request(next(iter(fake.orders)))))[0] == 200

    def test_the_default_budgets_are_bols_published_examples(self) -> None:
        rules = fake_bol.DEFAULT_RATE_RULES
        assert rules["GET /retailer/orders"] == RateRule(7, 180)
        assert rules["GET /retailer/orders/*"] == RateRule(8, 60)


class TestStories:
    def test_the_generator_is_repeatable(self) -> None:
        assert BolShop(seed=5).order_story(1) == BolShop(seed=5).order_story(1)
        assert BolShop(seed=5).order_story(1) != BolShop(seed=6).order_story(1)

    def test_the_traffic_is_varied_like_bols(self) -> None:
        shop = BolShop(seed=11)
        stories = [shop.order_story(n) for n in range(1, 301)]
        orders = [s[0].order for s in stories if isinstance(s[0], PlaceOrder)]
        kinds = Counter(type(step).__name__ for story in stories for step in story)
        assert kinds["PlaceOrder"] == 300
        assert kinds["CancelItem"] and kinds["RequestCancellation"]
        assert kinds["RegisterReturn"] and kinds["HandleReturn"]
        assert any(o["pickupPoint"] for o in orders)
        assert any("billingDetails" not in o for o in orders)
        assert any(o.get("billingDetails", {}).get("vatNumber") for o in orders)
        assert any(o["orderItems"][0]["fulfilment"]["method"] == "FBB" for o in orders)
        assert {o["shipmentDetails"]["countryCode"] for o in orders} == {"NL", "BE"}
        one_item_split = [
            story
            for story in stories
            if len({units[0] for step in story if isinstance(step, Ship) for units in step.items})
            < sum(len(step.items) for step in story if isinstance(step, Ship))
        ]
        assert one_item_split  # one order item's units over two shipments
        handled = {
            s.handling_result for story in stories for s in story if isinstance(s, HandleReturn)
        }
        assert "RETURN_RECEIVED" in handled

    async def test_pushes_lead_to_fetches_that_normalise_consistently(
        self, client: Client, fake: FakeBol
    ) -> None:
        pushes = load(fake, 40, BolShop(seed=7, split_share=0.6, return_share=0.5))
        poller = Poller(client, fake)
        keys_body = await poller.ok(
            bol.ApiRequest("/retailer/subscriptions/signature-keys", {}, {"Accept": bol.MEDIA_TYPE})
        )
        keys = bol.parse_signature_keys(keys_body)
        events: dict[str, OrderEvent] = {}
        for push in pushes:
            bol.verify(push.body, push.headers, keys)
            for request in bol.notification_fetches(push.body):
                body = await poller.ok(request)
                if request.path.startswith("/retailer/orders/"):
                    found = bol.normalise_order(body, STORE, fake.clock(), "webhook")
                else:
                    found = bol.parse_shipments(body, STORE, fake.clock(), "webhook")
                events.update((e.event_id, e) for e in found)
        shipped: Counter[str] = Counter()
        for event in events.values():
            if isinstance(event.payload, ShipmentSent):
                for line in event.payload.shipment.lines:
                    shipped[line.line_id] += line.quantity
        for order in fake.orders.values():
            for item in order["orderItems"]:
                assert shipped[item["orderItemId"]] == item["quantityShipped"]
        # returns are polled: handled ones, with the orders' items to place them
        received = 0
        for method in ("FBR", "FBB"):
            body = await poller.ok(bol.returns_request(method, handled=True))
            items = {
                order_id: bol.order_items(await poller.ok(bol.order_request(order_id)))
                for order_id in bol.return_order_ids(body)
            }
            parsed = bol.parse_returns(body, STORE, fake.clock(), items)
            assert parsed.unplaced == ()
            received += sum(isinstance(e.payload, ReturnReceived) for e in parsed.events)
        credited = sum(
            r["handlingResult"] in bol.CREDITED_HANDLING_RESULTS
            for ret in fake.returns.values()
            for item in ret["returnItems"]
            for r in item["processingResults"]
        )
        assert received == credited > 0

    async def test_the_shipment_list_names_items_without_units(
        self, client: Client, fake: FakeBol
    ) -> None:
        load(fake, 10)
        poller = Poller(client, fake)
        body = await poller.ok(bol.shipments_request("FBR"))
        refs = bol.parse_shipments_page(body)
        assert refs
        assert all(
            "quantity" not in i for s in orjson.loads(body)["shipments"] for i in s["shipmentItems"]
        )
        detail = await poller.ok(bol.shipment_request(refs[0].shipment_id))
        (event,) = bol.parse_shipments(detail, STORE, fake.clock())
        assert event.ref.external_order_id == refs[0].order_id
        one_order = await poller.ok(bol.shipments_request("FBR", order_id=refs[0].order_id))
        assert {r.order_id for r in bol.parse_shipments_page(one_order)} == {refs[0].order_id}
