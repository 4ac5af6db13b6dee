"""The fault suite: real worker and web processes under steady webhook load while the
infrastructure fails, each scenario ending with 0 lost, 0 orders in a wrong final state and
0 divergent triggers (a trigger id seen twice must carry the same bytes both times).

- (a) the worker is SIGKILLed `kills` times and replaced, every other time with its local
  state wiped;
- (b) Kafka is stopped for `outage` seconds and started again: every answer meanwhile is a 503
  with Retry-After within the 3 s deadline (never a 200 the broker did not acknowledge), intake
  is 200 again within 30 s, and no process is restarted;
- (c) Redis is stopped, its data removed and started again: intake answers 503 while it is
  down, and the read model comes back by itself;
- (d) a second worker joins and leaves (SIGTERM);
- (e) on a 3-broker cluster one broker is SIGKILLed mid-stream: intake and processing go on.

The load is a marketplace as it behaves: signed Shopify webhooks, each order's deliveries in
turn, many orders at once, every unanswered or refused delivery retried after a second until it
is answered 200. Sizes: `WINKEL_CHAOS=full` for the full counts (20 SIGKILLs, a 20 s broker
outage; `scripts/chaos`), small ones otherwise (CI). `WINKEL_CHAOS_REPORT=<file>` also writes
the figures table there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from engine.dev.runtime import KafkaBroker, KafkaCluster, RedisServer, free_port
from engine.domain import topics
from engine.shell import readmodel as rm
from models.codec import decode_state
from models.order import Marketplace, Stage
from tests import shopify_payloads as shop
from tests.integration.test_no_loss import CHANGELOG, NAMESPACE, STORE
from tests.support import Stack, diagnostics, latest_by_key, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

CANCEL_EVERY = 10
#: The contract: a webhook is answered within 3 s during an outage (Shopify waits 5 s).
ANSWER_DEADLINE_S = 3.0
#: What a loaded 2-core machine may add to that deadline before the answer counts as late.
ANSWER_MARGIN_S = 2.0
#: The contract: intake answers 200 again within 30 s after the broker is back.
RECOVERY_S = 30.0


@dataclass(frozen=True)
class Sizes:
    kills: int  # (a) SIGKILLs of the worker
    outage: float  # (b) seconds Kafka is down
    redis_outage: float  # (c) seconds Redis is down
    load_s: float  # seconds of load around a single disturbance (c, d, e)
    rate: float  # orders started per second (three deliveries each)
    settle: float  # seconds the pipeline may take to catch up with the load afterwards


SIZES = {
    "ci": Sizes(kills=2, outage=8.0, redis_outage=5.0, load_s=12.0, rate=6.0, settle=240.0),
    "full": Sizes(kills=20, outage=20.0, redis_outage=20.0, load_s=60.0, rate=8.0, settle=900.0),
}
SCALE = os.environ.get("WINKEL_CHAOS", "ci")
SIZE = SIZES[SCALE]


# --------------------------------------------------------------------------- the load


def order_story(order_id: int) -> tuple[list[tuple[str, dict[str, Any]]], Stage, int, bool]:
    """An order's deliveries, its final stage, the facts they carry and whether it is invoiced
    (the same stories as the no-loss proofs, tests/integration/test_no_loss.py)."""
    created = datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(seconds=order_id % 86_400)
    paid_at = (created + timedelta(minutes=5)).isoformat()
    story = [
        ("orders/create", shop.order(order_id, updated_at=created.isoformat())),
        ("orders/paid", shop.order(order_id, financial_status="paid", updated_at=paid_at)),
    ]
    if order_id % CANCEL_EVERY == 0:
        at = (created + timedelta(hours=1)).isoformat()
        document = shop.order(order_id, financial_status="paid", updated_at=at, cancelled_at=at)
        # created: details; paid: details, payment; cancelled: details, payment, cancellation
        return [*story, ("orders/cancelled", document)], Stage.CANCELLED, 6, False
    mug, lamp = order_id * 10 + 501, order_id * 10 + 502
    shipped = (created + timedelta(hours=4)).isoformat()
    fulfilment = shop.fulfillment(order_id, 1, [(mug, 2), (lamp, 1)], created_at=shipped)
    # created: details; paid: details, payment; fulfilment: shipment
    return [*story, ("fulfillments/create", fulfilment)], Stage.INVOICED, 4, True


def order_key(order_id: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{STORE}:shopify:{order_id}")


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic time the request was sent
    took: float
    status: int  # 0: no answer (connection refused or reset, client timeout)
    retry_after: str | None


@dataclass
class Load:
    """Orders started at `rate` a second until `stop()`, each delivery retried until a 200."""

    url: str
    first_order_id: int
    rate: float
    in_flight: int = 48
    patience: float = 180.0  # a delivery refused this long is given up (and the test fails)
    started_orders: list[int] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    given_up: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self) -> None:
        self._stopping.set()

    async def halt(self, running: asyncio.Task[None]) -> None:
        """Stop at once (a failed test): orders in flight are abandoned."""
        self.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.in_flight)
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            orders: set[asyncio.Task[None]] = set()
            began = time.monotonic()
            try:
                while not self._stopping.is_set():
                    await slots.acquire()
                    order_id = self.first_order_id + len(self.started_orders)
                    self.started_orders.append(order_id)
                    task = asyncio.create_task(self._order(session, order_id))
                    orders.add(task)
                    task.add_done_callback(orders.discard)
                    task.add_done_callback(lambda _: slots.release())
                    pause = began + len(self.started_orders) / self.rate - time.monotonic()
                    with_stop = asyncio.create_task(self._stopping.wait())
                    await asyncio.wait([with_stop], timeout=max(0.0, pause))
                    with_stop.cancel()
                await asyncio.gather(*orders)
            finally:
                for task in list(orders):
                    task.cancel()
                await asyncio.gather(*orders, return_exceptions=True)

    async def _order(self, session: aiohttp.ClientSession, order_id: int) -> None:
        deliveries, *_ = order_story(order_id)
        for topic, document in deliveries:
            body = orjson.dumps(document)
            # A retry is the same delivery: the same ids, as a marketplace resends it.
            headers = shop.headers(topic, body, webhook_id=str(uuid.uuid4()))
            await self._deliver(session, body, headers)

    async def _deliver(
        self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]
    ) -> None:
        url = f"{self.url}/webhooks/shopify/{STORE}"
        first = time.monotonic()
        while True:
            sent = time.monotonic()
            status, retry_after = 0, None
            try:
                async with session.post(url, data=body, headers=headers) as reply:
                    await reply.read()
                    status, retry_after = reply.status, reply.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.answers.append(Answer(sent, time.monotonic() - sent, status, retry_after))
            if status == 200:
                return
            if time.monotonic() - first > self.patience:
                self.given_up += 1
                return
            await asyncio.sleep(1.0)

    def between(self, start: float, end: float) -> list[Answer]:
        """Requests sent at `start` or later and answered (or given up) before `end`."""
        return [a for a in self.answers if start <= a.at and a.at + a.took < end]

    def first_ok_after(self, moment: float) -> float | None:
        """Seconds from `moment` until a request sent after it was answered 200."""
        done = [a.at + a.took for a in self.answers if a.at >= moment and a.status == 200]
        return min(done) - moment if done else None


# --------------------------------------------------------------------------- the outcome


@dataclass
class Outcome:
    """What Kafka holds for the orders a load started, against what their stories require."""

    orders: int = 0
    final: int = 0  # orders in their final stage with every fact applied
    lost_orders: int = 0  # absent, or missing a fact a delivery carried
    wrong_state: int = 0  # every fact there, yet another stage
    triggers_expected: int = 0
    lost_triggers: int = 0
    unexpected_triggers: int = 0
    repeated_triggers: int = 0
    divergent_triggers: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.lost_orders + self.lost_triggers

    @property
    def wrong(self) -> int:
        return self.wrong_state + self.unexpected_triggers

    @property
    def settled(self) -> bool:
        return self.lost == 0 and self.wrong == 0


async def outcome(bootstrap: str, order_ids: list[int]) -> Outcome:
    result = Outcome(orders=len(order_ids))
    expected: dict[bytes, tuple[Stage, int]] = {}
    wanted_triggers: set[str] = set()
    for order_id in order_ids:
        _, stage, facts, invoiced = order_story(order_id)
        order_uuid = order_key(order_id)
        expected[str(order_uuid).encode()] = (stage, facts)
        if invoiced:
            wanted_triggers.add(str(uuid.uuid5(order_uuid, "trigger:invoice:order:0")))
    result.triggers_expected = len(wanted_triggers)
    latest = latest_by_key(await read_topic(bootstrap, CHANGELOG))
    for key, (stage, facts) in expected.items():
        if key not in latest:
            result.lost_orders += 1
            result.notes.append(f"{key.decode()}: no state")
            continue
        state = decode_state(latest[key])
        applied = len(state.applied_event_ids)
        if applied < facts:
            result.lost_orders += 1
            result.notes.append(f"{key.decode()}: {applied} of {facts} facts, {state.stage}")
        elif (state.stage, applied) != (stage, facts):
            result.wrong_state += 1
            result.notes.append(f"{key.decode()}: {state.stage} with {applied} facts")
        else:
            result.final += 1
    mine = {str(order_key(order_id)) for order_id in order_ids}
    bodies: dict[str, set[bytes]] = defaultdict(set)
    counts: Counter[str] = Counter()
    for topic in (topics.INVOICE_TRIGGERS, topics.CREDIT_NOTE_TRIGGERS):
        for record in await read_topic(bootstrap, topic):
            trigger = orjson.loads(record.value)
            if trigger["order_uuid"] not in mine:
                continue
            bodies[trigger["trigger_id"]].add(record.value)
            counts[trigger["trigger_id"]] += 1
            if topic == topics.INVOICE_TRIGGERS and trigger["trigger_id"] not in wanted_triggers:
                result.unexpected_triggers += 1
    result.lost_triggers = len(wanted_triggers - set(bodies))
    result.repeated_triggers = sum(counts.values()) - len(counts)
    result.divergent_triggers = sum(1 for values in bodies.values() if len(values) > 1)
    return result


async def settle(bootstrap: str, order_ids: list[int], patience: float = SIZE.settle) -> Outcome:
    """The outcome once the pipeline has caught up, or as it stands after `patience` s."""
    deadline = time.monotonic() + patience
    while True:
        try:
            found = await outcome(bootstrap, order_ids)
        except KafkaError:  # the reader met a node that just died: ask again
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2.0)
            continue
        if found.settled or time.monotonic() > deadline:
            return found
        await asyncio.sleep(2.0)


def assert_nothing_lost(found: Outcome, load: Load, stack: Stack) -> None:
    assert load.given_up == 0, f"{load.given_up} deliveries were never answered 200"
    if (found.lost, found.wrong, found.divergent_triggers) != (0, 0, 0):
        # Its own thread: diagnostics runs an event loop of its own.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            report = pool.submit(diagnostics, stack).result()
        problems = "\n".join(found.notes[:20])
        pytest.fail(f"{found}\n{problems}\n{report}")
    assert found.final == found.orders > 0


# --------------------------------------------------------------------------- figures

FIGURES: list[dict[str, str]] = []


def record_figures(scenario: str, found: Outcome, load: Load, began: float, **extra: Any) -> None:
    refused = [a for a in load.answers if a.status != 200]
    row = {
        "scenario": scenario,
        "orders": str(found.orders),
        "webhooks answered 200": str(sum(1 for a in load.answers if a.status == 200)),
        "refused (503/none)": str(len(refused)),
        "slowest answer": f"{max((a.took for a in load.answers), default=0.0):.2f} s",
        **{key: str(value) for key, value in extra.items()},
        "lost": str(found.lost),
        "wrong state": str(found.wrong),
        "triggers": f"{found.triggers_expected}, {found.repeated_triggers} repeated",
        "divergent": str(found.divergent_triggers),
        "time": f"{time.monotonic() - began:.0f} s",
    }
    FIGURES.append(row)
    print("\nfault figures: " + ", ".join(f"{k}={v}" for k, v in row.items()))


@pytest.fixture(scope="module", autouse=True)
def figures_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not FIGURES:
        return
    columns = list(dict.fromkeys(key for row in FIGURES for key in row))
    lines = [
        f"fault suite ({SCALE} sizes: {SIZE})",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in FIGURES),
    ]
    table = "\n".join(lines)
    report = os.environ.get("WINKEL_CHAOS_REPORT")
    if report:
        Path(report).write_text(table + "\n")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + table)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of the test's own, which the test may stop and start."""
    node = KafkaBroker(tmp_path / "kafka", port=free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The broker of the scenarios that leave it running (a, c, d): one start, not three.
    Each of them counts its progress from what the ones before it left (`starting_point`)."""
    node = KafkaBroker(tmp_path_factory.mktemp("faults-kafka"), port=free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def progress(bootstrap: str) -> int:
    """Orders whose state reached the changelog (any stage); -1 while the cluster does not
    answer the reader (a node just died and metadata still names it)."""
    try:
        return len(latest_by_key(await read_topic(bootstrap, CHANGELOG)))
    except KafkaError:
        return -1


async def starting_point(bootstrap: str) -> int:
    """The orders already in the changelog (earlier scenarios' on a shared broker)."""
    found = await progress(bootstrap)
    assert found >= 0, f"{bootstrap} did not answer before the scenario began"
    return found


async def grows(bootstrap: str, beyond: int, patience: float, what: str) -> int:
    deadline = time.monotonic() + patience
    while (now := await progress(bootstrap)) <= beyond:
        assert time.monotonic() < deadline, f"no progress within {patience:.0f} s {what}"
        await asyncio.sleep(0.5)
    return now


def start_stack(root: Path, bootstrap: str, redis_url: str) -> Stack:
    stack = Stack(root, bootstrap, redis_url)
    stack.start_web()
    stack.start_worker("worker-0", root / "worker-0")
    return stack


# --------------------------------------------------------------------------- scenarios


async def test_a_worker_sigkilled_repeatedly_under_load_loses_nothing(
    shared_broker: KafkaBroker, redis_url: str, tmp_path: Path
) -> None:
    broker = shared_broker
    began = time.monotonic()
    before = await starting_point(broker.bootstrap)
    stack = start_stack(tmp_path / "stack", broker.bootstrap, redis_url)
    load = Load(stack.url, 9_100_000, SIZE.rate)
    running = asyncio.create_task(load.run())
    try:
        worker, seen = stack.workers[0], before
        for kill in range(1, SIZE.kills + 1):
            # Killed only once the new worker has done some work: each kill hits a live one.
            seen = await grows(broker.bootstrap, seen, 120, f"before kill {kill}")
            # SIGKILL: no commit, no flush, no goodbye to the group
            await asyncio.to_thread(worker.kill)
            data = tmp_path / "stack" / "worker-0"
            if kill % 2 == 0:  # a new machine: the table must come back from its changelog
                shutil.rmtree(data, ignore_errors=True)
            worker = stack.start_worker(f"worker-{kill}", data)
        await grows(broker.bootstrap, seen, 120, "after the last kill")
        load.stop()
        await running
        found = await settle(broker.bootstrap, load.started_orders)
        record_figures("(a) worker SIGKILLed", found, load, began, disturbances=SIZE.kills)
        assert_nothing_lost(found, load, stack)
    finally:
        await load.halt(running)
        stack.stop()


async def test_b_kafka_down_and_back_heals_without_restarts_and_loses_nothing(
    broker: KafkaBroker, redis_url: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    stack = start_stack(tmp_path / "stack", broker.bootstrap, redis_url)
    load = Load(stack.url, 9_200_000, SIZE.rate)
    running = asyncio.create_task(load.run())
    try:
        await grows(broker.bootstrap, 0, 120, "before the outage")
        await asyncio.sleep(2)
        await asyncio.to_thread(broker.stop)
        down = time.monotonic()
        await asyncio.sleep(SIZE.outage)
        restarting = time.monotonic()  # from here on the broker may answer again
        await asyncio.to_thread(broker.start)
        back = time.monotonic()
        recovered = None
        while recovered is None and time.monotonic() - back < RECOVERY_S + 30:
            await asyncio.sleep(0.5)
            recovered = load.first_ok_after(back)
        await asyncio.sleep(SIZE.load_s / 2)
        load.stop()
        await running
        found = await settle(broker.bootstrap, load.started_orders)
        # Sent well inside the outage (a request in flight as it began may still succeed).
        # Sent once the broker was surely gone, answered before it was started again.
        during = load.between(down + 1.0, restarting)
        oks = [a for a in during if a.status == 200]
        slowest = max((a.took for a in load.answers if down <= a.at < back), default=0.0)
        # Every request of the outage, also those the broker's return overtook, is answered
        # within the deadline.
        outage = [a for a in load.answers if down <= a.at < back]
        late = [a for a in outage if a.took > ANSWER_DEADLINE_S + ANSWER_MARGIN_S]
        refusals = [a for a in during if a.status == 503]
        record_figures(
            "(b) Kafka stopped",
            found,
            load,
            began,
            disturbances=f"{SIZE.outage:.0f} s down",
            **{
                "answers while down": f"{len(during)}, slowest {slowest:.2f} s",
                "200 after restart": f"{recovered:.1f} s" if recovered is not None else "never",
            },
        )
        assert during, "no webhook was sent while Kafka was down"
        assert not oks, f"{len(oks)} webhooks answered 200 while Kafka was down"
        assert not late, f"{len(late)} answers took longer than {ANSWER_DEADLINE_S} s (+margin)"
        assert len(refusals) == len(during), Counter(a.status for a in during)
        assert all(a.retry_after for a in refusals), "a 503 without Retry-After"
        assert recovered is not None and recovered <= RECOVERY_S, (
            f"intake not 200 within {RECOVERY_S:.0f} s after Kafka came back: {recovered}"
        )
        assert all(p.alive() for p in [*stack.workers, stack.web] if p), "a process exited"
        assert_nothing_lost(found, load, stack)
    finally:
        await load.halt(running)
        stack.stop()


async def test_c_redis_emptied_and_back_refills_the_read_model_and_loses_nothing(
    shared_broker: KafkaBroker, own_redis: RedisServer, tmp_path: Path
) -> None:
    broker = shared_broker
    began = time.monotonic()
    before = await starting_point(broker.bootstrap)
    stack = start_stack(tmp_path / "stack", broker.bootstrap, own_redis.url)
    load = Load(stack.url, 9_300_000, SIZE.rate)
    running = asyncio.create_task(load.run())
    client = aioredis.from_url(own_redis.url)
    try:
        await grows(broker.bootstrap, before, 120, "before the outage")
        await asyncio.sleep(SIZE.load_s / 3)
        await asyncio.to_thread(own_redis.stop)
        down = time.monotonic()
        for leftover in own_redis.data_dir.iterdir():  # whatever it persisted is gone too
            if leftover != own_redis.process_log:
                (shutil.rmtree if leftover.is_dir() else os.remove)(leftover)
        await asyncio.sleep(SIZE.redis_outage)
        restarting = time.monotonic()
        await asyncio.to_thread(own_redis.start)
        back = time.monotonic()
        await asyncio.sleep(SIZE.load_s / 2)
        load.stop()
        await running
        found = await settle(broker.bootstrap, load.started_orders)

        async def read_model_complete() -> int:
            placements = await client.hgetall(rm.ORDER_PLACEMENT)
            right = 0
            for order_id in load.started_orders:
                _, stage, *_ = order_story(order_id)
                placed = placements.get(str(order_key(order_id)).encode(), b"")
                text = placed.decode() if isinstance(placed, bytes) else placed
                right += text.rsplit("|", 1)[-1] == stage.value
            return right

        deadline, shown = time.monotonic() + 120, 0
        while (shown := await read_model_complete()) < len(load.started_orders):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        refilled = time.monotonic() - back
        during = load.between(down + 1.0, restarting)
        record_figures(
            "(c) Redis emptied",
            found,
            load,
            began,
            disturbances=f"{SIZE.redis_outage:.0f} s down, data removed",
            **{
                "answers while down": f"{len(during)}, {sum(a.status == 503 for a in during)} 503",
                "read model complete": f"{shown}/{len(load.started_orders)} after {refilled:.0f} s",
            },
        )
        assert during, "no webhook was sent while Redis was down"
        assert all(a.status == 503 for a in during), Counter(a.status for a in during)
        assert shown == len(load.started_orders), "the read model did not come back by itself"
        assert all(p.alive() for p in [*stack.workers, stack.web] if p), "a process exited"
        assert_nothing_lost(found, load, stack)
    finally:
        await load.halt(running)
        await client.aclose()
        stack.stop()


async def test_d_second_worker_joining_and_leaving_under_load_loses_nothing(
    shared_broker: KafkaBroker, redis_url: str, tmp_path: Path
) -> None:
    broker = shared_broker
    began = time.monotonic()
    before = await starting_point(broker.bootstrap)
    stack = start_stack(tmp_path / "stack", broker.bootstrap, redis_url)
    load = Load(stack.url, 9_400_000, SIZE.rate)
    running = asyncio.create_task(load.run())
    try:
        seen = await grows(broker.bootstrap, before, 120, "before the join")
        second = stack.start_worker("worker-b", tmp_path / "worker-b")
        await asyncio.sleep(SIZE.load_s / 2)
        seen = await grows(broker.bootstrap, seen, 120, "with two workers")
        assert second.alive()
        # SIGTERM: a graceful leave, partitions handed back
        await asyncio.to_thread(second.terminate, 30)
        await asyncio.sleep(SIZE.load_s / 2)
        await grows(broker.bootstrap, seen, 120, "after the leave")
        load.stop()
        await running
        found = await settle(broker.bootstrap, load.started_orders)
        record_figures(
            "(d) worker joins, leaves", found, load, began, disturbances="1 join, 1 leave"
        )
        assert_nothing_lost(found, load, stack)
    finally:
        await load.halt(running)
        stack.stop()


async def replication(bootstrap: str, topic: str) -> tuple[int, str | None]:
    """The replica count of the topic's partitions and its min.insync.replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
        replicas = {len(p["replicas"]) for p in description["partitions"]}
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        (response,) = await admin.describe_configs([resource])
        entries: list[Any] = response.resources[0][4]
        settings = {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()
    assert len(replicas) == 1, description
    return replicas.pop(), settings.get("min.insync.replicas")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    nodes = KafkaCluster(tmp_path / "cluster", size=3)
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


async def test_e_broker_sigkilled_in_a_three_broker_cluster_loses_nothing(
    cluster: KafkaCluster, redis_url: str, tmp_path: Path
) -> None:
    # One cluster: every node names the same three voters and was formatted with one id.
    assert len({node.voters for node in cluster.nodes}) == 1
    ids = {(n.log_dir / "meta.properties").read_text() for n in cluster.nodes}
    assert len({line for text in ids for line in text.splitlines() if "cluster.id" in line}) == 1
    began = time.monotonic()
    stack = start_stack(tmp_path / "stack", cluster.bootstrap, redis_url)
    load = Load(stack.url, 9_500_000, SIZE.rate)
    running = asyncio.create_task(load.run())
    try:
        seen = await grows(cluster.bootstrap, 0, 180, "before the kill")
        await asyncio.sleep(SIZE.load_s / 3)
        victim = cluster.nodes[1]
        await asyncio.to_thread(victim.kill)
        killed = time.monotonic()
        # Both halves of the pipeline go on with a node missing.
        await grows(cluster.bootstrap, seen, 120, "with a broker dead")
        await asyncio.sleep(SIZE.load_s / 2)
        load.stop()
        await running
        found = await settle(cluster.bootstrap, load.started_orders)
        resumed = load.first_ok_after(killed)
        record_figures(
            "(e) 1 of 3 brokers SIGKILLed",
            found,
            load,
            began,
            disturbances=f"node {victim.node_id} killed",
            **{"200 after kill": f"{resumed:.1f} s" if resumed is not None else "never"},
        )
        assert resumed is not None, "intake stopped when a broker died"
        assert not victim.alive()
        assert_nothing_lost(found, load, stack)
        # What made it survive: the engine found three brokers and replicated its topics.
        for topic in (topics.raw(Marketplace.SHOPIFY), CHANGELOG, topics.INVOICE_TRIGGERS):
            assert await replication(cluster.bootstrap, topic) == (3, "2"), topic
        await asyncio.to_thread(victim.start)  # rejoins on its old ports and log
        assert cluster.alive()
    finally:
        await load.halt(running)
        stack.stop()
