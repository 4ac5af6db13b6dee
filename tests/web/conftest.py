"""The web application on a real Redis and Kafka, driven by aiohttp's test client."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from engine.domain.config import Config, parse_config
from engine.shell.readmodel_writer import ReadModelWriter
from tests.support import OPERATOR_TOKEN, SECRET, TEST_CONFIG, VIEWER_TOKEN, WOOCOMMERCE_SECRET
from web.app import create_app

#: A Redis database of its own, flushed per test, so nothing else's keys are touched.
DATABASE = 7


@dataclass
class Web:
    client: TestClient  # type: ignore[type-arg]
    redis: aioredis.Redis
    writer: ReadModelWriter
    config: Config


def web_env(kafka_bootstrap: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "WINKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WINKEL_REDIS_URL": f"{redis_url.rsplit('/', 1)[0]}/{DATABASE}",
        "TEST_SHOPIFY_SECRET": SECRET,
        "TEST_WOOCOMMERCE_SECRET": WOOCOMMERCE_SECRET,
        "WINKEL_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "WINKEL_VIEWER_TOKEN": VIEWER_TOKEN,
        **extra,
    }


@pytest.fixture
def env(kafka_bootstrap: str, redis_url: str) -> dict[str, str]:
    return web_env(kafka_bootstrap, redis_url)


@pytest.fixture
async def web(env: dict[str, str]) -> AsyncIterator[Web]:
    config = parse_config(tomllib.loads(TEST_CONFIG.format(partitions=4)), env)
    redis = aioredis.from_url(config.redis_url)
    await redis.flushdb()
    client = TestClient(TestServer(create_app(config, env)))
    await client.start_server()
    try:
        yield Web(client, redis, ReadModelWriter(redis), config)
    finally:
        await client.close()
        await redis.aclose()
