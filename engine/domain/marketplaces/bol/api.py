"""OAuth2 client credentials and the Retailer API calls: requests built, list pages parsed.

Pure: the shell sends the requests and hands back the bodies.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from engine.domain.marketplaces._oauth import ApiRequest as ApiRequest
from engine.domain.marketplaces._oauth import BearerToken
from engine.domain.marketplaces._oauth import TokenRequest as TokenRequest
from engine.domain.marketplaces.bol.door import parse_notification, path_id
from engine.domain.marketplaces.bol.wire import (
    MEDIA_TYPE,
    PAGE_SIZE,
    TOKEN_MARGIN,
    TOKEN_URL,
    FulfilmentFilter,
    StatusFilter,
    _Doc,
)


def token_request(client_id: str, client_secret: str, url: str = TOKEN_URL) -> TokenRequest:
    """`POST https://login.bol.com/token`, credentials in a Basic header, form-encoded body."""
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    headers = {
        "Authorization": f"Basic {credentials}",
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return TokenRequest(url, headers, b"grant_type=client_credentials")


class TokenCache(BearerToken):
    """An access token and when it expires.

    bol IP-blocks callers that request tokens too often, so a token is reused for its whole
    lifetime (`expires_in`, about 5 minutes) minus `margin`, which leaves room for the clock
    skew between us and bol and for a request that starts just before expiry. Keep one per
    client id, shared by every poller process (Redis, with a lock around the refresh), never
    one per request or per worker.
    """

    __slots__ = ()
    MARGIN = TOKEN_MARGIN


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
