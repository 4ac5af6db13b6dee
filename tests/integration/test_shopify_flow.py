"""The first vertical slice on real processes: Shopify webhook in, invoice trigger out."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests import shopify_payloads as shop
from tests.support import VIEWER, Stack, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

# The contract namespace (docs/design.md "Order identity"), written out so that these tests
# check the contract rather than whatever engine.domain.identity happens to compute.
NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")


def contract_uuid(store: str, external_id: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{store}:shopify:{external_id}")


async def post(
    stack: Stack, store: str, topic: str, document: object | bytes, **header_options: str
) -> aiohttp.ClientResponse:
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    url = f"{stack.url}/webhooks/shopify/{store}"
    return await send_webhook(url, body, shop.headers(topic, body, store=store, **header_options))


async def records_for(stack: Stack, topic: str, order: uuid.UUID) -> list[dict[str, object]]:
    records = await read_topic(stack.bootstrap, topic)
    documents = [orjson.loads(r.value) for r in records if r.key == str(order).encode()]
    return documents


async def test_signed_webhooks_give_exactly_one_invoice_trigger(stack: Stack) -> None:
    order_id = 810001
    paid = shop.order(order_id, financial_status="paid", updated_at="2026-11-02T10:05:00+01:00")
    shipped = shop.order(
        order_id,
        financial_status="paid",
        updated_at="2026-11-02T15:00:00+01:00",
        fulfillments=[
            shop.fulfillment(order_id, 1, [(order_id * 10 + 501, 2), (order_id * 10 + 502, 1)])
        ],
    )
    for topic, document in [
        ("orders/create", shop.order(order_id)),
        ("orders/paid", paid),
        ("orders/fulfilled", shipped),
    ]:
        assert (await post(stack, "shop-order", topic, document)).status == 200

    order = contract_uuid("shop-order", order_id)
    triggers = await wait_until(
        lambda: records_for(stack, "winkel.triggers.invoice", order), 60, what="invoice trigger"
    )
    assert len(triggers) == 1
    trigger = triggers[0]
    assert trigger["trigger_id"] == str(uuid.uuid5(order, "trigger:invoice:order:0"))
    assert trigger["kind"] == "invoice"
    assert trigger["scope"] == "order"
    assert trigger["order_uuid"] == str(order)
    assert trigger["store_id"] == "shop-order"
    assert trigger["company_id"] == "acme-nl"
    assert trigger["marketplace"] == "shopify"
    assert trigger["external_order_id"] == str(order_id)
    assert trigger["currency"] == "EUR"
    # The VAT step adds customer_vat_id, exemption, tax_point and reason (docs/vat.md).
    assert (trigger["vat"]["scheme"], trigger["vat"]["country"]) == ("domestic", "NL")
    assert trigger["vat"]["tax_point"] == "2026-11-02"
    assert trigger["customer"]["name"] == "Sanne de Vries"
    assert trigger["customer"]["country"] == "NL"
    assert trigger["customer"]["is_business"] is False
    lines = {line["sku"]: line for line in trigger["lines"]}  # type: ignore[union-attr]
    # Prices include 21% VAT: 2 x 12.10 = 24.20 gross with 4.20 VAT -> 20.00 net.
    assert lines["MUG-BLUE"] == {
        "sku": "MUG-BLUE",
        "description": "Stoneware mug, blue",
        "quantity": 2,
        "unit_price_net": "10.00",
        "vat_rate": "0.21",
        "net": "20.00",
        "vat": "4.20",
        "gross": "24.20",
    }
    assert (lines["LAMP-DESK"]["net"], lines["LAMP-DESK"]["vat"]) == ("65.29", "13.71")
    assert (lines["SHIPPING"]["net"], lines["SHIPPING"]["gross"]) == ("4.09", "4.95")
    assert trigger["totals"] == {"net": "89.38", "vat": "18.77", "gross": "108.15"}
    total = sum(Decimal(line["gross"]) for line in lines.values())
    assert total == Decimal(trigger["totals"]["gross"])  # type: ignore[index]

    audit = await records_for(stack, "winkel.audit", order)
    assert [entry["to_stage"] for entry in audit] == ["new", "paid", "shipped", "invoiced"]
    assert audit[-1]["actor"] == "system"


async def test_the_same_delivery_twice_is_written_and_invoiced_once(stack: Stack) -> None:
    order_id = 810002
    document = shop.order(
        order_id,
        financial_status="paid",
        fulfillments=[
            shop.fulfillment(order_id, 1, [(order_id * 10 + 501, 2), (order_id * 10 + 502, 1)])
        ],
    )
    webhook_id = str(uuid.uuid4())
    first = await post(stack, "shop-order", "orders/fulfilled", document, webhook_id=webhook_id)
    second = await post(stack, "shop-order", "orders/fulfilled", document, webhook_id=webhook_id)
    assert (first.status, second.status) == (200, 200)

    order = contract_uuid("shop-order", order_id)
    await wait_until(
        lambda: records_for(stack, "winkel.triggers.invoice", order), 60, what="invoice trigger"
    )
    raw = await read_topic(stack.bootstrap, "winkel.raw.shopify")
    written = [r for r in raw if orjson.loads(r.value)["delivery_id"] == webhook_id]
    assert len(written) == 1
    assert written[0].key == str(order).encode()  # keyed by order: its deliveries stay in order
    # A redelivery under a new webhook id (Shopify's subscriptions each send their own) is one
    # more raw record, yet still the same order facts: no second trigger.
    assert (await post(stack, "shop-order", "orders/fulfilled", document)).status == 200
    await wait_until(lambda: _summary_seen(stack, order), 30, what="read model")
    assert len(await records_for(stack, "winkel.triggers.invoice", order)) == 1


async def _summary(stack: Stack, order: uuid.UUID) -> dict[str, object] | None:
    """The order as the read model shows it (the session's Redis holds other tests' orders)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{stack.url}/api/orders/{order}", headers=VIEWER) as reply,
    ):
        if reply.status == 404:
            return None
        found: dict[str, object] = orjson.loads(await reply.read())["order"]
        return found


async def _summary_seen(stack: Stack, order: uuid.UUID) -> bool:
    summary = await _summary(stack, order)
    return summary is not None and summary["stage"] == "invoiced"


async def test_a_wrong_signature_is_refused_and_stores_nothing(stack: Stack) -> None:
    webhook_id = str(uuid.uuid4())
    response = await post(
        stack,
        "shop-order",
        "orders/create",
        shop.order(810003),
        secret="not-the-secret",
        webhook_id=webhook_id,
    )
    assert response.status == 401
    raw = await read_topic(stack.bootstrap, "winkel.raw.shopify")
    assert not [r for r in raw if orjson.loads(r.value)["delivery_id"] == webhook_id]
    assert "rejected delivery" in stack.web.log_tail()  # type: ignore[union-attr]


async def test_a_delivery_from_another_shop_is_refused_and_not_kept(stack: Stack) -> None:
    # Signed with the app's secret, which every shop that installed the app shares, but from
    # another shop than the store's: 401, and nothing of it reaches Kafka.
    webhook_id = str(uuid.uuid4())
    response = await post(
        stack,
        "shop-order",
        "orders/create",
        shop.order(810013),
        webhook_id=webhook_id,
        shop_domain="someone-else.myshopify.com",
    )
    assert response.status == 401
    raw = await read_topic(stack.bootstrap, "winkel.raw.shopify")
    assert not [r for r in raw if orjson.loads(r.value)["delivery_id"] == webhook_id]
    assert "someone-else.myshopify.com" in stack.web.log_tail()  # type: ignore[union-attr]
    # the same delivery from the store's own shop is accepted
    assert (await post(stack, "shop-order", "orders/create", shop.order(810013))).status == 200


async def test_an_unknown_store_is_not_found(stack: Stack) -> None:
    response = await post(stack, "no-such-shop", "orders/create", shop.order(810004))
    assert response.status == 404


async def test_verified_but_malformed_json_is_dead_lettered_and_the_worker_goes_on(
    stack: Stack,
) -> None:
    garbage = b'{"id": 810005, "line_items": [ this is not json'
    webhook_id = str(uuid.uuid4())
    response = await post(stack, "shop-order", "orders/create", garbage, webhook_id=webhook_id)
    assert response.status == 200

    async def dead_letter() -> dict[str, object] | None:
        for record in await read_topic(stack.bootstrap, "winkel.deadletter"):
            letter = orjson.loads(record.value)
            original = orjson.loads(letter["original"]["data"])
            if original.get("delivery_id") == webhook_id:
                return letter  # type: ignore[no-any-return]
        return None

    letter = await wait_until(dead_letter, 60, what="dead letter")
    assert letter["source_topic"] == "winkel.raw.shopify"
    assert "not JSON" in letter["reason"]
    original = orjson.loads(letter["original"]["data"])  # type: ignore[index]
    assert original["body"]["data"].encode() == garbage

    assert all(worker.alive() for worker in stack.workers)
    # ... and still processes the next good delivery.
    order_id = 810006
    document = shop.order(
        order_id,
        financial_status="paid",
        fulfillments=[
            shop.fulfillment(order_id, 1, [(order_id * 10 + 501, 2), (order_id * 10 + 502, 1)])
        ],
    )
    assert (await post(stack, "shop-order", "orders/fulfilled", document)).status == 200
    await wait_until(
        lambda: records_for(
            stack, "winkel.triggers.invoice", contract_uuid("shop-order", order_id)
        ),
        60,
        what="trigger after a dead letter",
    )


async def test_per_shipment_store_invoices_each_shipment(stack: Stack) -> None:
    order_id = 810007
    mug, lamp = order_id * 10 + 501, order_id * 10 + 502
    first = shop.fulfillment(order_id, 1, [(mug, 1)], created_at="2026-11-02T12:00:00+01:00")
    second = shop.fulfillment(
        order_id, 2, [(mug, 1), (lamp, 1)], created_at="2026-11-03T12:00:00+01:00"
    )
    await post(stack, "shop-shipment", "orders/create", shop.order(order_id))
    await post(stack, "shop-shipment", "fulfillments/create", first)
    await post(stack, "shop-shipment", "fulfillments/create", second)
    order = contract_uuid("shop-shipment", order_id)
    triggers = await wait_until(
        lambda: _two(records_for(stack, "winkel.triggers.invoice", order)),
        60,
        what="two shipment invoices",
    )
    by_shipment = {t["shipment_id"]: t for t in triggers}
    assert set(by_shipment) == {str(first["id"]), str(second["id"])}
    first_lines = {line["sku"]: line["quantity"] for line in by_shipment[str(first["id"])]["lines"]}
    second_lines = {
        line["sku"]: line["quantity"] for line in by_shipment[str(second["id"])]["lines"]
    }
    assert first_lines == {"MUG-BLUE": 1, "SHIPPING": 1}
    assert second_lines == {"MUG-BLUE": 1, "LAMP-DESK": 1}
    gross = sum(Decimal(t["totals"]["gross"]) for t in triggers)
    assert gross == Decimal("108.15")  # the two invoices add up to the order, to the cent


async def _two(pending: object) -> list[dict[str, object]] | None:
    documents = await pending  # type: ignore[misc]
    return documents if len(documents) >= 2 else None


async def test_dashboard_websocket_streams_order_updates(stack: Stack, tmp_path: Path) -> None:
    order_id = 810008
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{stack.url}/ws", headers=VIEWER) as ws,
    ):
        snapshot = orjson.loads((await ws.receive(timeout=10)).data)
        assert snapshot["type"] == "snapshot"
        await post(stack, "shop-order", "orders/create", shop.order(order_id))
        while True:
            batch = orjson.loads((await ws.receive(timeout=30)).data)
            names = {o["name"] for o in batch["orders"]}
            if f"#{order_id}" in names:
                break


async def test_body_size_limit(stack: Stack) -> None:
    order_id = 810009
    big = shop.order(order_id)
    big["note"] = "x" * 1_500_000  # a large but legal order (Kafka's default 1 MiB is too small)
    assert (await post(stack, "shop-order", "orders/create", big)).status == 200
    too_big = dict(big, note="x" * 2_200_000)
    assert (await post(stack, "shop-order", "orders/create", too_big)).status == 413
    order = contract_uuid("shop-order", order_id)
    summary = await wait_until(lambda: _summary(stack, order), 60, what="the large order")
    assert summary["name"] == f"#{order_id}"
