"""`winkel rebuild-readmodel` on real processes: a Redis that lost the read model gets it back
from Kafka exactly as the live projection wrote it, and a second rebuild changes nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from engine.dev.simulator import Delivery, ShopifyStore
from engine.domain.identity import order_uuid
from engine.shell import readmodel as rm
from models.order import Marketplace
from tests.support import ROOT, SECRET, Stack, send_webhook, wait_until

pytestmark = pytest.mark.integration

STORE = "shop-order"
FIRST_ORDER = 891_001
ORDERS = 12
#: A database of the test Redis that nothing else uses: the "Redis that lost everything".
EMPTY_DATABASE = 9


async def post(stack: Stack, delivery: Delivery) -> None:
    url = f"{stack.url}/webhooks/shopify/{STORE}"
    reply = await send_webhook(url, delivery.body, delivery.headers)
    assert reply.status == 200, await reply.text()


async def snapshot(client: aioredis.Redis, uuids: list[str]) -> dict[str, Any]:
    """What the dashboard reads about these orders: summary, placement, timeline, triggers,
    list indexes."""
    found: dict[str, Any] = {}
    for key in uuids:
        found[key] = (
            await client.hget(rm.ORDERS_HASH, key),
            await client.hget(rm.ORDER_PLACEMENT, key),
            await client.zscore(rm.RECENT_ORDERS, key),
            await client.hgetall(rm.audit_key(key)),
            await client.hgetall(rm.triggers_key(key)),
            # The list's indexes: the entries it is in, and its place in two sorts.
            await client.hget(rm.INDEXED, key),
            await client.zscore(rm.sort_key("ordered_at"), key),
            await client.zscore(rm.sort_key("customer"), key),
        )
    return found


def rebuild(stack: Stack, redis_url: str) -> str:
    env = stack.env(stack.root / "rebuild")
    env["WINKEL_REDIS_URL"] = redis_url
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "rebuild-readmodel"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_lost_read_model_is_rebuilt_from_kafka_as_it_was(stack: Stack) -> None:
    shop = ShopifyStore(
        store_id=STORE,
        shop_domain="acme.myshopify.com",
        secret=SECRET.encode(),
        seed=891,
        start=datetime.now(UTC) - timedelta(days=1),
        cancel_share=0.25,
    )
    numbers = range(FIRST_ORDER, FIRST_ORDER + ORDERS)
    for number in numbers:
        for delivery in shop.order_story(number):
            await post(stack, delivery)
    uuids = [str(order_uuid(STORE, Marketplace.SHOPIFY, str(n))) for n in numbers]

    live = aioredis.from_url(stack.redis_url)
    empty_url = f"{stack.redis_url.rsplit('/', 1)[0]}/{EMPTY_DATABASE}"
    rebuilt = aioredis.from_url(empty_url)
    try:
        previous: dict[str, Any] = {}

        async def settled() -> dict[str, Any] | None:
            """The live view of every order, once it stopped changing between two looks."""
            nonlocal previous
            current = await snapshot(live, uuids)
            ready = all(summary is not None for summary, *_ in current.values())
            stable = current == previous
            previous = current
            return current if ready and stable else None

        expected = await wait_until(settled, 120, interval=2, what="the live read model")
        stages = {placement.rsplit(b"|", 1)[1] for _, placement, *_ in expected.values()}
        assert {b"invoiced", b"cancelled"} <= stages  # the stories are not all alike
        for _, placement, _, _, triggers, *_ in expected.values():
            assert triggers or not placement.endswith(b"|invoiced")  # invoiced: on the timeline

        await rebuilt.flushdb()
        output = rebuild(stack, empty_url)
        assert "read model rebuilt:" in output
        assert await snapshot(rebuilt, uuids) == expected

        # The counters agree with what was placed, and a second rebuild changes nothing.
        placed = await rebuilt.hlen(rm.ORDER_PLACEMENT)
        counts = rm.split_counts(await rebuilt.hgetall(rm.ORDER_COUNTS))
        assert sum(n for stages in counts.values() for n in stages.values()) == placed
        rebuild(stack, empty_url)
        assert await snapshot(rebuilt, uuids) == expected
        assert await rebuilt.hlen(rm.ORDER_PLACEMENT) == placed
        assert rm.split_counts(await rebuilt.hgetall(rm.ORDER_COUNTS)) == counts
    finally:
        await rebuilt.flushdb()
        await live.aclose()
        await rebuilt.aclose()
