"""The VIES client against the fake VIES over HTTP, and its cache per number per day in a real
Redis: answers, member states down, a slow service, and what is (not) asked twice."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import date

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from engine.fakes.vies import FakeVies, create_app
from engine.vies import CachedVies, ViesClient, lookup_bounded

SELLER = "NL004495445B01"
CUSTOMER = "DE136695976"


@pytest.fixture
async def service() -> AsyncIterator[tuple[FakeVies, str]]:
    fake = FakeVies(registered={CUSTOMER: "Weber GmbH"})
    server = TestServer(create_app(fake))
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_registered_number_is_confirmed_with_a_consultation_number(
    service: tuple[FakeVies, str], session: aiohttp.ClientSession
) -> None:
    fake, url = service
    answer = await ViesClient(session, url, 2.0).lookup("DE 136 695 976", SELLER)
    assert (answer.valid, answer.vat_id) == (True, CUSTOMER)
    assert answer.consultation_id == "WAPI000000000001"
    assert answer.checked_at is not None
    assert fake.requests == [
        {
            "countryCode": "DE",
            "vatNumber": "136695976",
            "requesterMemberStateCode": "NL",
            "requesterNumber": "004495445B01",
        }
    ]
    assert await ViesClient(session, url, 2.0).check("DE129273398") is False


async def test_a_member_state_down_or_a_slow_service_is_no_answer(
    service: tuple[FakeVies, str], session: aiohttp.ClientSession
) -> None:
    fake, url = service
    fake.unavailable.add("DE")
    down = await ViesClient(session, url, 2.0).lookup(CUSTOMER, SELLER)
    assert (down.valid, down.error) == (None, "MS_UNAVAILABLE")
    fake.unavailable.clear()
    fake.delay_seconds = 1.0
    slow = await ViesClient(session, url, 0.2).lookup(CUSTOMER, SELLER)
    assert (slow.valid, slow.error) == (None, "timeout")
    gone = await ViesClient(session, "http://127.0.0.1:9", 2.0).lookup(CUSTOMER)
    assert gone.valid is None and (gone.error or "").startswith("transport")


async def test_answers_are_cached_per_number_per_day_errors_are_not(
    service: tuple[FakeVies, str], session: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    fake, url = service
    number = f"DE{secrets.randbelow(10**9):09d}"  # a fresh number: no answer cached yet
    cached = CachedVies(ViesClient(session, url, 2.0), redis)
    day = date(2026, 11, 3)
    fake.unavailable.add("DE")
    assert (await cached.lookup(number, SELLER, day)).valid is None
    fake.unavailable.clear()
    first = await cached.lookup(number, SELLER, day)
    again = await cached.lookup(number, SELLER, day)
    assert first.valid is False and again == first  # the same answer, consultation id and all
    assert len(fake.requests) == 2  # the error, then one answer: the second came from Redis
    await cached.lookup(number, SELLER, date(2026, 11, 4))
    assert len(fake.requests) == 3  # a new day asks again


async def test_the_bounded_lookup_never_waits_longer_nor_raises(
    service: tuple[FakeVies, str], session: aiohttp.ClientSession, redis: aioredis.Redis
) -> None:
    fake, url = service
    fake.delay_seconds = 2.0
    cached = CachedVies(ViesClient(session, url, 10.0), redis)
    answer = await lookup_bounded(cached, f"DE{secrets.randbelow(10**9):09d}", SELLER, 0.3)
    assert (answer.valid, answer.error) == (None, "timeout")


async def test_the_fake_refuses_what_vies_refuses(
    service: tuple[FakeVies, str], session: aiohttp.ClientSession
) -> None:
    fake, url = service
    async with session.post(f"{url}/check-vat-number", data=b"{not json") as reply:
        assert reply.status == 200
        assert (await reply.json())["errorWrappers"][0]["error"] == "INVALID_INPUT"
    async with session.post(
        f"{url}/check-vat-number", json={"countryCode": "US", "vatNumber": "1"}
    ) as reply:
        assert (await reply.json())["errorWrappers"][0]["error"] == "INVALID_INPUT"
    fake.down = True
    answer = await ViesClient(session, url, 2.0).lookup(CUSTOMER, SELLER)
    assert answer.error == "SERVICE_UNAVAILABLE"
