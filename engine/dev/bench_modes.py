"""`winkel bench --memory-orders N` and `winkel bench --workers 2`: the README's memory and
scale-out figures (engine/dev/bench.py measures throughput and latency).

Memory: after a short warm-up the worker stops, the orders table's changelog is seeded directly
with N order states (copies of a real one, each under its own order UUID; not through webhooks,
which would take hours), the worker's local RocksDB is deleted and it starts again. The report
says how long it took from the worker's start until it had recovered the table and applied a
new order, and its resident memory then. The same restart without the seeded orders is timed
first, so the difference is the recovery's own.

Scale-out: the same measured run on a fresh engine with one worker, then on a fresh engine with
N workers (each its own process and RocksDB, one consumer group). One company's VAT drafts all go
to one partition of `winkel.vat.drafts` (docs/vat.md: the exact OSS threshold order needs one
place per company), so the VAT step of one company runs on one worker however many there are;
the report counts the drafts per partition to show that cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.dev import bench
from engine.dev.simulator import Delivery, ShopifyStore
from engine.domain import topics
from engine.domain.config import KafkaSettings
from engine.shell import kafka


def rss_mb(pid: int) -> float:
    """VmRSS (resident now) of `pid` and its descendants, in MB (Linux /proc)."""
    total = 0
    for process in [pid, *bench.descendants(pid)]:
        with contextlib.suppress(OSError):
            for row in Path(f"/proc/{process}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1])
    return total / 1024


@dataclass(frozen=True, slots=True)
class MemoryReport:
    cores: int
    orders_in_table: int
    state_bytes: int
    seed_seconds: float
    #: worker start until a new order was applied, with only the warm-up's orders in the table
    restart_empty_seconds: float
    #: the same with `orders_in_table` more orders to recover from the changelog
    restart_seeded_seconds: float
    recovery_seconds: float
    worker_rss_mb: float
    worker_peak_rss_mb: float
    #: a plain restart afterwards, its RocksDB kept (the everyday case: only the changelog's
    #: tail since the last run is read), until a new order was applied; and its RSS then
    restart_kept_disk_seconds: float
    worker_rss_kept_disk_mb: float

    def text(self) -> str:
        return "\n".join(
            [
                f"winkel bench --memory-orders {self.orders_in_table} on {self.cores} cores",
                f"{'seeded changelog':<28} {self.orders_in_table} order states of "
                f"{self.state_bytes} bytes in {self.seed_seconds:.1f} s",
                f"{'restart, warm-up table':<28} {self.restart_empty_seconds:8.1f} s "
                "(worker start to a new order applied)",
                f"{'restart, seeded table':<28} {self.restart_seeded_seconds:8.1f} s",
                f"{'table recovery':<28} {self.recovery_seconds:8.1f} s",
                f"{'worker RSS (MB)':<28} {self.worker_rss_mb:8.0f} after recovery, "
                f"peak {self.worker_peak_rss_mb:.0f}",
                f"{'restart, disk kept':<28} {self.restart_kept_disk_seconds:8.1f} s, "
                f"RSS {self.worker_rss_kept_disk_mb:.0f} MB",
            ]
        )


async def _template_state(bootstrap: str) -> tuple[bytes, bytes]:
    """The largest order state in the orders table's changelog, and its key."""
    records = await bench.records(bootstrap, topics.ORDERS_CHANGELOG)
    largest = max((r for r in records if r.value), key=lambda r: len(r.value))
    return largest.key, largest.value


async def _seed(bootstrap: str, partitions: int, count: int, key: bytes, value: bytes) -> None:
    """`count` copies of the state `value` (of order `key`), each under a new order UUID,
    partitioned by key as faust partitions the table's changelog."""
    from aiokafka import AIOKafkaProducer

    template = key.decode()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=kafka.MAX_RECORD_BYTES,
    )
    await producer.start()
    try:
        pending = []
        for n in range(count):
            order = str(uuid.uuid5(uuid.NAMESPACE_URL, f"winkel-bench-seed:{n}"))
            pending.append(
                await producer.send(
                    topics.ORDERS_CHANGELOG,
                    key=order.encode(),
                    value=value.replace(template.encode(), order.encode()),
                )
            )
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _topic_total(bootstrap: str, topic: str) -> int:
    return sum((await _per_partition(bootstrap, topic)).values())


async def _new_order_applied(engine: bench.Engine, story: list[Delivery]) -> float:
    """Post a new order's story; when agent `orders` had applied it (monotonic s): its first
    audit entry is on the topic."""
    audit_before = await _topic_total(engine.bootstrap, topics.AUDIT)
    await bench.post_stories(engine.url, [story], 1)
    await bench.until_topic_holds(engine.bootstrap, topics.AUDIT, audit_before + 1, 1800)
    return time.monotonic()


def _restart_worker(engine: bench.Engine, story: list[Delivery], wipe: bool = True) -> float:
    """Stop the worker, delete its RocksDB (unless not `wipe`), start it: seconds until it
    applied a new order."""
    engine.worker.terminate(60)
    if wipe:
        shutil.rmtree(engine.root / "data-1", ignore_errors=True)
    started = time.monotonic()
    engine.worker = engine.start_worker(1)
    return asyncio.run(_new_order_applied(engine, story)) - started


def memory(orders_in_table: int, partitions: int, seed: int, keep: bool) -> MemoryReport:
    root = Path(tempfile.mkdtemp(prefix="winkel-bench-memory-"))
    try:
        with bench.Engine(root, partitions) as engine:
            engine.start()
            warm_up, _ = bench.bench_stories(engine.secret.encode(), seed, 0)
            asyncio.run(bench.post_stories(engine.url, warm_up, 4))
            asyncio.run(bench.until_caught_up(engine.bootstrap, 180))
            key, value = asyncio.run(_template_state(engine.bootstrap))
            # one store of its own seed for both, so no webhook id repeats (the web drops repeats)
            shop = ShopifyStore(
                bench.STORE, "bench.myshopify.com", engine.secret.encode(), seed=seed + 7919
            )
            stories = [shop.order_story(n) for n in (500_000, 500_001, 500_002)]
            restart_empty = _restart_worker(engine, stories[0])
            engine.worker.terminate(60)
            seeding = time.monotonic()
            asyncio.run(_seed(engine.bootstrap, partitions, orders_in_table, key, value))
            seed_seconds = time.monotonic() - seeding
            # `_restart_worker` stops the (stopped) worker again, which is harmless
            restart_seeded = _restart_worker(engine, stories[1])
            rss_after_recovery = rss_mb(engine.worker.pid)
            peak_after_recovery = bench.peak_rss_mb(engine.worker.pid)
            restart_kept = _restart_worker(engine, stories[2], wipe=False)
            return MemoryReport(
                cores=os.cpu_count() or 1,
                orders_in_table=orders_in_table,
                state_bytes=len(value),
                seed_seconds=round(seed_seconds, 1),
                restart_empty_seconds=round(restart_empty, 1),
                restart_seeded_seconds=round(restart_seeded, 1),
                recovery_seconds=round(restart_seeded - restart_empty, 1),
                worker_rss_mb=round(rss_after_recovery, 1),
                worker_peak_rss_mb=round(peak_after_recovery, 1),
                restart_kept_disk_seconds=round(restart_kept, 1),
                worker_rss_kept_disk_mb=round(rss_mb(engine.worker.pid), 1),
            )
    finally:
        if keep:
            print(f"logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class ScaleOutReport:
    workers: int
    one_worker: bench.Report
    more_workers: bench.Report
    #: more workers' order events per second over one worker's
    speedup: float
    #: the VAT drafts of the run with more workers, per partition of winkel.vat.drafts
    vat_drafts_per_partition: dict[int, int]

    def text(self) -> str:
        used = {p: n for p, n in self.vat_drafts_per_partition.items() if n}
        return "\n".join(
            [
                "one worker:",
                self.one_worker.text(),
                f"{self.workers} workers:",
                self.more_workers.text(),
                f"{'speed-up':<28} {self.speedup:8.2f} (order events/s, "
                f"{self.workers} workers over one)",
                f"{'VAT drafts per partition':<28} {used} of "
                f"{len(self.vat_drafts_per_partition)} partitions (one company: one partition, "
                "one worker)",
            ]
        )


async def _per_partition(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    settings = KafkaSettings(bootstrap=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await kafka.partitions(settings, topic)]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: ends[tp] - starts[tp] for tp in tps}
    finally:
        await consumer.stop()


def _run(
    workers: int,
    orders: int,
    in_flight: int,
    partitions: int,
    seed: int,
    keep: bool,
    rate: float,
    warm_up_orders: int,
) -> tuple[bench.Report, dict[int, int]]:
    root = Path(tempfile.mkdtemp(prefix=f"winkel-bench-{workers}-workers-"))
    try:
        with bench.Engine(root, partitions) as engine:
            engine.start(workers)
            report = asyncio.run(
                bench.measure(engine, orders, in_flight, seed, rate, warm_up_orders)
            )
            drafts = asyncio.run(_per_partition(engine.bootstrap, topics.VAT_DRAFTS))
            return report, drafts
    finally:
        if keep:
            print(f"logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def scale_out(
    workers: int,
    orders: int,
    in_flight: int,
    partitions: int,
    seed: int,
    keep: bool,
    rate: float,
    warm_up_orders: int = bench.LIVE_WARM_UP_ORDERS,
) -> ScaleOutReport:
    one, _ = _run(1, orders, in_flight, partitions, seed, keep, rate, warm_up_orders)
    more, drafts = _run(workers, orders, in_flight, partitions, seed, keep, rate, warm_up_orders)
    speedup = round(more.order_events_per_second / one.order_events_per_second, 3)
    return ScaleOutReport(workers, one, more, speedup, drafts)


def report_json(report: Any) -> bytes:
    return orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
