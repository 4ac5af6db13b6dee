"""A fake Shopify Admin REST API: the orders list the reconciliation poller reads.

Speaks the documented REST format (shopify.dev/docs/api/admin-rest, "legacy" since 2024-10 but
served): `GET /admin/api/{version}/orders.json` with `status` (`open` by default, `any`,
`closed`, `cancelled`), `updated_at_min` (inclusive, ISO 8601), `order` and `limit` (50 by
default, at most 250), cursor pagination through the `Link` header (`rel="next"` / `"prev"`
URLs carrying an opaque `page_info`; such a request may add only `limit` and `fields`), the
`X-Shopify-Access-Token` header, `X-Shopify-Shop-Api-Call-Limit`, and 429 with `Retry-After`.
Order bodies are what the webhooks carry (the REST resource), e.g. from
`engine.dev.simulator.ShopifyStore`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

API_PREFIX = "/admin/api/{version}"
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
BUCKET_SIZE = 40  # REST: a leaky bucket of 40 calls, 2 a second


@dataclass
class FakeShopify:
    access_token: str = "shpat_fake-token"  # not a secret: the fake's own test credential
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The next request is answered 429 with this `Retry-After` (seconds), once.
    throttle_next: float | None = None
    #: "path?query" of every request that passed authentication.
    requests: list[str] = field(default_factory=list)

    def put(self, order: dict[str, Any]) -> None:
        self.orders[int(order["id"])] = order


FAKE = web.AppKey("fake_shopify", FakeShopify)


def _errors(status: int, errors: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"errors": errors}),
        content_type="application/json",
        headers=headers,
    )


def _time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode("ascii").rstrip("=")


def _decode_cursor(raw: str) -> dict[str, Any] | None:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _matches(order: dict[str, Any], status: str, updated_at_min: datetime | None) -> bool:
    if updated_at_min is not None and _time(order["updated_at"]) < updated_at_min:
        return False
    cancelled = order.get("cancelled_at") is not None
    closed = order.get("closed_at") is not None
    if status == "open":
        return not cancelled and not closed
    if status == "closed":
        return closed
    if status == "cancelled":
        return cancelled
    return True  # any


_SORTS = {
    "updated_at asc": (lambda o: (_time(o["updated_at"]), o["id"]), False),
    "updated_at desc": (lambda o: (_time(o["updated_at"]), o["id"]), True),
    "created_at asc": (lambda o: (_time(o["created_at"]), o["id"]), False),
    "created_at desc": (lambda o: (_time(o["created_at"]), o["id"]), True),
}


async def _orders(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    given = request.headers.get("X-Shopify-Access-Token", "")
    if not hmac.compare_digest(given.encode(), fake.access_token.encode()):
        return _errors(
            401, "[API] Invalid API key or access token (unrecognized login or wrong password)"
        )
    if fake.throttle_next is not None:
        wait, fake.throttle_next = fake.throttle_next, None
        return _errors(
            429,
            "Exceeded 2 calls per second for api client. Reduce request rates to resume "
            "uninterrupted service.",
            {"Retry-After": f"{wait:.1f}"},
        )
    fake.requests.append(request.path_qs)
    query = request.query
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        return _errors(400, {"limit": ["is invalid"]})
    if not 1 <= limit <= MAX_LIMIT:
        return _errors(400, {"limit": [f"must be between 1 and {MAX_LIMIT}"]})
    if "page_info" in query:
        extra = set(query) - {"page_info", "limit", "fields"}
        if extra:
            return _errors(400, {"page_info": [f"cannot be used with {', '.join(sorted(extra))}"]})
        state = _decode_cursor(query["page_info"])
        if state is None:
            return _errors(400, {"page_info": ["Invalid value."]})
    else:
        state = {
            "status": query.get("status", "open"),
            "updated_at_min": query.get("updated_at_min"),
            "order": query.get("order", "created_at desc"),
            "offset": 0,
        }
    if state["status"] not in {"open", "closed", "cancelled", "any"}:
        return _errors(400, {"status": ["is invalid"]})
    sort = _SORTS.get(str(state["order"]).lower())
    if sort is None:
        return _errors(400, {"order": ["is invalid"]})
    try:
        since = None if not state["updated_at_min"] else _time(state["updated_at_min"])
    except ValueError:
        return _errors(400, {"updated_at_min": ["is invalid"]})
    found = [o for o in fake.orders.values() if _matches(o, state["status"], since)]
    key, reverse = sort
    found.sort(key=key, reverse=reverse)
    offset = int(state["offset"])
    page = found[offset : offset + limit]
    links = []
    base = request.url.with_query(None)
    if offset > 0:
        before = _encode_cursor({**state, "offset": max(0, offset - limit)})
        links.append(f'<{base.with_query(limit=limit, page_info=before)}>; rel="previous"')
    if offset + limit < len(found):
        after = _encode_cursor({**state, "offset": offset + limit})
        links.append(f'<{base.with_query(limit=limit, page_info=after)}>; rel="next"')
    headers = {"X-Shopify-Shop-Api-Call-Limit": f"1/{BUCKET_SIZE}"}
    if links:
        headers["Link"] = ", ".join(links)
    return web.Response(
        body=orjson.dumps({"orders": page}), content_type="application/json", headers=headers
    )


def create_app(fake: FakeShopify | None = None, version: str = "2026-01") -> web.Application:
    app = web.Application()
    app[FAKE] = fake or FakeShopify()
    app.router.add_get(f"{API_PREFIX.format(version=version)}/orders.json", _orders)
    return app
