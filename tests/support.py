"""Test harness: real engine processes on a real broker and Redis, and ways to read results.

The session shares one broker and one Redis, so each integration module owns a range of
order ids (81xxxx Shopify flow, 82xxxx lifecycle, 83xxxx WooCommerce, 84xxxx dashboard,
85xxxx bol and pollers, 87xxxx VAT flow, 88xxxx company routing) and looks its orders up by
id, never by "the newest N".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from engine.dev.runtime import ManagedProcess, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-shopify-secret"
WOOCOMMERCE_SECRET = "test-woocommerce-secret"  # as in tests/woocommerce_payloads.py
OPERATOR_TOKEN = "test-operator-token"
VIEWER_TOKEN = "test-viewer-token"
#: What an operator's (or a viewer's) requests carry.
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
VIEWER = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
T = TypeVar("T")

TEST_CONFIG = """
[kafka]
partitions = {partitions}
# Production waits 30 s before handing a silent worker's partitions over; tests that SIGKILL a
# worker would wait that long each time. 10 s (heartbeats every 2 s, from faust's consumer
# thread) is Kafka's old default and still far above a loaded machine's pauses.
session_timeout_seconds = 10

[[companies]]
id = "acme-nl"
name = "Acme Webwinkel B.V."
country = "NL"
vat_id = "NL004495445B01"
oss_registered = true

[[stores]]
id = "shop-order"
company_id = "acme-nl"
marketplace = "shopify"
invoice_granularity = "per_order"
shop_domain = "acme.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"

[[stores]]
id = "shop-woo"
company_id = "acme-nl"
marketplace = "woocommerce"
invoice_granularity = "per_order"
site_url = "https://winkel-demo.example/"
webhook_secret_env = "TEST_WOOCOMMERCE_SECRET"

[[stores]]
id = "shop-shipment"
company_id = "acme-nl"
marketplace = "shopify"
invoice_granularity = "per_shipment"
shop_domain = "acme-eu.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"

# The VAT flow (tests/integration/test_vat_flow.py) owns this company: not OSS-registered, so
# its cross-border consumer sales take Dutch VAT until the EUR 10,000 threshold is passed.
[[companies]]
id = "vat-nl"
name = "Drempel Webwinkel B.V."
country = "NL"
vat_id = "NL004495445B01"
oss_registered = false

[[stores]]
id = "shop-vat"
company_id = "vat-nl"
marketplace = "shopify"
invoice_granularity = "per_order"
shop_domain = "drempel.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"

# Multi-company routing (tests/integration/test_company_routing.py) owns this company and
# store: the store's own company is acme-nl; what leaves location 70002 is acme-be's.
[[companies]]
id = "acme-be"
name = "Acme Webwinkel BV"
country = "BE"
vat_id = "BE0428759497"
oss_registered = true

[[stores]]
id = "shop-split"
company_id = "acme-nl"
marketplace = "shopify"
invoice_granularity = "per_order"
shop_domain = "acme-split.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"
locations = {{ "70001" = "acme-nl", "70002" = "acme-be" }}

[vat.categories]
"BOOK-NL" = "reduced"
"""


def write_config(directory: Path, partitions: int = 4, extra: str = "") -> Path:
    """The test config; `extra` (more `[[stores]]`, e.g. pointing at in-process fakes) is
    appended as it is."""
    path = directory / "winkel.toml"
    path.write_text(TEST_CONFIG.format(partitions=partitions) + extra)
    return path


@dataclass
class Stack:
    """Worker and web processes of the engine, pointed at one broker and one Redis."""

    root: Path
    bootstrap: str
    redis_url: str
    partitions: int = 4
    web_port: int = field(default_factory=free_port)
    workers: list[ManagedProcess] = field(default_factory=list)
    web: ManagedProcess | None = None
    #: Appended to TEST_CONFIG, and added to the processes' environment (the pollers' modules).
    extra_config: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = write_config(self.root, self.partitions, self.extra_config)

    def env(self, data_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            WINKEL_CONFIG=str(self.config),
            WINKEL_KAFKA_BOOTSTRAP=self.bootstrap,
            WINKEL_REDIS_URL=self.redis_url,
            WINKEL_DATA_DIR=str(data_dir),
            WINKEL_WEB_PORT=str(self.web_port),
            TEST_SHOPIFY_SECRET=SECRET,
            TEST_WOOCOMMERCE_SECRET=WOOCOMMERCE_SECRET,
            WINKEL_OPERATOR_TOKEN=OPERATOR_TOKEN,
            WINKEL_VIEWER_TOKEN=VIEWER_TOKEN,
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, command: str, name: str, data_dir: Path) -> ManagedProcess:
        return ManagedProcess(
            [sys.executable, "-m", "engine.cli", command],
            self.root / "logs" / f"{name}.log",
            env=self.env(data_dir),
            cwd=ROOT,
            name=name,
        )

    def start_worker(self, name: str = "worker", data_dir: Path | None = None) -> ManagedProcess:
        process = self._spawn("worker", name, data_dir or self.root / name)
        self.workers.append(process)
        return process

    def start_web(self) -> ManagedProcess:
        self.web = self._spawn("web", "web", self.root / "web")
        wait_for_port("127.0.0.1", self.web_port, 60, self.web)
        return self.web

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def stop(self) -> None:
        """SIGTERM every process at once: one by one, each graceful exit waits for the last."""
        running = [p for p in [*self.workers, *filter(None, [self.web])] if p.alive()]
        if not running:
            return
        with concurrent.futures.ThreadPoolExecutor(len(running)) as pool:
            for stopping in [pool.submit(process.terminate, 20) for process in running]:
                stopping.result()


@dataclass
class Stacks:
    """Starts the engine's stacks (web and one worker) for one test module, all on the
    session's broker and Redis, and stops them at its end (printing their log tails)."""

    root: Path
    bootstrap: str
    redis_url: str
    started: list[Stack] = field(default_factory=list)

    def start(
        self, name: str, extra_config: str = "", extra_env: Mapping[str, str] | None = None
    ) -> Stack:
        """A running stack whose config adds `extra_config` (stores) and whose processes get
        `extra_env` (their credentials)."""
        stack = Stack(
            self.root / name,
            self.bootstrap,
            self.redis_url,
            extra_config=extra_config,
            extra_env=dict(extra_env or {}),
        )
        self.started.append(stack)
        stack.start_web()
        stack.start_worker()
        return stack

    def stop(self) -> None:
        for stack in self.started:
            stack.stop()
            for tail in tails(stack):
                print(tail)


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` up to its current end, in partition order."""
    tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while True:
            remaining = [tp for tp in tps if await consumer.position(tp) < end[tp]]
            if not remaining:
                return records
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if description["error_code"]:
        return []
    return sorted(partition["partition"] for partition in description["partitions"])


def read(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    return asyncio.run(read_topic(bootstrap, topic))


async def wait_until(
    probe: Callable[[], Any], patience: float, interval: float = 0.5, what: str = "condition"
) -> Any:
    """Await `probe()` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + patience
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {patience}s waiting for {what}")
        await asyncio.sleep(interval)


#: How often `send_webhook` sends a delivery answered 503 again (a marketplace retries for hours).
WEBHOOK_ATTEMPTS = 6


async def send_webhook(
    url: str, body: bytes, headers: Mapping[str, str], attempts: int = WEBHOOK_ATTEMPTS
) -> aiohttp.ClientResponse:
    """POST a webhook as a marketplace does: a 503 (Kafka did not acknowledge within the
    answer's deadline, which a loaded 2-core test machine can cause) is sent again, the same
    delivery with the same id, after its Retry-After. Any other answer is returned, read."""
    for attempt in range(1, attempts + 1):
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=dict(headers)) as response,
        ):
            await response.read()
        if response.status != 503 or attempt == attempts:
            return response
        await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0))
    raise AssertionError("unreachable: the last attempt returns")


def latest_by_key(records: list[ConsumerRecord[bytes, bytes]]) -> Mapping[bytes, bytes]:
    """The compacted view of a changelog: the last value per key."""
    latest: dict[bytes, bytes] = {}
    for record in records:
        if record.key is not None and record.value is not None:
            latest[record.key] = record.value
    return latest


def tails(stack: Stack) -> Iterator[str]:
    for process in [*stack.workers, *filter(None, [stack.web])]:
        yield f"--- {process.name} ---\n{process.log_tail()}"


class ThreadedServer:
    """An aiohttp application served from a thread of the test process, on a free port.

    The fake marketplaces run here so a module-scoped stack can be pointed at them before its
    processes start; `call` changes the fake's state on the server's own loop.
    """

    def __init__(self, app: Any) -> None:
        import threading

        from aiohttp import web

        self.app = app
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self.loop.run_until_complete(site.start())
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

        self._thread = threading.Thread(target=serve, name="fake-marketplace", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the fake marketplace did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop (between requests) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


async def group_report(bootstrap: str, group: str) -> str:
    """Per partition: the group's committed offset, the end offset and the member holding it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        ends = await consumer.end_offsets(list(committed)) if committed else {}
        (description,) = await admin.describe_consumer_groups([group])
        lines = [f"group {group}: {description!r}"[:2000]]
        for tp in sorted(committed, key=lambda tp: (tp.topic, tp.partition)):
            offset = committed[tp].offset
            lag = ends.get(tp, offset) - offset
            flag = "  <-- behind" if lag else ""
            lines.append(f"{tp.topic}[{tp.partition}] committed={offset} end={ends.get(tp)}{flag}")
        return "\n".join(lines)
    finally:
        await consumer.stop()
        await admin.close()


def diagnostics(stack: Stack, group: str = "winkel-orders") -> str:
    """What a failed integration test leaves behind: group offsets and the processes' logs."""
    try:
        offsets = asyncio.run(group_report(stack.bootstrap, group))
    except Exception as exc:  # diagnostics must never hide the test's own failure
        offsets = f"group report unavailable: {exc!r}"
    processes = [*stack.workers, *filter(None, [stack.web])]
    return "\n".join([offsets, *(log_digest(process) for process in processes)])


def log_digest(process: ManagedProcess, last: int = 60) -> str:
    """Warnings, rebalances and recovery steps of a process log, then its last lines."""
    try:
        lines = process.log_path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"--- {process.name}: log unreadable: {exc}"
    notable = re.compile(r"WARN|ERROR|CRITICAL|Traceback|assign|Recovery|[Rr]ebalanc|generation")
    marked = [line for line in lines[:-last] if notable.search(line)][-200:]
    header = f"--- {process.name} (notable) ---"
    return "\n".join([header, *marked, "--- last lines ---", *lines[-last:]])
