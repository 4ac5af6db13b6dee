"""WooCommerce end to end on real processes: ping, signed webhooks, invoice trigger."""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests import woocommerce_payloads as woo
from tests.support import Stack, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace


async def post(stack: Stack, body: bytes, headers: dict[str, str]) -> int:
    return (await send_webhook(f"{stack.url}/webhooks/woocommerce/shop-woo", body, headers)).status


async def test_the_unsigned_ping_is_answered_and_stores_nothing(stack: Stack) -> None:
    before = len(await read_topic(stack.bootstrap, "winkel.raw.woocommerce"))
    status = await post(
        stack, b"webhook_id=12", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    assert len(await read_topic(stack.bootstrap, "winkel.raw.woocommerce")) == before


async def test_a_delivery_from_another_site_is_refused_and_not_kept(stack: Stack) -> None:
    body = woo.body(woo.order(830013))
    raw_before = len(await read_topic(stack.bootstrap, "winkel.raw.woocommerce"))
    other = woo.headers("order.created", body, source="https://other-shop.example/")
    assert await post(stack, body, other) == 401
    assert len(await read_topic(stack.bootstrap, "winkel.raw.woocommerce")) == raw_before
    # the store's own site, with or without the trailing slash, is accepted
    own = woo.headers("order.created", body, source="https://WINKEL-demo.example")
    assert await post(stack, body, own) == 200


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


async def test_an_order_cancelled_unpaid_then_paid_late_is_invoiced(stack: Stack) -> None:
    # WooCommerce's hold-stock timeout cancels the unpaid order; the payment arrives later.
    order_id = 830003
    snapshots = [
        ("order.created", woo.order(order_id, status="pending", paid=None)),
        (
            "order.updated",
            woo.order(order_id, status="cancelled", paid=None, modified="2026-11-02T10:00:00"),
        ),
        (
            "order.updated",
            woo.order(
                order_id,
                status="processing",
                paid="2026-11-02T11:00:00",
                modified="2026-11-02T11:00:00",
            ),
        ),
        (
            "order.updated",
            woo.order(
                order_id,
                status="completed",
                paid="2026-11-02T11:00:00",
                modified="2026-11-03T09:00:00",
                completed="2026-11-03T09:00:00",
            ),
        ),
    ]
    for number, (topic, document) in enumerate(snapshots):
        body = woo.body(document)
        headers = woo.headers(topic, body, delivery_id=f"late-pay-{number}")
        assert await post(stack, body, headers) == 200

    order = str(uuid.uuid5(NAMESPACE, f"shop-woo:woocommerce:{order_id}")).encode()

    async def audited() -> list[dict[str, object]] | None:
        entries = [
            orjson.loads(r.value)
            for r in await read_topic(stack.bootstrap, "winkel.audit")
            if r.key == order
        ]
        return entries if any(e["to_stage"] == "invoiced" for e in entries) else None

    entries = await wait_until(audited, 60, what="the revived order's invoice")
    stages = [(e["from_stage"], e["to_stage"]) for e in entries]
    assert ("new", "cancelled") in stages and ("cancelled", "new") in stages
    invoices = [
        r for r in await read_topic(stack.bootstrap, "winkel.triggers.invoice") if r.key == order
    ]
    credit_notes = [
        r
        for r in await read_topic(stack.bootstrap, "winkel.triggers.credit-note")
        if r.key == order
    ]
    assert (len(invoices), len(credit_notes)) == (1, 0)
