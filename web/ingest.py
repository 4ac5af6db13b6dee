"""Webhook ingestion: verify, dedupe in Redis, write to Kafka, then answer.

A delivery is answered 200 only once the broker has acknowledged it (acks=all), so an answered
delivery is never lost; a duplicate is answered 200 without a second write.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web
from redis.exceptions import RedisError

from engine import topics
from engine.exceptions import SignatureError
from engine.identity import order_uuid
from engine.marketplaces import shopify, woocommerce
from engine.readmodel import delivery_key
from models.codec import encode_raw
from models.order import Marketplace
from models.raw import RawDelivery
from web.state import CONFIG, PRODUCER, REDIS, SECRETS

log = logging.getLogger(__name__)

#: How long a delivery may be "being written" before a retry of it is allowed to write again.
PENDING_SECONDS = 60
PENDING, DONE = b"pending", b"done"


@dataclass(frozen=True)
class Door:
    """How one marketplace's signed webhooks are recognised, checked and identified."""

    marketplace: Marketplace
    verify: Callable[[bytes, Mapping[str, str], Iterable[bytes]], None]
    delivery_id: Callable[[Mapping[str, str], bytes], str | None]
    topic: Callable[[Mapping[str, str]], str | None]
    external_order_id: Callable[[str, bytes], str | None]
    kept_headers: tuple[str, ...]
    #: A handshake that must be answered 200, unsigned and unstored (WooCommerce's ping).
    is_ping: Callable[[bytes, Mapping[str, str]], bool] = lambda body, headers: False


SHOPIFY = Door(
    Marketplace.SHOPIFY,
    shopify.verify,
    lambda headers, body: shopify.delivery_id(headers),
    shopify.topic,
    shopify.external_order_id,
    shopify.KEPT_HEADERS,
)
WOOCOMMERCE = Door(
    Marketplace.WOOCOMMERCE,
    woocommerce.verify,
    woocommerce.delivery_id,
    woocommerce.topic,
    woocommerce.external_order_id,
    woocommerce.KEPT_HEADERS,
    woocommerce.is_ping,
)


def webhook(door: Door) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler for `POST /webhooks/<marketplace>/{store_id}`."""

    async def handle(request: web.Request) -> web.Response:
        store_id = request.match_info["store_id"]
        store = request.app[CONFIG].store(store_id)
        if store is None or store.marketplace is not door.marketplace:
            raise web.HTTPNotFound(text=f"unknown {door.marketplace.value} store {store_id!r}")
        body = await request.read()
        if door.is_ping(body, request.headers):
            return web.json_response({"status": "pong"})
        try:
            door.verify(body, request.headers, request.app[SECRETS][store.id])
        except SignatureError as exc:
            log.warning("rejected delivery for %s from %s: %s", store.id, request.remote, exc)
            raise web.HTTPUnauthorized(text=str(exc)) from None
        delivery_id = door.delivery_id(request.headers, body)
        topic = door.topic(request.headers)
        if delivery_id is None or topic is None:
            raise web.HTTPBadRequest(
                text=f"not a {door.marketplace.value} delivery: delivery id or topic missing"
            )
        delivery = RawDelivery(
            marketplace=door.marketplace,
            store_id=store.id,
            delivery_id=delivery_id,
            topic=topic,
            received_at=datetime.now(UTC),
            headers={n: request.headers[n] for n in door.kept_headers if n in request.headers},
            body=body,
        )
        order_id = door.external_order_id(topic, body)
        key = None if order_id is None else order_uuid(store.id, door.marketplace, order_id)
        return await accept(request.app, delivery, key)

    return handle


shopify_webhook = webhook(SHOPIFY)
woocommerce_webhook = webhook(WOOCOMMERCE)


async def accept(app: web.Application, delivery: RawDelivery, order: UUID | None) -> web.Response:
    """Write a verified delivery to its raw topic exactly once per delivery id.

    The record is keyed by the order's UUID where the delivery names its order, so one order's
    deliveries keep their order through the partition; otherwise by the delivery id.
    """
    redis = app[REDIS]
    key = delivery_key(delivery.marketplace.value, delivery.store_id, delivery.delivery_id)
    try:
        claimed = await redis.set(key, PENDING, nx=True, ex=PENDING_SECONDS)
        if not claimed:
            if await redis.get(key) == DONE:
                return web.json_response({"status": "duplicate"})
            # Another request is writing this very delivery now; the sender retries later.
            raise web.HTTPConflict(text="this delivery is being processed")
    except RedisError as exc:
        log.error("dedupe store unavailable: %s", exc)
        raise web.HTTPServiceUnavailable(text="dedupe store unavailable") from None
    try:
        await app[PRODUCER].send_and_wait(
            topics.raw(delivery.marketplace),
            value=encode_raw(delivery),
            key=(delivery.delivery_id if order is None else str(order)).encode(),
        )
    except Exception:
        log.exception("could not write delivery %s to Kafka", delivery.delivery_id)
        # Let the sender's retry write it; if Redis is gone too, the claim expires by itself.
        with contextlib.suppress(RedisError):
            await redis.delete(key)
        raise web.HTTPServiceUnavailable(text="could not store the delivery") from None
    try:
        await redis.set(key, DONE, ex=app[CONFIG].dedupe_ttl_seconds)
    except RedisError as exc:
        # The delivery is safely in Kafka; a retry may write it again, which the worker absorbs.
        log.warning("could not mark delivery %s done: %s", delivery.delivery_id, exc)
    return web.json_response({"status": "accepted"})
