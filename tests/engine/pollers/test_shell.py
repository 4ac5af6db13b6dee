"""The pollers' shell on a real Redis and the fake bol API: leases, the shared token, 429s."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from engine.dev.fakes.bol import FakeBol, create_app
from engine.domain.config import InvoiceGranularity, Store
from engine.domain.exceptions import ConfigError
from engine.domain.marketplaces import bol
from engine.shell.pollers.bol import BolClient
from engine.shell.pollers.lease import Lease
from models.order import Marketplace


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


def lease_key() -> str:
    return f"test:lease:{secrets.token_hex(6)}"


async def test_one_holder_at_a_time(redis: aioredis.Redis) -> None:
    key = lease_key()
    first, second = Lease(redis, key, "a", 5_000), Lease(redis, key, "b", 5_000)
    assert await first.acquire()
    assert not await second.acquire()
    assert not await second.renew()  # nobody extends a lease they do not hold
    assert await first.renew()
    await second.release()  # nor releases it
    assert await redis.get(key) == b"a"
    await first.release()
    assert await second.acquire()


async def test_an_expired_lease_is_lost_and_taken_over(redis: aioredis.Redis) -> None:
    key = lease_key()
    first, second = Lease(redis, key, "a", 200), Lease(redis, key, "b", 5_000)
    assert await first.acquire()
    await asyncio.sleep(0.35)
    assert await second.acquire()
    assert not await first.renew()
    keeper = asyncio.create_task(first.keep())  # returns as soon as a renewal fails
    await asyncio.wait_for(keeper, 2)


STORE = Store(
    "bol-shell",
    "acme-nl",
    Marketplace.BOL,
    InvoiceGranularity.PER_ORDER,
    client_id_env="CLIENT",
    client_secret_env="SECRET",
)


@pytest.fixture
async def fake_server() -> AsyncIterator[tuple[FakeBol, str]]:
    fake = FakeBol(client_id=f"c-{secrets.token_hex(4)}", rate_rules={})
    server = TestServer(create_app(fake))
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


def client_for(
    session: aiohttp.ClientSession, redis: aioredis.Redis, fake: FakeBol, url: str
) -> BolClient:
    store = dataclasses.replace(STORE, api_base_url=url, token_url=f"{url}/token")
    env = {"CLIENT": fake.client_id, "SECRET": fake.client_secret}
    return BolClient(session, redis, store, env)


async def test_every_process_shares_one_token(
    redis: aioredis.Redis, fake_server: tuple[FakeBol, str]
) -> None:
    fake, url = fake_server
    async with aiohttp.ClientSession() as one, aiohttp.ClientSession() as two:
        clients = [client_for(one, redis, fake, url), client_for(two, redis, fake, url)]
        bodies = await asyncio.gather(
            *(c.get(bol.orders_request("FBR")) for c in clients for _ in range(10))
        )
    assert all(body == b"{}" for body in bodies)
    assert fake.token_requests == 1
    assert len(fake.requests) == 20


async def test_a_token_the_api_refuses_is_fetched_again_once(
    redis: aioredis.Redis, fake_server: tuple[FakeBol, str]
) -> None:
    fake, url = fake_server
    async with aiohttp.ClientSession() as session:
        client = client_for(session, redis, fake, url)
        assert await client.get(bol.orders_request("FBR")) == b"{}"
        fake._tokens.clear()  # bol revoked it
        assert await client.get(bol.orders_request("FBR")) == b"{}"
    assert fake.token_requests == 2


async def test_retry_after_holds_back_every_caller_of_that_path(
    redis: aioredis.Redis, fake_server: tuple[FakeBol, str]
) -> None:
    fake, url = fake_server
    fake.throttle_next["/retailer/orders"] = 2
    async with aiohttp.ClientSession() as session:
        client = client_for(session, redis, fake, url)
        started = time.monotonic()
        assert await client.get(bol.orders_request("FBR")) == b"{}"
        assert time.monotonic() - started >= 1.9
        assert await client.get(bol.order_request("123")) is None  # another bucket: no wait
    statuses = [(status, path) for _, status, path in fake.calls]
    assert statuses == [
        (429, "/retailer/orders"),
        (200, "/retailer/orders"),
        (404, "/retailer/orders/123"),
    ]
    gap = fake.calls[1][0] - fake.calls[0][0]
    assert gap >= 1.9


def test_missing_credentials_are_named() -> None:
    with pytest.raises(ConfigError, match="CLIENT is not set"):
        BolClient(None, None, STORE, {})  # type: ignore[arg-type]
