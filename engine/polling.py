"""Pure decisions of the marketplace pollers (engine/pollers is the shell that acts on them).

What a poller must decide without doing any I/O: how often to poll, how long to back off after
a failure or a 429, which `change-interval-minute` covers the time since the last bol list,
which bol orders need their detail (once per `latestChangedDateTime`) and their shipments,
whether a bol return changed, the delivery ids of polled documents (derived from marketplace
ids and change times, so the same document polled twice, or seen by webhook and by poll, is one
delivery), and how the cursors are written to Redis and read back.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from engine.config import Store
from engine.marketplaces import bol, woocommerce
from models.codec import DecodeError, parse_utc
from models.order import Marketplace

#: Seconds between two polls when the store's config names none. bol recommends 5 to 15 minutes
#: and keeps handled orders in its list for 48 hours; WooCommerce never retries a webhook, so
#: its poll is the second half of the truth; Shopify's is a reconciliation behind webhooks.
DEFAULT_INTERVALS: Mapping[Marketplace, float] = {
    Marketplace.BOL: 300.0,
    Marketplace.WOOCOMMERCE: 120.0,
    Marketplace.SHOPIFY: 900.0,
    Marketplace.AMAZON: 300.0,
}
#: A lease is held this long without renewal; renewed every third of it.
LEASE_MILLISECONDS = 30_000
#: Failure backoff: doubles from the poll interval up to this.
MAX_BACKOFF_SECONDS = 900.0
#: bol's `change-interval-minute` beyond which a full list (open orders, and handled ones of the
#: last 48 hours) is read instead: the filter is meant for short gaps.
MAX_CHANGE_INTERVAL_MINUTES = 60
#: How far back the first WooCommerce or Shopify sweep of a store reaches.
INITIAL_LOOKBACK = timedelta(days=7)


def poll_interval(store: Store) -> float:
    if store.poll_interval_seconds is not None:
        return store.poll_interval_seconds
    return DEFAULT_INTERVALS[store.marketplace]


def backoff_seconds(failures: int, interval: float, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """The pause after `failures` failed polls in a row: the interval, doubling, capped."""
    if failures <= 0:
        return interval
    doublings = min(failures - 1, 32)  # 2**32 intervals is past any cap; no overflow
    return float(max(interval, min(cap, max(interval, 1.0) * 2.0**doublings)))


def rate_bucket(method: str, path: str) -> str:
    """bol limits per method and path, an id counting as `*`: `GET /retailer/orders/*`."""
    parts = path.rstrip("/").split("/")
    named = [part if not re.search(r"\d", part) else "*" for part in parts]
    return f"{method.upper()} {'/'.join(named)}"


# --- bol -----------------------------------------------------------------------------------


def bol_change_interval(last_listed_at: datetime | None, now: datetime) -> int | None:
    """`change-interval-minute` covering everything since the last complete list, or None.

    None asks for the whole list (a first poll, or a gap too long for the filter). bol wants the
    value at least a minute above the time between polls, hence the extra minute.
    """
    if last_listed_at is None:
        return None
    elapsed = max(0.0, (now - last_listed_at).total_seconds())
    minutes = max(2, math.ceil(elapsed / 60) + 1)
    return None if minutes > MAX_CHANGE_INTERVAL_MINUTES else minutes


#: bol's `latest-change-date` is a calendar day; bol keeps Dutch time.
BOL_ZONE = ZoneInfo("Europe/Amsterdam")
#: `latest-change-date` reaches back up to three months.
BOL_HISTORY_DAYS = 90


@dataclass(frozen=True, slots=True)
class BolListQuery:
    """The filters of one sweep of `GET /retailer/orders` (both None: the whole list)."""

    change_interval_minute: int | None = None
    latest_change_date: str | None = None


def bol_list_queries(last_listed_at: datetime | None, now: datetime) -> list[BolListQuery]:
    """How to list every order changed since the last complete list.

    A short gap: one `change-interval-minute`. The first poll: the whole list (open orders and
    those handled in the last 48 hours). A gap too long for the filter (the worker was down):
    one sweep per calendar day since, by `latest-change-date` (at most three months back), so
    an order handled during an outage longer than 48 hours is not lost.
    """
    if last_listed_at is None:
        return [BolListQuery()]
    minutes = bol_change_interval(last_listed_at, now)
    if minutes is not None:
        return [BolListQuery(change_interval_minute=minutes)]
    first = max(
        last_listed_at.astimezone(BOL_ZONE).date(),
        (now - timedelta(days=BOL_HISTORY_DAYS)).astimezone(BOL_ZONE).date(),
    )
    last = now.astimezone(BOL_ZONE).date()
    days = (last - first).days
    return [
        BolListQuery(latest_change_date=(first + timedelta(days=n)).isoformat())
        for n in range(days + 1)
    ]


@dataclass(frozen=True, slots=True)
class SeenOrder:
    """What the poller last produced for a bol order: its latest change and units shipped."""

    latest_changed_at: datetime
    shipped_units: int

    def encode(self) -> str:
        return f"{self.latest_changed_at.isoformat()}|{self.shipped_units}"

    @classmethod
    def decode(cls, raw: str | bytes | None) -> SeenOrder | None:
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        at, _, units = text.partition("|")
        try:
            return cls(datetime.fromisoformat(at).astimezone(UTC), int(units or 0))
        except ValueError:
            return None  # unreadable: fetch again, which is always safe


def merge_summaries(
    pages: Iterable[Sequence[bol.OrderSummaryRef]],
) -> list[bol.OrderSummaryRef]:
    """One summary per order from the FBR and FBB lists (an order may hold both kinds)."""
    merged: dict[str, bol.OrderSummaryRef] = {}
    for page in pages:
        for summary in page:
            known = merged.get(summary.order_id)
            if known is None:
                merged[summary.order_id] = summary
            else:
                ids = {item.order_item_id for item in known.items}
                extra = tuple(i for i in summary.items if i.order_item_id not in ids)
                merged[summary.order_id] = bol.OrderSummaryRef(
                    known.order_id, known.placed_at, known.items + extra
                )
    return sorted(merged.values(), key=lambda s: (s.latest_changed_at, s.order_id))


def bol_orders_to_fetch(
    summaries: Sequence[bol.OrderSummaryRef], seen: Mapping[str, SeenOrder | None]
) -> list[str]:
    """Orders whose detail must be fetched: never seen, or changed since (oldest change first)."""
    wanted = []
    for summary in summaries:
        previous = seen.get(summary.order_id)
        if previous is None or summary.latest_changed_at > previous.latest_changed_at:
            wanted.append(summary.order_id)
    return wanted


def _time(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return parse_utc(raw, "time")
    except DecodeError:
        return None


def seen_from_detail(order_json: bytes) -> SeenOrder:
    """The state of an order detail (`GET /retailer/orders/{id}`) to remember."""
    document = orjson.loads(order_json)
    items = document.get("orderItems") or []
    placed = _time(document.get("orderPlacedDateTime"))
    changes = [_time(item.get("latestChangedDateTime")) for item in items]
    known = [c for c in (*changes, placed) if c is not None]
    latest = max(known, default=datetime.fromtimestamp(0, UTC))
    shipped = sum(int(item.get("quantityShipped") or 0) for item in items)
    return SeenOrder(latest, shipped)


def needs_shipments(detail: SeenOrder, previous: SeenOrder | None) -> bool:
    """More units shipped than when the poller last looked: new shipments to fetch."""
    return detail.shipped_units > (previous.shipped_units if previous else 0)


def fulfilment_methods(order_json: bytes) -> list[str]:
    """The fulfilment methods (FBR, FBB) of an order's items: the shipment lists to read."""
    document = orjson.loads(order_json)
    methods = {
        (item.get("fulfilment") or {}).get("method") or "FBR"
        for item in document.get("orderItems") or []
    }
    return sorted(m for m in methods if m in {"FBR", "FBB"}) or ["FBR"]


def bol_order_delivery_id(order_id: str, seen: SeenOrder) -> str:
    return f"order:{order_id}@{seen.latest_changed_at.isoformat()}"


def bol_shipment_delivery_id(shipment_id: str) -> str:
    return f"shipment:{shipment_id}"  # a shipment never changes once made


def return_fingerprint(ret: Mapping[str, Any]) -> str:
    """Changes when a return item is added, handled, or gets a processing result."""
    items = [
        (
            str(item.get("rmaId")),
            bool(item.get("handled")),
            orjson.dumps(item.get("processingResults") or [], option=orjson.OPT_SORT_KEYS),
        )
        for item in ret.get("returnItems") or []
        if isinstance(item, dict)
    ]
    digest = hashlib.sha256(repr(sorted(items)).encode()).hexdigest()
    return digest[:24]


def bol_return_delivery_id(return_id: str, fingerprint: str) -> str:
    return f"return:{return_id}#{fingerprint}"


@dataclass(frozen=True, slots=True)
class PushFetch:
    """What a bol push asks the store's poller to fetch promptly."""

    resource: str  # ORDER | SHIPMENT (bol, Amazon) | REFUNDS (WooCommerce: an order's refunds)
    resource_id: str

    def encode(self) -> str:
        return f"{self.resource}:{self.resource_id}"

    @classmethod
    def decode(cls, raw: str | bytes) -> PushFetch | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        resource, _, resource_id = text.partition(":")
        if resource not in {"ORDER", "SHIPMENT", WOOCOMMERCE_REFUNDS_FETCH} or not resource_id:
            return None
        return cls(resource, resource_id)


def push_fetch(notification: bol.Notification) -> PushFetch | None:
    """ORDER and SHIPMENT pushes name what to fetch; the other resources name no order."""
    if notification.resource in {"ORDER", "SHIPMENT"}:
        return PushFetch(notification.resource, notification.resource_id)
    return None


# --- WooCommerce ---------------------------------------------------------------------------

#: Not a WooCommerce topic: an order's refunds as `GET /orders/{id}/refunds` returned them.
WOOCOMMERCE_REFUNDS_TOPIC = "order.refunds.polled"
#: The `PushFetch` resource asking a WooCommerce store's poller for one order's refunds.
WOOCOMMERCE_REFUNDS_FETCH = "REFUNDS"
ORDER_ID_HEADER = "X-Winkel-Order-Id"


def encode_woocommerce_cursor(cursor: woocommerce.PollCursor) -> str:
    return f"{cursor.modified_after.astimezone(UTC).isoformat()}|{cursor.page}"


def decode_woocommerce_cursor(
    raw: str | bytes | None, now: datetime, lookback: timedelta = INITIAL_LOOKBACK
) -> woocommerce.PollCursor:
    """The stored cursor, or the first sweep's (`lookback` before `now`)."""
    if raw is not None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        at, _, page = text.partition("|")
        try:
            return woocommerce.PollCursor(datetime.fromisoformat(at), int(page or 1))
        except ValueError:
            pass
    return woocommerce.PollCursor(now - lookback)


def woocommerce_refunds_delivery_id(order_id: str, refund_ids: Sequence[str]) -> str:
    return f"{order_id}:refunds:{','.join(sorted(refund_ids))}"


# --- Shopify -------------------------------------------------------------------------------

#: Re-read this much behind the newest `updated_at` seen: Shopify stamps before it commits.
SHOPIFY_OVERLAP = timedelta(minutes=5)
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([a-z]+)"?')


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of an RFC 8288 `Link` header (Shopify's REST pagination)."""
    if not header:
        return None
    for url, rel in _LINK.findall(header):
        if rel == "next":
            return str(url)
    return None


def shopify_cursor_after(
    cursor: datetime, updated: Iterable[datetime], overlap: timedelta = SHOPIFY_OVERLAP
) -> datetime:
    """The next sweep's `updated_at_min`: the newest change seen minus the overlap, never back."""
    latest = max(updated, default=None)
    if latest is None:
        return cursor
    return max(cursor, latest - overlap)


# --- Redis keys (shared by the pollers, the web process and the dashboard) -----------------

POLLED_STORES = "winkel:poll:stores"


def poll_key(store_id: str, *parts: str) -> str:
    """`winkel:poll:<store>:<part>…`: a store's lease, cursors, seen documents and status."""
    return ":".join(("winkel:poll", store_id, *parts))


def pending_fetches_key(store_id: str) -> str:
    """The list a bol push appends to and the store's poller waits on (BLPOP)."""
    return poll_key(store_id, "pending")


def status_key(store_id: str) -> str:
    return poll_key(store_id, "status")
