"""WooCommerce: signed webhooks carrying REST v3 order resources, and the `modified_after` poll.

Facts in docs/marketplaces.md §4. WooCommerce never retries a failed delivery
and its Delivery-ID is weak, so the poll is not a fallback but half of the truth; every event id
is derived from WooCommerce's own ids and times, so a webhook, a duplicate firing and a polled
copy of the same change are one event.

Order status -> events. Every order body reports its details (`DetailsReported`, as of
`date_modified_gmt`) and, when `date_paid_gmt` is set, `PaymentCaptured`, whatever the status:
payment is a fact of its own. Besides those:

- `pending`, `on-hold`, `processing`, `ready-for-pickup`: nothing (awaiting payment or
  fulfilment);
- `completed`: `ShipmentSent` "completed" for every unit; WooCommerce has no partial shipments;
- `cancelled`, `failed`: a whole-order `OrderCancelled` "status";
- `refunded`: `RefundIssued` "status-refunded" for everything, but only when the order lists
  no refunds of its own (those come itemised from `/orders/{id}/refunds`, see
  `refund_events`); plus the shipment when `date_completed_gmt` shows it was completed first;
- `checkout-draft`, `draft`, `auto-draft`, `new`: no events at all, a basket is not an order;
- `trash` (seen by the poll) and the `order.deleted` topic: whole-order `OrderCancelled`
  "deleted";
- anything else (statuses registered by extensions): nothing, kept as details, never guessed.

Cancellations can be taken back: a later snapshot that is not `trash` withdraws "deleted"
(`order.restored`), and one in a live status (`pending`, `on-hold`, `processing`,
`ready-for-pickup`, `completed`) withdraws "status" (`CancellationWithdrawn`), so an order
cancelled for want of payment and then paid is invoiced after all. What was already credited
stays credited (the lifecycle refuses such a withdrawal and says so in the audit).

`order.deleted` carries only `{"id": …}`: a seller who trashes an order means it is off, so it
becomes a whole-order cancellation (reason "deleted in WooCommerce"), which is also what keeps
a trashed, never-shipped order from being invoiced. `order.restored` carries the full order
again and is normalised like `order.updated`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError, SourceMismatch, WinkelError
from engine.domain.marketplaces._document import Document
from engine.domain.marketplaces._door import (
    header_value,
    hmac_sha256_base64,
    json_object,
    verify_hmac,
)
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.money import ZERO, parse_amount, to_cents
from models.events import (
    CancellationWithdrawn,
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
    Withdrawal,
)
from models.raw import RawDelivery

MARKETPLACE = Marketplace.WOOCOMMERCE
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
RESOURCE_HEADER = "X-WC-Webhook-Resource"
EVENT_HEADER = "X-WC-Webhook-Event"
WEBHOOK_ID_HEADER = "X-WC-Webhook-ID"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
SOURCE_HEADER = "X-WC-Webhook-Source"
#: Headers kept with the raw delivery (the signature is checked at the door and dropped).
KEPT_HEADERS = (
    TOPIC_HEADER,
    RESOURCE_HEADER,
    EVENT_HEADER,
    WEBHOOK_ID_HEADER,
    DELIVERY_HEADER,
    SOURCE_HEADER,
)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

CREATED_TOPIC = "order.created"
UPDATED_TOPIC = "order.updated"
DELETED_TOPIC = "order.deleted"
RESTORED_TOPIC = "order.restored"
#: Not a WooCommerce topic: the engine's own name for an order read by the `modified_after`
#: poll, so the same normaliser handles it and its events say where they came from.
POLLED_TOPIC = "order.polled"
ORDER_TOPICS = frozenset({CREATED_TOPIC, UPDATED_TOPIC, RESTORED_TOPIC, POLLED_TOPIC})

#: Statuses that add nothing to details and payment; named so the mapping is complete here.
PENDING_STATUSES = frozenset({"pending", "on-hold", "processing", "ready-for-pickup"})
SHIPPED_STATUS = "completed"
CANCELLED_STATUSES = frozenset({"cancelled", "failed"})
REFUNDED_STATUS = "refunded"
DELETED_STATUS = "trash"
DRAFT_STATUSES = frozenset({"checkout-draft", "draft", "auto-draft", "new"})
#: A snapshot in one of these shows the order going ahead: an older "status" cancellation
#: (cancelled, or failed payment) is withdrawn, as when a late payment revives an order that
#: WooCommerce's hold-stock timeout had cancelled.
LIVE_STATUSES = PENDING_STATUSES | {SHIPPED_STATUS}

#: Order meta keys that may hold the customer's VAT id, first match wins. These are the keys
#: common EU VAT plugins write; a store-level config field should override them (see report).
VAT_ID_META_KEYS = ("_billing_vat_number", "vat_number", "_vat_number")
#: Order (or line item) meta keys naming the fulfilment location; `mw_warehouse` is MyWorks
#: Multilocation's. Core WooCommerce has one stock pool and no location at all. A store's
#: `location_fields` replace them.
LOCATION_META_KEYS = ("mw_warehouse",)
#: Refund line items name the order line they refund in this meta entry.
REFUNDED_ITEM_META_KEY = "_refunded_item_id"

SHIPMENT_ID = "completed"
STATUS_CANCELLATION_ID = "status"
DELETED_CANCELLATION_ID = "deleted"
STATUS_REFUND_ID = "status-refunded"

_PING_BODY = re.compile(rb"webhook_id=\d{1,20}")
_RATE_PLACES = Decimal("0.0001")


class ApiResponseError(WinkelError):
    """A WooCommerce REST response does not have the documented shape."""


# --- the door: ping, signature, dedupe ------------------------------------------------------


def is_ping(body: bytes, headers: Mapping[str, str]) -> bool:
    """The unsigned `webhook_id=<N>` POST WooCommerce sends when a webhook is saved.

    It must be answered 200 (or WooCommerce reports "Delivery URL returned response code") and
    it carries no signature, so the route asks this before `verify`. Strict on purpose: only
    that exact form body, and only without a topic header or with the form content type, so
    a signed JSON order (even one mentioning `webhook_id`) is never waved through as a ping.
    """
    if not _PING_BODY.fullmatch(body):
        return False
    content_type = (header_value(headers, "Content-Type") or "").split(";")[0].strip().lower()
    return not header_value(headers, TOPIC_HEADER) or content_type == FORM_CONTENT_TYPE


def sign(body: bytes, secret: bytes) -> str:
    """The `X-WC-Webhook-Signature` WooCommerce sends: base64 HMAC-SHA256 of the raw body."""
    return hmac_sha256_base64(body, secret)


def verify(body: bytes, headers: Mapping[str, str], secrets: Iterable[bytes]) -> None:
    """Accept the delivery if its signature matches any current secret (rotations overlap).

    Checked over the bytes as received: WooCommerce signs its own JSON encoding (escaped
    slashes and all), which re-encoding would not reproduce.
    """
    verify_hmac(body, headers, secrets, SIGNATURE_HEADER)


def topic(headers: Mapping[str, str]) -> str | None:
    return header_value(headers, TOPIC_HEADER) or None


def _site(url: str) -> str:
    """A site URL compared as WooCommerce states it: scheme and host in any case, with or
    without the trailing slash (`X-WC-Webhook-Source` is `home_url('/')`)."""
    scheme, _, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def check_source(headers: Mapping[str, str], store: Store) -> None:
    """Refuse a delivery whose `X-WC-Webhook-Source` is not the store's `site_url`.

    A secret reused on two sites (or a webhook copied with its secret) would let one site's
    orders into the other store; the source header names the site that sent it. A store
    without `site_url` is not checked.
    """
    if store.site_url is None:
        return
    given = header_value(headers, SOURCE_HEADER) or ""
    if _site(given) != _site(store.site_url):
        raise SourceMismatch(
            f"{SOURCE_HEADER} {given[:255]!r} is not the site of store {store.id!r}"
        )


def _plain_id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """A dedupe id for a delivery, the same for every copy of the same content.

    WooCommerce's own `X-WC-Webhook-Delivery-ID` is `wp_hash(webhook_id . time())`: one value
    per webhook per second, not tied to the order. Two orders' deliveries in the same second
    share it (deduping on it would drop the second order), and a hook firing twice a second
    apart gets two (no dedupe at all). So the id is built from what the delivery is about:
    source site, topic, order id and `date_modified_gmt`, which read well in logs, plus a hash
    of source, topic and the raw body, because `date_modified_gmt` is second-granular too and
    two different saves within one second must not collapse. Identical re-sends (WooCommerce
    firing `order.created` twice, issues #28329 and #19764) do collapse.

    None when there is no topic header: that is not a webhook delivery.
    """
    delivery_topic = topic(headers)
    if delivery_topic is None:
        return None
    source = header_value(headers, SOURCE_HEADER) or ""
    document = json_object(body) or {}
    order_id = _plain_id(document.get("id")) or "-"
    modified = document.get("date_modified_gmt")
    modified_text = modified if isinstance(modified, str) and modified else "-"
    digest = hashlib.sha256(
        b"\n".join((source.encode(), delivery_topic.encode(), body))
    ).hexdigest()[:32]
    return f"{order_id}:{delivery_topic}:{modified_text}:{digest}"


def external_order_id(delivery_topic: str, body: bytes) -> str | None:
    """The WooCommerce order a delivery is about, if the body says so plainly.

    Used at the door to key the raw record by order, which keeps one order's deliveries in
    the order they arrived; anything unreadable is left to the normaliser to dead-letter.
    """
    if delivery_topic not in ORDER_TOPICS and delivery_topic != DELETED_TOPIC:
        return None
    document = json_object(body)
    return None if document is None else _plain_id(document.get("id"))


def listed_refund_ids(body: bytes) -> tuple[str, ...]:
    """The refund ids an order body lists; their details need `GET /orders/{id}/refunds`."""
    document = json_object(body)
    refunds = document.get("refunds") if document else None
    if not isinstance(refunds, list):
        return ()
    ids = (_plain_id(r.get("id")) for r in refunds if isinstance(r, dict))
    return tuple(i for i in ids if i is not None)


# --- normalisation -------------------------------------------------------------------------


def _gmt(raw: object, where: str) -> datetime:
    """A WooCommerce `*_gmt` time. They come without an offset ("2017-03-22T19:28:08") and
    are UTC by name; an offset, if a proxy or plugin adds one, is honoured."""
    if not isinstance(raw, str) or not raw:
        raise NormalisationError(f"{where} is missing")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise NormalisationError(f"{where} is not an ISO-8601 time: {raw!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Doc(Document):
    """Typed reads from a WooCommerce JSON object; every failure names the field."""

    def ident(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            raise NormalisationError(f"{self.path}.{key} is missing")
        plain = _plain_id(value)
        if plain is None:
            raise NormalisationError(f"{self.path}.{key} must be an id, got {value!r}")
        return plain

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise NormalisationError(f"{self.path}.{key} must be text, got {value!r}")
        return value.strip()

    def gmt(self, key: str) -> datetime:
        return _gmt(self.data.get(key), f"{self.path}.{key}")

    def opt_gmt(self, key: str) -> datetime | None:
        return None if self.data.get(key) in (None, "") else self.gmt(key)

    def amount(self, key: str, default: Decimal | None = None) -> Decimal:
        value = self.data.get(key)
        if value in (None, "") and default is not None:
            return default
        if value is None:
            raise NormalisationError(f"{self.path}.{key} is missing")
        return parse_amount(value, f"{self.path}.{key}")

    def count(self, key: str) -> int:
        """A whole number of units; refund line items carry them negative."""
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise NormalisationError(f"{self.path}.{key} must be a whole number, got {value!r}")
        return value

    def _absent(self, value: object) -> bool:
        return value is None or value == []  # PHP encodes an empty object as []

    def meta(self, keys: Sequence[str]) -> str | None:
        """The first non-empty plain value among `meta_data` entries with one of `keys`."""
        entries = self.children("meta_data")
        for key in keys:
            for entry in entries:
                if entry.get("key") == key:
                    value = entry.get("value")
                    if isinstance(value, str) and value.strip():
                        return value.strip()
                    if isinstance(value, int) and not isinstance(value, bool):
                        return str(value)
        return None


def _line_amounts(item: _Doc, prices_include_tax: bool) -> tuple[Decimal, Decimal, Decimal]:
    """Net, VAT and gross of a line for its whole quantity, after discounts.

    WooCommerce's `total` is tax-exclusive whatever `prices_include_tax` says; the flag tells
    which figure the customer was quoted and therefore which one anchors the rounding when a
    store keeps more than cents (`dp` > 2, or "round tax at subtotal"): with prices including
    tax the gross is kept and the net is what is left after VAT, otherwise the net is kept and
    VAT added. Either way net + VAT = gross exactly.
    """
    total = item.amount("total")
    tax = item.amount("total_tax", ZERO)
    vat = to_cents(tax)
    if prices_include_tax:
        gross = to_cents(total + tax)
        return gross - vat, vat, gross
    net = to_cents(total)
    return net, vat, net + vat


def _tax_rates(order: _Doc) -> dict[str, Decimal]:
    """Rate id -> rate as a fraction, from the order's `tax_lines[].rate_percent`."""
    rates: dict[str, Decimal] = {}
    for tax_line in order.children("tax_lines"):
        rate_id = _plain_id(tax_line.get("rate_id"))
        percent = tax_line.get("rate_percent")
        if rate_id is None or percent in (None, ""):
            continue
        stated = parse_amount(percent, f"{tax_line.path}.rate_percent")
        if not 0 <= stated <= 100:
            raise NormalisationError(f"{tax_line.path}.rate_percent {percent!r} is not 0 to 100")
        fraction = stated / 100
        rates[rate_id] = fraction.quantize(_RATE_PLACES).normalize()
    return rates


def _vat_rate(item: _Doc, rates: Mapping[str, Decimal], net: Decimal, vat: Decimal) -> Decimal:
    """The line's VAT rate: the stated rates of the taxes it carries, summed.

    Stores older than `rate_percent` (WooCommerce 5.7) do not state it; the rate is then
    derived from the amounts, which is only as exact as the rounding allows.
    """
    charged = [
        tax for tax in item.children("taxes") if tax.amount("total", ZERO) != ZERO and tax.get("id")
    ]
    if not charged:
        return Decimal(0) if vat == ZERO or net == ZERO else (vat / net).quantize(_RATE_PLACES)
    stated = [rates.get(str(tax.get("id"))) for tax in charged]
    if all(rate is not None for rate in stated):
        return sum((rate for rate in stated if rate is not None), Decimal(0))
    return (vat / net).quantize(_RATE_PLACES) if net != ZERO else Decimal(0)


def _product_line(item: _Doc, prices_include_tax: bool, rates: Mapping[str, Decimal]) -> OrderLine:
    line_id = item.ident("id")
    quantity = item.count("quantity")
    if quantity < 0:
        raise NormalisationError(f"{item.path}.quantity must be a count, got {quantity}")
    net, vat, gross = _line_amounts(item, prices_include_tax)
    product = _plain_id(item.get("variation_id")) or "0"
    if product == "0":
        product = _plain_id(item.get("product_id")) or "0"
    sku = item.text("sku") or f"woocommerce-product-{product if product != '0' else line_id}"
    return OrderLine(
        line_id=line_id,
        sku=sku,
        description=html.unescape(item.text("name")) or sku,
        quantity=quantity,
        net=net,
        vat=vat,
        gross=gross,
        vat_rate=_vat_rate(item, rates, net, vat),
        kind=LineKind.PRODUCT,
    )


def _charge_line(
    item: _Doc, prefix: str, title_key: str, prices_include_tax: bool, rates: Mapping[str, Decimal]
) -> OrderLine:
    """A shipping or fee line: a charge of one, invoiced with the first invoice."""
    net, vat, gross = _line_amounts(item, prices_include_tax)
    sku = prefix.upper()
    return OrderLine(
        line_id=f"{prefix}:{item.ident('id')}",
        sku=sku,
        description=html.unescape(item.text(title_key)) or sku.title(),
        quantity=1,
        net=net,
        vat=vat,
        gross=gross,
        vat_rate=_vat_rate(item, rates, net, vat),
        kind=LineKind.SHIPPING,
    )


def _customer(order: _Doc, vat_id_meta_keys: Sequence[str]) -> Customer:
    """Company (billing first) makes a business customer; so does a VAT id in the order meta."""
    billing = order.child("billing")
    shipping = order.child("shipping")
    addresses = [a for a in (billing, shipping) if a is not None]
    company = next((a.text("company") for a in addresses if a.text("company")), "")
    person = next(
        (
            name
            for a in addresses
            if (name := f"{a.text('first_name')} {a.text('last_name')}".strip())
        ),
        "",
    )
    # Destination first: it decides the place of supply; virtual orders have no shipping.
    country = next(
        (a.text("country").upper() for a in (shipping, billing) if a and a.text("country")), None
    )
    email = billing.text("email") if billing else ""
    raw_vat_id = order.meta(vat_id_meta_keys)
    vat_id = "".join(raw_vat_id.split()).upper() if raw_vat_id else None
    return Customer(
        name=company or person or email or "Unknown customer",
        country=country,
        vat_id=vat_id,
        is_business=bool(company) or vat_id is not None,
        email=email or None,
    )


def _location(order: _Doc, location_meta_keys: Sequence[str]) -> str | None:
    """Where the order shipped from: order meta, else the one location all lines agree on."""
    location = order.meta(location_meta_keys)
    if location is not None:
        return location
    per_line = {item.meta(location_meta_keys) for item in order.children("line_items")}
    return per_line.pop() if len(per_line) == 1 else None


def _details(order: _Doc, vat_id_meta_keys: Sequence[str]) -> OrderDetails:
    prices_include_tax = order.get("prices_include_tax") is True
    rates = _tax_rates(order)
    line_items = order.children("line_items")
    if not line_items:
        raise NormalisationError("$.line_items is empty or missing")
    lines = (
        tuple(_product_line(item, prices_include_tax, rates) for item in line_items)
        + tuple(
            _charge_line(item, "shipping", "method_title", prices_include_tax, rates)
            for item in order.children("shipping_lines")
        )
        + tuple(
            _charge_line(item, "fee", "name", prices_include_tax, rates)
            for item in order.children("fee_lines")
        )
    )
    currency = order.text("currency").upper()
    if not currency:
        raise NormalisationError("$.currency is missing")
    return OrderDetails(
        name=f"#{order.text('number') or order.ident('id')}",
        currency=currency,
        customer=_customer(order, vat_id_meta_keys),
        lines=lines,
        placed_at=order.gmt("date_created_gmt"),
        as_of=order.gmt("date_modified_gmt"),
        prices_include_vat=prices_include_tax,
    )


def _status(order: _Doc) -> str:
    status = order.text("status").lower()
    return status.removeprefix("wc-")  # the internal post status, should a plugin leak it


class _Events(OrderEvents):
    """One WooCommerce order's events, with ids derived from WooCommerce's ids and times."""

    def cancelled(self, cancellation_id: str, at: datetime, reason: str) -> OrderEvent:
        cancellation = Cancellation(cancellation_id, at, reason)
        # The time is in the event id: after a withdrawal, cancelling again is a new event.
        return self.make(
            f"cancellation:{cancellation_id}@{at.isoformat()}", at, OrderCancelled(cancellation)
        )

    def withdrawn(self, cancellation_id: str, at: datetime, reason: str) -> OrderEvent:
        withdrawal = Withdrawal(cancellation_id, at, reason)
        return self.make(
            f"withdrawal:{cancellation_id}@{at.isoformat()}", at, CancellationWithdrawn(withdrawal)
        )

    def refund(self, refund: _Doc) -> OrderEvent:
        """One refund of `GET /orders/{id}/refunds`.

        Refund line items carry negative `quantity`, `total` and `total_tax`, and name the
        order line they refund in `_refunded_item_id` meta. Units refunded are credited as
        units (priced from the invoice); the rest of `amount` (shipping, fees, money-only
        refunds) is money not tied to units.
        """
        refunded_at = refund.gmt("date_created_gmt")
        amount = abs(refund.amount("amount"))
        units: Counter[str] = Counter()
        unit_money = ZERO
        for item in refund.children("line_items"):
            quantity = abs(item.count("quantity"))
            refunded_line = item.meta((REFUNDED_ITEM_META_KEY,))
            if quantity and refunded_line is not None:
                units[refunded_line] += quantity
                unit_money -= item.amount("total", ZERO) + item.amount("total_tax", ZERO)
        record = Refund(
            refund_id=refund.ident("id"),
            refunded_at=refunded_at,
            lines=tuple(LineQuantity(line_id, n) for line_id, n in units.items()),
            amount=max(amount - unit_money, ZERO),
            reason=refund.text("reason") or None,
        )
        return self.make(f"refund:{record.refund_id}", refunded_at, RefundIssued(record))


def _order_events(
    order: _Doc,
    events: _Events,
    vat_id_meta_keys: Sequence[str],
    location_meta_keys: Sequence[str],
) -> list[OrderEvent]:
    status = _status(order)
    if status in DRAFT_STATUSES:
        return []
    details = _details(order, vat_id_meta_keys)
    as_of = details.as_of
    result = [events.make(f"details@{as_of.isoformat()}", as_of, DetailsReported(details))]
    # First, so that what follows (a payment, a shipment) applies to an order going ahead.
    if status != DELETED_STATUS:
        result.append(events.withdrawn(DELETED_CANCELLATION_ID, as_of, "restored in WooCommerce"))
    if status in LIVE_STATUSES:
        result.append(events.withdrawn(STATUS_CANCELLATION_ID, as_of, f"{status} in WooCommerce"))
    paid_at = order.opt_gmt("date_paid_gmt")
    if paid_at is not None:
        result.append(events.make(f"paid@{paid_at.isoformat()}", paid_at, PaymentCaptured(paid_at)))
    completed_at = order.opt_gmt("date_completed_gmt")
    if status == SHIPPED_STATUS or (status == REFUNDED_STATUS and completed_at is not None):
        shipped_at = completed_at or as_of
        shipment = Shipment(
            shipment_id=SHIPMENT_ID,
            shipped_at=shipped_at,
            lines=tuple(
                LineQuantity(line.line_id, line.quantity)
                for line in details.lines
                if line.kind is LineKind.PRODUCT and line.quantity > 0
            ),
            location_id=_location(order, location_meta_keys),
        )
        result.append(events.make(f"shipment:{SHIPMENT_ID}", shipped_at, ShipmentSent(shipment)))
    if status in CANCELLED_STATUSES:
        reason = (
            "payment failed in WooCommerce" if status == "failed" else "cancelled in WooCommerce"
        )
        result.append(events.cancelled(STATUS_CANCELLATION_ID, as_of, reason))
    if status == DELETED_STATUS:
        result.append(events.cancelled(DELETED_CANCELLATION_ID, as_of, "deleted in WooCommerce"))
    if status == REFUNDED_STATUS and not order.children("refunds"):
        everything = Refund(
            refund_id=STATUS_REFUND_ID,
            refunded_at=as_of,
            lines=tuple(LineQuantity(line.line_id, line.quantity) for line in details.lines),
            amount=ZERO,
            reason="refunded in WooCommerce",
        )
        result.append(events.make(f"refund:{STATUS_REFUND_ID}", as_of, RefundIssued(everything)))
    return result


def _source(delivery: RawDelivery) -> str:
    return f"{'poll' if delivery.topic == POLLED_TOPIC else 'webhook'}:{delivery.delivery_id}"


def normalise(
    delivery: RawDelivery,
    store: Store,
    *,
    vat_id_meta_keys: Sequence[str] = VAT_ID_META_KEYS,
    location_meta_keys: Sequence[str] = LOCATION_META_KEYS,
) -> list[OrderEvent]:
    """The order events one verified WooCommerce delivery (or polled order) carries."""
    body = _Doc.parse(delivery.body)
    if delivery.topic == DELETED_TOPIC:
        events = _Events(
            MARKETPLACE, store, body.ident("id"), delivery.received_at, _source(delivery)
        )
        # The body is only {"id": …}: no time but when it reached us.
        at = delivery.received_at
        return [events.cancelled(DELETED_CANCELLATION_ID, at, "deleted in WooCommerce")]
    if delivery.topic in ORDER_TOPICS:
        events = _Events(
            MARKETPLACE, store, body.ident("id"), delivery.received_at, _source(delivery)
        )
        vat_id_meta_keys = store.vat_id_fields or vat_id_meta_keys
        location_meta_keys = store.location_fields or location_meta_keys
        return _order_events(body, events, vat_id_meta_keys, location_meta_keys)
    raise NormalisationError(f"WooCommerce topic {delivery.topic!r} is not handled")


def refund_events(
    order_id: str,
    refunds_json: bytes | Sequence[Any],
    store: Store,
    *,
    received_at: datetime,
    source: str = "poll:refunds",
) -> list[OrderEvent]:
    """The refunds of one order, from the body of `GET /wp-json/wc/v3/orders/{id}/refunds`.

    Pure: the caller fetched the page and says when (`received_at`). Event ids are the refund
    ids, so fetching again, or learning of a refund twice, changes nothing.
    """
    try:
        data = orjson.loads(refunds_json) if isinstance(refunds_json, bytes) else refunds_json
    except orjson.JSONDecodeError as exc:
        raise NormalisationError(f"refunds response is not JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise NormalisationError("refunds response is not a JSON list of objects")
    events = _Events(MARKETPLACE, store, order_id, received_at, source)
    return [events.refund(_Doc(item, f"$[{index}]")) for index, item in enumerate(data)]


# --- polling (pure: building requests and reading answers; the HTTP is the caller's) --------

ORDERS_PATH = "/wp-json/wc/v3/orders"
MAX_PER_PAGE = 100  # WooCommerce refuses more
#: How far each sweep reaches back behind the newest change it has seen. `modified_after` is
#: exclusive and second-granular, and WooCommerce stamps `date_modified` when a request starts,
#: not when it commits, so a slow save can appear with a time behind the cursor. Re-reading a
#: few minutes costs little: every copy of a change has the same event ids.
POLL_OVERLAP = timedelta(minutes=5)


def basic_auth(consumer_key: str, consumer_secret: str) -> str:
    """The `Authorization` header value for the REST API's consumer key and secret."""
    token = base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode("ascii")
    return f"Basic {token}"


def _gmt_param(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("modified_after must be timezone-aware")
    # No offset: WooCommerce hands the text to WP_Date_Query; `dates_are_gmt` says it is UTC.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def orders_request(
    base_url: str, modified_after: datetime, page: int = 1, per_page: int = MAX_PER_PAGE
) -> tuple[str, dict[str, str]]:
    """URL and query of one page of orders changed after `modified_after`, oldest change first.

    `status=any` because the default leaves out nothing we can do without (cancelled,
    refunded, failed), and `orderby=modified&order=asc` so that a sweep walks forward in time.
    """
    if page < 1:
        raise ValueError(f"page must be 1 or more, got {page}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be 1 to {MAX_PER_PAGE}, got {per_page}")
    query = {
        "modified_after": _gmt_param(modified_after),
        "dates_are_gmt": "true",
        "status": "any",
        "orderby": "modified",
        "order": "asc",
        "page": str(page),
        "per_page": str(per_page),
    }
    return f"{base_url.rstrip('/')}{ORDERS_PATH}", query


def refunds_request(base_url: str, order_id: str, page: int = 1) -> tuple[str, dict[str, str]]:
    """URL and query of one page of an order's refunds, as many per page as the API allows
    (its default page holds only 10); `parse_refunds_page` says whether another page follows."""
    if page < 1:
        raise ValueError(f"page must be 1 or more, got {page}")
    if not (order_id.isascii() and order_id.isdigit()):  # it becomes a URL path: never else
        raise NormalisationError(f"order id {order_id[:80]!r} is not a WooCommerce order id")
    return (
        f"{base_url.rstrip('/')}{ORDERS_PATH}/{order_id}/refunds",
        {"per_page": str(MAX_PER_PAGE), "page": str(page)},
    )


@dataclass(frozen=True, slots=True)
class RefundsPage:
    refunds: tuple[dict[str, Any], ...]
    next_page: int | None


def parse_refunds_page(headers: Mapping[str, str], body: bytes, page: int) -> RefundsPage:
    """Read one answer of `GET /orders/{id}/refunds?page=<page>`.

    The next page follows while `X-WP-TotalPages` says so; where a proxy dropped the header, a
    full page asks for the next one and a short (or empty) page ends the list.
    """
    data = _object_list(body, "refunds")
    total_pages = _int_header(headers, "X-WP-TotalPages")
    if total_pages is None:
        next_page = page + 1 if len(data) >= MAX_PER_PAGE else None
    else:
        next_page = page + 1 if page < total_pages else None
    return RefundsPage(tuple(data), next_page)


def refund_ids(refunds: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The ids of refunds as `GET /orders/{id}/refunds` lists them."""
    ids = (_plain_id(refund.get("id")) for refund in refunds)
    return tuple(i for i in ids if i is not None)


def refunds_to_fetch(delivery_topic: str, body: bytes) -> tuple[str, tuple[str, ...]] | None:
    """The order and refund ids a webhook lists, when its refunds should be fetched now.

    WooCommerce fires `order.updated` when a refund is made (`woocommerce_order_refunded`),
    with the order's `refunds[]` holding only id, reason and total: the refunded units and
    amounts need `GET /orders/{id}/refunds`, whatever the order's age.
    """
    if delivery_topic not in ORDER_TOPICS:
        return None
    document = json_object(body)
    order_id = _plain_id(document.get("id")) if document else None
    listed = listed_refund_ids(body)
    if order_id is None or not listed:
        return None
    return order_id, listed


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: tuple[dict[str, Any], ...]
    total: int | None  # X-WP-Total
    total_pages: int | None  # X-WP-TotalPages
    next_page: int | None
    latest_modified: datetime | None  # the newest `date_modified_gmt` on the page


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = header_value(headers, name) or None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiResponseError(f"{name} is not a number: {value!r}") from None


def _object_list(body: bytes, what: str) -> list[dict[str, Any]]:
    """A page of the REST API: a JSON list of objects (`what`: orders, refunds)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiResponseError(f"{what} page is not JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ApiResponseError(f"{what} page is not a JSON list of {what}")
    return data


def parse_orders_page(headers: Mapping[str, str], body: bytes, page: int) -> OrdersPage:
    """Read one answer of `GET /wp-json/wc/v3/orders`, which was asked for page `page`."""
    data = _object_list(body, "orders")
    total_pages = _int_header(headers, "X-WP-TotalPages")
    if total_pages is None:  # a proxy dropped the header: go on until a page comes back empty
        next_page = page + 1 if data else None
    else:
        next_page = page + 1 if page < total_pages else None
    modified = []
    for index, order in enumerate(data):
        if order.get("date_modified_gmt"):
            try:
                modified.append(_gmt(order["date_modified_gmt"], f"$[{index}].date_modified_gmt"))
            except NormalisationError as exc:
                raise ApiResponseError(str(exc)) from None
    return OrdersPage(
        orders=tuple(data),
        total=_int_header(headers, "X-WP-Total"),
        total_pages=total_pages,
        next_page=next_page,
        latest_modified=max(modified, default=None),
    )


@dataclass(frozen=True, slots=True)
class PollCursor:
    """Where a sweep stands: the next request is `orders_request(url, modified_after, page)`."""

    modified_after: datetime
    page: int = 1


def next_cursor(
    cursor: PollCursor, answer: OrdersPage, overlap: timedelta = POLL_OVERLAP
) -> tuple[PollCursor, bool]:
    """The cursor after reading `answer`, and whether the sweep should ask again right away.

    The sweep moves by time rather than by page number wherever it can: orders modified while
    it pages move to the end of the result set and shift later pages back, so "page 2" can
    skip an order. Starting again at page 1 from the newest change seen (minus `overlap`)
    cannot skip one, because the answer is a prefix in time order. Only when a whole page lies
    within the overlap (a burst) does it fall back to the next page number.
    """
    latest = answer.latest_modified
    if latest is not None and latest - overlap > cursor.modified_after:
        return PollCursor(latest - overlap), answer.next_page is not None
    if answer.next_page is not None:
        return PollCursor(cursor.modified_after, cursor.page + 1), True
    return PollCursor(cursor.modified_after), False


def polled_delivery(store_id: str, order: Mapping[str, Any], received_at: datetime) -> RawDelivery:
    """A polled order as a raw record, so the poller and the webhook share one normaliser.

    Its delivery id follows the webhook rule (`delivery_id`), so an unchanged order polled
    again dedupes at the same Redis key.
    """
    body = orjson.dumps(order)
    headers = {TOPIC_HEADER: POLLED_TOPIC}
    dedupe_id = delivery_id(headers, body)
    assert dedupe_id is not None  # the topic header is set just above
    return RawDelivery(
        marketplace=MARKETPLACE,
        store_id=store_id,
        delivery_id=dedupe_id,
        topic=POLLED_TOPIC,
        received_at=received_at,
        headers=headers,
        body=body,
    )
