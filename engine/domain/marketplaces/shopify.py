"""Shopify: signed webhooks carrying REST order, fulfillment and refund resources.

Facts in docs/marketplaces.md §3. Every fact gets an id derived from Shopify's
own ids (order, fulfillment) so that `orders/fulfilled`, `fulfillments/create` and their retries
all describe one shipment once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError, SourceMismatch
from engine.domain.marketplaces._document import ApiDocument
from engine.domain.marketplaces._door import hmac_sha256_base64, verify_hmac
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.money import ZERO, parse_amount
from models.codec import DecodeError, parse_utc
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    RefundIssued,
    ShipmentSent,
)
from models.order import (
    Cancellation,
    Customer,
    LineKind,
    LineQuantity,
    Marketplace,
    OrderDetails,
    OrderLine,
    Refund,
    Shipment,
)
from models.raw import RawDelivery

MARKETPLACE = Marketplace.SHOPIFY
SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
DELIVERY_HEADER = "X-Shopify-Webhook-Id"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
#: Headers kept with the raw delivery (the signature is checked at the door and dropped).
KEPT_HEADERS = (
    TOPIC_HEADER,
    DELIVERY_HEADER,
    "X-Shopify-Event-Id",
    SHOP_DOMAIN_HEADER,
    "X-Shopify-Triggered-At",
    "X-Shopify-API-Version",
)
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/edited",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
REFUND_TOPIC = "refunds/create"
PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
SHIPPED_FULFILLMENT_STATUSES = frozenset({"success"})
#: Order `note_attributes` (cart attributes) that may hold a business customer's VAT id or
#: company name, first match wins; a store's `vat_id_fields` / `company_fields` replace them.
#: Shopify has no VAT id field of its own; B2B checkouts and VAT apps write cart attributes.
VAT_ID_ATTRIBUTES = ("vat_number", "VAT number", "vat_id", "VAT ID", "btw_nummer", "BTW-nummer")
COMPANY_ATTRIBUTES = ("company", "Company", "company_name")
UNKNOWN_CUSTOMER = "Unknown customer"


def sign(body: bytes, secret: bytes) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends for `body`."""
    return hmac_sha256_base64(body, secret)


def verify(body: bytes, headers: Mapping[str, str], secrets: Iterable[bytes]) -> None:
    """Accept the delivery if its HMAC matches any current secret (rotations overlap ~1 h)."""
    verify_hmac(body, headers, secrets, SIGNATURE_HEADER)


def check_source(headers: Mapping[str, str], store: Store) -> None:
    """Refuse a delivery whose `X-Shopify-Shop-Domain` is not the store's `shop_domain`.

    Every shop that installed an app signs with the app's one secret, so a valid HMAC does not
    say which shop the order is from; another shop's order must never be invoiced by this
    store's company. A store without `shop_domain` is not checked.
    """
    if store.shop_domain is None:
        return
    given = headers.get(SHOP_DOMAIN_HEADER, "")
    if given.strip().lower() != store.shop_domain.strip().lower():
        raise SourceMismatch(
            f"{SHOP_DOMAIN_HEADER} {given[:255]!r} is not the shop of store {store.id!r}"
        )


def delivery_id(headers: Mapping[str, str]) -> str | None:
    return headers.get(DELIVERY_HEADER) or None


def topic(headers: Mapping[str, str]) -> str | None:
    return headers.get(TOPIC_HEADER) or None


def external_order_id(delivery_topic: str, body: bytes) -> str | None:
    """The Shopify order a delivery is about, if the body says so plainly.

    Used at the door to key the raw record by order, which keeps one order's deliveries in
    the order they arrived; anything unreadable is left to the normaliser to dead-letter.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    value = document.get("id" if delivery_topic in ORDER_TOPICS else "order_id")
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


# --- normalisation -------------------------------------------------------------------------


class _Doc(ApiDocument):
    """Typed reads from a Shopify JSON object; every failure names the field."""

    STRIP_TEXT = False

    def required(self, key: str) -> Any:
        value = self.data.get(key)
        if value is None:
            raise NormalisationError(f"{self.path}.{key} is missing")
        return value

    def ident(self, key: str) -> str:
        value = self.required(key)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise NormalisationError(f"{self.path}.{key} must be an id, got {value!r}")
        return str(value)

    def time(self, key: str) -> datetime:
        try:
            return parse_utc(self.text(key) or "", f"{self.path}.{key}")
        except DecodeError as exc:
            raise NormalisationError(str(exc)) from None

    def opt_time(self, key: str) -> datetime | None:
        return None if self.data.get(key) is None else self.time(key)

    def amount(self, key: str, default: Decimal | None = None) -> Decimal:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        return parse_amount(value, f"{self.path}.{key}")

    def quantity(self, key: str) -> int:
        value = self.required(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NormalisationError(f"{self.path}.{key} must be a count, got {value!r}")
        return value


def _shipping_line_id(item: _Doc, index: int, defaulted: list[str]) -> str:
    """A shipping line's id; older API versions and some apps send shipping lines without one.

    The id derived instead is the line's position, so every delivery of the order gives the
    same line the same id (an order's shipping lines are not reordered); `defaulted` records
    the fill-in for the audit.
    """
    if item.get("id") is not None:
        return item.ident("id")
    derived = f"derived-{index}"
    defaulted.append(f"{item.path}.id: missing, derived shipping:{derived} from its position")
    return derived


def _line(
    item: _Doc,
    taxes_included: bool,
    kind: LineKind,
    line_id: str | None = None,
    defaulted: list[str] | None = None,
) -> OrderLine:
    quantity = item.quantity("quantity") if kind is LineKind.PRODUCT else 1
    price = item.amount("price")
    discount = sum((d.amount("amount") for d in item.children("discount_allocations")), ZERO)
    taxes = item.children("tax_lines")
    tax = sum((t.amount("price") for t in taxes), ZERO)
    rate = sum((t.amount("rate") for t in taxes), Decimal(0))
    charged = price * quantity - discount
    net, gross = (charged - tax, charged) if taxes_included else (charged, charged + tax)
    line_id = line_id if line_id is not None else item.ident("id")
    if kind is LineKind.PRODUCT:
        sku = item.text("sku") or f"shopify-variant-{item.get('variant_id') or line_id}"
        if not item.text("sku") and defaulted is not None:
            # The SKU picks the VAT category (`[vat.categories]`): without one, `standard`.
            defaulted.append(f"{item.path}.sku: missing, used {sku}")
        description = item.text("name") or item.text("title") or sku
    else:
        line_id, sku = f"shipping:{line_id}", "SHIPPING"
        description = item.text("title") or "Shipping"
    return OrderLine(
        line_id=line_id,
        sku=sku,
        description=description,
        quantity=quantity,
        net=net,
        vat=tax,
        gross=gross,
        vat_rate=rate,
        kind=kind,
    )


def _attribute(order: _Doc, names: Iterable[str]) -> str:
    """The first non-empty `note_attributes` value among `names` (in the order of `names`)."""
    values: dict[str, str] = {}
    for attribute in order.children("note_attributes"):
        name, value = attribute.get("name"), attribute.get("value")
        if isinstance(name, str) and isinstance(value, str) and value.strip():
            values.setdefault(name, value.strip())
    return next((values[name] for name in names if name in values), "")


def _customer(order: _Doc, store: Store, defaulted: list[str]) -> Customer:
    billing = order.child("billing_address")
    shipping = order.child("shipping_address")
    person = order.child("customer")
    address = billing or shipping
    company = address.text("company").strip() if address else ""
    company = company or _attribute(order, store.company_fields or COMPANY_ATTRIBUTES)
    raw_vat_id = _attribute(order, store.vat_id_fields or VAT_ID_ATTRIBUTES)
    vat_id = "".join(raw_vat_id.split()).upper() or None
    named = address or person
    person_name = ""
    if named is not None:
        person_name = f"{named.text('first_name')} {named.text('last_name')}".strip()
        person_name = person_name or named.text("name").strip()
    country_source = shipping or billing
    country = country_source.text("country_code").upper() or None if country_source else None
    name = company or person_name or order.text("email")
    if not name:
        name = UNKNOWN_CUSTOMER
        defaulted.append(f"$.customer: no company, name or email, used {name!r}")
    return Customer(
        name=name,
        country=country,
        vat_id=vat_id,
        is_business=bool(company) or vat_id is not None,
        email=order.text("email") or None,
    )


def _shipment(fulfillment: _Doc) -> Shipment | None:
    if fulfillment.text("status") not in SHIPPED_FULFILLMENT_STATUSES:
        return None
    location = fulfillment.get("location_id")
    return Shipment(
        shipment_id=fulfillment.ident("id"),
        shipped_at=fulfillment.time("created_at"),
        lines=tuple(
            LineQuantity(line_id=item.ident("id"), quantity=item.quantity("quantity"))
            for item in fulfillment.children("line_items")
        ),
        location_id=None if location is None else str(location),
        carrier=fulfillment.text("tracking_company") or None,
        tracking_numbers=_tracking_numbers(fulfillment),
        ship_from_country=_origin_country(fulfillment),
    )


def _tracking_numbers(fulfillment: _Doc) -> tuple[str, ...]:
    """`tracking_numbers`, else the single `tracking_number` (older API versions)."""
    numbers = fulfillment.get("tracking_numbers")
    if not isinstance(numbers, list):
        numbers = [fulfillment.get("tracking_number")]
    return tuple(dict.fromkeys(n.strip() for n in numbers if isinstance(n, str) and n.strip()))


def _origin_country(fulfillment: _Doc) -> str | None:
    """The fulfillment's `origin_address.country_code` (REST 2021-10+), where it is given."""
    origin = fulfillment.child("origin_address")
    country = "" if origin is None else origin.text("country_code").strip().upper()
    return country or None


class _Events(OrderEvents):
    """The events of one delivery's order, with ids derived from Shopify's ids."""

    def __init__(self, delivery: RawDelivery, store: Store, external_order_id: str) -> None:
        source = f"webhook:{delivery.delivery_id}"
        super().__init__(MARKETPLACE, store, external_order_id, delivery.received_at, source)

    def refund(self, refund: _Doc) -> OrderEvent:
        """A Shopify refund: refunded line items (units) and shipping refunds (money).

        Shopify writes order adjustments as negative amounts; a shipping refund of 4.95 with
        0.86 tax comes as amount -4.09 and tax_amount -0.86.
        """
        refunded_at = refund.time("created_at")
        lines = tuple(
            LineQuantity(item.ident("line_item_id"), item.quantity("quantity"))
            for item in refund.children("refund_line_items")
        )
        money = -sum(
            (
                adjustment.amount("amount") + adjustment.amount("tax_amount", ZERO)
                for adjustment in refund.children("order_adjustments")
                if adjustment.text("kind") == "shipping_refund"
            ),
            ZERO,
        )
        note = refund.text("note") or None
        record = Refund(refund.ident("id"), refunded_at, lines, money, note)
        return self.make(f"refund:{record.refund_id}", refunded_at, RefundIssued(record))

    def shipment(self, fulfillment: _Doc) -> OrderEvent | None:
        shipment = _shipment(fulfillment)
        if shipment is None:
            return None
        return self.make(
            f"fulfillment:{shipment.shipment_id}", shipment.shipped_at, ShipmentSent(shipment)
        )


def _order_events(delivery: RawDelivery, store: Store, order: _Doc) -> list[OrderEvent]:
    events = _Events(delivery, store, order.ident("id"))
    updated_at = order.time("updated_at")
    taxes_included = order.get("taxes_included") is True
    line_items = order.children("line_items")
    if not line_items:
        raise NormalisationError("$.line_items is empty or missing")
    defaulted: list[str] = []
    lines = tuple(
        _line(item, taxes_included, LineKind.PRODUCT, defaulted=defaulted) for item in line_items
    ) + tuple(
        _line(item, taxes_included, LineKind.SHIPPING, _shipping_line_id(item, index, defaulted))
        for index, item in enumerate(order.children("shipping_lines"))
    )
    details = OrderDetails(
        name=order.text("name") or f"#{order.get('order_number') or order.ident('id')}",
        currency=order.text("currency").upper() or _missing("$.currency"),
        customer=_customer(order, store, defaulted),
        lines=lines,
        placed_at=order.time("created_at"),
        as_of=updated_at,
        prices_include_vat=taxes_included,
        defaulted=tuple(defaulted),
    )
    result = [
        events.make(f"details@{updated_at.isoformat()}", updated_at, DetailsReported(details))
    ]
    if order.text("financial_status") in PAID_STATUSES:
        result.append(
            events.make(f"paid@{updated_at.isoformat()}", updated_at, PaymentCaptured(updated_at))
        )
    result.extend(filter(None, (events.shipment(f) for f in order.children("fulfillments"))))
    cancelled_at = order.opt_time("cancelled_at")
    if cancelled_at is not None:
        reason = order.text("cancel_reason") or None
        cancellation = Cancellation("order", cancelled_at, reason)
        result.append(events.make("cancelled", cancelled_at, OrderCancelled(cancellation)))
    result.extend(events.refund(refund) for refund in order.children("refunds"))
    return result


def _missing(path: str) -> str:
    raise NormalisationError(f"{path} is missing")


def normalise(delivery: RawDelivery, store: Store) -> list[OrderEvent]:
    """The order events one verified Shopify delivery carries."""
    body = _Doc.parse(delivery.body)
    if delivery.topic in ORDER_TOPICS:
        return _order_events(delivery, store, body)
    if delivery.topic == REFUND_TOPIC:
        return [_Events(delivery, store, body.ident("order_id")).refund(body)]
    if delivery.topic in FULFILLMENT_TOPICS:
        event = _Events(delivery, store, body.ident("order_id")).shipment(body)
        return [] if event is None else [event]
    raise NormalisationError(f"Shopify topic {delivery.topic!r} is not handled (yet)")
