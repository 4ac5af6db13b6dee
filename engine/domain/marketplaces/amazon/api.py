"""Login with Amazon and the SP-API calls (Orders v0, Finances): requests built, answers parsed.

Pure: the shell sends the requests and hands back the bodies.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces._door import json_object
from engine.domain.marketplaces._oauth import BearerToken
from engine.domain.marketplaces._oauth import TokenRequest as TokenRequest
from engine.domain.marketplaces.amazon.door import OrderChange
from engine.domain.marketplaces.amazon.wire import (
    ACCESS_TOKEN_HEADER,
    MAX_RESULTS_PER_PAGE,
    MIN_LAG,
    TOKEN_MARGIN,
    TOKEN_URL,
    _Doc,
    amazon_time,
)


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


class TokenCache(BearerToken):
    """An LWA access token and when it expires (an hour after issue).

    Keep one per refresh token, shared by every fetcher process, and reuse it for its whole
    lifetime minus `margin` (clock skew and a request started just before expiry).
    """

    __slots__ = ()
    MARGIN = TOKEN_MARGIN


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
