"""`winkel bench`: throughput, latency and memory of the whole engine on this machine.

It starts its own Apache Kafka (Tansu's quirks make its numbers meaningless), Redis, one worker
and one web process on a throw-away config with one Shopify store, warms them up, then posts the
signed webhooks of N simulated orders as fast as the web answers, or at a set `rate` of webhooks
a second (`in_flight` orders at once, each order's deliveries in sequence, as Shopify sends
them) and measures:

- ingest: webhook responses per second and their response-time percentiles;
- processing: raw deliveries and order events (those the deliveries report, as agent `orders`
  applies them) per second, from the first webhook until the worker's consumer group has no
  lag left on any topic;
- webhook-to-trigger latency: for each invoiced order, the invoice trigger's broker timestamp
  minus the moment the webhook that caused it was sent (the raw record whose events emitted
  the trigger, found by replaying the raw topic through the pure lifecycle), and hop by hop
  (`HOPS`); unpaced, the latency is mostly backlog, with a `rate` the worker keeps up with, it
  is the engine's own. (An order's next webhook is often sent before its trigger comes out, so
  "the last webhook sent before the trigger", as this bench measured until 2026-12, cut every
  latency above the gap between an order's webhooks, about 100 ms at 300/s.);
- memory: the peak resident set (VmHWM) of the worker and the web process.

With `baseline`, the bare faust agent of `engine/dev/bench_bare.py` (a RocksDB table and an
output topic) runs first on the same broker with the same partitions, before the engine's
processes start: records produced as fast as the producer goes, its rate timed from the first
record sent until the output topic holds all of them (its warm-up excluded). Then, after the
live run, the engine under the bare agent's conditions ("preloaded"): the worker is stopped, the
webhooks of as many new orders are posted (the web answers, the raw topic fills), and the
worker is started again and timed from the moment it resumed its streams (faust's log line,
after the rebalance and table recovery) until agent `orders` wrote its last record, with
nothing else on the cores. The report's `baseline_ratio` is that preloaded rate of
order events through agent `orders` over the bare agent's records per second (from the first
record produced until its last output record); `live_ratio` is the live run's rate (from the
first webhook until agent `orders`' last output record, client and web on the same cores) over
the same bare rate. All measured in one run.

Everything (client, web, worker, broker, Redis) shares the machine, as in the measurements of
docs/design.md "Baselines"; the report says how many cores it had. Numbers go to the README,
never into test assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from agents.normalize import normalise
from engine.dev import bench_bare
from engine.dev.runtime import KafkaBroker, ManagedProcess, RedisServer, free_port, wait_for_port
from engine.dev.simulator import Delivery, ShopifyStore
from engine.domain import lifecycle, topics
from engine.domain.config import Config, KafkaSettings, load_config
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import shopify
from engine.shell import kafka
from models.codec import decode_raw, decode_trigger, decode_vat_draft
from models.order import DocumentKind, Marketplace

STORE = "bench-shop"
SECRET_ENV = "WINKEL_BENCH_SHOPIFY_SECRET"
GROUP = "winkel-orders"
CONFIG = """
[kafka]
partitions = {partitions}

[[companies]]
id = "bench-nl"
name = "Bench B.V."
country = "NL"
vat_id = "NL004495445B01"
oss_registered = true

[[stores]]
id = "{store}"
company_id = "bench-nl"
marketplace = "shopify"
invoice_granularity = "per_order"
shop_domain = "bench.myshopify.com"
webhook_secret_env = "{secret_env}"
"""


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        if not values:
            return cls(0.0, 0.0, 0.0, 0.0)
        ordered = sorted(values)
        cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else []

        def cut(percent: int) -> float:
            return cuts[percent - 1] if cuts else ordered[0]

        return cls(cut(50), cut(95), cut(99), ordered[-1])


@dataclass(frozen=True, slots=True)
class BareReport:
    """The bare faust agent's run: `records` measured (after its warm-up) in `seconds`."""

    records: int
    seconds: float
    events_per_second: float


@dataclass(frozen=True, slots=True)
class PreloadedReport:
    """The worker draining raw topics that filled while it was stopped: `orders` orders'
    `deliveries` webhooks, answered by the web before the worker started.

    Times run from the moment the restarted worker resumed its streams (faust's log line
    `STREAMS_RESUMED`, after its rebalance and table recovery; the records were waiting) until
    agent `orders` wrote its last record, and until the last invoice trigger.
    """

    orders: int
    deliveries: int
    order_events: int
    invoice_triggers: int
    #: from the streams' resumption until agent `orders`' first output (its first batch's flush)
    first_output_seconds: float
    orders_agent_seconds: float
    orders_agent_events_per_second: float
    deliveries_per_second: float
    invoice_triggers_seconds: float

    def text(self) -> str:
        return (
            f"{'preloaded (worker drains)':<28} {self.orders_agent_events_per_second:8.0f} "
            f"order events/s through agent orders ({self.order_events} in "
            f"{self.orders_agent_seconds:.1f} s; first output at {self.first_output_seconds:.2f} "
            f"s), {self.deliveries_per_second:.0f} deliveries/s, last of "
            f"{self.invoice_triggers} invoice triggers at {self.invoice_triggers_seconds:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class Report:
    cores: int
    orders: int
    deliveries: int
    order_events: int
    invoice_triggers: int
    ingest_seconds: float
    processing_seconds: float
    #: how long after the last webhook was answered the worker still had work: about a second
    #: (the commit interval and the lag probe) when it keeps up with the rate
    catch_up_seconds: float
    webhooks_per_second: float
    deliveries_per_second: float
    order_events_per_second: float
    #: from the first webhook until agent `orders` wrote its last record (an order event or an
    #: audit entry): the engine's counterpart of the bare agent's time
    orders_agent_seconds: float
    orders_agent_events_per_second: float
    #: from the first webhook until the last record on each stage's topic
    stage_seconds: dict[str, float]
    response_ms: Percentiles
    webhook_to_trigger_ms: Percentiles
    #: the invoice triggers whose cause the latency found (all of them, unless one is missing)
    triggers_timed: int
    #: the webhook-to-trigger latency hop by hop (`HOPS`)
    hops_ms: dict[str, Percentiles]
    worker_peak_rss_mb: float
    web_peak_rss_mb: float
    baseline: BareReport | None = None
    #: the worker draining raw topics filled while it was stopped (the bare agent's conditions)
    preloaded: PreloadedReport | None = None
    #: preloaded order events per second through agent `orders` over the bare agent's
    baseline_ratio: float | None = None
    #: the live run's order events per second through agent `orders` over the bare agent's
    live_ratio: float | None = None

    def text(self) -> str:
        def line(name: str, p: Percentiles) -> str:
            return (
                f"{name:<28} p50 {p.p50:8.1f}  p95 {p.p95:8.1f}  p99 {p.p99:8.1f}  max {p.max:8.1f}"
            )

        baseline = []
        if self.preloaded is not None:
            baseline.append(self.preloaded.text())
        if self.baseline is not None:
            baseline += [
                f"{'bare faust agent':<28} {self.baseline.events_per_second:8.0f} /s "
                f"({self.baseline.records} records, {self.baseline.seconds:.1f} s)",
                f"{'engine / bare agent':<28} {self.baseline_ratio:8.2f} preloaded "
                f"(baseline_ratio), {self.live_ratio:.2f} live (live_ratio)",
            ]
        return "\n".join(
            [
                f"winkel bench: {self.orders} orders, {self.deliveries} webhooks, "
                f"{self.order_events} order events, {self.invoice_triggers} invoice triggers "
                f"on {self.cores} cores (client, web, worker, Kafka and Redis together)",
                f"{'webhooks answered':<28} {self.webhooks_per_second:8.0f} /s "
                f"({self.ingest_seconds:.1f} s)",
                f"{'deliveries processed':<28} {self.deliveries_per_second:8.0f} /s "
                f"({self.processing_seconds:.1f} s until no lag, "
                f"{self.catch_up_seconds:.1f} s after the last webhook)",
                f"{'order events applied':<28} {self.order_events_per_second:8.0f} /s "
                f"(until no lag), {self.orders_agent_events_per_second:.0f} /s through agent "
                f"orders ({self.orders_agent_seconds:.1f} s)",
                f"{'last record, s after start':<28} "
                + ", ".join(f"{topic} {at:.1f}" for topic, at in self.stage_seconds.items()),
                line("webhook response (ms)", self.response_ms),
                line("webhook to trigger (ms)", self.webhook_to_trigger_ms),
                *(line(f"  {hop}", p) for hop, p in self.hops_ms.items()),
                f"{'peak RSS (MB)':<28} worker {self.worker_peak_rss_mb:.0f}, "
                f"web {self.web_peak_rss_mb:.0f}",
                *baseline,
            ]
        )


def peak_rss_mb(pid: int) -> float:
    """VmHWM of `pid` and its descendants, in MB (Linux /proc)."""
    total = 0
    for process in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for row in Path(f"/proc/{process}/status").read_text().splitlines():
                if row.startswith("VmHWM:"):
                    total += int(row.split()[1])
    return total / 1024


def descendants(pid: int) -> Iterator[int]:
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            yield int(child)
            yield from descendants(int(child))


class Engine:
    """Broker, Redis, worker and web on free ports under `root`, stopped in reverse order.

    Entering starts the broker and Redis; `start` the worker and the web process.
    """

    def __init__(self, root: Path, partitions: int) -> None:
        self.root = root
        self.partitions = partitions
        self.secret = "bench-secret"
        self._services = contextlib.ExitStack()

    def __enter__(self) -> Engine:
        services = self._services
        kafka = services.enter_context(KafkaBroker(self.root / "kafka", port=free_port()))
        redis = services.enter_context(RedisServer(self.root / "redis", port=free_port()))
        self.bootstrap = kafka.bootstrap
        config = self.root / "winkel.toml"
        config.write_text(
            CONFIG.format(partitions=self.partitions, store=STORE, secret_env=SECRET_ENV)
        )
        self.web_port = free_port()
        self.env = env = dict(os.environ)
        env.update(
            WINKEL_CONFIG=str(config),
            WINKEL_KAFKA_BOOTSTRAP=kafka.bootstrap,
            WINKEL_REDIS_URL=redis.url,
            WINKEL_DATA_DIR=str(self.root / "data"),
            WINKEL_WEB_PORT=str(self.web_port),
            **{SECRET_ENV: self.secret},
        )
        return self

    def start(self, workers: int = 1) -> None:
        """The engine's worker(s) and web process, once the web answers."""
        self.workers = [self.start_worker(n) for n in range(1, workers + 1)]
        self.worker = self.workers[0]
        self.web = self._spawn(["engine.cli", "web"], "web")
        wait_for_port("127.0.0.1", self.web_port, 60, self.web)

    def start_worker(self, number: int = 1) -> ManagedProcess:
        """Worker `number`, with a data directory (RocksDB) of its own."""
        data = {"WINKEL_DATA_DIR": str(self.root / f"data-{number}")}
        return self._spawn(["engine.cli", "worker"], f"worker-{number}", data)

    def _spawn(
        self, module_args: list[str], name: str, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        process = ManagedProcess(
            [sys.executable, "-m", *module_args],
            self.root / f"{name}.log",
            env={**self.env, **(env or {})},
            cwd=Path(__file__).resolve().parents[2],
            name=name,
        )
        self._services.callback(process.terminate, 30)
        return process

    def bare_agent(self) -> ManagedProcess:
        """The bare faust agent (engine/dev/bench_bare.py) on this broker."""
        datadir = str(self.root / "bare")
        args = ["engine.dev.bench_bare", self.bootstrap, str(self.partitions), datadir]
        return self._spawn(args, "bare")

    def __exit__(self, *exc: object) -> None:
        self._services.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/webhooks/shopify/{STORE}"


#: How often the bench sends a webhook again that the web answered 503 (unavailable for now).
UNAVAILABLE_RETRIES = 5


async def post_stories(
    url: str, stories: list[list[Delivery]], in_flight: int, rate: float = 0.0
) -> tuple[list[float], dict[str, float]]:
    """Post every story, `in_flight` at a time and (`rate` > 0) at most `rate` webhooks a
    second in all; response times, and when each webhook was first sent (epoch s), by its
    delivery id."""
    import aiohttp

    queue = list(reversed(stories))
    unavailable = 0
    response_ms: list[float] = []
    sent_at: dict[str, float] = {}
    began, sent = time.monotonic(), 0

    async def paced() -> None:
        nonlocal sent
        sent += 1
        if rate > 0:
            await asyncio.sleep(max(0.0, began + sent / rate - time.monotonic()))

    async def post_stories(session: aiohttp.ClientSession) -> None:
        nonlocal unavailable
        while queue:
            story = queue.pop()
            for delivery in story:
                await paced()
                started = time.monotonic()
                sent_at[delivery.headers[shopify.DELIVERY_HEADER]] = time.time()
                for attempt in range(1, UNAVAILABLE_RETRIES + 2):
                    async with session.post(
                        url, data=delivery.body, headers=delivery.headers
                    ) as reply:
                        if reply.status == 200:
                            break
                        # 503: Kafka did not acknowledge in time (a loaded machine, a rebalance);
                        # a marketplace sends the webhook again, and so does the bench
                        if reply.status != 503 or attempt > UNAVAILABLE_RETRIES:
                            text = await reply.text()
                            raise RuntimeError(f"webhook answered {reply.status}: {text}")
                    unavailable += 1
                    await asyncio.sleep(float(reply.headers.get("Retry-After", "1")))
                response_ms.append((time.monotonic() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(post_stories(session) for _ in range(in_flight)))
    if unavailable:
        print(f"{unavailable} webhooks answered 503 and were sent again", file=sys.stderr)
    return response_ms, sent_at


def _order_id(delivery: Delivery) -> str:
    return str(orjson.loads(delivery.body)["id"])


async def _group_lag(bootstrap: str) -> int | None:
    """Records the worker group has not committed yet, over every topic it reads."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(GROUP)
        if not committed:
            return None
        ends = await consumer.end_offsets(list(committed))
        lag: int = sum(max(0, ends[tp] - max(0, meta.offset)) for tp, meta in committed.items())
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def until_caught_up(bootstrap: str, patience: float) -> float:
    """Wait until the group has no lag twice in a row; the time it first had none."""
    deadline = time.monotonic() + patience
    first_zero: float | None = None
    while time.monotonic() < deadline:
        lag = await _group_lag(bootstrap)
        if lag == 0:
            if first_zero is not None:
                return first_zero
            first_zero = time.monotonic()
        else:
            first_zero = None
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the worker still lags after {patience:.0f} s")


async def _order_events_reported(engine: Engine) -> int:
    """The order events the deliveries on the raw topic so far report: what agent `orders`
    applies (it normalises each delivery where it reads it, agents/normalize.py)."""
    config = load_config(engine.root / "winkel.toml", engine.env)
    raw = await records(engine.bootstrap, topics.raw(Marketplace.SHOPIFY))
    return sum(len(normalise(config, record.value)) for record in raw)


async def records(bootstrap: str, topic: str) -> list[Any]:
    settings = KafkaSettings(bootstrap=bootstrap)
    return [record async for record in kafka.records_to_end(settings, topic)]


#: The topics whose last record's time the report gives, in pipeline order.
STAGES = (
    topics.ORDER_EVENTS,
    topics.AUDIT,
    topics.VAT_DRAFTS,
    topics.INVOICE_TRIGGERS,
    topics.ANALYTICS,
)


async def _last_timestamp(bootstrap: str, topic: str) -> float | None:
    """The broker timestamp (epoch s) of the newest record on `topic`."""
    stamps = [record.timestamp for record in await records(bootstrap, topic)]
    return max(stamps) / 1000 if stamps else None


#: Records the bare agent handles before the measured ones (its start, rebalance, first fetch).
BARE_WARM_UP = 500
#: Each bare record stands for an order event: about an order event's size, keyed by one of
#: this many orders.
BARE_VALUE_BYTES = 1_000
BARE_KEYS = 2_000


async def _create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create `names` with `partitions` each, before a producer could auto-create them."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


async def until_topic_holds(bootstrap: str, topic: str, count: int, patience: float) -> None:
    """Wait until `topic` holds `count` records, looking every tenth of a second."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    settings = KafkaSettings(bootstrap=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await kafka.partitions(settings, topic)]
        deadline = time.monotonic() + patience
        while sum((await consumer.end_offsets(tps)).values()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} holds fewer than {count} records after {patience} s")
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


async def _produce_bare(producer: Any, first: int, count: int) -> None:
    padding = "x" * BARE_VALUE_BYTES
    sent = []
    for n in range(first, first + count):
        key = f"bench-order-{n % BARE_KEYS}".encode()
        value = orjson.dumps({"schema": "bench/1", "n": n, "padding": padding})
        sent.append(await producer.send(bench_bare.INPUT, key=key, value=value))
    await asyncio.gather(*sent)


async def _measure_bare(engine: Engine, records: int) -> BareReport:
    """The bare agent's rate on the engine's broker, before the engine's processes start."""
    settings = KafkaSettings(bootstrap=engine.bootstrap, partitions=engine.partitions)
    await _create_topics(engine.bootstrap, [bench_bare.INPUT, bench_bare.OUTPUT], engine.partitions)
    process = engine.bare_agent()
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await _produce_bare(producer, 0, BARE_WARM_UP)
        await until_topic_holds(engine.bootstrap, bench_bare.OUTPUT, BARE_WARM_UP, 180)
        started = time.monotonic()
        await _produce_bare(producer, BARE_WARM_UP, records)
        await until_topic_holds(engine.bootstrap, bench_bare.OUTPUT, BARE_WARM_UP + records, 600)
        seconds = time.monotonic() - started
    finally:
        await producer.stop()
        process.terminate(30)
    return BareReport(records, round(seconds, 2), round(records / seconds, 1))


#: Orders a live run posts first, at its rate and in flight, and waits to be processed before
#: the measured ones: the whole stack starts cold (a fresh broker JVM, empty caches), and a 300/s
#: run measured after 20 or 400 orders spent its first 10-15 s at four to six times the
#: latency of its rest; after 1,500 little of that start is left.
LIVE_WARM_UP_ORDERS = 1_500
#: The warm-up's orders are numbered from here (never one of the measured or preloaded ones),
#: and its shop's seed is the run's plus this, so no webhook id repeats one the web has seen
#: (the web drops a repeat); the preloaded shop adds 1, `winkel bench --memory-orders` 7919.
WARM_UP_FIRST_ORDER = 900_000
WARM_UP_SEED_OFFSET = 104_729


def bench_stories(
    secret: bytes, seed: int, orders: int, warm_up: int = 20
) -> tuple[list[list[Delivery]], list[list[Delivery]]]:
    """The `warm_up` order stories, then the `orders` measured ones (the same, whatever the
    warm-up: each from a simulated shop of its own)."""

    def shop(seed: int) -> ShopifyStore:
        return ShopifyStore(STORE, "bench.myshopify.com", secret, seed=seed)

    warm_up_shop, first = shop(seed + WARM_UP_SEED_OFFSET), WARM_UP_FIRST_ORDER
    measured_shop = shop(seed)
    return (
        [warm_up_shop.order_story(n) for n in range(first, first + warm_up)],
        [measured_shop.order_story(n) for n in range(1_000, 1_000 + orders)],
    )


#: The preloaded run's orders are numbered from here (after the live run's, never the same).
PRELOADED_FIRST_ORDER = 500_000


def preloaded_stories(secret: bytes, seed: int, orders: int) -> list[list[Delivery]]:
    """The `orders` order stories the preloaded run posts while the worker is stopped."""
    shop = ShopifyStore(STORE, "bench.myshopify.com", secret, seed=seed + 1)
    first = PRELOADED_FIRST_ORDER
    return [shop.order_story(n) for n in range(first, first + orders)]


#: The hops of webhook-to-trigger latency, each from one record's broker timestamp (its
#: producer's send) to the next: the web's raw record, agent `orders`' VAT draft, agent `vat`'s
#: trigger.
HOPS = ("webhook to raw record", "raw record to draft", "draft to trigger")


def _invoiced_by(config: Config, raw: list[Any]) -> dict[UUID, Any]:
    """Which raw record's events emitted each invoice trigger: the records replayed through
    the pure lifecycle, order by order, as agent `orders` applies them (the same trigger ids)."""
    by_order: dict[bytes, list[Any]] = {}
    for record in raw:
        by_order.setdefault(record.key, []).append(record)
    invoiced_by: dict[UUID, Any] = {}
    for order_records in by_order.values():
        state = None
        for record in sorted(order_records, key=lambda r: r.offset):
            for event in normalise(config, record.value):
                store = config.store(event.ref.store_id)
                assert store is not None  # normalise knows the store
                result = lifecycle.apply(
                    state, event, store, config.company_of(store), config.companies
                )
                state = result.state
                for trigger in result.triggers:
                    if trigger.kind is DocumentKind.INVOICE:
                        invoiced_by.setdefault(trigger.trigger_id, record)
    return invoiced_by


async def _latencies(
    engine: Engine, triggers: list[Any], sent_at: dict[str, float]
) -> list[tuple[float, ...]]:
    """Each invoice trigger's chain back to the webhook that caused it, as rows: when that
    webhook was sent (epoch s), then each of `HOPS` in ms. The cause is exact: the raw record
    whose events emitted the trigger, and the webhook that record holds."""
    config = load_config(engine.root / "winkel.toml", engine.env)
    invoiced_by = _invoiced_by(
        config, await records(engine.bootstrap, topics.raw(Marketplace.SHOPIFY))
    )
    draft_at = {
        decode_vat_draft(record.value).trigger.trigger_id: record.timestamp / 1000
        for record in await records(engine.bootstrap, topics.VAT_DRAFTS)
    }
    rows: list[tuple[float, ...]] = []
    for record in triggers:
        trigger_id = decode_trigger(record.value).trigger_id
        cause = invoiced_by.get(trigger_id)
        drafted = draft_at.get(trigger_id)
        sent = None if cause is None else sent_at.get(decode_raw(cause.value).delivery_id)
        if cause is None or drafted is None or sent is None:
            continue
        moments = (sent, cause.timestamp / 1000, drafted, record.timestamp / 1000)
        rows.append((sent, *((ended - began) * 1000 for began, ended in pairwise(moments))))
    return sorted(rows)


def write_latency_table(path: Path, rows: list[tuple[float, ...]]) -> None:
    """The `_latencies` rows as CSV, seconds counted from the first webhook: where a slow moment
    came from (kept with `--keep`)."""
    first = rows[0][0] if rows else 0.0
    lines = [",".join(f"{value:.3f}" for value in (row[0] - first, *row[1:])) for row in rows]
    path.write_text("\n".join([",".join(["sent_s", *HOPS]), *lines]) + "\n")


async def measure(
    engine: Engine,
    orders: int,
    in_flight: int,
    seed: int,
    rate: float,
    warm_up_orders: int = LIVE_WARM_UP_ORDERS,
) -> Report:
    warm_up, stories = bench_stories(engine.secret.encode(), seed, orders, warm_up_orders)
    await post_stories(engine.url, warm_up, in_flight, rate)
    await until_caught_up(engine.bootstrap, 180)
    events_before = await _order_events_reported(engine)

    deliveries = sum(len(story) for story in stories)
    started, started_epoch = time.monotonic(), time.time()
    response_ms, sent_at = await post_stories(engine.url, stories, in_flight, rate)
    ingest_seconds = time.monotonic() - started
    caught_up = await until_caught_up(engine.bootstrap, 1800)
    processing_seconds = caught_up - started

    events = await _order_events_reported(engine) - events_before
    stages = {
        topic: round(last - started_epoch, 2)
        for topic in STAGES
        if (last := await _last_timestamp(engine.bootstrap, topic)) is not None
    }
    orders_agent_seconds = max(stages.get(topics.ORDER_EVENTS, 0.0), stages.get(topics.AUDIT, 0.0))
    measured = {
        str(order_uuid(STORE, Marketplace.SHOPIFY, _order_id(story[0]))).encode()
        for story in stories
    }
    triggers = [
        record
        for record in await records(engine.bootstrap, topics.INVOICE_TRIGGERS)
        if record.key in measured  # not the warm-up's
    ]
    latencies = await _latencies(engine, triggers, sent_at)
    write_latency_table(engine.root / "latency.csv", latencies)
    return Report(
        cores=os.cpu_count() or 1,
        orders=orders,
        deliveries=deliveries,
        order_events=events,
        invoice_triggers=len(triggers),
        ingest_seconds=round(ingest_seconds, 2),
        processing_seconds=round(processing_seconds, 2),
        catch_up_seconds=round(processing_seconds - ingest_seconds, 2),
        webhooks_per_second=round(deliveries / ingest_seconds, 1),
        deliveries_per_second=round(deliveries / processing_seconds, 1),
        order_events_per_second=round(events / processing_seconds, 1),
        orders_agent_seconds=orders_agent_seconds,
        orders_agent_events_per_second=round(events / orders_agent_seconds, 1),
        stage_seconds=stages,
        response_ms=Percentiles.of(response_ms),
        webhook_to_trigger_ms=Percentiles.of([sum(row[1:]) for row in latencies]),
        triggers_timed=len(latencies),
        hops_ms={
            hop: Percentiles.of([row[n] for row in latencies])
            for n, hop in enumerate(HOPS, start=1)
        },
        worker_peak_rss_mb=round(peak_rss_mb(engine.worker.pid), 1),
        web_peak_rss_mb=round(peak_rss_mb(engine.web.pid), 1),
    )


#: faust's log line as a (re)started worker, its tables recovered, resumes its streams at their
#: committed offsets: from here it reads records
STREAMS_RESUMED = "Seek stream partitions to committed offsets."


def _logged_at(log: Path, line: str) -> float | None:
    """When the worker logged `line` first (epoch s, from the line's `[%Y-%m-%d %H:%M:%S,mmm]`
    local time stamp), or None while it has not."""
    try:
        text = log.read_text(errors="replace")
    except OSError:  # not written yet
        return None
    for row in text.splitlines():
        if line in row:
            stamp = datetime.strptime(row[1:24], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()  # naive: the local time the worker logged in
    return None


async def until_logged(log: Path, line: str, patience: float) -> float:
    """Wait until `log` contains `line`, looking every 20 ms; when it was logged (epoch s)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if (at := _logged_at(log, line)) is not None:
            return at
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{log} has no {line!r} after {patience:.0f} s")


async def _keyed_timestamps(bootstrap: str, topic: str, keys: set[bytes]) -> list[float]:
    """Broker timestamps (epoch s) of the records on `topic` keyed by one of `keys`."""
    return [r.timestamp / 1000 for r in await records(bootstrap, topic) if r.key in keys]


async def measure_preloaded(
    engine: Engine, orders: int, in_flight: int, seed: int
) -> PreloadedReport:
    """Stop the worker, post `orders` orders' webhooks (the web answers, the raw topic fills),
    start the worker again and time it draining them: the bare agent's conditions (a filled
    topic, nothing else on the cores)."""
    engine.worker.terminate(30)
    stories = preloaded_stories(engine.secret.encode(), seed, orders)
    events_before = await _order_events_reported(engine)
    await post_stories(engine.url, stories, in_flight)  # answered: on the raw topic (acks=all)
    events = await _order_events_reported(engine) - events_before
    log = engine.root / "worker-1.log"
    log.rename(engine.root / "worker-1-live.log")  # the new worker's log line is the mark
    engine.worker = engine.workers[0] = engine.start_worker(1)
    resumed = await until_logged(log, STREAMS_RESUMED, 600)
    await until_caught_up(engine.bootstrap, 1800)

    keys = {
        str(order_uuid(STORE, Marketplace.SHOPIFY, _order_id(story[0]))).encode()
        for story in stories
    }
    outputs = [
        at
        for topic in (topics.ORDER_EVENTS, topics.AUDIT)
        for at in await _keyed_timestamps(engine.bootstrap, topic, keys)
    ]
    triggers = await _keyed_timestamps(engine.bootstrap, topics.INVOICE_TRIGGERS, keys)
    seconds = round(max(outputs) - resumed, 2)
    return PreloadedReport(
        orders=orders,
        deliveries=sum(len(story) for story in stories),
        order_events=events,
        invoice_triggers=len(triggers),
        first_output_seconds=round(min(outputs) - resumed, 3),
        orders_agent_seconds=seconds,
        orders_agent_events_per_second=round(events / seconds, 1),
        deliveries_per_second=round(sum(len(story) for story in stories) / seconds, 1),
        invoice_triggers_seconds=round(max(triggers, default=resumed) - resumed, 2),
    )


def bench(
    orders: int,
    in_flight: int,
    partitions: int,
    seed: int,
    keep: bool,
    rate: float = 0.0,
    baseline_records: int = 0,
    warm_up_orders: int = LIVE_WARM_UP_ORDERS,
) -> Report:
    """Measure the engine; with `baseline_records`, the bare agent on that many records first."""
    root = Path(tempfile.mkdtemp(prefix="winkel-bench-"))
    try:
        with Engine(root, partitions) as engine:
            bare = (
                asyncio.run(_measure_bare(engine, baseline_records)) if baseline_records else None
            )
            engine.start()
            report = asyncio.run(measure(engine, orders, in_flight, seed, rate, warm_up_orders))
            if bare is None:
                return report
            preloaded = asyncio.run(measure_preloaded(engine, orders, in_flight, seed))
            bare_rate = bare.events_per_second
            return dataclasses.replace(
                report,
                baseline=bare,
                preloaded=preloaded,
                baseline_ratio=round(preloaded.orders_agent_events_per_second / bare_rate, 3),
                live_ratio=round(report.orders_agent_events_per_second / bare_rate, 3),
            )
    finally:
        if keep:
            print(f"logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def report_json(report: Report) -> bytes:
    return orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2)
