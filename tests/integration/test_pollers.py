"""The WooCommerce and Shopify pollers on real processes, against fakes in this process.

WooCommerce never retries a webhook, so its `modified_after` poll is half of the truth; Shopify
is reconciled behind its webhooks. Order ids 855000-859999.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from engine.dev.fakes import shopify as fake_shopify
from engine.dev.fakes.woocommerce import FakeShop, fake_api
from engine.dev.simulator import ShopifyStore
from tests import woocommerce_payloads as woo
from tests.support import (
    OPERATOR,
    SECRET,
    Stack,
    Stacks,
    ThreadedServer,
    read_topic,
    send_webhook,
    wait_until,
)

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
WOO_STORE, SHOPIFY_STORE = "woo-poll", "shop-recon"
CONSUMER_KEY, CONSUMER_SECRET = "ck_test_poll", "cs_test_poll"
STORES = """
[[stores]]
id = "woo-poll"
company_id = "acme-nl"
marketplace = "woocommerce"
invoice_granularity = "per_order"
webhook_secret_env = "TEST_WOOCOMMERCE_SECRET"
api_base_url = "{woo}"
consumer_key_env = "TEST_WOO_CONSUMER_KEY"
consumer_secret_env = "TEST_WOO_CONSUMER_SECRET"
poll_interval_seconds = 2

[[stores]]
id = "shop-recon"
company_id = "acme-nl"
marketplace = "shopify"
invoice_granularity = "per_order"
shop_domain = "acme-recon.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"
api_base_url = "{shopify}"
access_token_env = "TEST_SHOPIFY_ACCESS_TOKEN"
poll_interval_seconds = 2
"""


@pytest.fixture(scope="module")
def woo_shop() -> Iterator[tuple[FakeShop, ThreadedServer]]:
    shop = FakeShop()
    server = ThreadedServer(
        fake_api(shop, consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)
    )
    yield shop, server
    server.stop()


@pytest.fixture(scope="module")
def shopify() -> Iterator[tuple[fake_shopify.FakeShopify, ThreadedServer]]:
    fake = fake_shopify.FakeShopify(access_token="shpat_test_recon")
    server = ThreadedServer(fake_shopify.create_app(fake))
    yield fake, server
    server.stop()


@pytest.fixture(scope="module")
def stack(
    stacks: Stacks,
    woo_shop: tuple[FakeShop, ThreadedServer],
    shopify: tuple[fake_shopify.FakeShopify, ThreadedServer],
) -> Stack:
    stores = STORES.format(woo=woo_shop[1].url, shopify=shopify[1].url)
    return stacks.start(
        "poll-stack",
        stores,
        {
            "TEST_WOO_CONSUMER_KEY": CONSUMER_KEY,
            "TEST_WOO_CONSUMER_SECRET": CONSUMER_SECRET,
            "TEST_SHOPIFY_ACCESS_TOKEN": shopify[0].access_token,
        },
    )


def key_of(store: str, marketplace: str, order_id: int) -> bytes:
    return str(uuid.uuid5(NAMESPACE, f"{store}:{marketplace}:{order_id}")).encode()


async def records_for(stack: Stack, topic: str, key: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await read_topic(stack.bootstrap, topic) if r.key == key]


def completed_order(order_id: int, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return woo.order(
        order_id,
        status="completed",
        created=woo.gmt(now - timedelta(minutes=10)),
        paid=woo.gmt(now - timedelta(minutes=9)),
        modified=woo.gmt(now),
        completed=woo.gmt(now),
        **changes,
    )


async def wait_for_invoices(stack: Stack, key: bytes, what: str) -> list[dict[str, Any]]:
    async def invoices() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.triggers.invoice", key) or None

    found: list[dict[str, Any]] = await wait_until(invoices, 120, what=what)
    return found


async def polls_pass(stack: Stack, store: str, count: int) -> None:
    """Wait until the store's poller has finished `count` more polls."""
    redis = aioredis.from_url(stack.redis_url)
    try:
        start = await redis.hget(f"winkel:poll:{store}:status", "last_success")
        seen = {start}

        async def passed() -> bool:
            seen.add(await redis.hget(f"winkel:poll:{store}:status", "last_success"))
            return len(seen - {None}) > count

        await wait_until(passed, 60, interval=0.5, what=f"{count} polls of {store}")
    finally:
        await redis.aclose()


async def test_a_woocommerce_order_whose_webhook_never_came_is_polled(
    stack: Stack, woo_shop: tuple[FakeShop, ThreadedServer]
) -> None:
    shop, server = woo_shop
    order_id = 855001
    server.call(lambda: shop.put(completed_order(order_id)))
    key = key_of(WOO_STORE, "woocommerce", order_id)
    (invoice,) = await wait_for_invoices(stack, key, "the polled WooCommerce invoice")
    assert invoice["external_order_id"] == str(order_id)
    raw = await records_for(stack, "winkel.raw.woocommerce", key)
    assert [r["topic"] for r in raw] == ["order.polled"]
    await polls_pass(stack, WOO_STORE, 2)
    # Polled again and again (it is inside the poll's overlap): written once, invoiced once.
    assert len(await records_for(stack, "winkel.raw.woocommerce", key)) == 1
    assert len(await records_for(stack, "winkel.triggers.invoice", key)) == 1


async def test_an_order_seen_by_webhook_and_by_poll_is_invoiced_once(
    stack: Stack, woo_shop: tuple[FakeShop, ThreadedServer]
) -> None:
    shop, server = woo_shop
    order_id = 855002
    document = completed_order(order_id)
    body = woo.body(document)
    url = f"{stack.url}/webhooks/woocommerce/{WOO_STORE}"
    reply = await send_webhook(url, body, woo.headers("order.updated", body))
    assert reply.status == 200, await reply.text()
    server.call(lambda: shop.put(document))
    key = key_of(WOO_STORE, "woocommerce", order_id)

    async def both() -> bool:
        topics = {r["topic"] for r in await records_for(stack, "winkel.raw.woocommerce", key)}
        return topics == {"order.updated", "order.polled"}

    await wait_until(both, 60, what="the webhook and the polled copy")
    await polls_pass(stack, WOO_STORE, 2)
    invoices = await wait_for_invoices(stack, key, "the invoice")
    assert len(invoices) == 1


async def test_woocommerce_refunds_are_polled_into_a_credit_note(
    stack: Stack, woo_shop: tuple[FakeShop, ThreadedServer]
) -> None:
    shop, server = woo_shop
    order_id = 855003
    server.call(lambda: shop.put(completed_order(order_id)))
    key = key_of(WOO_STORE, "woocommerce", order_id)
    await wait_for_invoices(stack, key, "the invoice before the refund")
    now = datetime.now(UTC)
    refund = woo.damaged_mug_refund(order_id * 10 + 7, order_id, now)
    listed = [{"id": refund["id"], "reason": refund["reason"], "total": "-12.10"}]
    refunded = completed_order(order_id, refunds=listed)
    refunded["date_modified_gmt"] = woo.gmt(now + timedelta(seconds=1))

    def change() -> None:
        shop.add_refund(order_id, refund)
        shop.put(refunded)

    server.call(change)

    async def credit_notes() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.triggers.credit-note", key) or None

    (note,) = await wait_until(credit_notes, 90, what="the credit note")
    assert note["totals"]["gross"] == "12.10"
    await polls_pass(stack, WOO_STORE, 2)
    assert len(await records_for(stack, "winkel.triggers.credit-note", key)) == 1


async def test_a_missed_shopify_webhook_is_caught_by_reconciliation(
    stack: Stack, shopify: tuple[fake_shopify.FakeShopify, ThreadedServer]
) -> None:
    fake, server = shopify
    order_id = 855501
    store = ShopifyStore(
        store_id=SHOPIFY_STORE,
        shop_domain="acme-recon.myshopify.com",
        secret=SECRET.encode(),
        start=datetime.now(UTC) - timedelta(days=1),
        cancel_share=0.0,
    )
    final = orjson.loads(store.order_story(order_id)[-1].body)  # fulfilled; no webhook sent
    server.call(lambda: fake.put(final))
    server.call(lambda: setattr(fake, "throttle_next", 1.0))  # a 429 on the way, honoured
    key = key_of(SHOPIFY_STORE, "shopify", order_id)
    (invoice,) = await wait_for_invoices(stack, key, "the reconciled Shopify invoice")
    assert invoice["marketplace"] == "shopify"
    await polls_pass(stack, SHOPIFY_STORE, 2)
    assert len(await records_for(stack, "winkel.triggers.invoice", key)) == 1
    assert len(await records_for(stack, "winkel.raw.shopify", key)) == 1


async def test_poller_status_is_served_for_the_dashboard(stack: Stack) -> None:
    async def statuses() -> dict[str, Any] | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{stack.url}/api/pollers", headers=OPERATOR) as reply,
        ):
            assert reply.status == 200
            found = {p["store_id"]: p for p in (await reply.json())["pollers"]}
        ready = all(found.get(s, {}).get("last_success") for s in (WOO_STORE, SHOPIFY_STORE))
        return found if ready else None

    found = await wait_until(statuses, 60, what="poller status")
    woo_status = found[WOO_STORE]
    assert woo_status["marketplace"] == "woocommerce"
    assert woo_status["orders_seen"] >= 3
    assert woo_status["next_run"] > woo_status["last_success"]
    assert woo_status["last_error"] is None
    async with aiohttp.ClientSession() as session, session.get(f"{stack.url}/metrics") as reply:
        metrics = await reply.text()
    assert (
        'winkel_poller_last_success_timestamp_seconds{marketplace="woocommerce",store="woo-poll"}'
        in metrics
    )
    assert (
        'winkel_poller_consecutive_failures{marketplace="shopify",store="shop-recon"} 0' in metrics
    )


async def test_one_worker_polls_a_store_and_another_takes_over_when_it_stops(
    stack: Stack, woo_shop: tuple[FakeShop, ThreadedServer]
) -> None:
    """Last in this module: it replaces the stack's worker."""
    shop, server = woo_shop
    first = stack.workers[0]
    redis = aioredis.from_url(stack.redis_url)
    leases = [f"winkel:poll:{store}:lease" for store in (WOO_STORE, SHOPIFY_STORE)]

    async def owners() -> set[str]:
        """The pid part of each lease's owner (`host:pid:random`), "" while none holds it."""
        values = [(await redis.get(key) or b"::").decode() for key in leases]
        return {value.split(":")[-2] for value in values}

    async def first_holds() -> bool:
        return await owners() == {str(first.pid)}

    try:
        await wait_until(first_holds, 60, what="the first worker to hold both leases")
        second = stack.start_worker("worker-2")
        await wait_until(
            lambda: "Ready" in second.log_tail(), 90, what="the second worker to be ready"
        )
        await polls_pass(stack, WOO_STORE, 3)  # the second worker has tried the leases by now
        assert await owners() == {str(first.pid)}
        first.terminate(timeout=30)

        async def taken_over() -> bool:
            return await owners() == {str(second.pid)}

        await wait_until(taken_over, 60, what="the second worker to take the leases")
        order_id = 855004
        server.call(lambda: shop.put(completed_order(order_id)))
        key = key_of(WOO_STORE, "woocommerce", order_id)
        (invoice,) = await wait_for_invoices(stack, key, "an order polled by the second worker")
        assert invoice["external_order_id"] == str(order_id)
    finally:
        await redis.aclose()
