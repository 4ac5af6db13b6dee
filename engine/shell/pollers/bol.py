"""The bol.com poller: OAuth2 token shared in Redis, rate budgets honoured, orders, shipments,
returns fetched as the pure module (engine.domain.marketplaces.bol) and engine.domain.polling
decide."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from engine.domain import polling
from engine.domain.config import Store
from engine.domain.exceptions import InputError, NormalisationError
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import bol
from engine.shell.pollers.oauth import OAuthClient
from engine.shell.pollers.seen import SeenDocuments
from engine.shell.pollers.sink import PollError, Sink, text
from engine.shell.pollers.status import StatusBoard
from models.order import Marketplace
from models.raw import RawDelivery

log = logging.getLogger(__name__)

#: Keep a fetched order detail this long: returns (weeks later) are placed on its items.
ORDER_DOCUMENT_TTL = int(timedelta(days=120).total_seconds())


def _now() -> datetime:
    return datetime.now(UTC)


class BolClient(OAuthClient[bol.ApiRequest]):
    """GETs against the Retailer API (`OAuthClient`): bol IP-blocks callers that ask for
    tokens too often, and watches clients that collect 429s, so the budget is kept per path
    bucket: after a 429 (`Retry-After`) or an answer that spent it (`x-ratelimit-remaining:
    0`), no process calls that bucket before the wait is over."""

    NAME = "bol"
    TOKEN_NAME = "the bol token"
    API_BASE_URL = bol.API_BASE_URL
    TOKEN_URL = bol.TOKEN_URL
    TOKEN_MARGIN = bol.TOKEN_MARGIN
    TOKEN_REFUSED_STATUS = 401
    KEY_PREFIX = "winkel:bol"
    LOG_HOLDS = True

    async def fetch_token(self) -> bol.TokenCache:
        request = bol.token_request(self.client_id, self.client_secret, self.token_url)
        status, body = await self.post_token(request)
        if status != 200:
            raise PollError(f"bol token endpoint answered {status}: {body[:200]!r}")
        try:
            cache = bol.TokenCache.from_response(body, _now())
        except NormalisationError as exc:
            raise PollError(f"bol token answer: {exc}") from None
        log.info("fetched a bol access token (valid until %s)", cache.expires_at.isoformat())
        return cache

    def authorised(self, request: bol.ApiRequest, token: str) -> bol.ApiRequest:
        return bol.authorised(request, token)

    def bucket(self, request: bol.ApiRequest) -> str:
        return polling.rate_bucket("GET", request.path)

    def label(self, request: bol.ApiRequest) -> str:
        return f"GET {request.path}"

    def backoff(
        self, request: bol.ApiRequest, status: int, headers: Mapping[str, str], attempt: int
    ) -> tuple[float | None, bool]:
        return bol.retry_after(status, headers, _now()), status == 429

    async def pages(self, make: Any) -> list[bytes]:
        """Every page of a list endpoint: `make(page)` builds the request; 50 items a page."""
        bodies: list[bytes] = []
        page = 1
        while True:
            body = await self.get(make(page))
            if body is None:
                return bodies
            bodies.append(body)
            document = orjson.loads(body)
            items = next((v for v in document.values() if isinstance(v, list)), [])
            following = bol.next_page(page, len(items))
            if following is None:
                return bodies
            page = following


@dataclass
class BolPoller:
    """One bol store: the list poll, the details it calls for, pushes, returns."""

    store: Store
    client: BolClient
    redis: aioredis.Redis
    sink: Sink
    status: StatusBoard
    interval: float

    def key(self, *parts: str) -> str:
        return polling.poll_key(self.store.id, *parts)

    def _delivery(self, delivery_id: str, topic: str, body: bytes) -> RawDelivery:
        return RawDelivery(
            marketplace=Marketplace.BOL,
            store_id=self.store.id,
            delivery_id=delivery_id,
            topic=topic,
            received_at=_now(),
            headers={},
            body=body,
        )

    def _order(self, order_id: str) -> Any:
        return order_uuid(self.store.id, Marketplace.BOL, order_id)

    async def cycle(self) -> int:
        """One poll: list changes, fetch what changed, then returns. Orders produced."""
        now = _now()
        raw_listed = await self.redis.get(self.key("listed_at"))
        listed_at = datetime.fromisoformat(text(raw_listed)) if raw_listed else None
        pages: list[list[bol.OrderSummaryRef]] = []
        for query, method in itertools.product(
            polling.bol_list_queries(listed_at, now), ("FBR", "FBB")
        ):
            bodies = await self.client.pages(
                lambda page, m=method, q=query: bol.orders_request(
                    m, page, q.change_interval_minute, "ALL", q.latest_change_date
                )
            )
            try:
                pages.extend(bol.parse_orders_page(body) for body in bodies)
            except NormalisationError as exc:
                raise PollError(f"order list: {exc}") from None
        summaries = polling.merge_summaries(pages)
        seen = await self._seen([s.order_id for s in summaries])
        # Orders whose fetch failed before are tried again whatever the list says: the list's
        # change filter will not show them again, so one bad order never holds back the rest.
        retry_key = self.key("retry")
        retry = sorted(text(member) for member in await self.redis.smembers(retry_key))
        wanted = polling.bol_orders_to_fetch(summaries, seen)
        wanted += [order_id for order_id in retry if order_id not in wanted]
        seen.update(await self._seen([order_id for order_id in retry if order_id not in seen]))
        produced, failed = 0, []
        for order_id in wanted:
            try:
                produced += await self.sync_order(order_id, seen.get(order_id))
            except (RedisError, KafkaError):
                raise  # our own infrastructure: the whole poll waits, the cursor stays
            except InputError as exc:  # an id that is no bol id is never requested, nor retried
                log.warning("bol order %r of %s refused: %s", order_id[:80], self.store.id, exc)
                await self.redis.srem(retry_key, order_id)
            except Exception as exc:  # bol's answer or its connection: this order only
                log.warning("bol order %s of %s: %s", order_id, self.store.id, exc)
                failed.append(order_id)
                await self.redis.sadd(retry_key, order_id)
            else:
                if order_id in retry:
                    await self.redis.srem(retry_key, order_id)
        await self.redis.set(self.key("listed_at"), now.isoformat())  # after every ack
        # Returns have no change filter: the open and the handled list, deduped by content.
        await self.sync_returns()
        if failed:
            raise PollError(f"{len(failed)} orders to try again: {', '.join(failed[:5])}")
        return produced

    def seen(self, kind: str) -> SeenDocuments:
        return SeenDocuments(self.redis, self.store.id, kind)

    async def _seen(self, order_ids: list[str]) -> dict[str, polling.SeenOrder | None]:
        values = await self.seen("orders").get_many(order_ids)
        return {oid: polling.SeenOrder.decode(v) for oid, v in values.items()}

    async def sync_order(self, order_id: str, previous: polling.SeenOrder | None) -> int:
        """Fetch the detail, write it, then any new shipments; remember it only then."""
        body = await self.client.get(bol.order_request(order_id))
        if body is None:
            log.warning("bol order %s of %s not found", order_id, self.store.id)
            return 0
        state = polling.seen_from_detail(body)
        await self.redis.set(self.key("order", order_id), body, ex=ORDER_DOCUMENT_TTL)
        delivery = self._delivery(
            polling.bol_order_delivery_id(order_id, state), bol.ORDER_DOCUMENT_TOPIC, body
        )
        written = await self.sink.produce(delivery, self._order(order_id))
        if polling.needs_shipments(state, previous):
            await self.sync_shipments(order_id, body)
        await self.seen("orders").remember(order_id, state.encode())
        return int(written)

    async def sync_shipments(self, order_id: str, order_json: bytes) -> None:
        ids: list[str] = []
        for method in polling.fulfilment_methods(order_json):
            bodies = await self.client.pages(
                lambda page, m=method: bol.shipments_request(m, page, order_id)
            )
            for body in bodies:
                ids.extend(ref.shipment_id for ref in bol.parse_shipments_page(body))
        for shipment_id in dict.fromkeys(ids):
            await self.sync_shipment(shipment_id)

    async def sync_shipment(self, shipment_id: str) -> None:
        if await self.seen("shipments").get(shipment_id) is not None:
            return
        body = await self.client.get(bol.shipment_request(shipment_id))
        if body is None:
            log.warning("bol shipment %s of %s not found", shipment_id, self.store.id)
            return
        order_id = bol.external_order_id(bol.SHIPMENT_DOCUMENT_TOPIC, body)
        delivery = self._delivery(
            polling.bol_shipment_delivery_id(shipment_id), bol.SHIPMENT_DOCUMENT_TOPIC, body
        )
        await self.sink.produce(delivery, None if order_id is None else self._order(order_id))
        await self.seen("shipments").remember(shipment_id)

    async def sync_returns(self) -> None:
        for method in ("FBR", "FBB"):
            for handled in (False, True):
                bodies = await self.client.pages(
                    lambda page, m=method, h=handled: bol.returns_request(m, page, h)
                )
                for body in bodies:
                    for ret in orjson.loads(body).get("returns") or []:
                        await self._sync_return(ret, handled)

    async def _sync_return(self, ret: dict[str, Any], handled: bool) -> None:
        return_id = str(ret.get("returnId"))
        fingerprint = polling.return_fingerprint(ret)
        seen_field = f"{return_id}:{'handled' if handled else 'open'}"
        known = await self.seen("returns").get(seen_field)
        if known is not None and text(known) == fingerprint:
            return
        orders = []
        order_ids = bol.return_order_ids(orjson.dumps(ret))
        for order_id in order_ids:
            cached = await self.redis.get(self.key("order", order_id))
            if cached is None:
                try:
                    request = bol.order_request(order_id)
                except InputError as exc:  # never requested; the return is kept unplaced
                    log.warning("bol return %s of %s: %s", return_id, self.store.id, exc)
                    continue
                cached = await self.client.get(request)
                if cached is not None:
                    await self.redis.set(self.key("order", order_id), cached, ex=ORDER_DOCUMENT_TTL)
            if cached is not None:
                orders.append(orjson.loads(cached))
        body = orjson.dumps({"return": ret, "orders": orders})
        delivery = self._delivery(
            polling.bol_return_delivery_id(return_id, fingerprint), bol.RETURN_DOCUMENT_TOPIC, body
        )
        key = self._order(order_ids[0]) if order_ids else None
        await self.sink.produce(delivery, key)
        await self.seen("returns").remember(seen_field, fingerprint)

    async def handle_push(self, fetch: polling.PushFetch) -> int:
        """A push asked for a prompt fetch: the order's detail (always), or a shipment."""
        if fetch.resource == "SHIPMENT":
            await self.sync_shipment(fetch.resource_id)
            return 0
        seen = await self._seen([fetch.resource_id])
        return await self.sync_order(fetch.resource_id, seen.get(fetch.resource_id))
