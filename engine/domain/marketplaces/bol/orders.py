"""bol.com Retailer API v10: push notifications as signals, polled orders as the truth.

Facts in docs/marketplaces.md §1 and §8. Pure: this module builds requests and
parses responses; the HTTP calls, the token store and the poll cursors live in the shell.

How an order reaches the engine:

- A push notification (`POST /webhooks/bol/{store_id}`, RSA-SHA256 signed) carries no order
  data, only `{resource, resourceId, type}`. It is a signal to fetch: `notification_fetches`.
- The poller reads `GET /retailer/orders` (FBR and FBB, `status=ALL`,
  `change-interval-minute`) and fetches an order's detail once per `latestChangedDateTime`
  (the detail endpoint allows ~8 calls a minute). `normalise_order` turns the detail into
  events. Handled orders leave that list after 48 hours, so polling must not pause longer.
- Shipments come from `GET /retailer/shipments/{id}` (`parse_shipments`): one order item may
  ship in several shipments, which is where partial shipments come from.
- Returns come from `GET /retailer/returns` (`parse_returns`); bol names the returned product by
  EAN, so placing a return on an order line needs the order's items (`order_items`).

Every event id is derived from bol's own ids and change times (never from the delivery that
carried it), so a push-triggered fetch and a poll of the same change are one event.

Pick-up points (PUDO): `pickupPoint: true` means `shipmentDetails` holds the pick-up point's
address (and `pickupPointName`), not the customer's. So the customer's name, company and
country are never taken from the pick-up point: they come from `billingDetails` (the
customer's own address), falling back to the recipient's name in `shipmentDetails`. The VAT
destination stays the customer's country. Nothing else changes: lines, prices, shipments and
returns are the same as for a home delivery. `models.order` has no field yet that says
"delivered to a pick-up point", so the flag itself is not carried into the events.

FBB vs FBR: the fulfilment method ("FBR": the seller ships; "FBB": bol ships from its own
warehouse) becomes the shipment's `location_id`, so a store's `locations` can route an FBB
shipment to the company that owns the stock held by bol.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Literal, NamedTuple

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from engine.domain.config import Store
from engine.domain.exceptions import ConfigError, NormalisationError, SignatureError
from engine.domain.marketplaces._document import Document
from engine.domain.marketplaces._door import header_value, json_object
from engine.domain.marketplaces._events import OrderEvents
from engine.domain.money import ZERO, parse_amount
from engine.domain.tax.exceptions import TaxError
from engine.domain.tax.split import line_amount, split_line
from models.codec import DecodeError, parse_utc
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ReturnReceived,
    ReturnRequested,
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
    Return,
    Shipment,
)
from models.raw import RawDelivery

MARKETPLACE = Marketplace.BOL
API_BASE_URL = "https://api.bol.com"
TOKEN_URL = "https://login.bol.com/token"
#: v10 media type; bol versions each resource separately and answers 406 to an unknown one.
MEDIA_TYPE = "application/vnd.retailer.v10+json"
#: `Signature: keyId=0, algorithm="rsa-sha256", signature=<base64>` (third-party descriptions;
#: not confirmed on a bol page, so the parser tolerates quoting and spacing either way).
SIGNATURE_HEADER = "Signature"
SIGNATURE_ALGORITHM = "rsa-sha256"
#: bol's list endpoints (orders, shipments, returns) return 50 items per page.
PAGE_SIZE = 50
#: bol sells in euros only; the order carries no currency.
CURRENCY = "EUR"
#: Refresh the access token this long before bol says it expires (see `TokenCache`).
TOKEN_MARGIN = timedelta(seconds=30)
#: How long to wait after a 429 that names no wait at all.
DEFAULT_BACKOFF_SECONDS = 60.0

#: INTERIM until the VAT module decides rates per product: bol orders carry no VAT rate or
#: amount, and bol sells to the Netherlands and Belgium only, so the standard rate of the
#: customer's country is used. Reduced-rate goods (books, food: NL 9%, BE 6%) come out wrong
#: here and must be re-split by the VAT module from the gross amounts, which are exact.
DEFAULT_VAT_RATES: Mapping[str, Decimal] = {"NL": Decimal("0.21"), "BE": Decimal("0.21")}

FulfilmentFilter = Literal["FBR", "FBB", "ALL"]
StatusFilter = Literal["OPEN", "SHIPPED", "ALL"]

#: Handling results after which the units are back and the customer gets their money: a credit.
#: `STILL_APPROVED` is a return that failed the conditions but was approved anyway.
CREDITED_HANDLING_RESULTS = frozenset({"RETURN_RECEIVED", "STILL_APPROVED"})
#: The other documented handling results: no credit (the product is exchanged, repaired, kept
#: against payment, or the return was refused). The request stays open in the order's state.
UNCREDITED_HANDLING_RESULTS = frozenset(
    {
        "EXCHANGE_PRODUCT",
        "RETURN_DOES_NOT_MEET_CONDITIONS",
        "REPAIR_PRODUCT",
        "CUSTOMER_KEEPS_PRODUCT_PAID",
    }
)
#: A processing result bol refused is not a receipt, whatever the handling result asked for.
REFUSED_PROCESSING_RESULTS = frozenset({"REJECTED", "CANCELLED"})

#: Topics of raw deliveries on `winkel.raw.bol`: pushes keep `<resource>:<type>`; documents the
#: poller fetched are written under these, so the normalise agent treats both alike.
ORDER_DOCUMENT_TOPIC = "retailer/order"
SHIPMENT_DOCUMENT_TOPIC = "retailer/shipment"
#: `{"return": <bol Return>, "orders": [<bol Order>, ...]}`: a return needs its orders' items.
RETURN_DOCUMENT_TOPIC = "retailer/return"


# --- reading bol JSON ----------------------------------------------------------------------


class _Doc(Document):
    """Typed reads from a bol JSON object; every failure names the field."""

    def ident(self, key: str) -> str:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise NormalisationError(f"{self.path}.{key} must be an id, got {value!r}")
        return str(value)

    def opt_ident(self, key: str) -> str | None:
        return None if self.data.get(key) in (None, "") else self.ident(key)

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise NormalisationError(f"{self.path}.{key} must be text, got {value!r}")
        return value.strip()

    def flag(self, key: str) -> bool:
        return self.data.get(key) is True

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

    def amount(self, key: str) -> Decimal:
        return parse_amount(self.data.get(key), f"{self.path}.{key}")

    def opt_amount(self, key: str) -> Decimal | None:
        return None if self.data.get(key) is None else self.amount(key)

    def count(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NormalisationError(f"{self.path}.{key} must be a count, got {value!r}")
        return value

    def opt_count(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.count(key)


# --- push notifications --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    key_id: str | None
    algorithm: str | None
    signature: bytes


_SIGNATURE_PART = re.compile(r'\s*([A-Za-z]+)\s*=\s*("([^"]*)"|[^,]*)\s*(?:,|$)')


def parse_signature_header(value: str) -> SignatureHeader:
    """`keyId=0, algorithm="rsa-sha256", signature=<base64>`, quoted or not, in any order."""
    parts: dict[str, str] = {}
    for match in _SIGNATURE_PART.finditer(value):
        name, bare, quoted = match.group(1), match.group(2), match.group(3)
        parts[name.lower()] = (quoted if quoted is not None else bare).strip()
    encoded = parts.get("signature")
    if not encoded:
        raise SignatureError(f"{SIGNATURE_HEADER} header has no signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} signature is not base64") from None
    return SignatureHeader(parts.get("keyid") or None, parts.get("algorithm") or None, signature)


@lru_cache(maxsize=64)
def _public_key(material: bytes) -> rsa.RSAPublicKey:
    """A PEM public key, or bol's bare base64 DER (`/retailer/subscriptions/signature-keys`)."""
    try:
        if b"-----BEGIN" in material:
            key = serialization.load_pem_public_key(material)
        else:
            # base64 copied into an environment variable may be wrapped over several lines
            der = base64.b64decode(b"".join(material.split()), validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"not a usable bol public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError("bol signs with RSA, but a configured public key is not an RSA key")
    return key


def load_public_key(material: str | bytes) -> rsa.RSAPublicKey:
    """Parse one configured key now, so a bad one fails at start-up rather than per delivery."""
    return _public_key((material.encode() if isinstance(material, str) else material).strip())


_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


def parse_public_keys(text: str) -> tuple[str, ...]:
    """Keys from one environment variable: PEM blocks back to back, or comma-separated base64."""
    blocks = tuple(block.group(0) for block in _PEM_BLOCK.finditer(text))
    if blocks:
        return blocks
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_signature_keys(body: bytes) -> dict[str, str]:
    """`GET /retailer/subscriptions/signature-keys`: key id -> base64 public key."""
    document = _Doc.parse(body)
    keys: dict[str, str] = {}
    for entry in document.children("signatureKeys"):
        if entry.text("type", "RSA") != "RSA":
            continue
        keys[entry.ident("id")] = entry.text("publicKey")
    return keys


def verify(
    body: bytes,
    headers: Mapping[str, str],
    public_keys: Mapping[str, str | bytes] | Iterable[str | bytes],
) -> None:
    """Accept the push if its RSA-SHA256 (PKCS#1 v1.5) signature over the raw body verifies.

    `public_keys` is either key id -> key (the header's `keyId` is then tried first) or just
    the keys; any configured key may sign, so a rotation can overlap. Keys are PEM or bol's
    base64 DER. Raises `SignatureError`, or `ConfigError` for a key that cannot be parsed.
    """
    value = header_value(headers, SIGNATURE_HEADER)
    if not value:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    header = parse_signature_header(value)
    if header.algorithm is not None and header.algorithm.lower() != SIGNATURE_ALGORITHM:
        raise SignatureError(f"unsupported signature algorithm {header.algorithm!r}")
    candidates: list[str | bytes]
    if isinstance(public_keys, str | bytes):
        candidates = [public_keys]
    elif isinstance(public_keys, Mapping):
        named = public_keys.get(header.key_id) if header.key_id is not None else None
        candidates = [named] if named is not None else []
        candidates += [key for key in public_keys.values() if key is not named]
    else:
        candidates = list(public_keys)
    if not candidates:
        raise SignatureError("no bol public key is configured for this store")
    for material in candidates:
        try:
            load_public_key(material).verify(
                header.signature, body, padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            continue
        return
    raise SignatureError(f"{SIGNATURE_HEADER} does not verify against any configured key")


@dataclass(frozen=True, slots=True)
class Notification:
    """`{"retailerId", "timestamp", "event": {"resource", "type", "resourceId"}}`."""

    retailer_id: str | None
    timestamp: str
    resource: str
    resource_id: str
    type: str

    @property
    def delivery_id(self) -> str:
        """bol's redelivery carries the same four values: the dedupe key
        (docs/marketplaces.md §8.3)."""
        return f"{self.resource}:{self.resource_id}:{self.type}:{self.timestamp}"

    @property
    def topic(self) -> str:
        return f"{self.resource}:{self.type}"


#: bol's order, shipment and return ids are letters and digits (`1043946570`, `A2K8290LP8`);
#: they become URL paths on bol's host, so nothing else is ever let through.
PATH_ID = re.compile(r"[A-Za-z0-9]{1,64}")
#: Resources whose pushes name something to fetch; their ids must be `PATH_ID`s.
FETCHED_RESOURCES = frozenset({"ORDER", "SHIPMENT"})
_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
#: Other resources' ids (offers are UUIDs) are never fetched but key the delivery.
_OTHER_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9T:.+Z -]{1,64}")


def path_id(value: str, what: str) -> str:
    """`value` if it is a bol id (`PATH_ID`), quoted for a URL path; else `NormalisationError`."""
    if not PATH_ID.fullmatch(value):
        raise NormalisationError(f"{what} {value[:80]!r} is not a bol id (letters and digits)")
    return urllib.parse.quote(value, safe="")


def check_notification(notification: Notification) -> None:
    """Refuse a push whose fields are not what bol sends (`NormalisationError` says which):
    resource and type are upper-case words, the time is a time, and the id of an ORDER or
    SHIPMENT (what the poller will fetch) is a bol id."""
    if not _WORD.fullmatch(notification.resource):
        raise NormalisationError(f"event.resource {notification.resource[:80]!r} is not bol's")
    if not _WORD.fullmatch(notification.type):
        raise NormalisationError(f"event.type {notification.type[:80]!r} is not bol's")
    if not _TIMESTAMP.fullmatch(notification.timestamp):
        raise NormalisationError(f"timestamp {notification.timestamp[:80]!r} is not a time")
    if notification.retailer_id is not None and not _OTHER_ID.fullmatch(notification.retailer_id):
        raise NormalisationError("retailerId is not an id")
    if notification.resource in FETCHED_RESOURCES:
        path_id(notification.resource_id, f"{notification.resource} resourceId")
    elif not _OTHER_ID.fullmatch(notification.resource_id):
        raise NormalisationError(f"resourceId {notification.resource_id[:80]!r} is not an id")


def parse_notification(body: bytes) -> Notification | None:
    """The push in `body`, or None if it is not one (the route answers 400 then)."""
    document = json_object(body)
    event = None if document is None else document.get("event")
    if document is None or not isinstance(event, dict):
        return None
    fields = (event.get("resource"), event.get("resourceId"), event.get("type"))
    timestamp = document.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        return None
    if not all(isinstance(f, str | int) and not isinstance(f, bool) and f != "" for f in fields):
        return None
    resource, resource_id, kind = (str(f) for f in fields)
    retailer = document.get("retailerId")
    return Notification(
        retailer_id=None if retailer is None else str(retailer),
        timestamp=timestamp,
        resource=resource,
        resource_id=resource_id,
        type=kind,
    )


def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """bol sends no delivery id header: the id is (resource, resourceId, type, timestamp)."""
    del headers  # same shape as the other marketplaces; bol puts everything in the body
    notification = parse_notification(body)
    return None if notification is None else notification.delivery_id


def topic(body: bytes) -> str | None:
    notification = parse_notification(body)
    return None if notification is None else notification.topic


def external_order_id(delivery_topic: str, body: bytes) -> str | None:
    """The bol order a delivery is about, where it says so plainly (keys the raw record)."""
    if delivery_topic.startswith("ORDER:"):
        notification = parse_notification(body)
        return None if notification is None else notification.resource_id
    document = json_object(body)
    if document is None:
        return None
    if delivery_topic == ORDER_DOCUMENT_TOPIC:
        value = document.get("orderId")
    elif delivery_topic == SHIPMENT_DOCUMENT_TOPIC:
        order = document.get("order")
        value = order.get("orderId") if isinstance(order, dict) else None
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def notification_order_ids(body: bytes) -> list[str]:
    """The orders an ORDER push asks us to fetch (other resources name no order)."""
    notification = parse_notification(body)
    if notification is None or notification.resource != "ORDER":
        return []
    return [notification.resource_id]


# --- OAuth2 client credentials -------------------------------------------------------------


class TokenRequest(NamedTuple):
    url: str
    headers: Mapping[str, str]
    body: bytes


def token_request(client_id: str, client_secret: str, url: str = TOKEN_URL) -> TokenRequest:
    """`POST https://login.bol.com/token`, credentials in a Basic header, form-encoded body."""
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    headers = {
        "Authorization": f"Basic {credentials}",
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return TokenRequest(url, headers, b"grant_type=client_credentials")


@dataclass(frozen=True, slots=True)
class TokenCache:
    """An access token and when it expires.

    bol IP-blocks callers that request tokens too often, so a token is reused for its whole
    lifetime (`expires_in`, about 5 minutes) minus `margin`, which leaves room for the clock
    skew between us and bol and for a request that starts just before expiry. Keep one per
    client id, shared by every poller process (Redis, with a lock around the refresh), never
    one per request or per worker.
    """

    token: str
    expires_at: datetime

    def valid(self, now: datetime, margin: timedelta = TOKEN_MARGIN) -> bool:
        return bool(self.token) and now < self.expires_at - margin

    @classmethod
    def from_response(cls, body: bytes, now: datetime) -> TokenCache:
        """The token endpoint's answer: `access_token`, `token_type` Bearer, `expires_in`."""
        document = _Doc.parse(body)
        token = document.text("access_token")
        if not token:
            raise NormalisationError("$.access_token is missing")
        if document.text("token_type", "Bearer").lower() != "bearer":
            raise NormalisationError(f"unexpected token_type {document.get('token_type')!r}")
        lifetime = document.count("expires_in")
        return cls(token, now + timedelta(seconds=lifetime))


# --- polling requests ----------------------------------------------------------------------


class ApiRequest(NamedTuple):
    """A GET against the Retailer API: path (from the API base URL), query and headers."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


def _get(path: str, query: Mapping[str, str] | None = None) -> ApiRequest:
    return ApiRequest(path, dict(query or {}), {"Accept": MEDIA_TYPE})


def authorised(request: ApiRequest, token: TokenCache | str) -> ApiRequest:
    value = token.token if isinstance(token, TokenCache) else token
    return request._replace(headers={**request.headers, "Authorization": f"Bearer {value}"})


def _page(page: int) -> str:
    if page < 1:
        raise ValueError(f"bol pages count from 1, got {page}")
    return str(page)


def orders_request(
    fulfilment_method: FulfilmentFilter,
    page: int = 1,
    change_interval_minute: int | None = None,
    status: StatusFilter = "ALL",
    latest_change_date: str | None = None,
) -> ApiRequest:
    """`GET /retailer/orders`: 50 reduced orders a page, filtered on their latest change.

    Poll with `status=ALL` (FBB orders are often picked before an OPEN poll sees them) and a
    `change_interval_minute` larger than the poll interval (`change_interval_for`).
    """
    query = {"page": _page(page), "fulfilment-method": fulfilment_method, "status": status}
    if change_interval_minute is not None:
        if change_interval_minute < 1:
            raise ValueError("change-interval-minute must be at least 1")
        query["change-interval-minute"] = str(change_interval_minute)
    if latest_change_date is not None:
        query["latest-change-date"] = latest_change_date
    return _get("/retailer/orders", query)


def change_interval_for(poll_every: timedelta) -> int:
    """The `change-interval-minute` for a poll interval: bol wants it a minute longer at least."""
    return max(2, math.ceil(poll_every.total_seconds() / 60) + 1)


def order_request(order_id: str) -> ApiRequest:
    return _get(f"/retailer/orders/{path_id(order_id, 'order id')}")


def shipments_request(
    fulfilment_method: Literal["FBR", "FBB"], page: int = 1, order_id: str | None = None
) -> ApiRequest:
    """`GET /retailer/shipments`: three months of shipments, 50 a page, newest first."""
    query = {"page": _page(page), "fulfilment-method": fulfilment_method}
    if order_id is not None:
        query["order-id"] = order_id
    return _get("/retailer/shipments", query)


def shipment_request(shipment_id: str) -> ApiRequest:
    return _get(f"/retailer/shipments/{path_id(shipment_id, 'shipment id')}")


def returns_request(
    fulfilment_method: Literal["FBR", "FBB"], page: int = 1, handled: bool | None = None
) -> ApiRequest:
    query = {"page": _page(page), "fulfilment-method": fulfilment_method}
    if handled is not None:
        query["handled"] = "true" if handled else "false"
    return _get("/retailer/returns", query)


def return_request(return_id: str) -> ApiRequest:
    return _get(f"/retailer/returns/{path_id(return_id, 'return id')}")


def notification_fetches(body: bytes) -> list[ApiRequest]:
    """What a push asks us to fetch: the order (ORDER) or the shipment (SHIPMENT)."""
    notification = parse_notification(body)
    if notification is None:
        return []
    if notification.resource == "ORDER":
        return [order_request(notification.resource_id)]
    if notification.resource == "SHIPMENT":
        return [shipment_request(notification.resource_id)]
    return []  # PROCESS_STATUS and offer events say nothing about orders


def next_page(page: int, items_on_page: int) -> int | None:
    """The page after `page`, or None: a page shorter than 50 is the last one."""
    return page + 1 if items_on_page >= PAGE_SIZE else None


# --- order list ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderItemSummary:
    order_item_id: str
    ean: str
    fulfilment_method: str
    fulfilment_status: str  # OPEN | HANDLED, others kept as they come
    quantity: int
    quantity_shipped: int
    quantity_cancelled: int
    cancellation_request: bool
    latest_changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OrderSummaryRef:
    """One order of the list: enough to decide whether its detail must be fetched again."""

    order_id: str
    placed_at: datetime
    items: tuple[OrderItemSummary, ...]

    @property
    def latest_changed_at(self) -> datetime:
        changes = [i.latest_changed_at for i in self.items if i.latest_changed_at is not None]
        return max(changes, default=self.placed_at)

    @property
    def change_key(self) -> str:
        """Fetch the detail once per key (store it as the order's poll cursor in Redis)."""
        return f"{self.order_id}@{self.latest_changed_at.isoformat()}"

    @property
    def shipped_units(self) -> int:
        """Compare with the last poll: more units shipped means new shipments to fetch."""
        return sum(item.quantity_shipped for item in self.items)


def parse_orders_page(body: bytes) -> list[OrderSummaryRef]:
    """`GET /retailer/orders`: `{"orders": [ReducedOrder]}`; bol answers `{}` when empty."""
    document = _Doc.parse(body)
    refs = []
    for order in document.children("orders"):
        items = tuple(
            OrderItemSummary(
                order_item_id=item.ident("orderItemId"),
                ean=item.text("ean"),
                fulfilment_method=item.text("fulfilmentMethod"),
                fulfilment_status=item.text("fulfilmentStatus"),
                quantity=item.count("quantity"),
                quantity_shipped=item.count("quantityShipped", 0),
                quantity_cancelled=item.count("quantityCancelled", 0),
                cancellation_request=item.flag("cancellationRequest"),
                latest_changed_at=item.opt_time("latestChangedDateTime"),
            )
            for item in order.children("orderItems")
        )
        refs.append(
            OrderSummaryRef(order.ident("orderId"), order.time("orderPlacedDateTime"), items)
        )
    return refs


@dataclass(frozen=True, slots=True)
class ShipmentSummaryRef:
    shipment_id: str
    order_id: str | None
    shipped_at: datetime | None


def parse_shipments_page(body: bytes) -> list[ShipmentSummaryRef]:
    """`GET /retailer/shipments`: the ids to fetch; a shipment never changes once made."""
    document = _Doc.parse(body)
    refs = []
    for shipment in document.children("shipments"):
        order = shipment.child("order")
        refs.append(
            ShipmentSummaryRef(
                shipment.ident("shipmentId"),
                None if order is None else order.opt_ident("orderId"),
                shipment.opt_time("shipmentDateTime"),
            )
        )
    return refs


# --- events --------------------------------------------------------------------------------


class _Events(OrderEvents):
    """One bol order's events, with ids derived from bol's ids and change times."""

    def __init__(self, store: Store, order_id: str, received_at: datetime, source: str) -> None:
        super().__init__(MARKETPLACE, store, order_id, received_at, source)


def _person(address: _Doc | None) -> str:
    if address is None:
        return ""
    return " ".join(part for part in (address.text("firstName"), address.text("surname")) if part)


def _customer(order: _Doc, pickup_point: bool) -> Customer:
    """The buyer, from `billingDetails` (optional: bol has left it out before) or the recipient.

    At a pick-up point `shipmentDetails` is the point's address: its company and country are
    not the customer's, only the recipient's name is.
    """
    billing = order.child("billingDetails")
    shipping = order.child("shipmentDetails")
    vat_number = billing.text("vatNumber") if billing else ""
    kvk_number = billing.text("kvkNumber") if billing else ""
    company = billing.text("company") if billing else ""
    if not company and shipping is not None and not pickup_point:
        company = shipping.text("company")
    name = company or _person(billing) or _person(shipping)
    # VAT follows the goods to the customer: the delivery address, except at a pick-up point,
    # where the customer's own (billing) country is the better evidence of where they are.
    sources = (billing, shipping) if pickup_point else (shipping, billing)
    country = next(
        (s.text("countryCode").upper() for s in sources if s and s.text("countryCode")), None
    )
    email = (shipping.text("email") if shipping else "") or (
        billing.text("email") if billing else ""
    )
    return Customer(
        name=name or "Unknown customer",
        country=country,
        vat_id=vat_number or None,
        is_business=bool(vat_number or kvk_number or company),
        email=email or None,
    )


def _vat_rate(country: str | None) -> Decimal:
    rate = DEFAULT_VAT_RATES.get(country or "")
    if rate is None:
        raise NormalisationError(
            f"no VAT rate for customer country {country!r}: bol sells to NL and BE only"
        )
    return rate


def _line(item: _Doc, rate: Decimal) -> OrderLine:
    quantity = item.count("quantity")
    total = item.opt_amount("totalPrice")  # incl. VAT, after discounts (v10.22 and later)
    if total is None:
        discounts = sum((d.amount("amount") for d in item.children("discounts")), ZERO)
        try:
            total = line_amount(item.amount("unitPrice"), quantity, discounts)
        except TaxError as exc:
            raise NormalisationError(f"{item.path}: {exc}") from None
    try:
        amounts = split_line(total, rate, prices_include_vat=True)  # bol prices include VAT
    except TaxError as exc:
        raise NormalisationError(f"{item.path}: {exc}") from None
    product = item.child("product")
    offer = item.child("offer")
    ean = product.text("ean") if product else ""
    sku = (
        (offer.text("reference") if offer else "") or ean or f"bol-item-{item.ident('orderItemId')}"
    )
    return OrderLine(
        line_id=item.ident("orderItemId"),
        sku=sku,
        description=(product.text("title") if product else "") or sku,
        quantity=quantity,
        net=amounts.net,
        vat=amounts.vat,
        gross=amounts.gross,
        vat_rate=rate,
        kind=LineKind.PRODUCT,
    )


def _order_events(
    order: _Doc, store: Store, received_at: datetime, source: str
) -> list[OrderEvent]:
    order_id = order.ident("orderId")
    events = _Events(store, order_id, received_at, source)
    items = order.children("orderItems")
    if not items:
        raise NormalisationError("$.orderItems is empty or missing")
    placed_at = order.time("orderPlacedDateTime")
    changes = [t for t in (item.opt_time("latestChangedDateTime") for item in items) if t]
    as_of = max(changes, default=placed_at)
    customer = _customer(order, pickup_point=order.flag("pickupPoint"))
    rate = _vat_rate(customer.country)
    details = OrderDetails(
        name=order_id,
        currency=CURRENCY,
        customer=customer,
        lines=tuple(_line(item, rate) for item in items),
        placed_at=placed_at,
        as_of=as_of,
    )
    result = [
        events.make(f"details@{as_of.isoformat()}", as_of, DetailsReported(details)),
        # bol takes the customer's payment and releases an order to the seller once it is
        # paid for (bol carries the risk of "pay later"), so a visible order is a paid one.
        events.make("paid", placed_at, PaymentCaptured(placed_at)),
    ]
    all_cancelled = True
    shipped_any = False
    last_cancel = placed_at
    for item in items:
        quantity = item.count("quantity")
        cancelled = item.count("quantityCancelled", 0)
        shipped_any = shipped_any or item.count("quantityShipped", 0) > 0
        all_cancelled = all_cancelled and cancelled >= quantity
        if cancelled == 0:
            continue
        # bol cancels an order item as a whole (all its open units, `PUT .../cancellation` has
        # no quantity), so an item is cancelled once: its id is the cancellation's id.
        item_id = item.ident("orderItemId")
        at = item.opt_time("latestChangedDateTime") or as_of
        last_cancel = max(last_cancel, at)
        reason = "requested by customer" if item.flag("cancellationRequest") else None
        cancellation = Cancellation(item_id, at, reason, (LineQuantity(item_id, cancelled),))
        result.append(events.make(f"cancellation:{item_id}", at, OrderCancelled(cancellation)))
    if all_cancelled and not shipped_any:
        # The lifecycle only calls an order off on a whole-order cancellation.
        whole = Cancellation("order", last_cancel, "every order item was cancelled")
        result.append(events.make("cancellation:order", last_cancel, OrderCancelled(whole)))
    return result


def normalise_order(
    order_json: bytes, store: Store, received_at: datetime, source: str = "poll"
) -> list[OrderEvent]:
    """The events in an order detail (`GET /retailer/orders/{id}`): details, payment, cancels.

    Shipments are not here: the detail says how many units shipped, not in which shipment;
    they come from the shipments endpoint (`parse_shipments`).
    """
    return _order_events(_Doc.parse(order_json), store, received_at, source)


def pending_cancellation_requests(order_json: bytes) -> list[str]:
    """Order items whose customer asked to cancel and which the seller has not yet answered.

    Not an event: the seller decides (confirm with `PUT /retailer/orders/cancellation`, or ship
    anyway). Only a cancellation that happened (`quantityCancelled`) changes the order.
    """
    order = _Doc.parse(order_json)
    return [
        item.ident("orderItemId")
        for item in order.children("orderItems")
        if item.flag("cancellationRequest") and item.count("quantityCancelled", 0) == 0
    ]


def _shipment_event(shipment: _Doc, store: Store, received_at: datetime, source: str) -> OrderEvent:
    order = shipment.child("order")
    if order is None:
        raise NormalisationError(f"{shipment.path}.order is missing")
    events = _Events(store, order.ident("orderId"), received_at, source)
    shipment_id = shipment.ident("shipmentId")
    lines: dict[str, int] = {}
    methods: list[str] = []
    for item in shipment.children("shipmentItems"):
        # `quantityShipped` (v10.23) is this shipment's units; before it, `quantity` was all.
        units = item.opt_count("quantityShipped")
        if units is None:
            units = item.opt_count("quantity")
        if units is None:
            raise NormalisationError(
                f"{item.path} has no quantity: fetch GET /retailer/shipments/{shipment_id}"
            )
        item_id = item.ident("orderItemId")
        lines[item_id] = lines.get(item_id, 0) + units
        fulfilment = item.child("fulfilment")
        if fulfilment is not None and fulfilment.text("method"):
            methods.append(fulfilment.text("method"))
    if not lines:
        raise NormalisationError(f"{shipment.path}.shipmentItems is empty or missing")
    # A shipment without its time keeps the first time we saw it (the first event of an id wins).
    shipped_at = shipment.opt_time("shipmentDateTime") or received_at
    transport = shipment.child("transport")
    carrier = "" if transport is None else transport.text("transporterCode")
    track_and_trace = "" if transport is None else transport.text("trackAndTrace")
    record = Shipment(
        shipment_id=shipment_id,
        shipped_at=shipped_at,
        lines=tuple(LineQuantity(item_id, units) for item_id, units in lines.items()),
        location_id=methods[0] if methods else None,
        # bol names the carrier and track-and-trace code, never the warehouse's country
        carrier=carrier or None,
        tracking_numbers=(track_and_trace,) if track_and_trace else (),
    )
    return events.make(f"shipment:{shipment_id}", shipped_at, ShipmentSent(record))


def parse_shipments(
    body: bytes, store: Store, received_at: datetime, source: str = "poll"
) -> list[OrderEvent]:
    """ShipmentSent per shipment: a Shipment (`GET /retailer/shipments/{id}`) or a list page.

    List pages name the shipped order items but (in the documented shape) not how many units;
    such a page raises `NormalisationError`: fetch each shipment's detail instead.
    """
    document = _Doc.parse(body)
    shipments = document.children("shipments") if "shipments" in document.data else [document]
    return [_shipment_event(s, store, received_at, source) for s in shipments]


# --- returns -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderItemRef:
    order_id: str
    order_item_id: str
    ean: str
    quantity: int


def order_items(order_json: bytes) -> list[OrderItemRef]:
    """An order's items by EAN: what a return (which names only order and EAN) is placed on."""
    order = _Doc.parse(order_json)
    order_id = order.ident("orderId")
    refs = []
    for item in order.children("orderItems"):
        product = item.child("product")
        refs.append(
            OrderItemRef(
                order_id,
                item.ident("orderItemId"),
                product.text("ean") if product else "",
                item.count("quantity"),
            )
        )
    return refs


@dataclass(frozen=True, slots=True)
class UnplacedReturnItem:
    """A return item whose order line is not known yet: fetch the order, then parse again."""

    rma_id: str
    order_id: str
    ean: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedReturns:
    events: tuple[OrderEvent, ...]
    unplaced: tuple[UnplacedReturnItem, ...]


def _returns(document: _Doc) -> list[_Doc]:
    """A list page (`{"returns": [...]}`), one Return, or `{}` for an empty page."""
    if "returns" in document.data or "returnId" not in document.data:
        return document.children("returns")
    return [document]


def return_order_ids(body: bytes) -> list[str]:
    """Orders whose items `parse_returns` needs for this body, in first-seen order."""
    seen: dict[str, None] = {}
    for ret in _returns(_Doc.parse(body)):
        for item in ret.children("returnItems"):
            seen.setdefault(item.ident("orderId"), None)
    return list(seen)


def _place(item: _Doc, order_items: Sequence[OrderItemRef]) -> str | None:
    """The order item a return item belongs to.

    Matched on EAN. Should one order hold the same EAN twice (two offers of one product),
    the first item with enough units is taken; an `orderItemId` on the return item wins.
    """
    given = item.opt_ident("orderItemId")
    if given is not None:
        return given
    ean = item.text("ean")
    expected = item.count("expectedQuantity", 1)
    candidates = sorted(
        (ref for ref in order_items if ref.ean == ean), key=lambda ref: ref.order_item_id
    )
    fitting = [ref for ref in candidates if ref.quantity >= expected] or candidates
    return fitting[0].order_item_id if fitting else None


def _reason(item: _Doc) -> str | None:
    reason = item.child("returnReason")
    if reason is None:
        return None
    parts = [reason.text("mainReason"), reason.text("detailedReason")]
    comments = reason.text("customerComments")
    text = " / ".join(part for part in parts if part)
    if comments:
        text = f"{text}: {comments}" if text else comments
    return text or None


def parse_returns(
    body: bytes,
    store: Store,
    received_at: datetime,
    items: Mapping[str, Sequence[OrderItemRef]],
    source: str = "poll",
) -> ParsedReturns:
    """ReturnRequested per return item (rmaId), ReturnReceived per credited processing result.

    `items` maps order id -> `order_items(...)` for every order in `return_order_ids(body)`.
    A processing result counts as received when its handlingResult is one of
    `CREDITED_HANDLING_RESULTS` and bol did not refuse it; the others close nothing here.
    """
    events: list[OrderEvent] = []
    unplaced: list[UnplacedReturnItem] = []
    for ret in _returns(_Doc.parse(body)):
        registered_at = ret.time("registrationDateTime")
        for item in ret.children("returnItems"):
            rma_id, order_id = item.ident("rmaId"), item.ident("orderId")
            known = items.get(order_id)
            line_id = _place(item, known or ())
            if line_id is None:
                why = "order not fetched" if known is None else "EAN not in the order"
                unplaced.append(UnplacedReturnItem(rma_id, order_id, item.text("ean"), why))
                continue
            order_events = _Events(store, order_id, received_at, source)
            reason = _reason(item)
            expected = item.count("expectedQuantity")
            request = Return(rma_id, registered_at, (LineQuantity(line_id, expected),), reason)
            events.append(
                order_events.make(
                    f"return-request:{rma_id}", registered_at, ReturnRequested(request)
                )
            )
            for index, result in enumerate(item.children("processingResults")):
                if result.text("handlingResult") not in CREDITED_HANDLING_RESULTS:
                    continue
                if result.text("processingResult").upper() in REFUSED_PROCESSING_RESULTS:
                    continue
                at = result.opt_time("processingDateTime")
                fact = f"{rma_id}@{at.isoformat()}" if at else f"{rma_id}#{index}"
                quantity = result.count("quantity", expected)
                received = Return(
                    fact, at or registered_at, (LineQuantity(line_id, quantity),), reason
                )
                events.append(
                    order_events.make(f"return:{fact}", received.at, ReturnReceived(received))
                )
    return ParsedReturns(tuple(events), tuple(unplaced))


# --- raw deliveries ------------------------------------------------------------------------


def normalise(delivery: RawDelivery, store: Store) -> list[OrderEvent]:
    """The order events of one record on `winkel.raw.bol`.

    A push (`<resource>:<type>`) carries no order data and yields nothing here: it is the
    fetcher's job (`notification_fetches`). Documents the poller fetched are normalised.
    """
    source = f"poll:{delivery.delivery_id}"
    if delivery.topic == ORDER_DOCUMENT_TOPIC:
        return normalise_order(delivery.body, store, delivery.received_at, source)
    if delivery.topic == SHIPMENT_DOCUMENT_TOPIC:
        return parse_shipments(delivery.body, store, delivery.received_at, source)
    if delivery.topic == RETURN_DOCUMENT_TOPIC:
        envelope = _Doc.parse(delivery.body)
        ret = envelope.get("return")
        if not isinstance(ret, dict):
            raise NormalisationError("$.return is missing")
        known: dict[str, list[OrderItemRef]] = {}
        for order in envelope.children("orders"):
            for ref in order_items(orjson.dumps(order.data)):
                known.setdefault(ref.order_id, []).append(ref)
        parsed = parse_returns(orjson.dumps(ret), store, delivery.received_at, known, source)
        if parsed.unplaced:
            missing = ", ".join(f"rma {u.rma_id} ({u.reason})" for u in parsed.unplaced)
            raise NormalisationError(f"return items without an order line: {missing}")
        return list(parsed.events)
    if parse_notification(delivery.body) is not None:
        return []
    raise NormalisationError(f"bol topic {delivery.topic!r} is not handled")


# --- rate limits ---------------------------------------------------------------------------

RATE_LIMIT_HEADER = "x-ratelimit-limit"
RATE_REMAINING_HEADER = "x-ratelimit-remaining"
#: Seconds until the budget is replenished.
RATE_RESET_HEADER = "x-ratelimit-reset"
RETRY_AFTER_HEADER = "Retry-After"


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The budget bol reports on every response, per method and path (absent: unknown)."""

    limit: int | None
    remaining: int | None
    reset_seconds: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit:
        limit = _number(header_value(headers, RATE_LIMIT_HEADER))
        remaining = _number(header_value(headers, RATE_REMAINING_HEADER))
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset_seconds=_number(header_value(headers, RATE_RESET_HEADER)),
        )

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


def _retry_after_value(raw: str | None, now: datetime | None) -> float | None:
    """`Retry-After` is delta-seconds, or an HTTP date (then `now` is needed)."""
    seconds = _number(raw)
    if seconds is not None or raw is None or now is None:
        return seconds
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())


def retry_after(
    status: int, headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Seconds to wait before the next call on this path, or None to go ahead.

    On 429: `Retry-After`, else the budget's reset, else `DEFAULT_BACKOFF_SECONDS`. On any
    other answer that spent the last of the budget: its reset, so the next call is not a 429
    (bol watches clients that collect 429s).
    """
    limit = RateLimit.from_headers(headers)
    if status == 429:
        waited = _retry_after_value(header_value(headers, RETRY_AFTER_HEADER), now)
        if waited is not None:
            return waited
        return limit.reset_seconds if limit.reset_seconds is not None else DEFAULT_BACKOFF_SECONDS
    if limit.exhausted and limit.reset_seconds is not None:
        return limit.reset_seconds
    return None
