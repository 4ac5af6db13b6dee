"""An Amazon store on Orders API v2026-01-01, end to end on real processes.

The worker polls the fake SP-API (in this process) with `searchOrders` and fetches with
`getOrder`; a relayed ORDER_CHANGE at the web process asks it for a prompt fetch. The orders
here are stamped an hour back, behind the poller's `lastUpdatedAfter` cursor, so only the
notification brings them in: ORDER_CHANGE -> web -> fetch queue -> worker's Amazon poller ->
getOrder (v2026) -> winkel.raw.amazon -> normaliser -> lifecycle -> VAT step -> invoice trigger.

Order ids of this module: 869000-869999 (`AmazonShop.order_id` puts the number in the middle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from engine.dev.fakes.amazon import AmazonShop, FakeAmazon, PlaceOrder, Ship, Step, create_app
from engine.domain import polling
from engine.domain.identity import order_uuid
from models.order import Marketplace
from tests import amazon_payloads as p
from tests.support import (
    VIEWER,
    Stack,
    Stacks,
    ThreadedServer,
    read_topic,
    send_webhook,
    wait_until,
)

pytestmark = pytest.mark.integration

STORE_ID = "amazon-v2026"
STORE = """
[[stores]]
id = "amazon-v2026"
company_id = "acme-nl"
marketplace = "amazon"
invoice_granularity = "per_order"
webhook_secret_env = "TEST_AMAZON_RELAY_SECRET"
api_base_url = "{url}"
token_url = "{url}/auth/o2/token"
amazon_marketplace_id = "A1PA6795UKMFR9"
client_id_env = "TEST_AMAZON_CLIENT_ID"
client_secret_env = "TEST_AMAZON_CLIENT_SECRET"
refresh_token_env = "TEST_AMAZON_REFRESH_TOKEN"
poll_interval_seconds = 2
orders_api_version = "2026-01-01"
fba_ship_from_country = "DE"

[[stores]]
id = "amazon-v2026-parcels"
company_id = "acme-nl"
marketplace = "amazon"
invoice_granularity = "per_shipment"
webhook_secret_env = "TEST_AMAZON_RELAY_SECRET"
api_base_url = "{url}"
token_url = "{url}/auth/o2/token"
amazon_marketplace_id = "A1PA6795UKMFR9"
client_id_env = "TEST_AMAZON_CLIENT_ID"
client_secret_env = "TEST_AMAZON_CLIENT_SECRET"
refresh_token_env = "TEST_AMAZON_REFRESH_TOKEN"
poll_interval_seconds = 2
"""
PARCELS_STORE_ID = "amazon-v2026-parcels"


@pytest.fixture(scope="module")
def amazon_api() -> Iterator[tuple[FakeAmazon, ThreadedServer]]:
    fake = FakeAmazon()  # the documented usage plans, searchOrders' 0.0056/s included
    server = ThreadedServer(create_app(fake))
    yield fake, server
    server.stop()


@pytest.fixture(scope="module")
def stack(stacks: Stacks, amazon_api: tuple[FakeAmazon, ThreadedServer]) -> Stack:
    fake, server = amazon_api
    return stacks.start(
        "amazon-v2026-stack",
        STORE.format(url=server.url),
        {
            "TEST_AMAZON_RELAY_SECRET": p.SHARED_SECRET,
            "TEST_AMAZON_CLIENT_ID": fake.client_id,
            "TEST_AMAZON_CLIENT_SECRET": fake.client_secret,
            "TEST_AMAZON_REFRESH_TOKEN": fake.refresh_token,
        },
    )


def _story(
    number: int, *, business: bool, channel: str, country: str, parcels: int = 1
) -> list[Step]:
    """A placed, paid and shipped order with the wanted buyer and fulfilment channel, shipped
    in `parcels` parts."""
    for seed in range(1, 500):
        shop = AmazonShop(
            seed=seed,
            business_share=1.0 if business else 0.0,
            afn_share=1.0 if channel == "AFN" else 0.0,
            cross_border_share=1.0,
            cancel_share=0.0,
            split_share=1.0 if parcels > 1 else 0.0,
            deemed_share=0.0,
            ioss_share=0.0,
            sold_by_ab_share=0.0,
            first_order_number=number,
        )
        story = shop.order_story(number)
        placed = story[0]
        assert isinstance(placed, PlaceOrder)
        shipped_in = sum(isinstance(step, Ship) for step in story)
        if placed.address["CountryCode"] == country and shipped_in == parcels:
            return story
    raise AssertionError(f"no story with a buyer in {country}")


async def _relay(
    stack: Stack,
    server: ThreadedServer,
    fake: FakeAmazon,
    story: list[Step],
    store_id: str = STORE_ID,
) -> str:
    """Apply the story an hour back in time and relay Amazon's ORDER_CHANGE notifications."""
    start = datetime.now(UTC) - timedelta(hours=1)
    notifications: list[dict[str, Any]] = []
    for index, step in enumerate(story):
        stamped = dataclasses.replace(step, at=start + timedelta(minutes=index))
        notifications += server.call(lambda s=stamped: fake.apply(s))  # type: ignore[misc]
    url = f"{stack.url}/webhooks/amazon/{store_id}"
    for notification in notifications:
        body = orjson.dumps(notification)
        reply = await send_webhook(url, body, {"X-Winkel-Token": p.SHARED_SECRET})
        assert reply.status == 200, await reply.text()
    placed = story[0]
    assert isinstance(placed, PlaceOrder)
    return str(placed.order["AmazonOrderId"])


async def _invoice(stack: Stack, order_id: str) -> dict[str, Any]:
    return (await _invoices(stack, order_id))[0]


async def _invoices(
    stack: Stack, order_id: str, store_id: str = STORE_ID, count: int = 1
) -> list[dict[str, Any]]:
    key = str(order_uuid(store_id, Marketplace.AMAZON, order_id)).encode()

    async def found() -> list[dict[str, Any]] | None:
        records = await read_topic(stack.bootstrap, "winkel.triggers.invoice")
        mine = [orjson.loads(r.value or b"") for r in records if r.key == key]
        return mine if len({t["trigger_id"] for t in mine}) >= count else None

    try:
        return await wait_until(found, 120, what=f"the invoice of Amazon order {order_id}")
    except AssertionError:
        letters = await read_topic(stack.bootstrap, "winkel.deadletter")
        reasons = [orjson.loads(r.value or b"")["reason"] for r in letters if r.key == key]
        raw = await read_topic(stack.bootstrap, "winkel.raw.amazon")
        raise AssertionError(
            f"no invoice; raw records {sum(r.key == key for r in raw)}; dead letters {reasons}"
        ) from None


async def _polled_once(stack: Stack, store_id: str = STORE_ID) -> None:
    redis = aioredis.from_url(stack.redis_url)

    async def cursor() -> bytes | None:
        value = await redis.get(polling.poll_key(store_id, "cursor"))
        return value if isinstance(value, bytes) else None

    try:
        await wait_until(cursor, 90, what="the Amazon poller's first searchOrders")
    finally:
        await redis.aclose()


async def test_an_amazon_business_order_with_a_vat_number_is_reverse_charged(
    stack: Stack, amazon_api: tuple[FakeAmazon, ThreadedServer]
) -> None:
    fake, server = amazon_api
    await _polled_once(stack)
    story = _story(869001, business=True, channel="MFN", country="DE")
    placed = story[0]
    assert isinstance(placed, PlaceOrder)
    vat_number = placed.order["BuyerInfo"]["BuyerTaxInfo"]["TaxClassifications"][0]["Value"]
    assert vat_number == "DE136695976"
    order_id = await _relay(stack, server, fake, story)

    invoice = await _invoice(stack, order_id)
    assert invoice["external_order_id"] == order_id
    assert invoice["customer"]["is_business"] is True
    assert invoice["customer"]["vat_id"] == "DE136695976"  # from tax.taxRegistrations (BUYER)
    # shipped from the Dutch warehouse (the package's shipFromAddress) to a German business
    assert invoice["vat"]["scheme"] == "reverse_charge"
    assert invoice["vat"]["country"] == "NL"
    assert invoice["vat"]["customer_vat_id"] == "DE136695976"
    # the order came by v2026 getOrder, never by v0, and the search kept to its usage plan
    calls = server.call(lambda: list(fake.requests))
    assert any(
        c.startswith(f"getOrder@2026-01-01 /orders/2026-01-01/orders/{order_id}") for c in calls
    )
    assert not any(c.startswith(("getOrders", "getOrderItems", "getOrder ")) for c in calls)
    assert sum(c.startswith("searchOrders") for c in calls) <= 21


async def test_an_fba_consumer_order_is_taxed_from_the_fba_country(
    stack: Stack, amazon_api: tuple[FakeAmazon, ThreadedServer]
) -> None:
    fake, server = amazon_api
    await _polled_once(stack)
    order_id = await _relay(
        stack, server, fake, _story(869002, business=False, channel="AFN", country="FR")
    )
    invoice = await _invoice(stack, order_id)
    assert invoice["customer"]["is_business"] is False
    # FBA stock in Germany (the store's fba_ship_from_country) to a French consumer: OSS, FR
    assert (invoice["vat"]["scheme"], invoice["vat"]["country"]) == ("oss", "FR")


async def test_a_per_shipment_store_invoices_each_package(
    stack: Stack, amazon_api: tuple[FakeAmazon, ThreadedServer]
) -> None:
    fake, server = amazon_api
    await _polled_once(stack, PARCELS_STORE_ID)
    story = _story(869003, business=False, channel="MFN", country="FR", parcels=2)
    order_id = await _relay(stack, server, fake, story, PARCELS_STORE_ID)
    invoices = await _invoices(stack, order_id, PARCELS_STORE_ID, count=2)
    by_shipment = {t["shipment_id"]: t for t in invoices}
    assert set(by_shipment) == {f"package:{order_id}-P1", f"package:{order_id}-P2"}
    placed = story[0]
    assert isinstance(placed, PlaceOrder)
    skus = {item["OrderItemId"]: item["SellerSKU"] for item in placed.items}
    shipped = [step for step in story if isinstance(step, Ship)]
    for number, step in enumerate(shipped, start=1):
        trigger = by_shipment[f"package:{order_id}-P{number}"]
        products = {line["sku"] for line in trigger["lines"] if line["sku"] != "SHIPPING"}
        assert products == {skus[item_id] for item_id, _ in step.items}
    # shipped from the Dutch warehouse (the packages' shipFromAddress) to a French consumer
    assert {(t["vat"]["scheme"], t["vat"]["country"]) for t in invoices} == {("oss", "FR")}


#: A second warehouse of the seller, in France: packages from it leave from FR.
FRENCH_WAREHOUSE = {
    "Name": "Acme Entrepôt Lyon",
    "AddressLine1": "1 rue du Port",
    "City": "Lyon",
    "PostalCode": "69007",
    "CountryCode": "FR",
}


async def _detail(stack: Stack, order: str, store_id: str) -> dict[str, Any] | None:
    uuid = order_uuid(store_id, Marketplace.AMAZON, order)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{stack.url}/api/orders/{uuid}", headers=VIEWER) as reply,
    ):
        if reply.status == 404:
            return None
        assert reply.status == 200, await reply.text()
        found: dict[str, Any] = orjson.loads(await reply.read())["order"]
        return found if len(found.get("shipments") or ()) == 2 else None


async def test_a_package_from_a_second_country_is_taxed_from_that_country(
    stack: Stack, amazon_api: tuple[FakeAmazon, ThreadedServer]
) -> None:
    fake, server = amazon_api
    await _polled_once(stack, PARCELS_STORE_ID)
    story = _story(869004, business=False, channel="MFN", country="FR", parcels=2)
    last = max(i for i, step in enumerate(story) if isinstance(step, Ship))
    second = story[last]
    assert isinstance(second, Ship)
    story[last] = dataclasses.replace(second, ship_from=FRENCH_WAREHOUSE)
    order_id = await _relay(stack, server, fake, story, PARCELS_STORE_ID)
    invoices = await _invoices(stack, order_id, PARCELS_STORE_ID, count=2)
    by_shipment = {t["shipment_id"]: t["vat"] for t in invoices}
    first_vat = by_shipment[f"package:{order_id}-P1"]
    french_vat = by_shipment[f"package:{order_id}-P2"]
    # P1 leaves the Dutch warehouse for a French consumer: a distance sale, French VAT by OSS
    assert (first_vat["scheme"], first_vat["country"]) == ("oss", "FR")
    assert "NL to FR" in first_vat["reason"]
    # P2 leaves the French warehouse (its shipFromAddress): the goods stay in France
    assert (french_vat["scheme"], french_vat["country"]) == ("domestic", "FR")
    assert french_vat["reason"] == "goods stay in FR"
    # the order detail shows each package with its carrier, tracking number and origin
    detail = await wait_until(
        lambda: _detail(stack, order_id, PARCELS_STORE_ID), 60, what="the order detail"
    )
    shown = {s["shipment_id"]: s for s in detail["shipments"]}
    assert shown[f"package:{order_id}-P1"]["ship_from_country"] == "NL"
    assert shown[f"package:{order_id}-P2"]["ship_from_country"] == "FR"
    for shipment in shown.values():
        assert shipment["carrier"] == "DHL"
        assert [len(n) for n in shipment["tracking_numbers"]] == [18]
