"""A WooCommerce refund long after the order's last change: the webhook that lists it gets it
fetched at once (issue: official order 723 was invoiced and never credited).

The store polls every 15 minutes, and the order was last changed 10 days ago, outside the
poll's first `modified_after` week: only the prompt fetch asked for by the `order.updated`
webhook can bring the refund in, so a credit note within the test's wait proves it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from engine.dev.fakes.woocommerce import FakeShop, fake_api
from tests import woocommerce_payloads as woo
from tests.support import Stack, Stacks, ThreadedServer, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
STORE = "woo-late"
CONSUMER_KEY, CONSUMER_SECRET = "ck_test_late", "cs_test_late"
POLL_INTERVAL_SECONDS = 900
STORES = f"""
[[stores]]
id = "{STORE}"
company_id = "acme-nl"
marketplace = "woocommerce"
invoice_granularity = "per_order"
webhook_secret_env = "TEST_WOOCOMMERCE_SECRET"
api_base_url = "{{woo}}"
consumer_key_env = "TEST_WOO_CONSUMER_KEY"
consumer_secret_env = "TEST_WOO_CONSUMER_SECRET"
poll_interval_seconds = {POLL_INTERVAL_SECONDS}
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
def stack(stacks: Stacks, woo_shop: tuple[FakeShop, ThreadedServer]) -> Stack:
    return stacks.start(
        "late-refund-stack",
        STORES.format(woo=woo_shop[1].url),
        {"TEST_WOO_CONSUMER_KEY": CONSUMER_KEY, "TEST_WOO_CONSUMER_SECRET": CONSUMER_SECRET},
    )


def key_of(order_id: int) -> bytes:
    return str(uuid.uuid5(NAMESPACE, f"{STORE}:woocommerce:{order_id}")).encode()


async def records_for(stack: Stack, topic: str, key: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await read_topic(stack.bootstrap, topic) if r.key == key]


async def post(stack: Stack, topic: str, document: dict[str, Any]) -> None:
    body = woo.body(document)
    headers = woo.headers(topic, body, delivery_id=uuid.uuid4().hex)
    reply = await send_webhook(f"{stack.url}/webhooks/woocommerce/{STORE}", body, headers)
    assert reply.status == 200, await reply.text()


async def test_a_refund_ten_days_after_the_last_change_is_credited_within_seconds(
    stack: Stack, woo_shop: tuple[FakeShop, ThreadedServer]
) -> None:
    shop, server = woo_shop
    order_id = 723
    now = datetime.now(UTC)
    last_change = now - timedelta(days=10)
    completed = woo.order(
        order_id,
        status="completed",
        created=woo.gmt(last_change - timedelta(hours=2)),
        paid=woo.gmt(last_change - timedelta(hours=1)),
        modified=woo.gmt(last_change),
        completed=woo.gmt(last_change),
    )
    server.call(lambda: shop.put(completed))
    await post(stack, "order.updated", completed)
    key = key_of(order_id)

    async def invoices() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.triggers.invoice", key) or None

    (invoice,) = await wait_until(invoices, 120, what="the invoice")
    refund = woo.damaged_mug_refund(7231, order_id, now)
    listed = [{"id": refund["id"], "reason": refund["reason"], "total": "-12.10"}]
    refunded = dict(completed, refunds=listed)
    server.call(lambda: shop.add_refund(order_id, refund))
    started = time.monotonic()
    await post(stack, "order.updated", refunded)

    async def credit_notes() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.triggers.credit-note", key) or None

    (note,) = await wait_until(credit_notes, 120, what="the credit note")
    # Far inside the 15-minute poll interval (and the poll cannot see a 10-day-old order):
    # the webhook's prompt fetch brought the refund.
    assert time.monotonic() - started < POLL_INTERVAL_SECONDS / 3
    assert note["totals"]["gross"] == "12.10"
    assert note["corrects"]["invoice_trigger_id"] == invoice["trigger_id"]
    raw = await records_for(stack, "winkel.raw.woocommerce", key)
    assert [r["topic"] for r in raw].count("order.refunds.polled") == 1
    # The same webhook again (WooCommerce fires order.updated twice): nothing is fetched again.
    await post(stack, "order.updated", refunded)
    await post(stack, "order.updated", dict(refunded, customer_note="called again"))
    await asyncio.sleep(3)  # time for a fetch, had one been asked for
    raw = await records_for(stack, "winkel.raw.woocommerce", key)
    assert [r["topic"] for r in raw].count("order.refunds.polled") == 1
    assert len(await records_for(stack, "winkel.triggers.credit-note", key)) == 1
