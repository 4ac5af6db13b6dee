"""The order lifecycle on real processes: partial shipments, credit notes, invoice numbers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests import shopify_payloads as shop
from tests.support import Stack, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
NOTEBOOK = {
    "id": 503,
    "sku": "NOTE-A5",
    "name": "Notebook A5",
    "quantity": 3,
    "price": "7.26",
    "tax_lines": [{"title": "BTW", "price": "3.78", "rate": 0.21}],
}


def contract_uuid(store: str, external_id: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{store}:shopify:{external_id}")


async def post(stack: Stack, store: str, topic: str, document: object) -> None:
    body = orjson.dumps(document)
    url = f"{stack.url}/webhooks/shopify/{store}"
    response = await send_webhook(url, body, shop.headers(topic, body, store=store))
    assert response.status == 200, await response.text()


async def triggers(
    stack: Stack, topic: str, order: uuid.UUID, at_least: int
) -> list[dict[str, object]] | None:
    records = await read_topic(stack.bootstrap, topic)
    found = [orjson.loads(r.value) for r in records if r.key == str(order).encode()]
    return found if len(found) >= at_least else None


def three_line_order(order_id: int, **options: object) -> dict[str, object]:
    return shop.order(order_id, line_items=[shop.MUG, shop.LAMP, NOTEBOOK], **options)  # type: ignore[arg-type]


async def ship_in_two(stack: Stack, store: str, order_id: int) -> None:
    mug, lamp, notes = (order_id * 10 + n for n in (501, 502, 503))
    await post(stack, store, "orders/create", three_line_order(order_id))
    await post(
        stack,
        store,
        "fulfillments/create",
        shop.fulfillment(
            order_id, 1, [(mug, 2), (notes, 1)], created_at="2026-11-02T12:00:00+01:00"
        ),
    )
    await post(
        stack,
        store,
        "fulfillments/create",
        shop.fulfillment(
            order_id, 2, [(lamp, 1), (notes, 2)], created_at="2026-11-03T12:00:00+01:00"
        ),
    )


def units(trigger: dict[str, object]) -> dict[str, int]:
    return {line["sku"]: line["quantity"] for line in trigger["lines"]}  # type: ignore[attr-defined,index]


async def test_two_shipments_per_shipment_give_two_invoices_with_their_own_lines(
    stack: Stack,
) -> None:
    await ship_in_two(stack, "shop-shipment", 820001)
    order = contract_uuid("shop-shipment", 820001)
    invoices = await wait_until(
        lambda: triggers(stack, "winkel.triggers.invoice", order, 2), 60, what="two invoices"
    )
    by_shipment = {t["shipment_id"]: t for t in invoices}
    assert units(by_shipment["82000101"]) == {"MUG-BLUE": 2, "NOTE-A5": 1, "SHIPPING": 1}
    assert units(by_shipment["82000102"]) == {"LAMP-DESK": 1, "NOTE-A5": 2}
    assert all(t["scope"] == "shipment" for t in invoices)
    total = sum(Decimal(t["totals"]["gross"]) for t in invoices)  # type: ignore[index]
    assert total == Decimal("24.20") + Decimal("79.00") + Decimal("21.78") + Decimal("4.95")


async def test_two_shipments_per_order_give_one_invoice(stack: Stack) -> None:
    await ship_in_two(stack, "shop-order", 820002)
    order = contract_uuid("shop-order", 820002)
    (invoice,) = await wait_until(
        lambda: triggers(stack, "winkel.triggers.invoice", order, 1), 60, what="the invoice"
    )
    assert units(invoice) == {"MUG-BLUE": 2, "LAMP-DESK": 1, "NOTE-A5": 3, "SHIPPING": 1}
    assert invoice["created_at"] == "2026-11-03T11:00:00Z"  # when the last unit shipped


async def test_cancellation_after_invoicing_credits_the_numbered_invoice(stack: Stack) -> None:
    order_id = 820003
    order = contract_uuid("shop-order", order_id)
    shipped = shop.fulfillment(order_id, 1, [(order_id * 10 + 501, 2), (order_id * 10 + 502, 1)])
    await post(
        stack,
        "shop-order",
        "orders/fulfilled",
        shop.order(order_id, financial_status="paid", fulfillments=[shipped]),
    )
    (invoice,) = await wait_until(
        lambda: triggers(stack, "winkel.triggers.invoice", order, 1), 60, what="the invoice"
    )
    # The invoice service answers with its number (EU VAT Directive Art. 219 needs it).
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            "winkel.invoices.issued",
            orjson.dumps(
                {
                    "schema": "winkel.invoice-issued/1",
                    "order_uuid": str(order),
                    "trigger_id": invoice["trigger_id"],
                    "invoice_number": "INV-2026-0042",
                    "invoice_date": "2026-11-03T08:00:00Z",
                }
            ),
            key=str(order).encode(),
        )
    finally:
        await producer.stop()

    await wait_until(lambda: _issued_seen(stack, order), 60, what="the invoice number applied")
    cancelled = shop.order(
        order_id,
        financial_status="refunded",
        fulfillments=[shipped],
        updated_at="2026-11-04T10:00:00+01:00",
        cancelled_at="2026-11-04T10:00:00+01:00",
    )
    await post(stack, "shop-order", "orders/cancelled", cancelled)
    (credit,) = await wait_until(
        lambda: triggers(stack, "winkel.triggers.credit-note", order, 1), 60, what="credit note"
    )
    assert credit["kind"] == "credit_note"
    assert credit["corrects"] == {
        "invoice_trigger_id": invoice["trigger_id"],
        "invoice_number": "INV-2026-0042",
        "invoice_date": "2026-11-03T08:00:00Z",
    }
    assert credit["totals"] == invoice["totals"]
    assert credit["reason"] == "order cancelled after invoicing: customer"


async def _issued_seen(stack: Stack, order: uuid.UUID) -> bool:
    """The invoice number is part of the order state once applied (read via the changelog)."""
    from models.codec import decode_state

    records = await read_topic(stack.bootstrap, "winkel-orders-orders-changelog")
    states = [decode_state(r.value) for r in records if r.key == str(order).encode()]
    return bool(states) and bool(states[-1].issued)


async def test_a_return_of_one_of_three_units_is_credited_with_its_vat(stack: Stack) -> None:
    order_id = 820004
    order = contract_uuid("shop-order", order_id)
    notes = order_id * 10 + 503
    document = shop.order(
        order_id,
        line_items=[NOTEBOOK],
        shipping_lines=[],
        financial_status="paid",
        fulfillments=[shop.fulfillment(order_id, 1, [(notes, 3)])],
    )
    await post(stack, "shop-order", "orders/fulfilled", document)
    (invoice,) = await wait_until(
        lambda: triggers(stack, "winkel.triggers.invoice", order, 1), 60, what="the invoice"
    )
    await post(
        stack,
        "shop-order",
        "refunds/create",
        {
            "id": 77001,
            "order_id": order_id,
            "created_at": "2026-11-06T09:00:00+01:00",
            "note": "one notebook returned",
            "refund_line_items": [{"line_item_id": notes, "quantity": 1, "restock_type": "return"}],
            "order_adjustments": [],
        },
    )
    (credit,) = await wait_until(
        lambda: triggers(stack, "winkel.triggers.credit-note", order, 1), 60, what="credit note"
    )
    (line,) = credit["lines"]  # type: ignore[misc]
    # 3 notebooks at 7.26 incl. 21% VAT: 21.78 with 3.78 VAT; one is 7.26 with 1.26 VAT.
    assert (line["quantity"], line["gross"], line["vat"], line["net"]) == (
        1,
        "7.26",
        "1.26",
        "6.00",
    )
    assert credit["corrects"]["invoice_trigger_id"] == invoice["trigger_id"]  # type: ignore[index]
    assert Decimal(invoice["totals"]["gross"]) - Decimal(credit["totals"]["gross"]) == Decimal(
        "14.52"
    )  # type: ignore[index]
    assert datetime.fromisoformat(credit["created_at"]).tzinfo is not None  # type: ignore[arg-type]


async def test_the_marketplace_report_of_an_operator_shipment_is_one_shipment(
    stack: Stack,
) -> None:
    from datetime import UTC

    from models.codec import decode_state, encode_command
    from models.commands import OperatorAction, OperatorCommand

    order_id = 820009
    order = contract_uuid("shop-order", order_id)
    await post(stack, "shop-order", "orders/paid", shop.order(order_id, financial_status="paid"))

    async def known() -> bool:
        records = await read_topic(stack.bootstrap, "winkel-orders-orders-changelog")
        return any(r.key == str(order).encode() for r in records)

    await wait_until(known, 60, what="the order")
    command = OperatorCommand(
        command_id=f"ship-{order_id}",
        order_uuid=order,
        operator_id="op-anna",
        action=OperatorAction.MARK_SHIPPED,
        reason="handed to PostNL at the counter",
        issued_at=datetime.now(UTC),
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            "winkel.orders.commands", encode_command(command), key=str(order).encode()
        )
    finally:
        await producer.stop()
    (invoice,) = await wait_until(
        lambda: triggers(stack, "winkel.triggers.invoice", order, 1), 60, what="the invoice"
    )
    parcel = shop.fulfillment(order_id, 1, [(order_id * 10 + 501, 2), (order_id * 10 + 502, 1)])
    await post(stack, "shop-order", "fulfillments/create", parcel)

    async def matched() -> dict[str, object] | None:
        for record in await read_topic(stack.bootstrap, "winkel.audit"):
            entry = orjson.loads(record.value)
            if entry["order_uuid"] == str(order) and "matched with" in entry["reason"]:
                return entry  # type: ignore[no-any-return]
        return None

    entry = await wait_until(matched, 60, what="the matching audit entry")
    assert entry["reason"] == (
        f"shipment {parcel['id']} ({parcel['tracking_number']}) matched with "
        f"operator:ship-{order_id}: "
        f"{order_id * 10 + 501} x2, {order_id * 10 + 502} x1 counted once"
    )
    assert (entry["from_stage"], entry["to_stage"]) == ("invoiced", "invoiced")
    records = await read_topic(stack.bootstrap, "winkel-orders-orders-changelog")
    state = [decode_state(r.value) for r in records if r.key == str(order).encode()][-1]
    assert state.stage.value == "invoiced"
    kept = {s.shipment_id: s for s in state.shipments}
    assert kept[str(parcel["id"])].location_id == "70001"  # the marketplace's data is kept
    assert kept[str(parcel["id"])].tracking_numbers == (parcel["tracking_number"],)
    assert await triggers(stack, "winkel.triggers.invoice", order, 2) is None  # one invoice
    assert invoice["scope"] == "order"
