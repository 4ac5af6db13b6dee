"""The Shopify reconciliation poll: orders updated since the cursor (`updated_at_min`), through
the REST Admin API's Link-header pages, catching webhooks that never arrived."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.domain import polling
from engine.domain.config import Store
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import shopify
from engine.shell.pollers.rest import RestPoller
from engine.shell.pollers.sink import PollError, text
from models.order import Marketplace
from models.raw import RawDelivery

log = logging.getLogger(__name__)

API_VERSION = "2026-01"
PAGE_LIMIT = 250  # Shopify's maximum
#: The REST resource of a polled order is the `orders/updated` webhook's body.
POLLED_TOPIC = "orders/updated"
ACCESS_TOKEN_HEADER = "X-Shopify-Access-Token"


def orders_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/admin/api/{API_VERSION}/orders.json"


def orders_query(updated_at_min: datetime) -> dict[str, str]:
    return {
        "status": "any",
        "updated_at_min": updated_at_min.astimezone(UTC).isoformat(timespec="seconds"),
        "order": "updated_at asc",
        "limit": str(PAGE_LIMIT),
    }


def polled_delivery(store_id: str, order: Mapping[str, Any], received_at: datetime) -> RawDelivery:
    body = orjson.dumps(order)
    return RawDelivery(
        marketplace=Marketplace.SHOPIFY,
        store_id=store_id,
        delivery_id=f"poll:{order.get('id')}@{order.get('updated_at')}",
        topic=POLLED_TOPIC,
        received_at=received_at,
        headers={shopify.TOPIC_HEADER: POLLED_TOPIC},
        body=body,
    )


class ShopifyPoller(RestPoller):
    NAME = "Shopify"
    CREDENTIAL_HEADER = ACCESS_TOKEN_HEADER

    @classmethod
    def credential_of(cls, store: Store, env: Mapping[str, str]) -> str:
        return store.env_value(env, store.access_token_env, "access_token_env")

    async def cycle(self) -> int:
        now = datetime.now(UTC)
        cursor_key = polling.poll_key(self.store.id, "cursor")
        raw = await self.redis.get(cursor_key)
        cursor = datetime.fromisoformat(text(raw)) if raw else now - polling.INITIAL_LOOKBACK
        url: str | None = orders_url(self.base_url)
        query: dict[str, str] | None = orders_query(cursor)
        produced = 0
        updated: list[datetime] = []
        while url is not None:
            headers, body = await self.get(url, query)
            document = orjson.loads(body)
            orders = document.get("orders") if isinstance(document, dict) else None
            if not isinstance(orders, list):
                raise PollError("orders page has no `orders` list")
            for order in orders:
                if not isinstance(order, dict) or "id" not in order:
                    raise PollError("orders page holds something that is not an order")
                delivery = polled_delivery(self.store.id, order, now)
                key = order_uuid(self.store.id, Marketplace.SHOPIFY, str(order["id"]))
                produced += int(await self.sink.produce(delivery, key))
                stamp = order.get("updated_at")
                if isinstance(stamp, str):
                    updated.append(datetime.fromisoformat(stamp).astimezone(UTC))
            # The next page's URL carries its own page_info; other filters are not allowed.
            url, query = polling.next_link(headers.get("Link")), None
        await self.redis.set(cursor_key, polling.shopify_cursor_after(cursor, updated).isoformat())
        return produced
