"""The Amazon poller: LWA token shared in Redis, usage plans honoured, orders fetched with their
items and financial events as one document (engine.domain.marketplaces.amazon decides the shapes).

Three ways an order gets fetched:

- a relayed ORDER_CHANGE put its id on the store's fetch list (`handle_push`);
- the backup poll lists it as changed (`cycle`): Orders API v2026 `searchOrders` by
  `lastUpdatedAfter` (at most once per ~3 minutes, its usage plan), or v0 `getOrders` by
  `LastUpdatedAfter` for a store on `orders_api_version = "v0"`; Amazon advises a second
  retrieval path, since notifications can go missing;
- its fees are due: FBA and commission fees post after the order's last change, so a shipped
  order is fetched again a day and a week later (`FEE_REFETCH_AFTER`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from engine.domain import polling
from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import amazon
from engine.domain.marketplaces.amazon import v2026 as amazon_v2026
from engine.shell.pollers.oauth import OAuthClient
from engine.shell.pollers.seen import SeenDocuments
from engine.shell.pollers.sink import PollError, Sink, text
from engine.shell.pollers.status import StatusBoard
from models.order import Marketplace
from models.raw import RawDelivery

log = logging.getLogger(__name__)

MAX_PAGES = 200
#: After a shipped order's first fetch: when to read its fees again.
FEE_REFETCH_AFTER = (timedelta(days=1), timedelta(days=7))


def _now() -> datetime:
    return datetime.now(UTC)


class AmazonClient(OAuthClient[amazon.ApiRequest]):
    """GETs against the SP-API (`OAuthClient`) with one LWA access token per refresh token;
    after a 429 or a 5xx no process calls that operation before `amazon.retry_after` says so."""

    NAME = "Amazon"
    TOKEN_NAME = "the LWA token"
    API_BASE_URL = amazon.API_BASE_URL
    TOKEN_URL = amazon.TOKEN_URL
    TOKEN_MARGIN = amazon.TOKEN_MARGIN
    TOKEN_REFUSED_STATUS = 403
    KEY_PREFIX = "winkel:amazon"

    def account_of(self, store: Store, env: Mapping[str, str]) -> tuple[str, ...]:
        """A seller's account is its refresh token (one LWA token per refresh token)."""
        return (store.env_value(env, store.refresh_token_env, "refresh_token_env"),)

    @property
    def refresh_token(self) -> str:
        return self.account_credentials[0]

    async def fetch_token(self) -> amazon.TokenCache:
        request = amazon.token_request(
            self.client_id, self.client_secret, self.refresh_token, self.token_url
        )
        status, body = await self.post_token(request)
        if status != 200:
            error = amazon.parse_token_error(body)
            hint = " (renew the refresh token)" if error.needs_new_credentials else ""
            raise PollError(f"LWA answered {status} {error.error}: {error.description}{hint}")
        try:
            return amazon.TokenCache.from_response(body, _now())
        except NormalisationError as exc:
            raise PollError(f"LWA answer: {exc}") from None

    def authorised(self, request: amazon.ApiRequest, token: str) -> amazon.ApiRequest:
        return amazon.authorised(request, token)

    def bucket(self, request: amazon.ApiRequest) -> str:
        return request.operation

    def label(self, request: amazon.ApiRequest) -> str:
        return request.operation

    def backoff(
        self, request: amazon.ApiRequest, status: int, headers: Mapping[str, str], attempt: int
    ) -> tuple[float | None, bool]:
        rate = amazon.reported_rate(headers)
        if rate is not None:
            self.rates[request.operation] = rate
        known = self.rates.get(request.operation)
        wait = amazon.retry_after(status, headers, request.operation, attempt, known)
        return wait, wait is not None

    async def ok(self, request: amazon.ApiRequest) -> bytes:
        body = await self.get(request)
        if body is None:
            raise PollError(f"{request.operation} {request.path}: not found")
        return body


@dataclass
class AmazonPoller:
    """One Amazon store: the backup poll, notification-triggered fetches, fee re-fetches."""

    store: Store
    client: AmazonClient
    redis: aioredis.Redis
    sink: Sink
    status: StatusBoard
    interval: float

    @classmethod
    def create(
        cls,
        store: Store,
        env: Mapping[str, str],
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        sink: Sink,
        status: StatusBoard,
        interval: float,
    ) -> AmazonPoller:
        client = AmazonClient(session, redis, store, env, status)
        return cls(store, client, redis, sink, status, interval)

    def key(self, *parts: str) -> str:
        return polling.poll_key(self.store.id, *parts)

    @property
    def marketplace_ids(self) -> list[str]:
        if self.store.amazon_marketplace_id is None:
            raise PollError(f"store {self.store.id!r} has no amazon_marketplace_id")
        return [self.store.amazon_marketplace_id]

    @property
    def v0(self) -> bool:
        return self.store.orders_api_version == "v0"

    async def cycle(self) -> int:
        """List what changed since the cursor, fetch what is new; fees that are due."""
        now = _now()
        raw = await self.redis.get(self.key("cursor"))
        after = datetime.fromisoformat(text(raw)) if raw else now - polling.INITIAL_LOOKBACK
        after = min(after, now - amazon.MIN_LAG)
        if self.v0:
            pages = [await self._page(amazon.orders_request(self.marketplace_ids, after))]
        elif await self._search_budget(now):
            pages = [await self._search_page(after, None)]
        else:
            return await self._due_fees()  # searchOrders allows one call per ~3 min
        while pages[-1].next_token is not None:
            if len(pages) >= MAX_PAGES:
                raise PollError(f"order search: more than {MAX_PAGES} pages since {after}")
            if self.v0:
                token = pages[-1].next_token
                pages.append(
                    await self._page(amazon.orders_request(self.marketplace_ids, None, token))
                )
            else:
                pages.append(await self._search_page(after, pages[-1].next_token))
        produced = 0
        summaries = [summary for page in pages for summary in page.orders]
        seen = await self._seen([s.amazon_order_id for s in summaries])
        for summary in summaries:
            if seen.get(summary.amazon_order_id) != summary.change_key:
                produced += await self.sync_order(summary.amazon_order_id)
        await self.redis.set(self.key("cursor"), amazon.next_cursor(after, pages, now).isoformat())
        produced += await self._due_fees()
        return produced

    async def _page(self, request: amazon.ApiRequest) -> amazon.OrdersPage:
        try:
            return amazon.parse_orders_page(await self.client.ok(request))
        except NormalisationError as exc:
            raise PollError(f"getOrders: {exc}") from None

    async def _search_page(self, after: datetime, token: str | None) -> amazon.OrdersPage:
        request = amazon_v2026.search_request(self.marketplace_ids, after, token)
        try:
            page = amazon_v2026.parse_search_page(await self.client.ok(request))
        except NormalisationError as exc:
            raise PollError(f"searchOrders: {exc}") from None
        return amazon.OrdersPage(page.orders, (), page.next_token, page.last_updated_before)

    async def _search_budget(self, now: datetime) -> bool:
        """Whether a `searchOrders` call is free now under its usage plan (0.0056/s, burst
        20), kept in Redis for every process polling this account: polls in between only fetch
        what notifications named and fees that are due."""
        key = f"{self.client.holds.prefix}:searchOrders:bucket"
        plan = amazon.DEFAULT_RATES["searchOrders"]
        raw = await self.redis.get(key)
        if raw:
            saved = orjson.loads(raw)
            bucket = amazon.Bucket(plan, saved["tokens"], datetime.fromisoformat(saved["at"]))
        else:
            bucket = amazon.Bucket.full(plan, now)
        taken, wait = bucket.take(now)
        if wait > 0:
            return False
        state = {"tokens": taken.tokens, "at": taken.at.isoformat()}
        await self.redis.set(key, orjson.dumps(state), ex=int(plan.burst / plan.rate) + 60)
        return True

    @property
    def seen_orders(self) -> SeenDocuments:
        return SeenDocuments(self.redis, self.store.id, "orders")

    async def _seen(self, order_ids: list[str]) -> dict[str, str | None]:
        values = await self.seen_orders.get_many(order_ids)
        return {
            order_id: None if value is None else text(value) for order_id, value in values.items()
        }

    async def document(self, order_id: str) -> bytes | None:
        """The order, every page of its items, and its financial events, as one document
        (v2026: `getOrder` with `includedData` holds the items)."""
        if not self.v0:
            body = await self.client.get(amazon_v2026.order_request(order_id))
            if body is None:
                return None
            try:
                order_v2026 = amazon_v2026.parse_order(body)
                events = await self._financial_events(order_id)
            except NormalisationError as exc:
                raise PollError(f"order {order_id}: {exc}") from None
            return amazon_v2026.order_document(order_v2026, events)
        body = await self.client.get(amazon.order_request(order_id))
        if body is None:
            return None
        try:
            order = amazon.parse_order(body)
            items: list[dict[str, Any]] = []
            token: str | None = None
            for _ in range(MAX_PAGES):
                page = amazon.parse_order_items_page(
                    await self.client.ok(amazon.order_items_request(order_id, token))
                )
                items += page.items
                token = page.next_token
                if token is None:
                    break
            events = await self._financial_events(order_id)
        except NormalisationError as exc:
            raise PollError(f"order {order_id}: {exc}") from None
        return amazon.order_document(order, items, events)

    async def _financial_events(self, order_id: str) -> dict[str, Any] | None:
        """Every page of the order's Finances v0 events, merged (None: none posted)."""
        finance_pages = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            answer = await self.client.get(amazon.financial_events_request(order_id, token))
            if answer is None:
                break
            finances = amazon.parse_financial_events_page(answer)
            finance_pages.append(finances.events)
            token = finances.next_token
            if token is None:
                break
        return amazon.merge_financial_events(finance_pages) if finance_pages else None

    async def sync_order(self, order_id: str) -> int:
        """Fetch and write one order document (once per snapshot); remember what was seen."""
        document = await self.document(order_id)
        if document is None:
            log.warning("Amazon order %s of %s not found", order_id, self.store.id)
            return 0
        version = amazon if self.v0 else amazon_v2026
        delivery_id = version.document_delivery_id(document)
        if delivery_id is None:
            raise PollError(f"order {order_id}: the fetched document names no order")
        delivery = RawDelivery(
            marketplace=Marketplace.AMAZON,
            store_id=self.store.id,
            delivery_id=delivery_id,
            topic=version.ORDER_DOCUMENT_TOPIC,
            received_at=_now(),
            headers={},
            body=document,
        )
        written = await self.sink.produce(
            delivery, order_uuid(self.store.id, Marketplace.AMAZON, order_id)
        )
        if self.v0:
            order = orjson.loads(document)["Order"]
            change = amazon.OrderSummary(
                order_id,
                datetime.fromisoformat(order["LastUpdateDate"]),
                str(order.get("OrderStatus", "")),
            )
            shipped = change.status in amazon.SHIPPED_STATUSES
        else:
            change = amazon_v2026.order_summary(orjson.loads(document)["order"])
            shipped = amazon_v2026.STAGES.get(change.status) is amazon.Stage.SHIPPED
        await self.seen_orders.remember(order_id, change.change_key)
        if shipped:
            await self._schedule_fees(order_id, change.last_update)
        return int(written)

    async def _schedule_fees(self, order_id: str, last_update: datetime) -> None:
        """Re-read a shipped order's fees a day and a week after it last changed."""
        changed = last_update.timestamp()
        steps = await self.redis.hget(self.key("fees_step"), order_id)
        step = 0 if steps is None else int(steps)
        if step >= len(FEE_REFETCH_AFTER):
            return
        due = changed + FEE_REFETCH_AFTER[step].total_seconds()
        await self.redis.zadd(self.key("fees_due"), {order_id: max(due, time.time())}, nx=True)

    async def _due_fees(self) -> int:
        due = await self.redis.zrangebyscore(self.key("fees_due"), 0, time.time(), start=0, num=50)
        produced = 0
        for raw in due:
            order_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            await self.redis.zrem(self.key("fees_due"), order_id)
            await self.redis.hincrby(self.key("fees_step"), order_id, 1)
            produced += await self.sync_order(order_id)
        return produced

    async def handle_push(self, fetch: polling.PushFetch) -> int:
        """A relayed ORDER_CHANGE asked for a prompt fetch of its order."""
        if fetch.resource != "ORDER":
            return 0
        return await self.sync_order(fetch.resource_id)
