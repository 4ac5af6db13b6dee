"""`POST /webhooks/amazon/{store_id}` on a real Redis and Kafka: relayed ORDER_CHANGE
notifications are authenticated, deduplicated, kept, and become fetch requests."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from engine.domain import polling
from engine.domain.config import Config, parse_config
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import amazon
from engine.shell.readmodel import delivery_key
from models.codec import decode_raw
from models.order import Marketplace
from tests import amazon_payloads as p
from tests.support import TEST_CONFIG, read_topic
from tests.web.conftest import web_env
from web.app import create_app

AMAZON_STORES = """
[[stores]]
id = "amazon-de"
company_id = "acme-nl"
marketplace = "amazon"
invoice_granularity = "per_shipment"
webhook_secret_env = "TEST_AMAZON_RELAY_SECRET"
amazon_marketplace_id = "A1PA6795UKMFR9"

[[stores]]
id = "amazon-polled-only"
company_id = "acme-nl"
marketplace = "amazon"
"""
STORE = "amazon-de"
URL = f"/webhooks/amazon/{STORE}"
GOOD = {"X-Winkel-Token": p.SHARED_SECRET, "Content-Type": "application/json"}


@dataclass
class Web:
    client: TestClient  # type: ignore[type-arg]
    redis: aioredis.Redis
    config: Config
    bootstrap: str


@pytest.fixture
async def web(kafka_bootstrap: str, redis_url: str) -> AsyncIterator[Web]:
    env = web_env(kafka_bootstrap, redis_url, TEST_AMAZON_RELAY_SECRET=p.SHARED_SECRET)
    document = tomllib.loads(TEST_CONFIG.format(partitions=4) + AMAZON_STORES)
    config = parse_config(document, env)
    redis = aioredis.from_url(config.redis_url)
    await redis.flushdb()
    client = TestClient(TestServer(create_app(config, env)))
    await client.start_server()
    try:
        yield Web(client, redis, config, kafka_bootstrap)
    finally:
        await client.close()
        await redis.aclose()


def order_id(n: int) -> str:
    """Order ids of this module live in 860000-869999 (the shared broker's convention)."""
    return f"028-0{860000 + n}-0000001"


def fresh_notification(order: str) -> bytes:
    return p.notification_body(notification_id=str(uuid.uuid4()), order_id=order)


async def pending(web: Web, store: str = STORE) -> list[bytes]:
    return await web.redis.lrange(polling.pending_fetches_key(store), 0, -1)  # type: ignore[no-any-return,misc]


async def raw_records_for(web: Web, order: str, store: str = STORE) -> list[bytes]:
    key = str(order_uuid(store, Marketplace.AMAZON, order)).encode()
    records = await read_topic(web.bootstrap, "winkel.raw.amazon")
    return [r.value for r in records if r.key == key and r.value is not None]


async def test_a_notification_is_kept_and_its_order_queued_for_fetching(web: Web) -> None:
    order = order_id(1)
    body = fresh_notification(order)
    reply = await web.client.post(URL, data=body, headers=GOOD)
    assert reply.status == 200
    assert await reply.json() == {"status": "accepted"}
    assert await pending(web) == [f"ORDER:{order}".encode()]
    fetch = polling.PushFetch.decode((await pending(web))[0])
    assert fetch == polling.PushFetch("ORDER", order)
    (value,) = await raw_records_for(web, order)
    delivery = decode_raw(value)
    assert delivery.marketplace is Marketplace.AMAZON
    assert delivery.store_id == STORE
    assert delivery.topic == "ORDER_CHANGE"
    assert delivery.delivery_id == orjson.loads(body)["NotificationMetadata"]["NotificationId"]
    assert delivery.body == body
    assert "X-Winkel-Token" not in delivery.headers  # the secret is never stored
    assert await web.redis.get(delivery_key("amazon", STORE, delivery.delivery_id)) == b"done"
    # the worker's normaliser: a notification is a fetch signal, not order data
    assert amazon.normalise(delivery, web.config.stores[STORE]) == []


async def test_a_redelivered_notification_is_a_duplicate_and_queues_nothing_more(
    web: Web,
) -> None:
    order = order_id(2)
    body = fresh_notification(order)
    first = await web.client.post(URL, data=body, headers=GOOD)
    again = await web.client.post(URL, data=body, headers=GOOD)
    assert (first.status, again.status) == (200, 200)
    assert await again.json() == {"status": "duplicate"}
    assert len(await pending(web)) == 1
    assert len(await raw_records_for(web, order)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Winkel-Token": "wrong"},
        {"X-Winkel-Token": p.SHARED_SECRET.upper()},
        {"Authorization": p.SHARED_SECRET},
    ],
)
async def test_a_wrong_or_missing_token_is_401_and_stores_nothing(
    web: Web, headers: dict[str, str]
) -> None:
    order = order_id(3)
    body = fresh_notification(order)
    reply = await web.client.post(URL, data=body, headers=headers)
    assert reply.status == 401
    assert await pending(web) == []
    assert await raw_records_for(web, order) == []
    notification_id = amazon.delivery_id({}, body) or ""
    assert not await web.redis.exists(delivery_key("amazon", STORE, notification_id))


async def test_a_store_without_a_relay_secret_refuses_every_notification(web: Web) -> None:
    reply = await web.client.post(
        "/webhooks/amazon/amazon-polled-only", data=fresh_notification(order_id(4)), headers=GOOD
    )
    assert reply.status == 401


async def test_unknown_stores_and_other_marketplaces_stores_are_404(web: Web) -> None:
    for store in ("nope", "shop-order"):
        reply = await web.client.post(
            f"/webhooks/amazon/{store}", data=fresh_notification(order_id(5)), headers=GOOD
        )
        assert reply.status == 404


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"{", b"[]", orjson.dumps({"NotificationType": "ORDER_CHANGE"})]
)
async def test_a_verified_request_that_is_no_notification_is_400(web: Web, body: bytes) -> None:
    reply = await web.client.post(URL, data=body, headers=GOOD)
    assert reply.status == 400
    assert await pending(web) == []


async def test_a_verified_notification_of_another_kind_is_refused_and_nothing_kept(
    web: Web,
) -> None:
    notification_id = f"other-{uuid.uuid4()}"
    other = {
        "NotificationVersion": "1.0",
        "NotificationType": "FEED_PROCESSING_FINISHED",
        "PayloadVersion": "2020-09-04",
        "EventTime": "2026-11-02T09:00:00Z",
        "Payload": {"feedProcessingFinishedNotification": {"feedId": "860099"}},
        "NotificationMetadata": {"NotificationId": notification_id},
    }
    reply = await web.client.post(URL, data=orjson.dumps(other), headers=GOOD)
    assert reply.status == 400
    assert "ORDER_CHANGE" in (await reply.json())["reason"]
    assert await pending(web) == []
    assert not await web.redis.exists(delivery_key("amazon", STORE, notification_id))


async def test_the_relay_cannot_mint_an_order(web: Web) -> None:
    """The measured attack: an order document (what the engine's own fetcher writes, topic
    `orders/v0/order`) posted with the relay token. It must be refused and nothing stored."""
    order = order_id(90)
    document = orjson.loads(amazon.order_document(p.order(AmazonOrderId=order), p.items()))
    forged = {
        **document,
        "NotificationType": amazon.ORDER_DOCUMENT_TOPIC,
        "NotificationMetadata": {"NotificationId": f"{order}@2026-11-02T10:00:00Z"},
    }
    # ... also dressed up as an ORDER_CHANGE carrying the order inside.
    dressed = orjson.loads(fresh_notification(order))
    dressed["NotificationType"] = amazon.ORDER_DOCUMENT_TOPIC
    for body in (forged, dressed, {"detail": forged}):
        reply = await web.client.post(URL, data=orjson.dumps(body), headers=GOOD)
        assert reply.status == 400, await reply.text()
    assert await raw_records_for(web, order) == []
    assert await pending(web) == []


@pytest.mark.parametrize("bad_id", ["../../token", "028-1234567-765432/", "1", ""])
async def test_an_order_id_that_is_not_amazons_is_refused(web: Web, bad_id: str) -> None:
    body = p.notification_body(notification_id=str(uuid.uuid4()), order_id=bad_id)
    reply = await web.client.post(URL, data=body, headers=GOOD)
    assert reply.status == 400
    assert await pending(web) == []
