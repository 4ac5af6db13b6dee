"""Webhook ingestion: verify, dedupe in Redis, write to Kafka, then answer.

A delivery is answered 200 only once the broker has acknowledged it (acks=all), so an answered
delivery is never lost; a duplicate is answered 200 without a second write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from redis.exceptions import RedisError

from engine.domain import polling
from engine.domain.config import Config, Store
from engine.domain.exceptions import ConfigError, DependencyUnavailable, InputError, SignatureError
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import amazon, amazon_relay, bol, shopify, woocommerce
from engine.domain.marketplaces._door import is_plain_text
from engine.shell.ledger import DONE, DeliveryInProgress, DeliveryLedger, Outcome
from engine.shell.producer import SEND_DEADLINE_SECONDS
from engine.shell.readmodel import delivery_key
from models.order import Marketplace
from models.raw import RawDelivery
from web.errors import bad_request, refusal
from web.state import CONFIG, PRODUCER, REDIS, SECRETS

log = logging.getLogger(__name__)


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
    #: Refuses (SourceMismatch, 401) a delivery naming another shop or site than the store's.
    check_source: Callable[[Mapping[str, str], Store], None] = lambda headers, store: None
    #: Asks the store's poller to fetch something now (WooCommerce: refunds a webhook lists).
    after_accept: Callable[[web.Application, Store, RawDelivery], Awaitable[None]] | None = None
    #: Topics only the engine's own pollers write: a webhook naming one is refused.
    engine_topics: frozenset[str] = frozenset()


SHOPIFY = Door(
    Marketplace.SHOPIFY,
    shopify.verify,
    lambda headers, body: shopify.delivery_id(headers),
    shopify.topic,
    shopify.external_order_id,
    shopify.KEPT_HEADERS,
    check_source=shopify.check_source,
)


async def fetch_listed_refunds(app: web.Application, store: Store, delivery: RawDelivery) -> None:
    """Ask the store's poller to fetch an order's refunds now, when a kept webhook lists
    refund ids whose details were not fetched yet (WooCommerce bodies hold only their ids).

    Whatever the order's age: the poll's `modified_after` window would find an old order's
    refund late or never. Best effort: without Redis the delivery is kept all the same.
    """
    wanted = woocommerce.refunds_to_fetch(delivery.topic, delivery.body)
    if wanted is None or not store.polled:
        return
    order_id, refund_ids = wanted
    fetched = delivery_key(
        Marketplace.WOOCOMMERCE.value,
        store.id,
        polling.woocommerce_refunds_delivery_id(order_id, refund_ids),
    )
    fetch = polling.PushFetch(polling.WOOCOMMERCE_REFUNDS_FETCH, order_id)
    pending = polling.pending_fetches_key(store.id)
    try:
        if await app[REDIS].get(fetched) == DONE:
            return
        pipe = app[REDIS].pipeline(transaction=False)
        pipe.rpush(pending, fetch.encode())
        pipe.ltrim(pending, -PENDING_FETCHES_KEPT, -1)
        await pipe.execute()
    except RedisError as exc:  # the delivery is kept; the poll finds the refunds later
        log.warning("could not ask the poller of %s for refunds: %s", store.id, exc)


WOOCOMMERCE = Door(
    Marketplace.WOOCOMMERCE,
    woocommerce.verify,
    woocommerce.delivery_id,
    woocommerce.topic,
    woocommerce.external_order_id,
    woocommerce.KEPT_HEADERS,
    woocommerce.is_ping,
    woocommerce.check_source,
    fetch_listed_refunds,
    frozenset({woocommerce.POLLED_TOPIC, polling.WOOCOMMERCE_REFUNDS_TOPIC}),
)


def _not_found(what: str) -> web.HTTPException:
    return refusal(web.HTTPNotFound, "not_found", what)


def _unsigned(exc: SignatureError) -> web.HTTPException:
    return refusal(web.HTTPUnauthorized, "unauthorized", str(exc))


async def read_body(request: web.Request) -> bytes:
    """The request's body; 400 when its framing or `Content-Encoding` cannot be decoded (a
    `gzip` header over a plain body), 413 over the size limit, never an exception."""
    try:
        return await request.read()
    except HttpProcessingError as exc:
        raise bad_request(f"the body cannot be read: {exc.message}") from None
    except RequestPayloadError as exc:  # a Content-Encoding the body does not have
        raise bad_request(f"the body cannot be read: {exc}") from None


def kept_headers(request: web.Request, names: Iterable[str]) -> dict[str, str]:
    """The named headers the request has, each checked to be plain text (400 naming the first
    that is not: bytes that are not UTF-8, control characters, over 1,024 characters)."""
    kept: dict[str, str] = {}
    for name in names:
        value = request.headers.get(name)
        if value is None:
            continue
        if not is_plain_text(value):
            raise bad_request(f"header {name} is not plain text")
        kept[name] = value
    return kept


def webhook(door: Door) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler for `POST /webhooks/<marketplace>/{store_id}`."""

    async def handle(request: web.Request) -> web.Response:
        store_id = request.match_info["store_id"]
        store = request.app[CONFIG].store(store_id)
        if store is None or store.marketplace is not door.marketplace:
            raise _not_found(f"unknown {door.marketplace.value} store {store_id!r}")
        body = await read_body(request)
        if door.is_ping(body, request.headers):
            return web.json_response({"status": "pong"})
        try:
            door.verify(body, request.headers, request.app[SECRETS][store.id])
            door.check_source(request.headers, store)
        except SignatureError as exc:
            log.warning("rejected delivery for %s from %s: %s", store.id, request.remote, exc)
            raise _unsigned(exc) from None
        headers = kept_headers(request, door.kept_headers)
        delivery_id = door.delivery_id(headers, body)
        topic = door.topic(headers)
        if delivery_id is None or topic is None:
            raise bad_request(
                f"not a {door.marketplace.value} delivery: delivery id or topic missing"
            )
        if topic in door.engine_topics:
            raise bad_request(f"topic {topic!r} is the engine's own, never a webhook's")
        delivery = RawDelivery(
            marketplace=door.marketplace,
            store_id=store.id,
            delivery_id=delivery_id,
            topic=topic,
            received_at=datetime.now(UTC),
            headers=headers,
            body=body,
        )
        order_id = door.external_order_id(topic, body)
        key = None if order_id is None else order_uuid(store.id, door.marketplace, order_id)
        outcome = await accept(request.app, delivery, key)
        if door.after_accept is not None:
            await door.after_accept(request.app, store, delivery)
        return answer(request, outcome)

    return handle


shopify_webhook = webhook(SHOPIFY)
woocommerce_webhook = webhook(WOOCOMMERCE)


#: What `accept()` did with a webhook request's delivery, for the middleware that counts them.
OUTCOME = web.RequestKey("ingest_outcome", Outcome)


def answer(request: web.Request, outcome: Outcome) -> web.Response:
    """The 200 a delivery is answered with: `{"status": "accepted" | "duplicate"}`."""
    request[OUTCOME] = outcome
    return web.json_response({"status": outcome.value})


async def accept(app: web.Application, delivery: RawDelivery, order: UUID | None) -> Outcome:
    """Write a verified delivery to its raw topic exactly once per delivery id.

    The record is keyed by the order's UUID where the delivery names its order, so one order's
    deliveries keep their order through the partition; otherwise by the delivery id. 409 while
    another request writes the same delivery; 503 (`DependencyUnavailable`) without Redis or
    without the broker's ack in time.
    """
    started = time.monotonic()

    async def send(topic: str, value: bytes, key: bytes) -> None:
        # One deadline for the whole answer (a slow Redis leaves Kafka less): 503 with
        # Retry-After in time, never a 200 without the broker's ack.
        await app[PRODUCER].send_and_wait(
            topic,
            value=value,
            key=key,
            deadline=SEND_DEADLINE_SECONDS - (time.monotonic() - started),
        )

    ledger = DeliveryLedger(app[REDIS], app[CONFIG].dedupe_ttl_seconds)
    try:
        return await ledger.write_once(delivery, order, send)
    except DeliveryInProgress:
        # Another request is writing this very delivery now; the sender retries later.
        raise web.HTTPConflict(text="this delivery is being processed") from None
    except RedisError as exc:  # only the claim raises it: the release and the mark do not
        raise DependencyUnavailable(
            f"dedupe store unavailable: {exc}", dependency="redis"
        ) from None


# --- bol.com: RSA-signed pushes that only ask for a fetch ------------------------------------

#: At most this many prompt-fetch requests wait per store (the list poll is the backstop).
PENDING_FETCHES_KEPT = 10_000
#: Store id -> the bol public keys its pushes may be signed with (PEM or base64 DER).
BOL_KEYS = web.AppKey("bol_public_keys", dict[str, tuple[str, ...]])


def bol_public_keys(config: Config, env: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each bol store's keys, parsed now so a bad key stops the start with its variable's name.

    A store without keys answers every push 401 (and is still polled).
    """
    keys: dict[str, tuple[str, ...]] = {}
    for store in config.stores.values():
        if store.marketplace is not Marketplace.BOL:
            continue
        raw = env.get(store.public_keys_env, "") if store.public_keys_env else ""
        parsed = bol.parse_public_keys(raw)
        for key in parsed:
            try:
                bol.load_public_key(key)
            except ConfigError as exc:
                raise ConfigError(f"store {store.id!r}, {store.public_keys_env}: {exc}") from None
        if not parsed:
            log.warning("bol store %s has no push public keys: pushes will be refused", store.id)
        keys[store.id] = parsed
    return keys


async def bol_webhook(request: web.Request) -> web.Response:
    """`POST /webhooks/bol/{store_id}`: verify, dedupe, keep, and ask the poller to fetch.

    The push carries no order data; the store's poller (which waits on a Redis list) fetches
    what it names within moments, and its list poll is the backstop if this hint is lost.
    """
    store_id = request.match_info["store_id"]
    store = request.app[CONFIG].store(store_id)
    if store is None or store.marketplace is not Marketplace.BOL:
        raise _not_found(f"unknown bol store {store_id!r}")
    body = await read_body(request)
    try:
        bol.verify(body, request.headers, request.app[BOL_KEYS].get(store.id, ()))
    except SignatureError as exc:
        log.warning("rejected bol push for %s from %s: %s", store.id, request.remote, exc)
        raise _unsigned(exc) from None
    notification = bol.parse_notification(body)
    if notification is None:
        raise bad_request("not a bol push notification")
    try:
        bol.check_notification(notification)
    except InputError as exc:  # its id would become a URL path on bol's host: never fetched
        raise bad_request(str(exc)) from None
    delivery = RawDelivery(
        marketplace=Marketplace.BOL,
        store_id=store.id,
        delivery_id=notification.delivery_id,
        topic=notification.topic,
        received_at=datetime.now(UTC),
        headers={},
        body=body,
    )
    order_id = bol.external_order_id(notification.topic, body)
    key = None if order_id is None else order_uuid(store.id, Marketplace.BOL, order_id)
    outcome = await accept(request.app, delivery, key)
    fetch = polling.push_fetch(notification)
    if fetch is not None and outcome is Outcome.ACCEPTED:
        pending = polling.pending_fetches_key(store.id)
        try:
            pipe = request.app[REDIS].pipeline(transaction=False)
            pipe.rpush(pending, fetch.encode())
            pipe.ltrim(pending, -PENDING_FETCHES_KEPT, -1)  # no poller for days: keep the newest
            await pipe.execute()
        except RedisError as exc:  # the delivery is kept; the list poll will find the change
            log.warning("could not ask the poller of %s to fetch: %s", store.id, exc)
    return answer(request, outcome)


# --- Amazon: relayed ORDER_CHANGE notifications that only ask for a fetch -----------------------

#: Store id -> the shared secrets its notification relay may present in `X-Winkel-Token`.
AMAZON_SECRETS = web.AppKey("amazon_relay_secrets", dict[str, tuple[bytes, ...]])


def amazon_relay_secrets(config: Config, env: Mapping[str, str]) -> dict[str, tuple[bytes, ...]]:
    """Each Amazon store's relay secrets (`webhook_secret_env`), resolved at start-up.

    A store without one is only polled: every notification for it answers 401.
    """
    found: dict[str, tuple[bytes, ...]] = {}
    for store in config.stores.values():
        if store.marketplace is not Marketplace.AMAZON:
            continue
        if store.webhook_secret_env is None:
            log.warning("Amazon store %s has no relay secret: notifications are refused", store.id)
            found[store.id] = ()
        else:
            found[store.id] = store.webhook_secrets(env)
    return found


async def amazon_webhook(request: web.Request) -> web.Response:
    """`POST /webhooks/amazon/{store_id}`: an ORDER_CHANGE relayed from the seller's SQS queue.

    Verified by the store's shared secret, deduplicated on `NotificationId`, kept on
    `winkel.raw.amazon` (keyed by the order's UUID), and the order id put on the store's fetch
    list for its poller: the notification has no prices, so the order must be fetched.
    """
    store_id = request.match_info["store_id"]
    store = request.app[CONFIG].store(store_id)
    if store is None or store.marketplace is not Marketplace.AMAZON:
        raise _not_found(f"unknown amazon store {store_id!r}")
    body = await read_body(request)
    try:
        amazon.verify(body, request.headers, request.app[AMAZON_SECRETS].get(store.id, ()))
    except SignatureError as exc:
        log.warning("rejected Amazon relay for %s from %s: %s", store.id, request.remote, exc)
        raise _unsigned(exc) from None
    # Only ORDER_CHANGE, schema-checked: a relay can prompt a fetch, never write order data.
    try:
        change = amazon_relay.order_change(body)
    except InputError as exc:
        raise bad_request(str(exc)) from None
    delivery = RawDelivery(
        marketplace=Marketplace.AMAZON,
        store_id=store.id,
        delivery_id=change.notification_id,
        topic=amazon.NOTIFICATION_TYPE,
        received_at=datetime.now(UTC),
        headers=kept_headers(request, amazon.KEPT_HEADERS),
        body=body,
    )
    key = order_uuid(store.id, Marketplace.AMAZON, change.amazon_order_id)
    outcome = await accept(request.app, delivery, key)
    if outcome is Outcome.ACCEPTED:
        fetch = polling.PushFetch("ORDER", change.amazon_order_id)
        try:
            await request.app[REDIS].rpush(polling.pending_fetches_key(store.id), fetch.encode())
        except RedisError as exc:  # the notification is kept; the backup poll finds the change
            log.warning("could not ask the poller of %s to fetch: %s", store.id, exc)
    return answer(request, outcome)
