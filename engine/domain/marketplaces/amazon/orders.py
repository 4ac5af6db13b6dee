"""Amazon Selling Partner API: ORDER_CHANGE notifications as signals, fetched orders as truth.

Facts in docs/marketplaces.md §2, §5 and §8. Pure: this module builds requests and parses
responses; the HTTP calls, the token store and the fetch queue live in the shell.

Which Orders API: this module reads **v0** (`/orders/v0/orders`, `getOrders` by
`LastUpdatedAfter` with `NextToken` paging, `getOrder`, `getOrderItems`) and holds what both
versions share (notifications, LWA, Finances, usage plans, ids). **v2026-01-01**, the default
for a store (`orders_api_version`), is `engine.domain.marketplaces.amazon_v2026`; v0 must be left
by 2027-03-27 (docs/amazon.md). Two v0 gaps, which v2026 closes:

- v0 gives no EU buyer VAT id (`BuyerTaxInfo` is only filled in BR, MX and IN; §2.1).
  A business order is marked `is_business`; a VAT id is read from
  `BuyerInfo.BuyerTaxInfo.TaxClassifications` where one is named VAT, and otherwise stays
  unknown (the VCS report or v2026 `tax.taxRegistrations` would have it).
- v0 names no shipments: an item's `QuantityShipped` only grows. An item becomes one shipment
  (`item:<OrderItemId>`) once it has nothing left to ship, so every fact has a stable id
  however often and in whatever order the order is fetched. Items that ship in several parts
  are invoiced together when their last unit ships.

How an order reaches the engine:

- `POST /webhooks/amazon/{store_id}` takes an `ORDER_CHANGE` notification relayed from the
  seller's SQS queue (or EventBridge, whose envelope puts it under `detail`), authenticated by
  the store's shared secret in `X-Winkel-Token` (`verify`). It carries no prices: its order id
  (`parse_notification`) goes on the store's fetch queue; `NotificationId` is the dedupe key.
- The fetcher reads the order, its items and its financial events and writes them as one raw
  document (`order_document`, topic `ORDER_DOCUMENT_TOPIC`) to `winkel.raw.amazon`; a backup
  poll of `getOrders` by `LastUpdatedAfter` (`orders_request`) catches missed notifications.
- `normalise_order` turns that document into events whose ids come from Amazon's order id and
  `LastUpdateDate`, never from the delivery that carried them. Facts (payment, shipments,
  cancellations) keep one id whatever the snapshot; the details are per snapshot, whose time
  is `LastUpdateDate` or, when fees posted later (they lag by days or weeks), the newest
  `PostedDate`: a re-fetch that finds new fees replaces older details, an older one never does.

Statuses (v0 `OrderStatus`): `Pending`/`PendingAvailability` give details only (payment not
authorised, no address); `Unshipped` adds the payment (at `PurchaseDate`); `PartiallyShipped`
ships the items that are complete; `Shipped`/`InvoiceUnconfirmed` ship every item and cancel
what an item shipped short; `Canceled`/`Unfulfillable` call the whole order off. AFN/MFN is
the shipments' `location_id` (a store's `locations` can route FBA stock to a company); the
ship-from country is the MFN `DefaultShipFromLocationAddress` (v0 names no FBA warehouse).
Prices are VAT-inclusive (`ItemPrice` less `PromotionDiscount`, VAT `ItemTax` less
`PromotionDiscountTax`; shipping likewise, one shipping line per order); the rate is the
destination state's rate that gives exactly Amazon's VAT, else Amazon's ratio. Fees from the
Finances API become the details' `costs`, apart from what the customer paid.

Marketplace-collected VAT: where Amazon invoices the buyer (store flag
`amazon_issues_invoices`, VCS option 1), is the deemed supplier (`DeemedResellerCategory`
IOSS/UOSS, an `IossNumber`), collects as `MarketplaceFacilitator`, or Amazon Business EU SARL
is the seller of record (`IsSoldByAB`/`IsIBA`), the order's details say so
(`invoiced_by_marketplace`) and the lifecycle emits no seller invoice for it (§8.7).
"""

from __future__ import annotations

import hmac
import math
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError, SignatureError
from engine.domain.marketplaces._document import Document
from engine.domain.marketplaces._door import header_bytes, header_value, json_object
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.money import ZERO, parse_amount
from engine.domain.tax.exceptions import TaxError
from engine.domain.tax.rates import rates_on
from engine.domain.tax.split import split_line
from models.codec import DecodeError, parse_utc
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
    Marketplace,
    OrderDetails,
    OrderLine,
    Shipment,
)
from models.raw import RawDelivery

MARKETPLACE = Marketplace.AMAZON
#: The EU region's endpoint (docs/marketplaces.md §2.5); the store's `api_base_url` overrides it
#: (the fake).
API_BASE_URL = "https://sellingpartnerapi-eu.amazon.com"
TOKEN_URL = "https://api.amazon.com/auth/o2/token"
ACCESS_TOKEN_HEADER = "x-amz-access-token"
#: The relay's shared secret (docs/design.md "HTTP").
TOKEN_HEADER = "X-Winkel-Token"
KEPT_HEADERS = ("Content-Type", "User-Agent")
NOTIFICATION_TYPE = "ORDER_CHANGE"
#: Topic of a fetched order (order + items + financial events) on `winkel.raw.amazon`.
ORDER_DOCUMENT_TOPIC = "orders/v0/order"
ORDER_DOCUMENT_SCHEMA = "winkel.amazon-order/1"
#: Refresh the LWA token this long before it expires (it lasts an hour; docs/marketplaces.md §2.5).
TOKEN_MARGIN = timedelta(seconds=60)
#: getOrders returns at most 100 orders a page; Finances at most 100 events.
MAX_RESULTS_PER_PAGE = 100
#: getOrders wants `LastUpdatedAfter` at least two minutes in the past.
MIN_LAG = timedelta(minutes=2)

#: Every v0 `OrderStatus` (docs/marketplaces.md §2.1), and what each one means for the engine.
PENDING_STATUSES = frozenset({"Pending", "PendingAvailability"})  # payment not authorised
OPEN_STATUSES = frozenset({"Unshipped", "PartiallyShipped"})
#: Every item has shipped (`InvoiceUnconfirmed`: and the seller has not confirmed the invoice).
SHIPPED_STATUSES = frozenset({"Shipped", "InvoiceUnconfirmed"})
#: The whole order is called off (`Unfulfillable`: FBA multi-channel orders only).
CALLED_OFF_STATUSES = frozenset({"Canceled", "Unfulfillable"})
ORDER_STATUSES = PENDING_STATUSES | OPEN_STATUSES | SHIPPED_STATUSES | CALLED_OFF_STATUSES

#: Currencies of the European marketplaces, by marketplace id (Amazon's marketplace ids table).
MARKETPLACE_CURRENCIES: Mapping[str, str] = {
    "A1PA6795UKMFR9": "EUR",  # amazon.de
    "A13V1IB3VIYZZH": "EUR",  # amazon.fr
    "APJ6JRA9NG5V4": "EUR",  # amazon.it
    "A1RKKUPIHCS9HS": "EUR",  # amazon.es
    "A1805IZSGTT6HS": "EUR",  # amazon.nl
    "AMEN7PMS3EDWL": "EUR",  # amazon.com.be
    "A28R8C7NBKEWEA": "EUR",  # amazon.ie
    "A1C3SOZRARQ6R3": "PLN",  # amazon.pl
    "A2NODRKZP88ZB9": "SEK",  # amazon.se
    "A1F83G8C2ARO7P": "GBP",  # amazon.co.uk
}
FULFILMENT_CHANNELS = frozenset({"AFN", "MFN"})  # AFN: Fulfilled by Amazon (FBA)
#: Other spellings seen in Amazon's own v0 sandbox examples (not in the model's enum).
CHANNEL_ALIASES: Mapping[str, str] = {"SellerFulfilled": "MFN", "AmazonFulfilled": "AFN"}
FACILITATOR_MODEL = "MarketplaceFacilitator"
DEEMED_RESELLER_CATEGORIES = frozenset({"IOSS", "UOSS"})
VCS_REASON = "Amazon issues the invoice (VAT Calculation Service, store setting)"


# --- reading Amazon JSON ---------------------------------------------------------------------


class _Doc(Document):
    """Typed reads from SP-API JSON; every failure names the field."""

    def ident(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise NormalisationError(f"{self.path}.{key} must be an id, got {value!r}")
        return value.strip()

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise NormalisationError(f"{self.path}.{key} must be text, got {value!r}")
        return value.strip()

    def flag(self, key: str) -> bool:
        """v0 sends some booleans as text (`IsGift`, `IsBuyerRequestedCancel`: "true")."""
        value = self.data.get(key)
        return value is True or (isinstance(value, str) and value.strip().lower() == "true")

    def time(self, key: str) -> datetime:
        raw = self.data.get(key)
        if not isinstance(raw, str):
            raise NormalisationError(f"{self.path}.{key} must be an ISO-8601 time, got {raw!r}")
        try:
            return parse_utc(raw, f"{self.path}.{key}")
        except DecodeError as exc:
            raise NormalisationError(str(exc)) from None

    def opt_time(self, key: str) -> datetime | None:
        return None if self.data.get(key) in (None, "") else self.time(key)

    def count(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NormalisationError(f"{self.path}.{key} must be a count, got {value!r}")
        return value

    def money(self, key: str) -> tuple[Decimal, str] | None:
        """Orders API `Money`: `{"CurrencyCode": "EUR", "Amount": "12.30"}` (Amount is text)."""
        value = self.child(key)
        if value is None:
            return None
        amount = parse_amount(value.get("Amount"), f"{value.path}.Amount")
        return amount, value.text("CurrencyCode")

    def amount(self, key: str) -> Decimal:
        found = self.money(key)
        return ZERO if found is None else found[0]

    def currency_amount(self, key: str) -> tuple[Decimal, str] | None:
        """Finances API `Currency`: `{"CurrencyCode": "EUR", "CurrencyAmount": -1.5}` (a number)."""
        value = self.child(key)
        if value is None:
            return None
        amount = parse_amount(value.get("CurrencyAmount"), f"{value.path}.CurrencyAmount")
        return amount, value.text("CurrencyCode")


def amazon_time(moment: datetime) -> str:
    """SP-API times: ISO 8601 in UTC with a `Z` (`2026-11-02T10:15:00Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- relayed ORDER_CHANGE notifications -------------------------------------------------------


def verify(body: bytes, headers: Mapping[str, str], secrets: Iterable[bytes]) -> None:
    """Accept the relay's delivery if `X-Winkel-Token` equals one of the store's secrets.

    SP-API notifications carry no signature of their own (SQS is authenticated by IAM;
    docs/marketplaces.md §8.4), so the seller's forwarder presents a shared secret. Compared
    in constant time; several secrets are accepted while a rotation settles.
    """
    del body  # the token authenticates the sender, not the body
    presented = header_value(headers, TOKEN_HEADER)
    if not presented:
        raise SignatureError(f"missing {TOKEN_HEADER} header")
    given = header_bytes(presented.strip())
    candidates = [secret for secret in secrets if secret]
    if not candidates:
        raise SignatureError("no shared secret is configured for this store")
    matched = False
    for secret in candidates:  # no early exit: every secret is compared
        matched |= hmac.compare_digest(given, secret)
    if not matched:
        raise SignatureError(f"{TOKEN_HEADER} does not match the store's secret")


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What an `ORDER_CHANGE` notification says: which order to fetch, and why."""

    notification_id: str
    amazon_order_id: str
    event_time: datetime | None
    seller_id: str | None
    marketplace_id: str | None
    order_status: str | None
    change_type: str | None
    change_reason: str | None


def _notification_object(body: bytes) -> dict[str, Any] | None:
    document = json_object(body)
    if document is None:
        return None
    # An EventBridge rule forwards the notification as the event's `detail`.
    detail = document.get("detail")
    if "NotificationType" not in document and isinstance(detail, dict):
        return detail
    return document


def parse_notification(body: bytes) -> OrderChange | None:
    """The ORDER_CHANGE in `body`, or None if it is not one (the route answers 400 then)."""
    document = _notification_object(body)
    if document is None or document.get("NotificationType") != NOTIFICATION_TYPE:
        return None
    payload = document.get("Payload")
    metadata = document.get("NotificationMetadata")
    if not isinstance(payload, dict) or not isinstance(metadata, dict):
        return None
    change = payload.get("OrderChangeNotification")
    if not isinstance(change, dict):
        return None
    notification_id = metadata.get("NotificationId")
    order_id = change.get("AmazonOrderId")
    if not isinstance(notification_id, str) or not notification_id.strip():
        return None
    if not isinstance(order_id, str) or not order_id.strip():
        return None
    summary = change.get("Summary")
    summary = summary if isinstance(summary, dict) else {}
    trigger = change.get("OrderChangeTrigger")
    trigger = trigger if isinstance(trigger, dict) else {}

    def text(source: Mapping[str, Any], key: str) -> str | None:
        value = source.get(key)
        return value if isinstance(value, str) and value else None

    event_time: datetime | None = None
    raw_time = text(document, "EventTime")
    if raw_time is not None:
        try:
            event_time = parse_utc(raw_time, "$.EventTime")
        except DecodeError:
            event_time = None
    return OrderChange(
        notification_id=notification_id.strip(),
        amazon_order_id=order_id.strip(),
        event_time=event_time,
        seller_id=text(change, "SellerId"),
        marketplace_id=text(summary, "MarketplaceId"),
        order_status=text(summary, "OrderStatus"),
        change_type=text(change, "OrderChangeType"),
        change_reason=text(trigger, "ChangeReason"),
    )


def notification_identity(body: bytes) -> tuple[str, str] | None:
    """(NotificationId, NotificationType) of any SP-API notification, ORDER_CHANGE or not.

    The route keeps a verified notification of another type (it is dead-lettered downstream,
    never bounced: the relay would only retry it); a body without these is no delivery.
    """
    document = _notification_object(body)
    metadata = None if document is None else document.get("NotificationMetadata")
    if document is None or not isinstance(metadata, dict):
        return None
    notification_id, kind = metadata.get("NotificationId"), document.get("NotificationType")
    if not isinstance(notification_id, str) or not notification_id.strip():
        return None
    if not isinstance(kind, str) or not kind.strip():
        return None
    return notification_id.strip(), kind.strip()


def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """`NotificationMetadata.NotificationId`: the same on SQS redeliveries
    (docs/marketplaces.md §8.3)."""
    del headers
    change = parse_notification(body)
    return None if change is None else change.notification_id


def external_order_id(body: bytes) -> str | None:
    change = parse_notification(body)
    return None if change is None else change.amazon_order_id


# --- Login with Amazon ------------------------------------------------------------------------


class TokenRequest(NamedTuple):
    url: str
    headers: Mapping[str, str]
    body: bytes


def token_request(
    client_id: str, client_secret: str, refresh_token: str, url: str = TOKEN_URL
) -> TokenRequest:
    """`POST https://api.amazon.com/auth/o2/token`, form-encoded, `grant_type=refresh_token`."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
    ).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
        "Accept": "application/json",
    }
    return TokenRequest(url, headers, body)


@dataclass(frozen=True, slots=True)
class TokenError:
    """LWA's error answer: `{"error": "invalid_grant", "error_description": "..."}`."""

    error: str
    description: str

    @property
    def needs_new_credentials(self) -> bool:
        """A refresh token revoked or credentials wrong: retrying will not help."""
        return self.error in {"invalid_grant", "invalid_client", "unauthorized_client"}


def parse_token_error(body: bytes) -> TokenError:
    document = json_object(body) or {}
    error = document.get("error")
    description = document.get("error_description")
    return TokenError(
        error if isinstance(error, str) else "unknown_error",
        description if isinstance(description, str) else "",
    )


@dataclass(frozen=True, slots=True)
class TokenCache:
    """An LWA access token and when it expires (an hour after issue).

    Keep one per refresh token, shared by every fetcher process, and reuse it for its whole
    lifetime minus `margin` (clock skew and a request started just before expiry).
    """

    token: str
    expires_at: datetime

    def valid(self, now: datetime, margin: timedelta = TOKEN_MARGIN) -> bool:
        return bool(self.token) and now < self.expires_at - margin

    @classmethod
    def from_response(cls, body: bytes, now: datetime) -> TokenCache:
        """`{"access_token", "token_type": "bearer", "expires_in": 3600, "refresh_token"}`."""
        document = _Doc.parse(body)
        token = document.text("access_token")
        if not token:
            raise NormalisationError("$.access_token is missing")
        if document.text("token_type", "bearer").lower() != "bearer":
            raise NormalisationError(f"unexpected token_type {document.get('token_type')!r}")
        return cls(token, now + timedelta(seconds=document.count("expires_in")))


# --- SP-API requests --------------------------------------------------------------------------


class ApiRequest(NamedTuple):
    """A GET against the SP-API: path (from the regional base URL), query and headers."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    #: The operation whose usage plan the call spends (`DEFAULT_RATES`).
    operation: str


def _get(operation: str, path: str, query: Mapping[str, str] | None = None) -> ApiRequest:
    return ApiRequest(path, dict(query or {}), {"Accept": "application/json"}, operation)


def authorised(request: ApiRequest, token: TokenCache | str) -> ApiRequest:
    value = token.token if isinstance(token, TokenCache) else token
    return request._replace(headers={**request.headers, ACCESS_TOKEN_HEADER: value})


def _order_path(order_id: str) -> str:
    return f"/orders/v0/orders/{urllib.parse.quote(order_id, safe='')}"


def orders_request(
    marketplace_ids: Sequence[str],
    last_updated_after: datetime | None = None,
    next_token: str | None = None,
    max_results: int = MAX_RESULTS_PER_PAGE,
) -> ApiRequest:
    """`getOrders`: orders changed at or after `last_updated_after`, or the page `next_token`.

    A follow-up page sends `MarketplaceIds` and `NextToken` only: the token carries the
    original filters. Poll with a cursor a little behind the last page's `LastUpdatedBefore`
    (`next_cursor`), since an order changed while paging shows up again next time.
    """
    if not marketplace_ids:
        raise ValueError("getOrders needs at least one marketplace id")
    if not 1 <= max_results <= MAX_RESULTS_PER_PAGE:
        raise ValueError(f"MaxResultsPerPage must be 1..{MAX_RESULTS_PER_PAGE}")
    query = {"MarketplaceIds": ",".join(marketplace_ids)}
    if next_token is not None:
        query["NextToken"] = next_token
    elif last_updated_after is not None:
        query["LastUpdatedAfter"] = amazon_time(last_updated_after)
        query["MaxResultsPerPage"] = str(max_results)
    else:
        raise ValueError("getOrders needs LastUpdatedAfter or a NextToken")
    return _get("getOrders", "/orders/v0/orders", query)


def order_request(order_id: str) -> ApiRequest:
    return _get("getOrder", _order_path(order_id))


def order_items_request(order_id: str, next_token: str | None = None) -> ApiRequest:
    query = {} if next_token is None else {"NextToken": next_token}
    return _get("getOrderItems", f"{_order_path(order_id)}/orderItems", query)


def financial_events_request(
    order_id: str, next_token: str | None = None, max_results: int = MAX_RESULTS_PER_PAGE
) -> ApiRequest:
    """`GET /finances/v0/orders/{orderId}/financialEvents` (fees post days to weeks later)."""
    query = {"MaxResultsPerPage": str(max_results)}
    if next_token is not None:
        query["NextToken"] = next_token
    path = f"/finances/v0/orders/{urllib.parse.quote(order_id, safe='')}/financialEvents"
    return _get("listFinancialEventsByOrderId", path, query)


def order_fetches(change: OrderChange) -> list[ApiRequest]:
    """What a notification asks the fetcher to read: the order and its items (fees too)."""
    order_id = change.amazon_order_id
    return [order_request(order_id), order_items_request(order_id)]


# --- SP-API responses -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiError:
    code: str
    message: str
    details: str


def parse_errors(body: bytes) -> list[ApiError]:
    """`{"errors": [{"code", "message", "details"}]}`, the SP-API's error body."""
    document = json_object(body) or {}
    errors = document.get("errors")
    found = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            found.append(
                ApiError(
                    str(error.get("code", "")),
                    str(error.get("message", "")),
                    str(error.get("details", "") or ""),
                )
            )
    return found


def _payload(body: bytes) -> _Doc:
    document = _Doc.parse(body)
    payload = document.child("payload")
    if payload is None:
        errors = parse_errors(body)
        why = "; ".join(f"{e.code}: {e.message}" for e in errors) or "no payload"
        raise NormalisationError(f"SP-API answer without payload: {why}")
    return payload


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One order of a getOrders page: enough to decide whether it must be fetched again."""

    amazon_order_id: str
    last_update: datetime
    status: str

    @property
    def change_key(self) -> str:
        """Fetch an order once per key (the order's fetch cursor in Redis)."""
        return f"{self.amazon_order_id}@{amazon_time(self.last_update)}"


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: tuple[OrderSummary, ...]
    raw_orders: tuple[dict[str, Any], ...]
    next_token: str | None
    last_updated_before: datetime | None


def parse_orders_page(body: bytes) -> OrdersPage:
    """`{"payload": {"Orders": [...], "NextToken"?, "LastUpdatedBefore"?}}`."""
    payload = _payload(body)
    orders = payload.children("Orders")
    token = payload.text("NextToken") or None
    return OrdersPage(
        orders=tuple(
            OrderSummary(o.ident("AmazonOrderId"), o.time("LastUpdateDate"), o.text("OrderStatus"))
            for o in orders
        ),
        raw_orders=tuple(o.data for o in orders),
        next_token=token,
        last_updated_before=payload.opt_time("LastUpdatedBefore"),
    )


def next_cursor(
    previous: datetime,
    pages: Sequence[OrdersPage],
    now: datetime,
    overlap: timedelta = MIN_LAG,
) -> datetime:
    """Where the next poll starts once every page is read: the newest change seen (or the
    `LastUpdatedBefore` Amazon answered up to), held back by `overlap` (a change seen twice
    is harmless, a gap would lose one), never moving backwards."""
    newest = previous
    for page in pages:
        newest = max([newest, *(o.last_update for o in page.orders)])
        if page.last_updated_before is not None:
            newest = max(newest, page.last_updated_before)
    return max(previous, min(newest, now - MIN_LAG) - overlap)


def parse_order(body: bytes) -> dict[str, Any]:
    """`getOrder`: `{"payload": Order}`."""
    payload = _payload(body)
    payload.ident("AmazonOrderId")
    return dict(payload.data)


@dataclass(frozen=True, slots=True)
class ItemsPage:
    items: tuple[dict[str, Any], ...]
    next_token: str | None


def parse_order_items_page(body: bytes) -> ItemsPage:
    """`getOrderItems`: `{"payload": {"AmazonOrderId", "OrderItems": [...], "NextToken"?}}`."""
    payload = _payload(body)
    items = payload.children("OrderItems")
    return ItemsPage(tuple(i.data for i in items), payload.text("NextToken") or None)


@dataclass(frozen=True, slots=True)
class FinancialEventsPage:
    events: dict[str, Any]
    next_token: str | None


def parse_financial_events_page(body: bytes) -> FinancialEventsPage:
    """`{"payload": {"FinancialEvents": {"ShipmentEventList": [...], ...}, "NextToken"?}}`."""
    payload = _payload(body)
    events = payload.child("FinancialEvents")
    return FinancialEventsPage(
        {} if events is None else dict(events.data), payload.text("NextToken") or None
    )


def merge_financial_events(pages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The event lists of several pages as one `FinancialEvents` object."""
    merged: dict[str, list[Any]] = {}
    for page in pages:
        for key, value in page.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
    return dict(merged)


# --- fees -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finances:
    """An order's money as Amazon's Finances API posts it, by type, summed over events.

    `fees` are what Amazon charges the seller (positive = a cost: Amazon posts them negative),
    `charges` what the buyer paid (`Principal`, `Tax`, `ShippingCharge`, ...), `withheld` the
    tax Amazon kept as marketplace facilitator. The three never mix.
    """

    currency: str | None
    fees: tuple[tuple[str, Decimal], ...]
    charges: tuple[tuple[str, Decimal], ...]
    withheld: tuple[tuple[str, Decimal], ...]
    #: The newest `PostedDate`: fees post days to weeks after the order last changed.
    last_posted: datetime | None = None

    @property
    def total_fees(self) -> Decimal:
        return sum((amount for _, amount in self.fees), ZERO)


_FEE_LISTS = ("ItemFeeList", "ItemFeeAdjustmentList")
_CHARGE_LISTS = ("ItemChargeList", "ItemChargeAdjustmentList")
_WITHHELD_LISTS = ("ItemTaxWithheldList",)
_ORDER_FEE_LISTS = ("ShipmentFeeList", "OrderFeeList", "ShipmentFeeAdjustmentList")
_EVENT_LISTS = (
    "ShipmentEventList",
    "RefundEventList",
    "GuaranteeClaimEventList",
    "ChargebackEventList",
)


def parse_finances(financial_events: Mapping[str, Any]) -> Finances:
    """Fees, charges and withheld tax of one order's `FinancialEvents`."""
    fees: dict[str, Decimal] = {}
    charges: dict[str, Decimal] = {}
    withheld: dict[str, Decimal] = {}
    currencies: set[str] = set()

    def add(target: dict[str, Decimal], kind: str, money: tuple[Decimal, str] | None) -> None:
        if money is None:
            return
        amount, currency = money
        if currency:
            currencies.add(currency)
        target[kind] = target.get(kind, ZERO) + amount

    root = _Doc(dict(financial_events), "$.FinancialEvents")
    posted: list[datetime] = []
    for list_name in _EVENT_LISTS:
        for event in root.children(list_name):
            when = event.opt_time("PostedDate")
            if when is not None:
                posted.append(when)
            for fee_list in _ORDER_FEE_LISTS:
                for fee in event.children(fee_list):
                    add(fees, fee.text("FeeType") or "Fee", fee.currency_amount("FeeAmount"))
            items = event.children("ShipmentItemList")
            items += event.children("ShipmentItemAdjustmentList")
            for item in items:
                for fee_list in _FEE_LISTS:
                    for fee in item.children(fee_list):
                        add(fees, fee.text("FeeType") or "Fee", fee.currency_amount("FeeAmount"))
                for charge_list in _CHARGE_LISTS:
                    for charge in item.children(charge_list):
                        kind = charge.text("ChargeType") or "Charge"
                        add(charges, kind, charge.currency_amount("ChargeAmount"))
                for withheld_list in _WITHHELD_LISTS:
                    for entry in item.children(withheld_list):
                        for tax in entry.children("TaxesWithheld"):
                            kind = tax.text("ChargeType") or entry.text("TaxCollectionModel")
                            add(withheld, kind, tax.currency_amount("ChargeAmount"))
    if len(currencies) > 1:
        raise NormalisationError(f"financial events in several currencies: {sorted(currencies)}")
    return Finances(
        currency=next(iter(currencies), None),
        # Amazon posts fees as negative amounts (a debit to the seller): a cost is the negation.
        fees=tuple((kind, -amount) for kind, amount in sorted(fees.items()) if amount),
        charges=tuple(sorted(charges.items())),
        withheld=tuple(sorted(withheld.items())),
        last_posted=max(posted, default=None),
    )


# --- the raw order document -------------------------------------------------------------------


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


# --- events -----------------------------------------------------------------------------------


class _Events(OrderEvents):
    """One Amazon order's events, with ids derived from its order id and change times."""

    def __init__(self, store: Store, order_id: str, received_at: datetime, source: str) -> None:
        super().__init__(MARKETPLACE, store, order_id, received_at, source)


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
    events = _Events(store, order_id, received_at, source)
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
    events: _Events,
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


def normalise(delivery: RawDelivery, store: Store) -> list[OrderEvent]:
    """The order events of one record on `winkel.raw.amazon`.

    A notification carries no order data and yields nothing: the fetcher reads the order.
    """
    from engine.domain.marketplaces.amazon import v2026 as amazon_v2026  # it builds on this module

    if delivery.topic == ORDER_DOCUMENT_TOPIC:
        source = f"poll:{delivery.delivery_id}"
        return normalise_order(delivery.body, store, delivery.received_at, source)
    if delivery.topic == amazon_v2026.ORDER_DOCUMENT_TOPIC:
        source = f"poll:{delivery.delivery_id}"
        return amazon_v2026.normalise_order(delivery.body, store, delivery.received_at, source)
    if delivery.topic == NOTIFICATION_TYPE and parse_notification(delivery.body) is not None:
        return []
    raise NormalisationError(f"Amazon topic {delivery.topic!r} is not handled")


# --- rate limits ------------------------------------------------------------------------------

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
REQUEST_ID_HEADER = "x-amzn-RequestId"
RETRY_AFTER_HEADER = "Retry-After"


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """Requests per second, and how many may come at once (the bucket's size)."""

    rate: float
    burst: int


#: Default usage plans (docs/marketplaces.md §2.1, §2.3); the header may report a different rate.
DEFAULT_RATES: Mapping[str, UsagePlan] = {
    "getOrders": UsagePlan(0.0167, 20),
    "getOrder": UsagePlan(0.5, 30),
    "getOrderItems": UsagePlan(0.5, 30),
    "listFinancialEventsByOrderId": UsagePlan(0.5, 30),
    # Orders API v2026-01-01 (engine.domain.marketplaces.amazon_v2026)
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder@2026-01-01": UsagePlan(0.5, 30),
}
MAX_BACKOFF_SECONDS = 300.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value


def reported_rate(headers: Mapping[str, str]) -> float | None:
    """`x-amzn-RateLimit-Limit`: the operation's rate in requests per second, when sent."""
    return _number(header_value(headers, RATE_LIMIT_HEADER))


def retry_after(
    status: int,
    headers: Mapping[str, str],
    operation: str,
    attempt: int = 0,
    known_rate: float | None = None,
) -> float | None:
    """Seconds to wait before calling `operation` again, or None: go ahead, or give up.

    SP-API answers 429 (`QuotaExceeded`) with neither `Retry-After` nor (per the v0 and v2026
    models) `x-amzn-RateLimit-Limit`: only `x-amzn-RequestId`. So the wait is one token of the
    operation's rate (one request's worth), doubled per failed attempt, capped; the rate is the
    429's header if one is sent after all, else `known_rate` (what the last successful answer
    reported), else the default usage plan. A `Retry-After` is honoured where one is sent.
    5xx answers back off the same way. Other 4xx answers are not retried (None).
    """
    if status not in RETRYABLE_STATUSES:
        return None
    explicit = _number(header_value(headers, RETRY_AFTER_HEADER))
    if explicit is not None:
        return min(explicit, MAX_BACKOFF_SECONDS)
    plan = DEFAULT_RATES.get(operation, UsagePlan(0.5, 1))
    rate = reported_rate(headers) or known_rate or plan.rate
    return min((1.0 / rate) * math.pow(2.0, max(attempt, 0)), MAX_BACKOFF_SECONDS)


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket for one operation (SP-API's own model of rate and burst), held per
    seller and operation in the shell; `take` says how long to wait before the call."""

    plan: UsagePlan
    tokens: float
    at: datetime

    @classmethod
    def full(cls, plan: UsagePlan, now: datetime) -> Bucket:
        return cls(plan, float(plan.burst), now)

    def take(self, now: datetime) -> tuple[Bucket, float]:
        """The bucket after one request at `now`, and the seconds to wait before making it.

        A request already promised a later slot (`at` in the future) queues behind it.
        """
        start = max(now, self.at)
        elapsed = (start - self.at).total_seconds()
        tokens = min(float(self.plan.burst), self.tokens + elapsed * self.plan.rate)
        if tokens >= 1.0:
            return Bucket(self.plan, tokens - 1.0, start), (start - now).total_seconds()
        ready = start + timedelta(seconds=(1.0 - tokens) / self.plan.rate)
        return Bucket(self.plan, 0.0, ready), (ready - now).total_seconds()

    def throttled(self, now: datetime) -> Bucket:
        """After a 429: Amazon's bucket is empty whatever ours said."""
        return Bucket(self.plan, 0.0, now)
