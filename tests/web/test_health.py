"""Health, readiness and 503s on a real Kafka, with a real Redis and with one that is gone."""

from __future__ import annotations

import time
import tomllib
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine import readmodel as rm
from engine.config import parse_config
from engine.runtime import free_port
from tests import shopify_payloads as shop
from tests.support import OPERATOR_TOKEN, TEST_CONFIG
from tests.web.conftest import Web, web_env
from tests.web.test_api import get_json
from web.app import create_app


async def test_the_dashboard_says_rebuilding_and_what_the_worker_reported(web: Web) -> None:
    stats = await get_json(web, "/api/stats")
    assert stats["read_model"] == {"rebuilding": False}
    assert stats["worker"]["fresh"] is False  # no worker has reported to this database
    await web.redis.set(rm.REBUILDING_KEY, "worker-1")
    await web.redis.hset(
        rm.WORKER_HEALTH,
        mapping={"at": str(time.time()), "kafka": "ok", "redis": "ok", "rebuilding": "1"},
    )
    stats = await get_json(web, "/api/stats")
    assert stats["read_model"] == {"rebuilding": True}
    assert stats["worker"]["fresh"] is True
    assert (stats["worker"]["kafka"], stats["worker"]["redis"]) == (True, True)
    metrics = await (await web.client.get("/metrics")).text()
    assert 'winkel_worker_ready{dependency="kafka"} 1.0' in metrics
    # A report older than the limit says nothing about the worker now.
    await web.redis.hset(rm.WORKER_HEALTH, "at", str(time.time() - 120))
    stats = await get_json(web, "/api/stats")
    assert stats["worker"]["fresh"] is False
    assert stats["worker"]["kafka"] is False


@pytest.fixture
async def without_redis(kafka_bootstrap: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """The web process with Kafka up and its Redis gone (nothing listens on the port)."""
    env = web_env(kafka_bootstrap, f"redis://127.0.0.1:{free_port()}/0")
    config = parse_config(tomllib.loads(TEST_CONFIG.format(partitions=4)), env)
    client = TestClient(TestServer(create_app(config, env)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_without_redis_the_process_is_alive_not_ready_and_answers_503(
    without_redis: TestClient,  # type: ignore[type-arg]
) -> None:
    assert (await without_redis.get("/healthz")).status == 200
    ready = await without_redis.get("/readyz")
    assert ready.status == 503
    assert ready.headers["Retry-After"] == "5"
    assert await ready.json() == {
        "ready": False,
        "dependencies": {"kafka": "ok", "redis": "unavailable"},
    }
    body = orjson.dumps(shop.order(940_001))
    started = time.monotonic()
    response = await without_redis.post(
        "/webhooks/shopify/shop-order", data=body, headers=shop.headers("orders/create", body)
    )
    assert time.monotonic() - started < 3.0
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert (await response.json())["dependency"] == "redis"
    # With a token: the API may require one; the answer is about Redis either way.
    listed = await without_redis.get(
        "/api/orders", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    assert listed.status == 503
    assert (await listed.json())["dependency"] == "redis"
    metrics = await (await without_redis.get("/metrics")).text()
    assert 'winkel_web_ready{dependency="redis"} 0.0' in metrics
    assert 'winkel_unavailable_responses_total{dependency="redis"}' in metrics
