"""WooCommerce end to end on real processes: ping, signed webhooks, invoice trigger."""

from __future__ import annotations

import uuid

import aiohttp
import orjson
import pytest

from tests import woocommerce_payloads as woo
from tests.support import Stack, read_topic, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace


async def post(stack: Stack, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stack.url}/webhooks/woocommerce/shop-woo", data=body, headers=headers) as r,
    ):
        await r.read()
        return r.status


async def test_the_unsigned_ping_is_answered_and_stores_nothing(stack: Stack) -> None:
    before = len(await read_topic(stack.bootstrap, "winkel.raw.woocommerce"))
    status = await post(
        stack, b"webhook_id=12", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    assert len(await read_topic(stack.bootstrap, "winkel.raw.woocommerce")) == before


async def test_a_wrong_signature_is_refused(stack: Stack) -> None:
    body = woo.body(woo.order(830001))
    assert await post(stack, body, woo.headers("order.created", body, secret="wrong")) == 401


async def test_a_completed_order_is_invoiced_once(stack: Stack) -> None:
    order_id = 830002
    created = woo.body(woo.order(order_id, status="processing"))
    completed = woo.body(
        woo.order(
            order_id,
            status="completed",
            modified="2026-11-02T15:00:00",
            completed="2026-11-02T15:00:00",
        )
    )
    for topic, body in [("order.created", created), ("order.updated", completed)]:
        assert await post(stack, body, woo.headers(topic, body)) == 200
    # WooCommerce sometimes fires the same hook twice; the second is a duplicate.
    again = woo.headers("order.updated", completed)
    assert await post(stack, completed, again) == 200

    order = uuid.uuid5(NAMESPACE, f"shop-woo:woocommerce:{order_id}")

    async def invoices() -> list[dict[str, object]] | None:
        records = await read_topic(stack.bootstrap, "winkel.triggers.invoice")
        found = [orjson.loads(r.value) for r in records if r.key == str(order).encode()]
        return found or None

    (invoice,) = await wait_until(invoices, 60, what="the WooCommerce invoice")
    assert invoice["marketplace"] == "woocommerce"
    assert invoice["external_order_id"] == str(order_id)
    lines = {line["sku"]: line for line in invoice["lines"]}  # type: ignore[attr-defined]
    assert (lines["MUG-BLUE"]["net"], lines["MUG-BLUE"]["vat"]) == ("20.00", "4.20")
    raw = await read_topic(stack.bootstrap, "winkel.raw.woocommerce")
    assert sum(1 for r in raw if r.key == str(order).encode()) == 2  # the duplicate was not
