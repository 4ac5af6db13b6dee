"""The VAT step on real processes: OSS threshold per company, reverse charge, the gauge.

Company `vat-nl` (store `shop-vat`, tests/support.py) is Dutch and not OSS-registered, and
this module is its only user; order ids 870000-879999.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from tests import shopify_payloads as shop
from tests.support import VIEWER, Stack, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
STORE = "shop-vat"
PIANO = {
    "id": 601,
    "sku": "PIANO-UPRIGHT",
    "name": "Upright piano",
    "quantity": 1,
    "price": "9990.00",
    "tax_lines": [{"title": "BTW", "price": "2097.90", "rate": 0.21}],
}


def contract_uuid(external_id: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{STORE}:shopify:{external_id}")


async def post(stack: Stack, topic: str, document: object) -> None:
    body = orjson.dumps(document)
    url = f"{stack.url}/webhooks/shopify/{STORE}"
    response = await send_webhook(url, body, shop.headers(topic, body, store=STORE))
    assert response.status == 200, await response.text()


async def shipped(stack: Stack, document: dict[str, Any]) -> dict[str, Any]:
    """Post an order as fulfilled in full and wait for its one invoice trigger."""
    order_id = document["id"]
    lines = [(item["id"], item["quantity"]) for item in document["line_items"]]
    document = dict(document, fulfillments=[shop.fulfillment(order_id, 1, lines)])
    await post(stack, "orders/fulfilled", document)
    key = str(contract_uuid(order_id)).encode()

    async def invoice() -> dict[str, Any] | None:
        records = await read_topic(stack.bootstrap, "winkel.triggers.invoice")
        found = [orjson.loads(r.value) for r in records if r.key == key]
        return found[0] if found else None

    found: dict[str, Any] = await wait_until(invoice, 90, what=f"invoice of {order_id}")
    return found


def amounts(trigger: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return [(x["sku"], x["vat_rate"], x["net"], x["vat"], x["gross"]) for x in trigger["lines"]]


async def test_cross_border_consumer_sales_switch_to_destination_vat_over_the_threshold(
    stack: Stack,
) -> None:
    # 1. 9,990.00 net to a German consumer: under EUR 10,000, so Dutch VAT (21%).
    big = shop.order(
        870001, line_items=[PIANO], shipping_lines=[], taxes_included=False, country="DE"
    )
    first = await shipped(stack, big)
    assert (first["vat"]["scheme"], first["vat"]["country"]) == ("domestic", "NL")
    # 9990.00 x 0.21 = 2097.90
    assert amounts(first) == [("PIANO-UPRIGHT", "0.21", "9990.00", "2097.90", "12087.90")]

    # 2. Two mugs (24.20), a lamp (79.00) and shipping (4.95), VAT-inclusive, to Germany.
    # Counted at the Dutch rate: net 20.00 + 65.29 + 4.09 = 89.38, so the total goes to
    # EUR 10,079.38 > 10,000 and this sale itself takes German VAT (19%), re-split per line:
    # 24.20 x 0.19 / 1.19 = 3.864 -> 3.86; 79.00 x 0.19 / 1.19 = 12.613 -> 12.61;
    # 4.95 x 0.19 / 1.19 = 0.790 -> 0.79. (Shopify's own tax lines said 21%: here the law,
    # not the marketplace's tax lines, sets the numbers.)
    second = await shipped(stack, shop.order(870002, country="DE"))
    assert (second["vat"]["scheme"], second["vat"]["country"]) == ("oss", "DE")
    assert amounts(second) == [
        ("MUG-BLUE", "0.19", "20.34", "3.86", "24.20"),
        ("LAMP-DESK", "0.19", "66.39", "12.61", "79.00"),
        ("SHIPPING", "0.19", "4.16", "0.79", "4.95"),
    ]
    assert second["totals"] == {"net": "90.89", "vat": "17.26", "gross": "108.15"}
    assert second["vat"]["tax_point"] == "2026-11-02"

    # 3. The gauge and the 80% / 100% events, from winkel.analytics.
    async def levels() -> list[str] | None:
        records = await read_topic(stack.bootstrap, "winkel.analytics")
        events = [orjson.loads(r.value) for r in records if r.key == b"vat-nl"]
        reached = [e["level"] for e in events if e["type"] == "vat.threshold_reached"]
        return reached if len(reached) >= 2 else None

    assert await wait_until(levels, 60, what="threshold events") == ["80_percent", "100_percent"]

    async def gauge() -> dict[str, Any] | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{stack.url}/api/vat/thresholds", headers=VIEWER) as response,
        ):
            rows = (await response.json())["thresholds"]
        row = next((r for r in rows if r["company_id"] == "vat-nl"), None)
        return row if row and Decimal(row["total_eur"]) > 10_000 else None

    row = await wait_until(gauge, 60, what="the threshold gauge")
    assert row["year"] == 2026
    assert Decimal(row["total_eur"]) == Decimal("10079.38")  # 9,990.00 + 89.38
    assert row["destination_vat"] is True


async def test_a_business_with_a_vat_id_is_reverse_charged_and_named_on_the_trigger(
    stack: Stack,
) -> None:
    document = shop.order(870101, country="DE", company="Weber GmbH")
    document["note_attributes"] = [{"name": "vat_number", "value": "DE 136695976"}]
    invoice = await shipped(stack, document)
    assert invoice["vat"]["scheme"] == "reverse_charge"
    assert invoice["vat"]["country"] == "NL"
    assert invoice["vat"]["customer_vat_id"] == "DE136695976"
    assert "Art. 138" in invoice["vat"]["exemption"]
    assert invoice["customer"]["vat_id"] == "DE136695976"
    assert invoice["customer"]["is_business"] is True
    # 0%: the prices as stated, no VAT
    assert invoice["totals"] == {"net": "108.15", "vat": "0.00", "gross": "108.15"}
