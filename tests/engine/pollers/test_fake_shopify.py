"""The fake Shopify Admin REST API: filters, Link-header pagination, auth and throttling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.dev.fakes.shopify import FakeShopify, create_app
from engine.domain import polling
from engine.shell.pollers.shopify import ACCESS_TOKEN_HEADER, orders_query

Client = TestClient[web.Request, web.Application]
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PATH = "/admin/api/2026-01/orders.json"


def order(order_id: int, minutes: int, **changes: object) -> dict[str, object]:
    at = (START + timedelta(minutes=minutes)).isoformat()
    return {"id": order_id, "created_at": at, "updated_at": at, "cancelled_at": None, **changes}


@pytest.fixture
async def shop() -> AsyncIterator[tuple[FakeShopify, Client]]:
    fake = FakeShopify(access_token="shpat_x")
    for number in range(5):
        fake.put(order(1000 + number, minutes=10 * number))
    fake.put(order(2000, minutes=1, cancelled_at=START.isoformat()))
    client: Client = TestClient(TestServer(create_app(fake)))
    await client.start_server()
    yield fake, client
    await client.close()


HEADERS = {ACCESS_TOKEN_HEADER: "shpat_x"}


async def test_pages_follow_the_link_header_and_cover_every_match(
    shop: tuple[FakeShopify, Client],
) -> None:
    _, client = shop
    query = {**orders_query(START + timedelta(minutes=1)), "limit": "2"}
    reply = await client.get(PATH, params=query, headers=HEADERS)
    assert reply.status == 200
    seen = [o["id"] for o in (await reply.json())["orders"]]
    link = polling.next_link(reply.headers.get("Link"))
    while link is not None:
        reply = await client.get(
            link.split(str(client.make_url("")).rstrip("/"), 1)[1], headers=HEADERS
        )
        assert reply.status == 200
        seen += [o["id"] for o in (await reply.json())["orders"]]
        link = polling.next_link(reply.headers.get("Link"))
    # updated_at_min is inclusive; status=any includes the cancelled one; oldest change first
    assert seen == [2000, 1001, 1002, 1003, 1004]
    assert 'rel="previous"' in reply.headers["Link"]


async def test_a_page_info_request_takes_no_other_filters(
    shop: tuple[FakeShopify, Client],
) -> None:
    _, client = shop
    first = await client.get(PATH, params={"limit": "1"}, headers=HEADERS)
    link = polling.next_link(first.headers["Link"])
    assert link is not None
    page_info = link.rsplit("page_info=", 1)[1]
    reply = await client.get(
        PATH, params={"page_info": page_info, "status": "any"}, headers=HEADERS
    )
    assert reply.status == 400


async def test_status_defaults_to_open(shop: tuple[FakeShopify, Client]) -> None:
    _, client = shop
    reply = await client.get(PATH, headers=HEADERS)
    assert 2000 not in [o["id"] for o in (await reply.json())["orders"]]


async def test_auth_and_throttling(shop: tuple[FakeShopify, Client]) -> None:
    fake, client = shop
    assert (await client.get(PATH)).status == 401
    fake.throttle_next = 2.0
    throttled = await client.get(PATH, headers=HEADERS)
    assert (throttled.status, throttled.headers["Retry-After"]) == (429, "2.0")
    assert (await client.get(PATH, headers=HEADERS)).status == 200
