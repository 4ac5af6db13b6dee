"""bol.com end to end on real processes: polled orders, pushes that ask for a fetch, the token
shared in Redis, 429s honoured. The fake bol API (engine/dev/fakes/bol.py) runs in this process.

Two bol stores, each with its own fake seller account: `bol-poll` is polled every 2 s and
never pushed to; `bol-push` is polled every 5 minutes, so an order that shows up there within
seconds came through its push. Order ids 850000-854999.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from engine.dev.fakes.bol import (
    FakeBol,
    HandleReturn,
    PlaceOrder,
    RateRule,
    RegisterReturn,
    Ship,
    SigningKey,
    bol_time,
    create_app,
    throwaway_signing_key,
)
from tests import bol_payloads
from tests.support import Stack, Stacks, ThreadedServer, read_topic, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
POLL_STORE, PUSH_STORE = "bol-poll", "bol-push"
INTERVALS = {POLL_STORE: 2, PUSH_STORE: 300}
#: Generous budgets so the flow is not throttled by accident; the 429 test throttles on cue.
RULES = {
    "GET /retailer/orders": RateRule(10_000, 60),
    "GET /retailer/orders/*": RateRule(10_000, 60),
}
STORE = """
[[stores]]
id = "{store}"
company_id = "acme-nl"
marketplace = "bol"
invoice_granularity = "per_order"
api_base_url = "{url}"
token_url = "{url}/token"
client_id_env = "TEST_BOL_CLIENT_ID_{suffix}"
client_secret_env = "TEST_BOL_CLIENT_SECRET_{suffix}"
public_keys_env = "TEST_BOL_PUBLIC_KEYS"
poll_interval_seconds = {interval}
"""

Fakes = dict[str, tuple[FakeBol, ThreadedServer]]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    made: Fakes = {}
    for store in (POLL_STORE, PUSH_STORE):
        fake = FakeBol(
            client_id=f"{store}-client", client_secret=f"{store}-secret", rate_rules=RULES
        )
        made[store] = (fake, ThreadedServer(create_app(fake)))
    yield made
    for _, server in made.values():
        server.stop()


@pytest.fixture(scope="module")
def stack(stacks: Stacks, fakes: Fakes) -> Stack:
    extra, env = "", {"TEST_BOL_PUBLIC_KEYS": throwaway_signing_key().public_pem}
    for store, (fake, server) in fakes.items():
        suffix = store.replace("-", "_").upper()
        extra += STORE.format(store=store, url=server.url, suffix=suffix, interval=INTERVALS[store])
        env[f"TEST_BOL_CLIENT_ID_{suffix}"] = fake.client_id
        env[f"TEST_BOL_CLIENT_SECRET_{suffix}"] = fake.client_secret
    return stacks.start("bol-stack", extra, env)


def order_key(store: str, order_id: str) -> bytes:
    return str(uuid.uuid5(NAMESPACE, f"{store}:bol:{order_id}")).encode()


async def records_for(stack: Stack, topic: str, key: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await read_topic(stack.bootstrap, topic) if r.key == key]


def place(server: ThreadedServer, fake: FakeBol, order_id: str) -> list[Any]:
    at = datetime.now(UTC)
    document = bol_payloads.live_order(order_id, bol_time(at))
    return server.call(lambda: fake.apply(PlaceOrder(at, document)))


def ship(server: ThreadedServer, fake: FakeBol, order_id: str, shipment: str, units: int) -> None:
    """Ship the MUG's `units` (of 2) and, with the last of them, the LAMP."""
    items = [(f"{order_id}1", units)] + ([(f"{order_id}2", 1)] if units == 2 else [])
    step = Ship(datetime.now(UTC), shipment, order_id, tuple(items))
    server.call(lambda: fake.apply(step))


async def poller_status(stack: Stack, store: str) -> dict[str, str]:
    redis = aioredis.from_url(stack.redis_url)
    try:
        raw = await redis.hgetall(f"winkel:poll:{store}:status")
    finally:
        await redis.aclose()
    return {k.decode(): v.decode() for k, v in raw.items()}


async def post_push(stack: Stack, store: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stack.url}/webhooks/bol/{store}", data=body, headers=headers) as reply,
    ):
        await reply.read()
        return reply.status


async def test_an_order_found_only_by_polling_is_invoiced_once_shipped(
    stack: Stack, fakes: Fakes
) -> None:
    fake, server = fakes[POLL_STORE]
    order_id = "850001"
    place(server, fake, order_id)  # no push is sent: only the poll can find it
    key = order_key(POLL_STORE, order_id)

    async def details() -> list[dict[str, Any]] | None:
        events = await records_for(stack, "winkel.orders.events", key)
        return [e for e in events if e["type"] == "details_reported"] or None

    await wait_until(details, 120, what="the polled bol order")
    assert not await records_for(stack, "winkel.triggers.invoice", key)

    # One item ships in two shipments (bol's partial shipments): invoiced after the second.
    ship(server, fake, order_id, "5850001001", 1)

    async def shipments() -> list[dict[str, Any]] | None:
        events = await records_for(stack, "winkel.orders.events", key)
        return [e for e in events if e["type"] == "shipment_sent"] or None

    await wait_until(shipments, 60, what="the first bol shipment")
    assert not await records_for(stack, "winkel.triggers.invoice", key)
    ship(server, fake, order_id, "5850001002", 2)

    async def invoices() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.triggers.invoice", key) or None

    (invoice,) = await wait_until(invoices, 60, what="the bol invoice trigger")
    assert invoice["marketplace"] == "bol"
    assert invoice["external_order_id"] == order_id
    assert {line["sku"]: line["quantity"] for line in invoice["lines"]} == {
        "MUG-BLUE": 2,
        "LAMP-DESK": 1,
    }
    assert invoice["totals"]["gross"] == "103.20"
    # More polls change nothing: each detail was fetched once per change, written once.
    polls = len([c for c in fake.calls if c[2] == "/retailer/orders"])
    await wait_until(
        lambda: len([c for c in fake.calls if c[2] == "/retailer/orders"]) >= polls + 4,
        30,
        what="more polls",
    )
    assert len(await records_for(stack, "winkel.triggers.invoice", key)) == 1
    details_fetched = [c for c in fake.calls if c[2] == f"/retailer/orders/{order_id}"]
    assert len(details_fetched) == 3  # placed, first shipment, second shipment
    raw = await records_for(stack, "winkel.raw.bol", key)
    assert sorted(r["topic"] for r in raw) == [
        "retailer/order",
        "retailer/order",
        "retailer/order",
        "retailer/shipment",
        "retailer/shipment",
    ]


async def test_a_received_return_becomes_one_credit_note(stack: Stack, fakes: Fakes) -> None:
    fake, server = fakes[POLL_STORE]
    order_id = "850001"  # invoiced by the test above
    key = order_key(POLL_STORE, order_id)
    await wait_until(
        lambda: records_for(stack, "winkel.triggers.invoice", key), 60, what="the invoice"
    )
    registered = RegisterReturn(
        datetime.now(UTC), "2850001", "3850001", order_id, f"{order_id}1", 1, "Product defect"
    )
    server.call(lambda: fake.apply(registered))

    async def requested() -> bool:
        events = await records_for(stack, "winkel.orders.events", key)
        return any(e["type"] == "return_requested" for e in events)

    await wait_until(requested, 60, what="the return request")
    assert not await records_for(stack, "winkel.triggers.credit-note", key)
    handled = HandleReturn(datetime.now(UTC), "3850001", 1, "RETURN_RECEIVED")
    server.call(lambda: fake.apply(handled))

    async def credit_notes() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.triggers.credit-note", key) or None

    (note,) = await wait_until(credit_notes, 60, what="the credit note")
    assert [(line["sku"], line["quantity"]) for line in note["lines"]] == [("MUG-BLUE", 1)]
    assert note["totals"]["gross"] == "12.10"
    polls = len([c for c in fake.calls if c[2] == "/retailer/returns"])
    await wait_until(
        lambda: len([c for c in fake.calls if c[2] == "/retailer/returns"]) >= polls + 8,
        30,
        what="more return polls",
    )
    assert len(await records_for(stack, "winkel.triggers.credit-note", key)) == 1


async def test_an_order_whose_fetch_fails_is_retried_without_holding_back_others(
    stack: Stack, fakes: Fakes
) -> None:
    fake, server = fakes[POLL_STORE]
    server.call(lambda: fake.fail_next.update({"/retailer/orders/850003": 500}))
    place(server, fake, "850003")
    place(server, fake, "850004")

    async def found(order_id: str) -> bool:
        key = order_key(POLL_STORE, order_id)
        return bool(await records_for(stack, "winkel.orders.events", key))

    await wait_until(lambda: found("850004"), 60, what="the order that did not fail")
    await wait_until(lambda: found("850003"), 60, what="the failed order, on a later poll")
    answers = [c[1] for c in fake.calls if c[2] == "/retailer/orders/850003"]
    assert answers[:2] == [500, 200]
    status = await poller_status(stack, POLL_STORE)
    assert "850003" in status["last_error"]


async def test_an_order_handled_during_a_long_outage_is_caught_up_day_by_day(
    stack: Stack, fakes: Fakes
) -> None:
    """Placed and shipped three days ago, while nothing polled: older than bol's 48 hours for
    handled orders, so only the day-by-day `latest-change-date` sweep can find it."""
    fake, server = fakes[POLL_STORE]
    order_id = "850005"
    then = datetime.now(UTC) - timedelta(days=3)
    document = bol_payloads.live_order(order_id, bol_time(then))
    shipped = Ship(
        then + timedelta(hours=2),
        "5850005001",
        order_id,
        ((f"{order_id}1", 2), (f"{order_id}2", 1)),
    )
    server.call(lambda: fake.apply_all([PlaceOrder(then, document), shipped]))
    key = order_key(POLL_STORE, order_id)
    redis = aioredis.from_url(stack.redis_url)
    outage_began = (datetime.now(UTC) - timedelta(days=4)).isoformat()

    async def invoiced() -> list[dict[str, Any]] | None:
        # the poller writes its cursor after every poll: keep pretending it has been away
        await redis.set(f"winkel:poll:{POLL_STORE}:listed_at", outage_began)
        return await records_for(stack, "winkel.triggers.invoice", key) or None

    try:
        (invoice,) = await wait_until(invoiced, 90, what="the order from the outage, invoiced")
    finally:
        await redis.aclose()
    assert invoice["external_order_id"] == order_id
    assert any("latest-change-date=" in path for path in fake.requests)


async def test_the_token_is_fetched_once_across_many_polls(stack: Stack, fakes: Fakes) -> None:
    fake, _ = fakes[POLL_STORE]
    await wait_until(
        lambda: len([c for c in fake.calls if c[2] == "/retailer/orders"]) >= 10,
        60,
        what="ten list polls",
    )
    assert fake.token_requests == 1
    status = await poller_status(stack, POLL_STORE)
    assert status["marketplace"] == "bol"
    assert float(status["last_success"]) > time.time() - 30
    assert int(status["orders_seen"]) >= 1


async def test_a_429_with_retry_after_is_honoured(stack: Stack, fakes: Fakes) -> None:
    fake, server = fakes[POLL_STORE]
    server.call(lambda: fake.throttle_next.update({"/retailer/orders": 4}))

    def after_throttle() -> tuple[float, float] | None:
        refused = [c for c in fake.calls if c[2] == "/retailer/orders" and c[1] == 429]
        if not refused:
            return None
        later = [
            c
            for c in fake.calls
            if c[2] == "/retailer/orders" and c[1] == 200 and c[0] > refused[-1][0]
        ]
        return (refused[-1][0], later[0][0]) if later else None

    throttled_at, next_call = await wait_until(after_throttle, 60, what="a call after the 429")
    assert next_call - throttled_at >= 3.9  # Retry-After: 4 (the fake answers in whole seconds)
    # ...and polling goes on: an order placed now is still found.
    place(server, fake, "850002")

    async def found() -> bool:
        return bool(
            await records_for(stack, "winkel.orders.events", order_key(POLL_STORE, "850002"))
        )

    await wait_until(found, 60, what="an order after the 429")
    assert int((await poller_status(stack, POLL_STORE))["throttled"]) >= 1


async def test_a_push_leads_to_a_fetch_within_seconds(stack: Stack, fakes: Fakes) -> None:
    fake, server = fakes[PUSH_STORE]

    async def first_poll_done() -> bool:
        return "last_success" in await poller_status(stack, PUSH_STORE)

    await wait_until(first_poll_done, 120, what="the push store's first poll")
    order_id = "850101"
    pushes = place(server, fake, order_id)  # the next list poll is minutes away
    started = time.monotonic()
    for push in pushes:
        assert await post_push(stack, PUSH_STORE, push.body, push.headers) == 200
    key = order_key(PUSH_STORE, order_id)

    async def events() -> list[dict[str, Any]] | None:
        return await records_for(stack, "winkel.orders.events", key) or None

    await wait_until(events, 30, interval=0.2, what="the pushed order")
    assert time.monotonic() - started < 15
    assert any(c[2] == f"/retailer/orders/{order_id}" for c in fake.calls)
    # The same push again is a duplicate: accepted, nothing new to fetch.
    fetched = len([c for c in fake.calls if c[2] == f"/retailer/orders/{order_id}"])
    assert await post_push(stack, PUSH_STORE, pushes[0].body, pushes[0].headers) == 200
    assert len([c for c in fake.calls if c[2] == f"/retailer/orders/{order_id}"]) == fetched


async def test_a_push_with_a_bad_signature_is_refused(stack: Stack, fakes: Fakes) -> None:
    fake, _ = fakes[PUSH_STORE]
    body = b'{"retailerId":1234567,"timestamp":"2026-11-02T10:00:00+01:00",' + (
        b'"event":{"resource":"ORDER","type":"ORDER_PLACED","resourceId":"850199"}}'
    )
    forged = SigningKey.generate("0").headers(body)
    assert await post_push(stack, PUSH_STORE, body, forged) == 401
    assert await post_push(stack, PUSH_STORE, body, {"Content-Type": "application/json"}) == 401
    signed = throwaway_signing_key().headers(body)
    assert await post_push(stack, "shop-order", body, signed) == 404  # not a bol store
    assert await post_push(stack, PUSH_STORE, b'{"not": "a push"}', signed) == 401
    not_a_push = b'{"not": "a push"}'
    assert (
        await post_push(stack, PUSH_STORE, not_a_push, throwaway_signing_key().headers(not_a_push))
        == 400
    )
    assert not any(c[2] == "/retailer/orders/850199" for c in fake.calls)
