"""The WooCommerce poller: `modified_after` sweeps (WooCommerce never retries a webhook), and
each order's refunds from `/orders/{id}/refunds`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson

from engine.domain import polling
from engine.domain.config import Store
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import woocommerce
from engine.shell.pollers.rest import RestPoller
from engine.shell.pollers.sink import PollError
from models.order import Marketplace
from models.raw import RawDelivery

log = logging.getLogger(__name__)


class WooCommercePoller(RestPoller):
    NAME = "WooCommerce"
    CREDENTIAL_HEADER = "Authorization"

    @classmethod
    def credential_of(cls, store: Store, env: Mapping[str, str]) -> str:
        key = store.env_value(env, store.consumer_key_env, "consumer_key_env")
        secret = store.env_value(env, store.consumer_secret_env, "consumer_secret_env")
        return woocommerce.basic_auth(key, secret)

    async def cycle(self) -> int:
        """Sweep every order changed since the cursor; the cursor moves after the acks."""
        now = datetime.now(UTC)
        cursor_key = polling.poll_key(self.store.id, "cursor")
        cursor = polling.decode_woocommerce_cursor(await self.redis.get(cursor_key), now)
        produced = 0
        while True:
            url, query = woocommerce.orders_request(
                self.base_url, cursor.modified_after, cursor.page
            )
            headers, body = await self.get(url, query)
            try:
                page = woocommerce.parse_orders_page(headers, body, cursor.page)
            except woocommerce.ApiResponseError as exc:
                raise PollError(f"orders page: {exc}") from None
            for order in page.orders:
                produced += await self.sync_order(order)
            cursor, again = woocommerce.next_cursor(cursor, page)
            await self.redis.set(cursor_key, polling.encode_woocommerce_cursor(cursor))
            if not again:
                return produced

    async def sync_order(self, order: Mapping[str, object]) -> int:
        delivery = woocommerce.polled_delivery(self.store.id, order, datetime.now(UTC))
        order_id = str(order.get("id"))
        key = order_uuid(self.store.id, Marketplace.WOOCOMMERCE, order_id)
        written = await self.sink.produce(delivery, key)
        refund_ids = woocommerce.listed_refund_ids(delivery.body)
        if refund_ids:
            await self.sync_refunds(order_id, refund_ids)
        return int(written)

    async def sync_refunds(self, order_id: str, refund_ids: tuple[str, ...]) -> None:
        """The refunds an order lists, once per set of refund ids (written after the order)."""
        delivery_id = polling.woocommerce_refunds_delivery_id(order_id, refund_ids)
        probe = self._refunds_delivery(order_id, delivery_id, b"")
        if await self.sink.done(probe):
            return
        await self.fetch_refunds(order_id)

    async def fetch_refunds(self, order_id: str) -> int:
        """Every refund of one order, all pages, written as one record (once per set of ids)."""
        refunds: list[dict[str, object]] = []
        page: int | None = 1
        while page is not None:
            url, query = woocommerce.refunds_request(self.base_url, order_id, page)
            headers, body = await self.get(url, query)
            try:
                found = woocommerce.parse_refunds_page(headers, body, page)
            except woocommerce.ApiResponseError as exc:
                raise PollError(f"refunds of order {order_id}: {exc}") from None
            refunds.extend(found.refunds)
            page = found.next_page
        ids = woocommerce.refund_ids(refunds)
        delivery_id = polling.woocommerce_refunds_delivery_id(order_id, ids)
        key = order_uuid(self.store.id, Marketplace.WOOCOMMERCE, order_id)
        body = orjson.dumps(refunds)
        return int(
            await self.sink.produce(self._refunds_delivery(order_id, delivery_id, body), key)
        )

    async def handle_push(self, fetch: polling.PushFetch) -> int:
        """A webhook listed refunds not fetched yet (web/ingest.py): fetch them now."""
        if fetch.resource != polling.WOOCOMMERCE_REFUNDS_FETCH:
            return 0
        return await self.fetch_refunds(fetch.resource_id)

    def _refunds_delivery(self, order_id: str, delivery_id: str, body: bytes) -> RawDelivery:
        return RawDelivery(
            marketplace=Marketplace.WOOCOMMERCE,
            store_id=self.store.id,
            delivery_id=delivery_id,
            topic=polling.WOOCOMMERCE_REFUNDS_TOPIC,
            received_at=datetime.now(UTC),
            headers={
                woocommerce.TOPIC_HEADER: polling.WOOCOMMERCE_REFUNDS_TOPIC,
                polling.ORDER_ID_HEADER: order_id,
            },
            body=body,
        )
