"""Webhook ingestion: verify, dedupe in Redis, write to Kafka, then answer.

A delivery is answered 200 only once the broker has acknowledged it (acks=all), so an answered
delivery is never lost; a duplicate is answered 200 without a second write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
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
from engine.domain.marketplaces import bol
from engine.domain.marketplaces._door import is_plain_text
from engine.domain.marketplaces.doors import DOORS, PromptFetch, WebhookDoor
from engine.shell.ledger import DONE, DeliveryInProgress, DeliveryLedger, Outcome
from engine.shell.producer import SEND_DEADLINE_SECONDS
from engine.shell.readmodel import delivery_key
from models.order import Marketplace
from models.raw import RawDelivery
from web.errors import bad_request, refusal
from web.state import CONFIG, PRODUCER, REDIS, SECRETS

log = logging.getLogger(__name__)


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


def webhook(door: WebhookDoor) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler for `POST /webhooks/<marketplace>/{store_id}`, whichever the marketplace."""
    keys = _KEYS.get(door.marketplace, SECRETS)

    async def handle(request: web.Request) -> web.Response:
        store_id = request.match_info["store_id"]
        store = request.app[CONFIG].store(store_id)
        if store is None or store.marketplace is not door.marketplace:
            raise _not_found(f"unknown {door.marketplace.value} store {store_id!r}")
        body = await read_body(request)
        if door.is_ping(request.headers, body):
            return web.json_response({"status": "pong"})
        try:
            door.verify(request.headers, body, store, request.app[keys].get(store.id, ()))
        except SignatureError as exc:
            log.warning("rejected delivery for %s from %s: %s", store.id, request.remote, exc)
            raise _unsigned(exc) from None
        try:
            door.check(request.headers, body)
        except InputError as exc:
            raise bad_request(str(exc)) from None
        headers = kept_headers(request, door.kept_headers)
        delivery_id = door.delivery_id(headers, body)
        topic = door.topic(headers, body)
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
        prompt = door.after_accept(store, delivery, outcome is Outcome.ACCEPTED)
        if prompt is not None:
            await ask_poller(request.app, store, prompt)
        return answer(request, outcome)

    return handle


#: At most this many prompt-fetch requests wait per store (the list poll is the backstop).
PENDING_FETCHES_KEPT = 10_000


async def ask_poller(app: web.Application, store: Store, prompt: PromptFetch) -> None:
    """Put a fetch on the store's list, which its poller waits on. Best effort: the delivery
    is kept all the same, and the poll finds the change later without it."""
    pending = polling.pending_fetches_key(store.id)
    try:
        if prompt.unless_delivered is not None:
            fetched = delivery_key(store.marketplace.value, store.id, prompt.unless_delivered)
            if await app[REDIS].get(fetched) == DONE:
                return
        pipe = app[REDIS].pipeline(transaction=False)
        pipe.rpush(pending, prompt.fetch.encode())
        pipe.ltrim(pending, -PENDING_FETCHES_KEPT, -1)  # no poller for days: keep the newest
        await pipe.execute()
    except RedisError as exc:
        log.warning("could not ask the poller of %s to fetch: %s", store.id, exc)


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


# --- the door keys besides the stores' HMAC secrets -------------------------------------------

#: Store id -> the bol public keys its pushes may be signed with (PEM or base64 DER).
BOL_KEYS = web.AppKey("bol_public_keys", dict[str, tuple[bytes, ...]])


def bol_public_keys(config: Config, env: Mapping[str, str]) -> dict[str, tuple[bytes, ...]]:
    """Each bol store's keys, parsed now so a bad key stops the start with its variable's name.

    A store without keys answers every push 401 (and is still polled).
    """
    keys: dict[str, tuple[bytes, ...]] = {}
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
        keys[store.id] = tuple(key.encode() for key in parsed)
    return keys


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


#: Where each marketplace's door keys are (store id -> keys); the HMAC secrets otherwise.
_KEYS = {Marketplace.BOL: BOL_KEYS, Marketplace.AMAZON: AMAZON_SECRETS}

shopify_webhook = webhook(DOORS[Marketplace.SHOPIFY])
woocommerce_webhook = webhook(DOORS[Marketplace.WOOCOMMERCE])
bol_webhook = webhook(DOORS[Marketplace.BOL])
amazon_webhook = webhook(DOORS[Marketplace.AMAZON])
