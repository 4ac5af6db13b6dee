"""The worker looks after itself: quiet logs, a health report, and a read model that refills.

Every few seconds the worker checks Kafka (its producer is alive and a broker answers) and
Redis, writes what it found to `winkel:engine:worker` for the dashboard's engine-health card
and `/metrics`, and checks the read model's epoch key. A read model without it was lost (a
new Redis, a flush, a restart without persistence): the worker refills it from Kafka, as
`winkel rebuild-readmodel` does, while the agents go on projecting (every write is
idempotent), and marks it rebuilding meanwhile so the dashboard says so.

faust does not replace a producer that died (robinhood/faust#47 has the same finding), so a
dead producer sender crashes the worker on purpose: `winkel run` and docker-compose restart
it, and the changelog-backed tables make a restart lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka.errors import KafkaError
from prometheus_client import start_http_server
from redis.exceptions import RedisError

from engine import metrics, quietlog, redisconn
from engine import readmodel as rm
from engine.exceptions import DependencyUnavailable
from engine.quietlog import DependencyLog
from engine.rebuild import rebuild_read_model

if TYPE_CHECKING:
    from engine.app import Wiring

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3.0
CHECK_SECONDS = 2.0
#: The rebuild lock's lifetime; renewed while the refill runs, so a crashed one frees it.
LOCK_SECONDS = 30
REPORT_TTL_SECONDS = 60
#: A port for the worker's own Prometheus endpoint (none unless set).
METRICS_PORT_ENV = "WINKEL_WORKER_METRICS_PORT"


def _faust_producer_dead(app: Any) -> bool:
    """True when faust's aiokafka producer exists and its sender task has ended."""
    producer = getattr(app.producer, "_producer", None)
    sender = getattr(producer, "_sender", None)
    task = None if sender is None else sender.sender_task
    return task is not None and task.done()


async def _kafka_ok(app: Any) -> bool:
    producer = getattr(app.producer, "_producer", None)
    if producer is None:
        return False
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), CHECK_SECONDS)
    except (TimeoutError, KafkaError, OSError):
        return False
    return True


def register(wiring: Wiring) -> None:
    app = wiring.app
    config = wiring.config
    client = redisconn.client(config.redis_url, reply_seconds=5.0)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    kafka_log = DependencyLog(log, "kafka")
    redis_log = DependencyLog(log, "redis")
    refills: set[asyncio.Task[None]] = set()

    async def quiet_logs() -> None:
        # faust has set up its log handlers by the time tasks start.
        quietlog.install()
        port = os.environ.get(METRICS_PORT_ENV)
        if port:  # the worker's own counters (dead letters, refills, producer restarts)
            start_http_server(int(port), registry=metrics.REGISTRY)
            log.info("worker metrics on :%s/metrics", port)

    app.task(quiet_logs)

    async def refill() -> None:
        """Refill the lost read model from Kafka, unless another worker is doing it."""
        if not await client.set(rm.REBUILDING_KEY, owner, nx=True, ex=LOCK_SECONDS):
            return
        metrics.READ_MODEL_REBUILDING.set(1)
        log.warning("the read model is empty (Redis lost it): refilling it from Kafka")
        started = time.monotonic()
        try:
            report = await rebuild_read_model(config, client)
            epoch = {"at": time.time(), "by": owner, "orders": report.orders}
            await client.set(rm.EPOCH_KEY, orjson.dumps(epoch))
            metrics.READ_MODEL_REBUILDS.inc()
            log.warning("%s in %.1f s", report.text(), time.monotonic() - started)
        except (RedisError, KafkaError, OSError, DependencyUnavailable) as exc:
            log.error("refilling the read model failed, trying again soon: %s", exc)
        finally:
            metrics.READ_MODEL_REBUILDING.set(0)
            try:
                if await client.get(rm.REBUILDING_KEY) == owner.encode():
                    await client.delete(rm.REBUILDING_KEY)
            except RedisError:
                pass  # the lock expires by itself

    async def look_after() -> None:
        if _faust_producer_dead(app):
            log.critical("faust's Kafka producer died; restarting the worker to replace it")
            metrics.PRODUCER_REPLACEMENTS.labels("worker").inc()
            await app.crash(DependencyUnavailable("faust producer died", dependency="kafka"))
            return
        kafka_ok = await _kafka_ok(app)
        if kafka_ok:
            kafka_log.recovered()
        else:
            kafka_log.failed("no broker answered a metadata request")
        metrics.READY.labels("worker", "kafka").set(int(kafka_ok))
        rebuilding = bool(refills)
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hset(
                    rm.WORKER_HEALTH,
                    mapping={
                        "at": str(time.time()),
                        "kafka": "ok" if kafka_ok else "unavailable",
                        "redis": "ok",
                        "rebuilding": "1" if rebuilding else "0",
                    },
                )
                pipe.expire(rm.WORKER_HEALTH, REPORT_TTL_SECONDS)
                pipe.exists(rm.EPOCH_KEY)
                if rebuilding:
                    pipe.expire(rm.REBUILDING_KEY, LOCK_SECONDS)
                replies = await pipe.execute()
        except RedisError as exc:
            redis_log.failed(f"{type(exc).__name__}: {exc}")
            metrics.READY.labels("worker", "redis").set(0)
            return
        redis_log.recovered()
        metrics.READY.labels("worker", "redis").set(1)
        has_epoch = bool(replies[2])
        if not has_epoch and not rebuilding and kafka_ok:
            task = asyncio.get_running_loop().create_task(refill())
            refills.add(task)
            task.add_done_callback(refills.discard)

    app.timer(INTERVAL_SECONDS, name="self-healing")(look_after)
