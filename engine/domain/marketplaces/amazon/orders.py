"""Orders API v0: the raw order document and the events a fetched order carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._door import json_object
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.marketplaces.amazon.api import parse_errors
from engine.domain.marketplaces.amazon.fees import Finances, parse_finances
from engine.domain.marketplaces.amazon.wire import (
    CALLED_OFF_STATUSES,
    CHANNEL_ALIASES,
    DEEMED_RESELLER_CATEGORIES,
    FACILITATOR_MODEL,
    MARKETPLACE,
    MARKETPLACE_CURRENCIES,
    ORDER_DOCUMENT_SCHEMA,
    ORDER_STATUSES,
    PENDING_STATUSES,
    SHIPPED_STATUSES,
    VCS_REASON,
    _Doc,
    amazon_time,
)
from engine.domain.money import ZERO
from engine.domain.tax.exceptions import TaxError
from engine.domain.tax.rates import rates_on
from engine.domain.tax.split import split_line
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ShipmentSent,
)
from models.order import (
    Cancellation,
    Customer,
    LineKind,
    LineQuantity,
    OrderDetails,
    OrderLine,
    Shipment,
)


def order_document(
    order: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    financial_events: Mapping[str, Any] | None = None,
) -> bytes:
    """What the fetcher writes to `winkel.raw.amazon` (topic `ORDER_DOCUMENT_TOPIC`):

    `{"schema": "winkel.amazon-order/1", "Order": <getOrder payload>, "OrderItems": [<every
    page of getOrderItems>], "FinancialEvents": <merged listFinancialEventsByOrderId> | null}`,
    Amazon's objects byte-for-byte as parsed, keyed by the order's contract UUID.
    """
    return orjson.dumps(
        {
            "schema": ORDER_DOCUMENT_SCHEMA,
            "Order": order,
            "OrderItems": list(items),
            "FinancialEvents": None if financial_events is None else dict(financial_events),
        }
    )


def _finances(envelope: _Doc) -> Finances | None:
    raw = envelope.get("FinancialEvents")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise NormalisationError("$.FinancialEvents must be an object")
    return parse_finances(raw)


def _as_of(order: _Doc, finances: Finances | None) -> datetime:
    """The snapshot's time: the order's `LastUpdateDate`, or a later fee posting.

    Fees post after the order's last change, so a re-fetch that finds new fees is a newer
    snapshot (its details replace the older ones) even though the order itself did not change.
    """
    return _as_of_time(order.time("LastUpdateDate"), finances)


def _as_of_time(updated: datetime, finances: Finances | None) -> datetime:
    if finances is None or finances.last_posted is None:
        return updated
    return max(updated, finances.last_posted)


def _check_marketplace(marketplace_id: str, store: Store, path: str) -> None:
    """Refuse an order of another marketplace than the store's (an amazon.com order relayed to
    an amazon.de store is no EU sale of that store), or, where the store names none, of a
    marketplace outside Europe: dead-lettered with the reason, never invoiced as EU."""
    if not marketplace_id:
        return
    wanted = store.amazon_marketplace_id
    if wanted and marketplace_id != wanted:
        raise NormalisationError(
            f"{path}: marketplace {marketplace_id} is not store {store.id!r}'s ({wanted})"
        )
    if not wanted and marketplace_id not in MARKETPLACE_CURRENCIES:
        raise NormalisationError(
            f"{path}: marketplace {marketplace_id} is not a European marketplace; a store "
            "selling there names it in `amazon_marketplace_id`"
        )


def prices_include_vat(marketplace_id: str, store: Store) -> bool:
    """European marketplaces show prices with VAT; others (amazon.com) add sales tax on top."""
    known = marketplace_id or store.amazon_marketplace_id
    return not known or known in MARKETPLACE_CURRENCIES


def _payload_object(body: bytes, key: str) -> _Doc:
    """A v2026 answer (no `payload` wrapper) that must hold `key`; else the error body's why."""
    document = _Doc.parse(body)
    if key not in document.data:
        errors = parse_errors(body)
        why = "; ".join(f"{e.code}: {e.message}" for e in errors) or f"no {key}"
        raise NormalisationError(f"SP-API answer without {key}: {why}")
    return document


def document_delivery_id(body: bytes) -> str | None:
    """`<AmazonOrderId>@<snapshot time>`: the delivery id of a fetched order document, the
    same for every fetch that found the same order and fees (the sink writes it once)."""
    try:
        envelope = _Doc.parse(body)
        order = envelope.child("Order")
        if order is None:
            return None
        return f"{order.ident('AmazonOrderId')}@{amazon_time(_as_of(order, _finances(envelope)))}"
    except NormalisationError:
        return None


def document_order_id(body: bytes) -> str | None:
    document = json_object(body)
    order = None if document is None else document.get("Order")
    value = order.get("AmazonOrderId") if isinstance(order, dict) else None
    return value if isinstance(value, str) and value else None


def marketplace_invoicing(order: _Doc, items: Sequence[_Doc], store: Store) -> str | None:
    """Why Amazon, not the seller, invoices this order; None when the seller does
    (docs/marketplaces.md §2.4, §8.7).

    Amazon as seller of record or deemed supplier comes first (then the seller makes no supply
    to the buyer at all), then VAT Amazon collects, then the store's VCS invoicing setting.
    """
    if order.flag("IsSoldByAB") or order.flag("IsIBA"):
        return "Amazon Business EU SARL is the seller of record (IsSoldByAB)"
    for item in items:
        category = item.text("DeemedResellerCategory")
        if category in DEEMED_RESELLER_CATEGORIES:
            return f"Amazon is the deemed supplier (DeemedResellerCategory {category})"
    for item in items:
        ioss = item.text("IossNumber")
        if ioss:
            return f"Amazon collects the VAT under IOSS (IossNumber {ioss})"
    for item in items:
        collection = item.child("TaxCollection")
        if collection is not None and collection.text("Model") == FACILITATOR_MODEL:
            return "Amazon collects the VAT as marketplace facilitator (TaxCollection)"
    if store.amazon_issues_invoices:
        return VCS_REASON
    return None


def _buyer_vat_id(order: _Doc) -> str | None:
    buyer = order.child("BuyerInfo")
    tax = None if buyer is None else buyer.child("BuyerTaxInfo")
    if tax is None:
        return None
    for classification in tax.children("TaxClassifications"):
        if "VAT" in classification.text("Name").upper() and classification.text("Value"):
            return classification.text("Value").replace(" ", "").upper()
    return None


def _customer(order: _Doc) -> Customer:
    """The buyer; `ShippingAddress` only comes with Unshipped and later statuses
    (docs/marketplaces.md §2.1)."""
    address = order.child("ShippingAddress")
    buyer = order.child("BuyerInfo")
    tax = None if buyer is None else buyer.child("BuyerTaxInfo")
    company = (address.text("CompanyName") if address else "") or (
        tax.text("CompanyLegalName") if tax else ""
    )
    person = (address.text("Name") if address else "") or (buyer.text("BuyerName") if buyer else "")
    country = address.text("CountryCode").upper() if address else ""
    email = buyer.text("BuyerEmail") if buyer else ""
    is_business = order.flag("IsBusinessOrder")
    return Customer(
        name=(company if is_business and company else person or company) or "Amazon customer",
        country=country or None,
        vat_id=_buyer_vat_id(order),
        is_business=is_business,
        email=email or None,
    )


_RATE_PLACES = Decimal("0.0001")


def _vat_rate(gross: Decimal, vat: Decimal, country: str | None, on: datetime) -> Decimal:
    """The rate behind Amazon's (VAT-inclusive) gross and VAT: the member state's rate that
    splits the gross into exactly this VAT where one does, else the ratio itself."""
    net = gross - vat
    if vat == ZERO or net <= ZERO:
        return Decimal(0)
    if country:
        try:
            rates = rates_on(country, on.date())
        except TaxError:
            rates = None
        if rates is not None:
            for rate in (rates.standard, *rates.reduced):
                try:
                    if split_line(gross, rate, prices_include_vat=True).vat == vat:
                        return rate
                except TaxError:
                    continue
    return (vat / net).quantize(_RATE_PLACES)


def _line(
    line_id: str,
    sku: str,
    description: str,
    quantity: int,
    gross: Decimal,
    vat: Decimal,
    country: str | None,
    on: datetime,
    kind: LineKind,
) -> OrderLine:
    return OrderLine(
        line_id=line_id,
        sku=sku,
        description=description,
        quantity=quantity,
        net=gross - vat,
        vat=vat,
        gross=gross,
        vat_rate=_vat_rate(gross, vat, country, on),
        kind=kind,
    )


def _lines(
    items: Sequence[_Doc], country: str | None, placed_at: datetime, inclusive: bool = True
) -> list[OrderLine]:
    """Product lines (after promotions) and one shipping line for the order.

    EU prices are VAT-inclusive: `ItemPrice` is unit price x quantity with VAT, `ItemTax` its
    VAT (docs/marketplaces.md §2.4); `PromotionDiscount` and its tax are taken off; shipping
    likewise. Where
    prices exclude tax (amazon.com), the tax is added to make the gross.
    """
    lines = []
    shipping_gross = shipping_vat = ZERO
    for item in items:
        item_id = item.ident("OrderItemId")
        sku = item.text("SellerSKU") or item.text("ASIN") or f"amazon-item-{item_id}"
        gross = item.amount("ItemPrice") - item.amount("PromotionDiscount")
        vat = item.amount("ItemTax") - item.amount("PromotionDiscountTax")
        if not inclusive:
            gross += vat
        lines.append(
            _line(
                item_id,
                sku,
                item.text("Title") or sku,
                item.count("QuantityOrdered"),
                gross,
                vat,
                country,
                placed_at,
                LineKind.PRODUCT,
            )
        )
        item_shipping_vat = item.amount("ShippingTax") - item.amount("ShippingDiscountTax")
        shipping_gross += item.amount("ShippingPrice") - item.amount("ShippingDiscount")
        shipping_gross += ZERO if inclusive else item_shipping_vat
        shipping_vat += item_shipping_vat
    if shipping_gross != ZERO:
        lines.append(
            _line(
                "shipping",
                "SHIPPING",
                "Shipping",
                1,
                shipping_gross,
                shipping_vat,
                country,
                placed_at,
                LineKind.SHIPPING,
            )
        )
    return lines


def _currency(order: _Doc, items: Sequence[_Doc], finances: Finances | None) -> str:
    total = order.money("OrderTotal")
    if total is not None and total[1]:
        return total[1]
    for item in items:
        price = item.money("ItemPrice")
        if price is not None and price[1]:
            return price[1]
    if finances is not None and finances.currency:
        return finances.currency
    # A Pending order may come without any price yet: its marketplace's currency.
    currency = MARKETPLACE_CURRENCIES.get(order.text("MarketplaceId"))
    if currency is None:
        raise NormalisationError(
            "$.Order has no currency (no OrderTotal, ItemPrice, MarketplaceId)"
        )
    return currency


def _ship_from(order: _Doc, channel: str | None, store: Store) -> str | None:
    """An MFN order's default ship-from address; an FBA order names no warehouse in v0, so
    the store's configured FBA country stands in for it."""
    address = order.child("DefaultShipFromLocationAddress")
    country = address.text("CountryCode").upper() if address else ""
    if not country and channel == "AFN":
        return store.fba_ship_from_country
    return country or None


def _order_events(
    envelope: _Doc, store: Store, received_at: datetime, source: str
) -> list[OrderEvent]:
    order = envelope.child("Order")
    if order is None:
        raise NormalisationError("$.Order is missing")
    order_id = order.ident("AmazonOrderId")
    events = OrderEvents(MARKETPLACE, store, order_id, received_at, source)
    items = envelope.children("OrderItems")
    if not items:
        raise NormalisationError("$.OrderItems is empty or missing")
    marketplace_id = order.text("MarketplaceId")
    _check_marketplace(marketplace_id, store, "$.Order.MarketplaceId")
    inclusive = prices_include_vat(marketplace_id, store)
    status = order.text("OrderStatus")
    if status not in ORDER_STATUSES:
        raise NormalisationError(f"$.Order.OrderStatus {status!r} is not a known order status")
    # Only the shipments' location id: an unknown value is kept as it came, not refused.
    raw_channel = order.text("FulfillmentChannel")
    channel = CHANNEL_ALIASES.get(raw_channel, raw_channel) or None
    placed_at = order.time("PurchaseDate")
    updated = order.time("LastUpdateDate")
    finances = _finances(envelope)
    as_of = _as_of(order, finances)
    customer = _customer(order)
    details = OrderDetails(
        name=order_id,
        currency=_currency(order, items, finances),
        customer=customer,
        lines=tuple(_lines(items, customer.country, placed_at, inclusive)),
        placed_at=placed_at,
        as_of=as_of,
        invoiced_by_marketplace=marketplace_invoicing(order, items, store),
        ship_from_country=_ship_from(order, channel, store),
        costs=() if finances is None else finances.fees,
        prices_include_vat=inclusive,  # EU marketplaces: `ItemPrice` includes `ItemTax`
    )
    stamp = amazon_time(as_of)
    result = [events.make(f"details@{stamp}", as_of, DetailsReported(details))]
    if status in PENDING_STATUSES:
        stage = Stage.PENDING
    elif status in CALLED_OFF_STATUSES:
        stage = Stage.CALLED_OFF
    else:
        stage = Stage.SHIPPED if status in SHIPPED_STATUSES else Stage.OPEN
    progress = []
    for item in items:
        shipped = item.count("QuantityShipped", 0)
        ordered = item.count("QuantityOrdered")
        if shipped > ordered:
            raise NormalisationError(f"{item.path}: QuantityShipped {shipped} > {ordered} ordered")
        progress.append(ItemProgress(item.ident("OrderItemId"), ordered, shipped))
    buyer_asked = any(
        (b := i.child("BuyerRequestedCancel")) is not None and b.flag("IsBuyerRequestedCancel")
        for i in items
    )
    called_off = "unfulfillable" if status == "Unfulfillable" else "cancelled on Amazon"
    return result + order_facts(
        events, stage, placed_at, updated, progress, channel, called_off, buyer_asked
    )


class Stage(StrEnum):
    """Where an Amazon order is, whichever Orders API version named its status."""

    PENDING = "pending"  # placed, payment not yet authorised
    OPEN = "open"  # paid; items that are complete have shipped
    SHIPPED = "shipped"  # every item is done
    CALLED_OFF = "called_off"  # the whole order is cancelled or unfulfillable


class ItemProgress(NamedTuple):
    item_id: str
    ordered: int
    shipped: int


def order_facts(
    events: OrderEvents,
    stage: Stage,
    placed_at: datetime,
    updated: datetime,
    items: Sequence[ItemProgress],
    channel: str | None,
    called_off_reason: str,
    buyer_asked: bool,
    shipments: Sequence[Shipment] | None = None,
) -> list[OrderEvent]:
    """The payment, shipment and cancellation facts of an order, with the ids both Orders API
    versions give them (a store switching versions re-invoices nothing).

    `shipments`: the order's own shipments (v2026 packages); None: each item is one shipment
    (`item:<id>`) once it has nothing left to ship, or once the order is done.
    """
    if stage is Stage.PENDING:
        return []
    if stage is Stage.CALLED_OFF:
        reason = "cancelled at the buyer's request" if buyer_asked else called_off_reason
        whole = Cancellation("order", updated, reason)
        return [events.make("cancellation:order", updated, OrderCancelled(whole))]
    # Amazon authorised the payment when the order left Pending; the buyer paid at purchase,
    # which is the only time the API states.
    result = [events.make("paid", placed_at, PaymentCaptured(placed_at))]
    for shipment in shipments or ():
        fact = f"shipment:{shipment.shipment_id}"
        result.append(events.make(fact, shipment.shipped_at, ShipmentSent(shipment)))
    final = stage is Stage.SHIPPED
    for item in items:
        item_id, ordered, shipped = item
        if shipments is None and shipped > 0 and (shipped == ordered or final):
            shipment = Shipment(
                shipment_id=f"item:{item_id}",
                shipped_at=updated,
                lines=(LineQuantity(item_id, shipped),),
                location_id=channel,
            )
            result.append(events.make(f"shipment:item:{item_id}", updated, ShipmentSent(shipment)))
        if final and shipped < ordered:
            # Every item is done but this one shipped short: the rest was cancelled.
            cancelled = Cancellation(
                f"item:{item_id}",
                updated,
                "not shipped: cancelled on Amazon",
                (LineQuantity(item_id, ordered - shipped),),
            )
            result.append(
                events.make(f"cancellation:item:{item_id}", updated, OrderCancelled(cancelled))
            )
    return result


def normalise_order(
    document: bytes, store: Store, received_at: datetime, source: str = "poll"
) -> list[OrderEvent]:
    """The events in a fetched order document (`order_document`)."""
    envelope = _Doc.parse(document)
    if envelope.get("schema") not in (None, ORDER_DOCUMENT_SCHEMA):
        raise NormalisationError(f"unknown Amazon document schema {envelope.get('schema')!r}")
    return _order_events(envelope, store, received_at, source)
