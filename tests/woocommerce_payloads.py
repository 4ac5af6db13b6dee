"""WooCommerce payloads written from the documented REST v3 shapes (docs/marketplaces.md §4).

Times: `*_gmt` fields carry no offset and are UTC; the site-local twins are one hour ahead
(a store in Amsterdam in winter). Money is strings; `price` is a number. Line `total` and
`total_tax` are after discounts and `total` is tax-exclusive, whatever `prices_include_tax`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

SECRET = "test-woocommerce-secret"
SOURCE = "https://winkel-demo.example/"

#: 2 mugs at 12.10 incl. 21% BTW: 20.00 net + 4.20 VAT.
MUG = {
    "id": 1,
    "name": "Stoneware mug, blue",
    "product_id": 93,
    "variation_id": 0,
    "quantity": 2,
    "tax_class": "",
    "subtotal": "20.00",
    "subtotal_tax": "4.20",
    "total": "20.00",
    "total_tax": "4.20",
    "taxes": [{"id": 1, "total": "4.2", "subtotal": "4.2"}],
    "meta_data": [],
    "sku": "MUG-BLUE",
    "price": 10,
}
#: 1 lamp at 79.00 incl. 21% BTW: 65.29 net + 13.71 VAT.
LAMP = {
    "id": 2,
    "name": "Desk lamp &ndash; brass",
    "product_id": 22,
    "variation_id": 23,
    "quantity": 1,
    "tax_class": "",
    "subtotal": "65.29",
    "subtotal_tax": "13.71",
    "total": "65.29",
    "total_tax": "13.71",
    "taxes": [{"id": 1, "total": "13.7107", "subtotal": "13.7107"}],
    "meta_data": [{"id": 2095, "key": "pa_finish", "value": "brass"}],
    "sku": "LAMP-DESK",
    "price": 65.29,
}
#: Shipping 4.95 incl. 21% BTW.
POSTNL = {
    "id": 9,
    "method_title": "PostNL Standaard",
    "method_id": "flat_rate",
    "instance_id": "1",
    "total": "4.09",
    "total_tax": "0.86",
    "taxes": [{"id": 1, "total": "0.86", "subtotal": ""}],
    "meta_data": [],
}
GIFT_WRAP = {
    "id": 8,
    "name": "Cadeauverpakking &amp; kaartje",
    "tax_class": "",
    "tax_status": "taxable",
    "amount": "2.50",
    "total": "2.07",
    "total_tax": "0.43",
    "taxes": [{"id": 1, "total": "0.43", "subtotal": ""}],
    "meta_data": [],
}
BTW_21 = {
    "id": 99,
    "rate_code": "NL-BTW-1",
    "rate_id": 1,
    "label": "BTW",
    "compound": False,
    "tax_total": "17.91",
    "shipping_tax_total": "0.86",
    "rate_percent": 21,
    "meta_data": [],
}


def address(
    *, country: str = "NL", company: str | None = "", first: str = "Sanne", last: str = "de Vries"
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "first_name": first,
        "last_name": last,
        "address_1": "Oudegracht 1",
        "address_2": "",
        "city": "Utrecht",
        "state": "",
        "postcode": "3511 AA",
        "country": country,
    }
    if company is not None:  # None: the key is absent, as some checkouts leave it
        fields["company"] = company
    return fields


def order(
    order_id: int,
    *,
    status: str = "processing",
    prices_include_tax: bool = True,
    created: str = "2026-11-02T08:55:00",
    modified: str = "2026-11-02T09:00:00",
    paid: str | None = "2026-11-02T08:56:00",
    completed: str | None = None,
    line_items: list[dict[str, Any]] | None = None,
    shipping_lines: list[dict[str, Any]] | None = None,
    fee_lines: list[dict[str, Any]] | None = None,
    tax_lines: list[dict[str, Any]] | None = None,
    billing: dict[str, Any] | list[Any] | None = None,
    shipping: dict[str, Any] | list[Any] | None = None,
    meta_data: list[dict[str, Any]] | None = None,
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An order as `GET /wp-json/wc/v3/orders/{id}` (and every order webhook) returns it.

    Line item ids are `order_id * 10 + id` of the templates above, as unique as WooCommerce's.
    """
    items = [dict(item, id=order_id * 10 + item["id"]) for item in (line_items or [MUG, LAMP])]

    def local(gmt: str | None) -> str | None:
        if gmt is None:
            return None
        return (datetime.fromisoformat(gmt) + timedelta(hours=1)).isoformat()

    return {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": f"wc_order_{order_id}abc",
        "created_via": "checkout",
        "version": "9.4.2",
        "status": status,
        "currency": "EUR",
        "date_created": local(created),
        "date_created_gmt": created,
        "date_modified": local(modified),
        "date_modified_gmt": modified,
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": "4.09",
        "shipping_tax": "0.86",
        "cart_tax": "17.91",
        "total": "108.15",
        "total_tax": "18.77",
        "prices_include_tax": prices_include_tax,
        "customer_id": 0,
        "customer_ip_address": "192.0.2.10",
        "customer_user_agent": "Mozilla/5.0",
        "customer_note": "",
        "billing": (
            {**address(), "email": "sanne@example.com", "phone": "+31 30 123 4567"}
            if billing is None
            else billing
        ),
        "shipping": address() if shipping is None else shipping,
        "payment_method": "mollie_wc_gateway_ideal",
        "payment_method_title": "iDEAL",
        "transaction_id": "tr_WDqYK6vllg" if paid else "",
        "date_paid": local(paid),
        "date_paid_gmt": paid,
        "date_completed": local(completed),
        "date_completed_gmt": completed,
        "cart_hash": "4c3b5e4d0a0b1c2d3e4f5a6b7c8d9e0f",
        "meta_data": meta_data or [],
        "line_items": items,
        "tax_lines": [BTW_21] if tax_lines is None else tax_lines,
        "shipping_lines": [POSTNL] if shipping_lines is None else shipping_lines,
        "fee_lines": fee_lines or [],
        "coupon_lines": [],
        "refunds": refunds or [],
        "_links": {
            "self": [{"href": f"https://winkel-demo.example/wp-json/wc/v3/orders/{order_id}"}],
            "collection": [{"href": "https://winkel-demo.example/wp-json/wc/v3/orders"}],
        },
    }


#: `GET /wp-json/wc/v3/orders/723/refunds`, as the REST docs list it (newest first): a
#: money-only refund, and one of a single unit of line item 311.
DOCUMENTED_REFUNDS = [
    {
        "id": 726,
        "date_created": "2017-03-21T17:07:11",
        "date_created_gmt": "2017-03-21T20:07:11",
        "amount": "10.00",
        "reason": "",
        "refunded_by": 1,
        "refunded_payment": False,
        "meta_data": [],
        "line_items": [],
        "_links": {"self": [{"href": "https://example.com/wp-json/wc/v3/orders/723/refunds/726"}]},
    },
    {
        "id": 724,
        "date_created": "2017-03-21T16:55:37",
        "date_created_gmt": "2017-03-21T19:55:37",
        "amount": "9.00",
        "reason": "",
        "refunded_by": 1,
        "refunded_payment": False,
        "meta_data": [],
        "line_items": [
            {
                "id": 314,
                "name": "Woo Album #2",
                "product_id": 87,
                "variation_id": 0,
                "quantity": -1,
                "tax_class": "",
                "subtotal": "-9.00",
                "subtotal_tax": "0.00",
                "total": "-9.00",
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [{"id": 2076, "key": "_refunded_item_id", "value": "311"}],
                "sku": "",
                "price": -9,
            }
        ],
        "_links": {"self": [{"href": "https://example.com/wp-json/wc/v3/orders/723/refunds/724"}]},
    },
]


def refund_line(
    refunded_item_id: int, quantity: int, total: str, total_tax: str, line_id: int = 500
) -> dict[str, Any]:
    """A refund line item: negative quantity and amounts, pointing back at the order line."""
    return {
        "id": line_id,
        "name": "Stoneware mug, blue",
        "product_id": 93,
        "variation_id": 0,
        "quantity": -quantity,
        "tax_class": "",
        "subtotal": total,
        "subtotal_tax": total_tax,
        "total": total,
        "total_tax": total_tax,
        "taxes": [{"id": 1, "total": total_tax, "subtotal": total_tax}],
        "meta_data": [
            {"id": line_id + 1, "key": "_refunded_item_id", "value": str(refunded_item_id)}
        ],
        "sku": "MUG-BLUE",
        "price": -10,
    }


def headers(
    topic: str,
    body: bytes,
    *,
    secret: str = SECRET,
    delivery_id: str = "f3c8e1d0a9b8c7d6e5f4a3b2c1d0e9f8",
    source: str = SOURCE,
) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    resource, event = topic.split(".", 1)
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


def body(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def gmt(moment: datetime) -> str:
    """A time as WooCommerce's `*_gmt` fields write it: UTC, no offset, whole seconds."""
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def damaged_mug_refund(refund_id: int, order_id: int, at: datetime) -> dict[str, Any]:
    """One mug of `order(order_id)` refunded at `at` (10.00 + 2.10 VAT), as
    `GET /orders/{id}/refunds` lists it."""
    mug_line = order_id * 10 + MUG["id"]
    return {
        "id": refund_id,
        "date_created": gmt(at),
        "date_created_gmt": gmt(at),
        "amount": "12.10",
        "reason": "Beschadigd ontvangen",
        "refunded_by": 1,
        "refunded_payment": True,
        "meta_data": [],
        "line_items": [refund_line(mug_line, 1, "-10.00", "-2.10")],
        "shipping_lines": [],
        "tax_lines": [],
        "fee_lines": [],
    }
