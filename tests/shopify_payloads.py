"""Shopify webhook payloads written from the documented REST shapes (docs/marketplaces.md §3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import orjson

from tests.support import SECRET

MUG = {
    "id": 501,
    "sku": "MUG-BLUE",
    "name": "Stoneware mug, blue",
    "quantity": 2,
    "price": "12.10",
    "tax_lines": [{"title": "BTW", "price": "4.20", "rate": 0.21}],
}
LAMP = {
    "id": 502,
    "sku": "LAMP-DESK",
    "name": "Desk lamp, brass",
    "quantity": 1,
    "price": "79.00",
    "tax_lines": [{"title": "BTW", "price": "13.71", "rate": 0.21}],
}
POSTNL = {
    "id": 901,
    "title": "PostNL Standard",
    "price": "4.95",
    "tax_lines": [{"title": "BTW", "price": "0.86", "rate": 0.21}],
}


def order(
    order_id: int,
    *,
    updated_at: str = "2026-11-02T10:00:00+01:00",
    financial_status: str = "pending",
    line_items: list[dict[str, Any]] | None = None,
    shipping_lines: list[dict[str, Any]] | None = None,
    fulfillments: list[dict[str, Any]] | None = None,
    cancelled_at: str | None = None,
    taxes_included: bool = True,
    country: str = "NL",
    company: str | None = None,
) -> dict[str, Any]:
    items = [dict(item, id=order_id * 10 + item["id"]) for item in (line_items or [MUG, LAMP])]
    address = {
        "first_name": "Sanne",
        "last_name": "de Vries",
        "company": company,
        "address1": "Oudegracht 1",
        "city": "Utrecht",
        "zip": "3511 AA",
        "country_code": country,
    }
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "order_number": order_id,
        "email": "sanne@example.com",
        "created_at": "2026-11-02T09:55:00+01:00",
        "updated_at": updated_at,
        "cancelled_at": cancelled_at,
        "cancel_reason": "customer" if cancelled_at else None,
        "currency": "EUR",
        "financial_status": financial_status,
        "fulfillment_status": None,
        "taxes_included": taxes_included,
        "line_items": items,
        "shipping_lines": [POSTNL] if shipping_lines is None else shipping_lines,
        "billing_address": address,
        "shipping_address": address,
        "customer": {"id": 77, "first_name": "Sanne", "last_name": "de Vries"},
        "fulfillments": fulfillments or [],
    }


def fulfillment(
    order_id: int,
    number: int,
    lines: list[tuple[int, int]],
    created_at: str = "2026-11-02T15:00:00+01:00",
) -> dict[str, Any]:
    """A successful fulfillment of (line item id, quantity) pairs."""
    return {
        "id": order_id * 100 + number,
        "order_id": order_id,
        "status": "success",
        "created_at": created_at,
        "updated_at": created_at,
        "location_id": 70001,
        "tracking_number": f"3STEST{order_id}{number}",
        "line_items": [{"id": line_id, "quantity": quantity} for line_id, quantity in lines],
    }


#: The `shop_domain` of each Shopify store in the test config (tests/support.py): a delivery
#: must name its store's shop, or it is refused.
SHOP_DOMAINS = {
    "shop-order": "acme.myshopify.com",
    "shop-shipment": "acme-eu.myshopify.com",
    "shop-vat": "drempel.myshopify.com",
    "shop-split": "acme-split.myshopify.com",
}


def headers(
    topic: str,
    body: bytes,
    *,
    secret: str = SECRET,
    webhook_id: str | None = None,
    store: str = "shop-order",
    shop_domain: str | None = None,
) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Shop-Domain": shop_domain or SHOP_DOMAINS.get(store, f"{store}.myshopify.com"),
        "X-Shopify-Triggered-At": "2026-11-02T09:00:00.000Z",
        "X-Shopify-API-Version": "2026-01",
    }


def body(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)
