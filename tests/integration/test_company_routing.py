"""Multi-company routing on real processes: one Shopify order, two locations, two companies.

Store `shop-split` (tests/support.py) belongs to `acme-nl`; its location 70002 is `acme-be`'s.
Order ids 880000-889999 are this module's.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest

from tests import shopify_payloads as shop
from tests.support import Stack, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
STORE = "shop-split"


def contract_uuid(external_id: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{STORE}:shopify:{external_id}")


async def post(stack: Stack, topic: str, document: object) -> None:
    body = orjson.dumps(document)
    url = f"{stack.url}/webhooks/shopify/{STORE}"
    response = await send_webhook(url, body, shop.headers(topic, body, store=STORE))
    assert response.status == 200, await response.text()


async def invoices(stack: Stack, order: uuid.UUID) -> list[dict[str, Any]]:
    records = await read_topic(stack.bootstrap, "winkel.triggers.invoice")
    return [orjson.loads(r.value) for r in records if r.key == str(order).encode()]


def units(trigger: dict[str, Any]) -> dict[str, int]:
    return {line["sku"]: line["quantity"] for line in trigger["lines"]}


async def test_a_per_order_order_shipped_from_two_companies_gets_one_invoice_each(
    stack: Stack,
) -> None:
    order_id = 880001
    order = contract_uuid(order_id)
    mug, lamp = order_id * 10 + 501, order_id * 10 + 502
    await post(stack, "orders/create", shop.order(order_id))
    first = shop.fulfillment(order_id, 1, [(mug, 1)], created_at="2026-11-02T12:00:00+01:00")
    second = dict(
        shop.fulfillment(
            order_id, 2, [(mug, 1), (lamp, 1)], created_at="2026-11-03T12:00:00+01:00"
        ),
        location_id=70002,
    )
    await post(stack, "fulfillments/create", first)  # location 70001: acme-nl
    await post(stack, "fulfillments/create", second)  # location 70002: acme-be

    found = await wait_until(
        lambda: _at_least(stack, order, 2), 90, what="an invoice trigger per company"
    )
    await asyncio.sleep(2)  # and no third one
    assert len(await invoices(stack, order)) == len(found) == 2
    by_company = {t["company_id"]: t for t in found}
    nl, be = by_company["acme-nl"], by_company["acme-be"]
    assert units(nl) == {"MUG-BLUE": 1, "SHIPPING": 1}  # charges: the company that shipped first
    assert units(be) == {"MUG-BLUE": 1, "LAMP-DESK": 1}
    assert nl["trigger_id"] == str(uuid.uuid5(order, "trigger:invoice:order:0"))
    assert be["trigger_id"] == str(uuid.uuid5(order, "trigger:invoice:order:0@acme-be"))
    assert nl["scope"] == be["scope"] == "order"
    assert nl["created_at"] == be["created_at"] == "2026-11-03T11:00:00Z"  # fully shipped
    # Each company's own VAT decision: Dutch sale at home, Belgian company's distance sale.
    assert (nl["vat"]["scheme"], nl["vat"]["country"]) == ("domestic", "NL")
    assert (be["vat"]["scheme"], be["vat"]["country"]) == ("oss", "NL")
    gross = sum(Decimal(t["totals"]["gross"]) for t in found)
    assert gross == Decimal("24.20") + Decimal("79.00") + Decimal("4.95")


async def _at_least(stack: Stack, order: uuid.UUID, count: int) -> list[dict[str, Any]] | None:
    found = await invoices(stack, order)
    return found if len(found) >= count else None
