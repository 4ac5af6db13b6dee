"""`winkel bench-read-model`: the order list and detail against a read model of many orders.

Starts a private `redis-server`, fills it with synthetic order summaries through the real
projection writer (engine/shell/readmodel_writer.py: the same Lua script, the same indexes),
then serves the real API handlers (web/api.py, with the sign-in and error middlewares) from an
aiohttp server on a loopback port and times HTTP requests to it one at a time: p50/p95/p99 per
scenario (first pages under several filters and sorts, a deep page, free-text search, a
date range, the detail). Kafka is not needed: the read side touches Redis only.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import orjson
import redis.asyncio as aioredis
from aiohttp import web

from engine.dev.runtime.processes import free_port
from engine.dev.runtime.redis import RedisServer
from engine.domain.config import Config
from engine.domain.workbench import Cursor
from engine.shell import readmodel as rm
from engine.shell.readmodel_query import OrderList
from engine.shell.readmodel_writer import ReadModelWriter
from web import api, auth
from web.errors import error_family
from web.state import CONFIG, PRINCIPALS, REDIS

TOKEN = "bench-viewer-token"
BATCH = 500
FIRST_NAMES = ("Sanne", "Lukas", "Emma", "Daan", "Julia", "Noah", "Zoë", "Émile", "Anna", "Jan")
LAST_NAMES = ("de Vries", "Peeters", "Jansen", "Bakker", "Visser", "Smit", "Dubois", "Müller")
SKUS = ("MUG-BLUE", "MUG-RED", "LAMP-OAK", "TEA-SET", "VASE-L", "PLATE-6", "BOWL-S", "CUP-XL")
COUNTRIES = ("NL", "BE", "DE", "FR", "AT", "IT", "ES", "PL")
STAGES = ("new", "paid", "partially_shipped", "shipped", "invoiced", "cancelled", "returned")
STORES = {
    "shopify": ("shop-nl", "shop-de"),
    "woocommerce": ("woo-nl",),
    "bol": ("bol-nl", "bol-be"),
    "amazon": ("amazon-de", "amazon-fr"),
}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def synthetic_orders(count: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    """Order summaries spread over the last 90 days, shaped like the engine's."""
    rng = random.Random(seed)  # noqa: S311 - repeatable data, not secrets
    for number in range(count):
        marketplace = rng.choice(tuple(STORES))
        ordered = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        stage = rng.choice(STAGES)
        since = ordered + timedelta(seconds=rng.uniform(0, 3 * 86400))
        sku = rng.choice(SKUS)
        quantity = rng.randint(1, 4)
        gross = f"{quantity * rng.randint(500, 20_000) / 100:.2f}"
        yield {
            "order_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "marketplace": marketplace,
            "store_id": rng.choice(STORES[marketplace]),
            "company_id": "acme-nl" if number % 3 else "acme-de",
            "external_order_id": f"{marketplace[:1].upper()}{100_000 + number}",
            "name": f"#{100_000 + number}",
            "stage": stage,
            "stage_since": _iso(since),
            "customer": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "country": rng.choice(COUNTRIES),
            "currency": "EUR",
            "total_gross": gross,
            "payment_status": "pending" if stage == "new" else "paid",
            "fulfilment_status": "unfulfilled" if stage in ("new", "paid") else "fulfilled",
            "invoice_status": "invoiced" if stage == "invoiced" else "none",
            "return_status": "returned" if stage == "returned" else "none",
            "lines": [
                {
                    "sku": sku,
                    "description": sku.title(),
                    "quantity": quantity,
                    "net": gross,
                    "vat": "0.00",
                    "gross": gross,
                    "vat_rate": "0.21",
                }
            ],
            "updated_at": _iso(since),
            "ordered_at": _iso(ordered),
            "fees": [],
        }


async def fill(client: aioredis.Redis, count: int, seed: int, now: datetime) -> list[str]:
    """Write `count` summaries through the projection's writer; their uuids."""
    writer = ReadModelWriter(client)
    uuids: list[str] = []
    batch: list[rm.SummaryRow] = []
    for order in synthetic_orders(count, seed, now):
        row = rm.summary_row(orjson.dumps({"type": "order.summary", "order": order}))
        assert row is not None
        batch.append(row)
        uuids.append(order["order_uuid"])
        if len(batch) == BATCH:
            await writer.summaries(batch)
            batch = []
    if batch:
        await writer.summaries(batch)
    return uuids


def bench_app(config: Config, client: aioredis.Redis) -> web.Application:
    """The API's read handlers with sign-in and the error family, without Kafka."""
    app = web.Application(middlewares=[error_family, auth.require_sign_in])
    app[CONFIG] = config
    app[REDIS] = client
    app[api.ORDER_LIST] = OrderList(client)
    app[PRINCIPALS] = auth.principals({}, {TOKEN: "bench"})
    app.router.add_get("/api/orders", api.list_orders)
    app.router.add_get(r"/api/orders/{order_uuid}", api.order_detail)
    return app


@dataclass
class Timing:
    scenario: str
    samples: list[float]  # milliseconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.scenario:<58} p50 {statistics.median(self.samples):6.1f} ms  "
            f"p95 {self.quantile(0.95):6.1f} ms  p99 {self.quantile(0.99):6.1f} ms"
        )


@dataclass
class ReadModelReport:
    orders: int
    fill_seconds: float
    used_memory: str
    timings: list[Timing]

    def text(self) -> str:
        head = (
            f"read model: {self.orders} orders written through the projection writer in "
            f"{self.fill_seconds:.1f} s ({self.orders / self.fill_seconds:.0f}/s); "
            f"Redis used_memory {self.used_memory}"
        )
        return "\n".join([head, *(t.line() for t in self.timings)])


async def _time(scenario: str, requests: int, call: Callable[[int], Awaitable[None]]) -> Timing:
    samples = []
    for i in range(requests):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(scenario, samples)


async def _measure(config: Config, redis_url: str, orders: int, requests: int, seed: int) -> Any:
    client = aioredis.from_url(redis_url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    uuids = await fill(client, orders, seed, now)
    fill_seconds = time.perf_counter() - started
    memory = (await client.info("memory"))["used_memory_human"]
    runner = web.AppRunner(bench_app(config, client), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # A cursor half-way down the default sort: the keyset page there costs what page 1 does.
    middle = cast(
        list[tuple[bytes, float]],
        await client.zrevrange(rm.sort_key("ordered_at"), orders // 2, orders // 2, True),
    )
    member, score = middle[0]
    deep = Cursor(repr(score), member.decode(), "ordered_at", "desc").encode()
    scenarios = [
        ("list page 1 (ordered_at desc, 50)", ""),
        (f"list deep page (row {orders // 2}, keyset cursor)", f"after={deep}"),
        ("list stage=paid sort=total_gross asc", "stage=paid&sort=total_gross&dir=asc"),
        (
            "list marketplace=amazon&country=DE sort=customer",
            "marketplace=amazon&country=DE&sort=customer",
        ),
        ("list q=peeters (search) sort=updated", "q=peeters&sort=updated"),
        ("list q=#1000 (prefix of 10 orders)", "q=%231000"),
        ("list last 7 days, sort=name", f"from={(now - timedelta(days=7)).date()}&sort=name"),
        ("list 200 rows, payment_status=paid", "payment_status=paid&limit=200"),
    ]
    rng = random.Random(seed)  # noqa: S311 - repeatable data, not secrets
    timings = []
    async with aiohttp.ClientSession(headers=headers) as session:

        async def get(path: str) -> None:
            async with session.get(base + path) as reply:
                await reply.read()
                if reply.status != 200:
                    raise RuntimeError(f"{path}: {reply.status} {await reply.text()}")

        def listing(query: str) -> Callable[[int], Awaitable[None]]:
            return lambda _i: get(f"/api/orders?{query}")

        for name, query in scenarios:
            await get(f"/api/orders?{query}")  # warm
            timings.append(await _time(name, requests, listing(query)))
        timings.append(
            await _time(
                "detail (random order)",
                requests,
                lambda _i: get(f"/api/orders/{rng.choice(uuids)}"),
            )
        )
    await runner.cleanup()
    await client.aclose()
    return ReadModelReport(orders, fill_seconds, str(memory), timings)


def bench_read_model(config: Config, orders: int, requests: int, seed: int) -> ReadModelReport:
    with tempfile.TemporaryDirectory(prefix="winkel-bench-rm-") as folder:
        server = RedisServer(Path(folder), port=free_port())
        server.start()
        try:
            report: ReadModelReport = asyncio.run(
                _measure(config, server.url, orders, requests, seed)
            )
            return report
        finally:
            server.stop()
