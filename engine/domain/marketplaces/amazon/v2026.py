"""Amazon Orders API v2026-01-01: requests, answers, the raw document and its normaliser.

Amazon switches Orders API v0 off on 2027-03-27 (docs/amazon.md). A store reads v2026
unless its config says `orders_api_version = "v0"`. What stays as in v0 (engine.domain.marketplaces
.amazon): LWA, the ORDER_CHANGE notification, Finances v0 for fees, usage plans and 429
handling, and above all the **ids**: an event's fact key comes from the order id, the item ids
and the order's last-update time, named exactly as the v0 normaliser names them, so a store
switching versions sees the same events (and the lifecycle the same triggers) for the same
Amazon facts and nothing is invoiced twice.

Calls:

- `searchOrders` (`GET /orders/2026-01-01/orders`) by `lastUpdatedAfter` and `marketplaceIds`;
  a next page sends the same filters plus `paginationToken` (the previous `pagination.nextToken`).
  Usage plan 0.0056 requests/s, burst 20: about one call every three minutes once the burst is
  spent, so the poller searches at most once per cycle and fetches orders by `getOrder`.
- `getOrder` (`GET /orders/2026-01-01/orders/{orderId}`) with `includedData` (`INCLUDED_DATA`);
  the items always come with it, so there is no `getOrderItems`.

What v2026 adds and the normaliser uses:

- `tax.taxRegistrations[]` with `entityType` BUYER and a VAT number: the buyer's VAT id, so an
  Amazon Business order becomes a B2B sale (reverse charge where docs/vat.md allows, after the
  same VAT-id check as any other number).
- `packages[]` (merchant-fulfilled only): in a store invoicing per shipment, each shipped package
  is a shipment (`package:<packageReferenceId>`) with its own invoice; its `shipFromAddress`
  country is the order's VAT origin.
- `orderItems[].tax.taxCollections[].model` MARKETPLACE_FACILITATOR, a `reportingScheme`
  UOSS/IOSS, an `iossNumber`, or the order program INVOICE_BY_AMAZON: Amazon invoices, the
  seller does not (`invoiced_by_marketplace`).
- `recipient.deliveryAddress.addressType` PICKUP_POINT: the address is a locker or counter; its
  country is where the goods go, its name is not the buyer's.

Money: `proceeds.breakdowns[]` per item by type (ITEM, SHIPPING, GIFT_WRAP, COD_FEE, OTHER,
TAX, DISCOUNT); TAX and DISCOUNT split further by `detailedBreakdowns[].subtype`. The official
examples state ITEM before tax (`proceedsTotal` = the sum of every breakdown, TAX included); an
item whose `proceedsTotal` equals the sum without TAX states ITEM with tax included. Either way
a line's gross is what the buyer paid and its VAT Amazon's TAX.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from engine.domain.config import InvoiceGranularity, Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.marketplaces.amazon.api import ApiRequest, OrderSummary, _get
from engine.domain.marketplaces.amazon.fees import Finances
from engine.domain.marketplaces.amazon.orders import (
    ItemProgress,
    Stage,
    _as_of_time,
    _check_marketplace,
    _finances,
    _line,
    _payload_object,
    order_facts,
    prices_include_vat,
)
from engine.domain.marketplaces.amazon.wire import (
    DEEMED_RESELLER_CATEGORIES,
    MARKETPLACE,
    MARKETPLACE_CURRENCIES,
    MAX_RESULTS_PER_PAGE,
    VCS_REASON,
    _Doc,
    amazon_time,
)
from engine.domain.money import ZERO, parse_amount
from models.events import DetailsReported, OrderEvent
from models.order import (
    Customer,
    LineKind,
    LineQuantity,
    OrderDetails,
    OrderLine,
    Shipment,
)

BASE_PATH = "/orders/2026-01-01/orders"
#: Topic and schema of a fetched v2026 order (order + financial events) on `winkel.raw.amazon`.
ORDER_DOCUMENT_TOPIC = "orders/2026-01-01/order"
ORDER_DOCUMENT_SCHEMA = "winkel.amazon-order/2026-01-01"
#: What `getOrder` is asked to include: everything the normaliser reads.
INCLUDED_DATA = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
)

#: Every v2026 `FulfillmentStatus`, as the stage v0's `OrderStatus` names.
STAGES: Mapping[str, Stage] = {
    "PENDING": Stage.PENDING,
    "PENDING_AVAILABILITY": Stage.PENDING,
    "UNSHIPPED": Stage.OPEN,
    "PARTIALLY_SHIPPED": Stage.OPEN,
    "SHIPPED": Stage.SHIPPED,
    "CANCELLED": Stage.CALLED_OFF,
    "UNFULFILLABLE": Stage.CALLED_OFF,
}
#: `fulfilledBy` as v0's `FulfillmentChannel`: the shipments' location id stays the same.
CHANNELS: Mapping[str, str] = {"AMAZON": "AFN", "MERCHANT": "MFN"}
#: Packages that have left the seller (`packageStatus.status`).
SENT_PACKAGE_STATUSES = frozenset({"IN_TRANSIT", "SHIPPED", "DELIVERED", "UNDELIVERABLE"})
PICKUP_POINT = "PICKUP_POINT"
FACILITATOR_MODEL = "MARKETPLACE_FACILITATOR"
INVOICE_BY_AMAZON = "INVOICE_BY_AMAZON"
AMAZON_BUSINESS = "AMAZON_BUSINESS"
#: Proceeds types that become a charge line of their own (one per order, summed over items).
CHARGE_LINES: Mapping[str, tuple[str, str, str]] = {
    "SHIPPING": ("shipping", "SHIPPING", "Shipping"),
    "GIFT_WRAP": ("gift_wrap", "GIFT-WRAP", "Gift wrap"),
    "COD_FEE": ("cod_fee", "COD-FEE", "Cash on delivery fee"),
    "OTHER": ("other_charges", "OTHER", "Other charges"),
}
ITEM = "ITEM"
TAX = "TAX"
DISCOUNT = "DISCOUNT"


# --- requests ---------------------------------------------------------------------------------


def search_request(
    marketplace_ids: Sequence[str],
    last_updated_after: datetime,
    pagination_token: str | None = None,
    max_results: int = MAX_RESULTS_PER_PAGE,
) -> ApiRequest:
    """`searchOrders` by `lastUpdatedAfter`; a next page repeats the filters with the token."""
    if not marketplace_ids:
        raise ValueError("searchOrders needs at least one marketplace id")
    if not 1 <= max_results <= MAX_RESULTS_PER_PAGE:
        raise ValueError(f"maxResultsPerPage must be 1..{MAX_RESULTS_PER_PAGE}")
    query = {
        "marketplaceIds": ",".join(marketplace_ids),
        "lastUpdatedAfter": amazon_time(last_updated_after),
        "maxResultsPerPage": str(max_results),
    }
    if pagination_token is not None:
        query["paginationToken"] = pagination_token
    return _get("searchOrders", BASE_PATH, query)


def order_request(order_id: str) -> ApiRequest:
    """`getOrder` with every dataset the normaliser reads."""
    path = f"{BASE_PATH}/{urllib.parse.quote(order_id, safe='')}"
    return _get("getOrder@2026-01-01", path, {"includedData": ",".join(INCLUDED_DATA)})


# --- answers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchPage:
    orders: tuple[OrderSummary, ...]
    next_token: str | None
    last_updated_before: datetime | None


def parse_search_page(body: bytes) -> SearchPage:
    """`{"orders": [...], "pagination": {"nextToken"}?, "lastUpdatedBefore"?}`."""
    page = _payload_object(body, "orders")
    summaries = []
    for order in page.children("orders"):
        fulfillment = order.child("fulfillment")
        status = "" if fulfillment is None else fulfillment.text("fulfillmentStatus")
        summaries.append(
            OrderSummary(order.ident("orderId"), order.time("lastUpdatedTime"), status)
        )
    pagination = page.child("pagination")
    token = (pagination.text("nextToken") if pagination is not None else "") or None
    return SearchPage(tuple(summaries), token, page.opt_time("lastUpdatedBefore"))


def parse_order(body: bytes) -> dict[str, Any]:
    """`getOrder`: `{"order": Order}`; the order object as Amazon sent it."""
    answer = _payload_object(body, "order")
    order = answer.child("order")
    if order is None:
        raise NormalisationError("$.order is missing")
    order.ident("orderId")
    return dict(order.data)


def order_document(order: Mapping[str, Any], financial_events: Mapping[str, Any] | None) -> bytes:
    """What the fetcher writes to `winkel.raw.amazon` (topic `ORDER_DOCUMENT_TOPIC`):
    `{"schema": "winkel.amazon-order/2026-01-01", "order": <getOrder's order>,
    "FinancialEvents": <merged Finances v0 events> | null}`."""
    return orjson.dumps(
        {
            "schema": ORDER_DOCUMENT_SCHEMA,
            "order": order,
            "FinancialEvents": None if financial_events is None else dict(financial_events),
        }
    )


def _last_update(order: _Doc) -> datetime:
    return order.time("lastUpdatedTime")


def document_delivery_id(body: bytes) -> str | None:
    """`<orderId>@<snapshot time>`, as for a v0 document of the same order and fees (the sink
    writes a snapshot once, whichever version fetched it)."""
    try:
        envelope = _Doc.parse(body)
        order = envelope.child("order")
        if order is None:
            return None
        as_of = _as_of_time(_last_update(order), _finances(envelope))
        return f"{order.ident('orderId')}@{amazon_time(as_of)}"
    except NormalisationError:
        return None


def order_summary(order: Mapping[str, Any]) -> OrderSummary:
    doc = _Doc(dict(order), "$.order")
    fulfillment = doc.child("fulfillment")
    status = "" if fulfillment is None else fulfillment.text("fulfillmentStatus")
    return OrderSummary(doc.ident("orderId"), _last_update(doc), status)


# --- reading an order -------------------------------------------------------------------------


def _money(doc: _Doc | None, key: str) -> tuple[Decimal, str] | None:
    """v2026 `Money`: `{"amount": "12.30", "currencyCode": "EUR"}` (amount is text)."""
    value = None if doc is None else doc.child(key)
    if value is None:
        return None
    return parse_amount(value.get("amount"), f"{value.path}.amount"), value.text("currencyCode")


@dataclass(frozen=True, slots=True)
class _ItemMoney:
    """One item's proceeds by line bucket (ITEM or a `CHARGE_LINES` type): gross and VAT."""

    gross: Mapping[str, Decimal]
    vat: Mapping[str, Decimal]
    currency: str


def _bucket(subtype: str) -> str:
    return subtype if subtype in CHARGE_LINES else ITEM


def _item_money(item: _Doc) -> _ItemMoney:
    proceeds = item.child("proceeds")
    amounts: dict[str, Decimal] = {}
    vat: dict[str, Decimal] = {}
    currencies: set[str] = set()
    stated_tax = ZERO
    for part in [] if proceeds is None else proceeds.children("breakdowns"):
        kind = part.text("type")
        money = _money(part, "subtotal")
        if money is None:
            raise NormalisationError(f"{part.path}.subtotal is missing")
        amount, currency = money
        currencies.add(currency)
        details = part.children("detailedBreakdowns")
        if kind == TAX:
            stated_tax += amount
            if not details:
                vat[ITEM] = vat.get(ITEM, ZERO) + amount
            for detail in details:
                value = _money(detail, "value")
                if value is not None:
                    # tax on a discount lowers the VAT of what was discounted (the item)
                    bucket = _bucket(detail.text("subtype"))
                    signed = -abs(value[0]) if detail.text("subtype") == DISCOUNT else value[0]
                    vat[bucket] = vat.get(bucket, ZERO) + signed
        elif kind == DISCOUNT:
            # A discount lowers the proceeds, whichever sign it is stated with.
            if not details:
                amounts[ITEM] = amounts.get(ITEM, ZERO) - abs(amount)
            for detail in details:
                value = _money(detail, "value")
                if value is not None:
                    bucket = _bucket(detail.text("subtype"))
                    amounts[bucket] = amounts.get(bucket, ZERO) - abs(value[0])
        elif kind == ITEM or kind in CHARGE_LINES:
            amounts[kind] = amounts.get(kind, ZERO) + amount
        else:
            raise NormalisationError(f"{part.path}.type {kind!r} is not a proceeds type")
    total = _money(proceeds, "proceedsTotal")
    if total is not None:
        currencies.add(total[1])
    currencies.discard("")
    if len(currencies) > 1:
        raise NormalisationError(f"{item.path}.proceeds in several currencies {sorted(currencies)}")
    before_tax = sum(amounts.values(), ZERO)
    if total is None or total[0] == before_tax + stated_tax:
        # the official examples' way: ITEM, SHIPPING, ... before tax, TAX on top
        gross = {k: v + vat.get(k, ZERO) for k, v in amounts.items()}
        for k, v in vat.items():
            gross.setdefault(k, v)
    elif total[0] == before_tax:
        gross = dict(amounts)  # tax included in ITEM, SHIPPING, ...
    else:
        raise NormalisationError(
            f"{item.path}.proceeds.proceedsTotal {total[0]} is neither the breakdowns' sum "
            f"{before_tax + stated_tax} nor their sum before tax {before_tax}"
        )
    return _ItemMoney(gross, vat, next(iter(currencies), ""))


def _lines(
    items: Sequence[_Doc], money: Mapping[str, _ItemMoney], country: str | None, on: datetime
) -> list[OrderLine]:
    """One product line per item (after discounts), one line per charge type for the order."""
    lines = []
    charges: dict[str, tuple[Decimal, Decimal]] = {}
    for item in items:
        item_id = item.ident("orderItemId")
        product = item.child("product")
        sku = ""
        title = ""
        if product is not None:
            sku = product.text("sellerSku") or product.text("asin")
            title = product.text("title")
        sku = sku or f"amazon-item-{item_id}"
        proceeds = money[item_id]
        lines.append(
            _line(
                item_id,
                sku,
                title or sku,
                item.count("quantityOrdered"),
                proceeds.gross.get(ITEM, ZERO),
                proceeds.vat.get(ITEM, ZERO),
                country,
                on,
                LineKind.PRODUCT,
            )
        )
        for kind in CHARGE_LINES:
            gross, vat = charges.get(kind, (ZERO, ZERO))
            charges[kind] = (
                gross + proceeds.gross.get(kind, ZERO),
                vat + proceeds.vat.get(kind, ZERO),
            )
    for kind, (line_id, sku, description) in CHARGE_LINES.items():
        gross, vat = charges.get(kind, (ZERO, ZERO))
        if gross != ZERO:
            lines.append(
                _line(line_id, sku, description, 1, gross, vat, country, on, LineKind.SHIPPING)
            )
    return lines


def buyer_vat_registration(order: _Doc) -> tuple[str, str] | None:
    """(VAT number, legal name) of the buyer's VAT registration, if the order names one."""
    tax = order.child("tax")
    for registration in [] if tax is None else tax.children("taxRegistrations"):
        if registration.text("entityType") != "BUYER":
            continue
        if registration.text("taxRegistrationType") not in ("VAT", ""):
            continue
        number = registration.text("taxRegistrationNumber").replace(" ", "").upper()
        if number:
            return number, registration.text("legalName")
    return None


def _customer(order: _Doc) -> Customer:
    """The buyer; a pickup point (locker, counter) is where the goods go, not who bought them."""
    recipient = order.child("recipient")
    address = None if recipient is None else recipient.child("deliveryAddress")
    buyer = order.child("buyer")
    pickup = address is not None and address.text("addressType").upper() == PICKUP_POINT
    registration = buyer_vat_registration(order)
    programs = order.get("programs")
    is_business = registration is not None or (
        isinstance(programs, list) and AMAZON_BUSINESS in programs
    )
    # A pickup point's name and company are the locker's, not the buyer's.
    person = "" if address is None or pickup else address.text("name")
    person = person or (buyer.text("buyerName") if buyer else "")
    company = "" if address is None or pickup else address.text("companyName")
    company = (buyer.text("buyerCompanyName") if buyer else "") or company
    if registration is not None and registration[1]:
        company = company or registration[1]
    country = address.text("countryCode").upper() if address else ""
    email = buyer.text("buyerEmail") if buyer else ""
    return Customer(
        name=(company if is_business and company else person or company) or "Amazon customer",
        country=country or None,
        vat_id=None if registration is None else registration[0],
        is_business=is_business,
        email=email or None,
    )


def marketplace_invoicing(order: _Doc, items: Sequence[_Doc], store: Store) -> str | None:
    """Why Amazon, not the seller, invoices this order; None when the seller does (as v0)."""
    programs = order.get("programs")
    if isinstance(programs, list) and INVOICE_BY_AMAZON in programs:
        return "Amazon invoices the order (program INVOICE_BY_AMAZON)"
    for item in items:
        tax = item.child("tax")
        for breakdown in [] if tax is None else tax.children("taxCalculationBreakdowns"):
            scheme = breakdown.text("reportingScheme")
            if scheme in DEEMED_RESELLER_CATEGORIES:
                return f"Amazon is the deemed supplier (reportingScheme {scheme})"
    for item in items:
        fulfillment = item.child("fulfillment")
        shipping = None if fulfillment is None else fulfillment.child("shipping")
        international = None if shipping is None else shipping.child("internationalShipping")
        ioss = "" if international is None else international.text("iossNumber")
        if ioss:
            return f"Amazon collects the VAT under IOSS (iossNumber {ioss})"
    for item in items:
        tax = item.child("tax")
        for collection in [] if tax is None else tax.children("taxCollections"):
            if collection.text("model") == FACILITATOR_MODEL:
                return "Amazon collects the VAT as marketplace facilitator (taxCollections)"
    if store.amazon_issues_invoices:
        return VCS_REASON
    return None


def _sent_packages(order: _Doc) -> list[_Doc]:
    sent = []
    for package in order.children("packages"):
        status = package.child("packageStatus")
        if status is not None and status.text("status") in SENT_PACKAGE_STATUSES:
            sent.append(package)
    return sent


def _package_country(package: _Doc) -> str:
    """The country a package left from (`shipFromAddress.countryCode`), "" where not named."""
    address = package.child("shipFromAddress")
    return address.text("countryCode").upper() if address is not None else ""


def ship_from_country(order: _Doc, channel: str | None, store: Store) -> str | None:
    """The VAT origin: the country the (first) sent package left from (merchant-fulfilled
    orders name it per package); Amazon-fulfilled orders name no warehouse in v2026 either,
    so the store's `fba_ship_from_country` stands in (the VCS report has the real one)."""
    for package in _sent_packages(order) or order.children("packages"):
        country = _package_country(package)
        if country:
            return country
    if channel == "AFN":
        return store.fba_ship_from_country
    return None


def _currency(order: _Doc, money: Mapping[str, _ItemMoney], finances: Finances | None) -> str:
    proceeds = order.child("proceeds")
    total = _money(proceeds, "grandTotal")
    if total is not None and total[1]:
        return total[1]
    for item in money.values():
        if item.currency:
            return item.currency
    if finances is not None and finances.currency:
        return finances.currency
    sales = order.child("salesChannel")
    currency = MARKETPLACE_CURRENCIES.get(sales.text("marketplaceId") if sales else "")
    if currency is None:
        raise NormalisationError("$.order has no currency (no proceeds, no marketplaceId)")
    return currency


def _quantity_fulfilled(item: _Doc) -> int:
    fulfillment = item.child("fulfillment")
    return 0 if fulfillment is None else fulfillment.count("quantityFulfilled", 0)


def _buyer_asked_to_cancel(items: Sequence[_Doc]) -> bool:
    for item in items:
        cancellation = item.child("cancellation")
        request = None if cancellation is None else cancellation.child("cancellationRequest")
        if request is not None and request.text("requester") == "BUYER":
            return True
    return False


def _order_events(
    envelope: _Doc, store: Store, received_at: datetime, source: str
) -> list[OrderEvent]:
    order = envelope.child("order")
    if order is None:
        raise NormalisationError("$.order is missing")
    order_id = order.ident("orderId")
    sales = order.child("salesChannel")
    _check_marketplace(sales.text("marketplaceId") if sales else "", store, "$.order.salesChannel")
    events = OrderEvents(MARKETPLACE, store, order_id, received_at, source)
    items = order.children("orderItems")
    if not items:
        raise NormalisationError("$.order.orderItems is empty or missing")
    fulfillment = order.child("fulfillment")
    if fulfillment is None:
        raise NormalisationError("$.order.fulfillment is missing (ask getOrder for FULFILLMENT)")
    status = fulfillment.text("fulfillmentStatus")
    if status not in STAGES:
        raise NormalisationError(f"$.order.fulfillment.fulfillmentStatus {status!r} is not known")
    raw_channel = fulfillment.text("fulfilledBy")
    channel = CHANNELS.get(raw_channel, raw_channel) or None
    placed_at = order.time("createdTime")
    updated = _last_update(order)
    finances = _finances(envelope)
    as_of = _as_of_time(updated, finances)
    customer = _customer(order)
    money = {item.ident("orderItemId"): _item_money(item) for item in items}
    sales_id = sales.text("marketplaceId") if sales else ""
    details = _details(
        order_id,
        order,
        items,
        money,
        finances,
        store,
        customer,
        placed_at,
        as_of,
        channel,
        sales_id,
    )
    stamp = amazon_time(as_of)
    result = [events.make(f"details@{stamp}", as_of, DetailsReported(details))]
    progress = []
    for item in items:
        ordered = item.count("quantityOrdered")
        shipped = _quantity_fulfilled(item)
        if shipped > ordered:
            raise NormalisationError(
                f"{item.path}: quantityFulfilled {shipped} > {ordered} ordered"
            )
        progress.append(ItemProgress(item.ident("orderItemId"), ordered, shipped))
    called_off = "unfulfillable" if status == "UNFULFILLABLE" else "cancelled on Amazon"
    return result + order_facts(
        events,
        STAGES[status],
        placed_at,
        updated,
        progress,
        channel,
        called_off,
        _buyer_asked_to_cancel(items),
        _package_shipments(order, store, channel, updated),
    )


def _package_shipments(
    order: _Doc, store: Store, channel: str | None, updated: datetime
) -> list[Shipment] | None:
    """A per-shipment store's packages that have left, as shipments (None: ship per item)."""
    packages = _sent_packages(order)
    if store.invoice_granularity is not InvoiceGranularity.PER_SHIPMENT or not packages:
        return None
    shipments = []
    for package in packages:
        reference = package.text("packageReferenceId")
        if not reference:
            raise NormalisationError(f"{package.path}.packageReferenceId is missing")
        lines = tuple(
            LineQuantity(p.ident("orderItemId"), p.count("quantity"))
            for p in package.children("packageItems")
        )
        if lines:
            sent_at = package.opt_time("shipTime") or package.opt_time("createdTime") or updated
            country = _package_country(package)
            number = package.text("trackingNumber")
            shipments.append(
                Shipment(
                    f"package:{reference}",
                    sent_at,
                    lines,
                    channel,
                    carrier=package.text("carrier") or None,
                    tracking_numbers=(number,) if number else (),
                    ship_from_country=country or None,
                )
            )
    return shipments


def _details(
    order_id: str,
    order: _Doc,
    items: Sequence[_Doc],
    money: Mapping[str, _ItemMoney],
    finances: Finances | None,
    store: Store,
    customer: Customer,
    placed_at: datetime,
    as_of: datetime,
    channel: str | None,
    marketplace_id: str,
) -> OrderDetails:
    return OrderDetails(
        name=order_id,
        currency=_currency(order, money, finances),
        customer=customer,
        lines=tuple(_lines(items, money, customer.country, placed_at)),
        placed_at=placed_at,
        as_of=as_of,
        invoiced_by_marketplace=marketplace_invoicing(order, items, store),
        ship_from_country=ship_from_country(order, channel, store),
        costs=() if finances is None else finances.fees,
        prices_include_vat=prices_include_vat(marketplace_id, store),
    )


def normalise_order(
    document: bytes, store: Store, received_at: datetime, source: str = "poll"
) -> list[OrderEvent]:
    """The events in a fetched v2026 order document (`order_document`)."""
    envelope = _Doc.parse(document)
    if envelope.get("schema") != ORDER_DOCUMENT_SCHEMA:
        raise NormalisationError(f"not a v2026 Amazon document: {envelope.get('schema')!r}")
    return _order_events(envelope, store, received_at, source)
