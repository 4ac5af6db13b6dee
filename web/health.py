"""Liveness, readiness, Prometheus metrics, and 503 + Retry-After when a dependency is missing.

`/healthz` says the process is alive; `/readyz` says whether it can take work (Kafka writable
and Redis reachable, each named), so an orchestrator routes around a web process that cannot.
`/metrics` is prometheus-client's exposition of this application's families (webhooks, the
read model's gauges, readiness) and the process's own (engine/shell/metrics.py). None of them needs
a token or shows personal data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest
from redis.exceptions import RedisError

from engine.domain.exceptions import DependencyUnavailable
from engine.shell import metrics as process_metrics
from engine.shell import readmodel as rm
from engine.shell.producer import RETRY_AFTER_SECONDS
from engine.shell.quietlog import DependencyLog
from web.errors import unavailable
from web.state import PRODUCER, REDIS

log = logging.getLogger(__name__)

#: How long a readiness check waits for each dependency.
CHECK_SECONDS = 1.0
#: The worker's last report is stale (the worker is not running or cannot reach Redis) after:
WORKER_STALE_SECONDS = 30.0


@dataclass
class WebMetrics:
    """This application's metric families, in a registry of its own."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry())
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        r = self.registry
        self.webhooks = Counter(
            "winkel_webhooks",
            "Webhook deliveries answered by this web process, by marketplace and outcome.",
            ["marketplace", "outcome"],
            registry=r,
        )
        self.orders = Gauge(
            "winkel_orders",
            "Orders in the read model by marketplace and lifecycle stage.",
            ["marketplace", "stage"],
            registry=r,
        )
        self.oldest = Gauge(
            "winkel_oldest_order_in_stage_seconds",
            "How long the longest-waiting order has been in its stage.",
            ["stage"],
            registry=r,
        )
        self.stuck = Gauge(
            "winkel_stuck_orders",
            "Orders waiting in a stage longer than the dashboard's limit for it.",
            ["stage"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "winkel_dead_letters", "Dead letters recorded in the read model.", registry=r
        )
        self.lag = Gauge(
            "winkel_consumer_lag",
            "Records the worker's consumer group has not processed yet, by topic.",
            ["topic"],
            registry=r,
        )
        self.uptime = Gauge(
            "winkel_web_uptime_seconds", "Seconds since this web process started.", registry=r
        )
        self.ready = Gauge(
            "winkel_web_ready",
            "1 if the dependency answered the web process's last readiness check, else 0.",
            ["dependency"],
            registry=r,
        )
        self.worker_ready = Gauge(
            "winkel_worker_ready",
            "1 if the worker last reported the dependency reachable (0 when its report is stale).",
            ["dependency"],
            registry=r,
        )
        self.poller_success = Gauge(
            "winkel_poller_last_success_timestamp_seconds",
            "Unix time of the store poller's last complete poll.",
            ["store", "marketplace"],
            registry=r,
        )
        self.poller_seen = Gauge(
            "winkel_poller_orders_seen",
            "Order documents the store's poller wrote to the raw topic.",
            ["store", "marketplace"],
            registry=r,
        )
        self.poller_failures = Gauge(
            "winkel_poller_consecutive_failures",
            "Polls of the store that failed in a row (0 after a success).",
            ["store", "marketplace"],
            registry=r,
        )

    def read_model(self, stats: dict[str, Any]) -> None:
        """Set the gauges that mirror the shared read model (the same in every web process)."""
        for gauge in (self.orders, self.oldest, self.stuck, self.lag):
            gauge.clear()
        for marketplace, by_stage in stats["counts"].items():
            for stage, count in by_stage.items():
                self.orders.labels(marketplace, stage).set(count)
        for row in stats["bottlenecks"]:
            if row.get("oldest"):
                self.oldest.labels(row["stage"]).set(row["oldest"]["age_seconds"])
            if row.get("limit_seconds"):
                self.stuck.labels(row["stage"]).set(row["stuck_count"])
        self.dead_letters.set(stats["dead_letters"]["count"])
        for topic, behind in (stats["lag"]["by_topic"] or {}).items():
            self.lag.labels(topic).set(behind)

    def pollers(self, rows: Iterable[dict[str, Any]]) -> None:
        for gauge in (self.poller_success, self.poller_seen, self.poller_failures):
            gauge.clear()
        for row in rows:
            labels = (row["store_id"], row["marketplace"])
            if row["last_success"] is not None:
                self.poller_success.labels(*labels).set(row["last_success"])
            self.poller_seen.labels(*labels).set(row["orders_seen"])
            self.poller_failures.labels(*labels).set(row["failures"])

    def exposition(self) -> bytes:
        self.uptime.set(round(time.monotonic() - self.started, 3))
        return generate_latest(self.registry) + generate_latest(process_metrics.REGISTRY)


METRICS = web.AppKey("metrics", WebMetrics)
REDIS_LOG = web.AppKey("redis_log", DependencyLog)


@web.middleware
async def dependencies_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Kafka or Redis missing, anywhere in a handler: 503 with Retry-After, one log line."""
    try:
        response = await handler(request)
    except DependencyUnavailable as exc:
        raise unavailable(str(exc), exc.dependency) from None
    except (RedisError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
            raise
        request.app[REDIS_LOG].failed(f"{type(exc).__name__}: {exc}")
        raise unavailable("the read model (Redis) is unavailable", "redis") from None
    return response


async def _redis_ok(app: web.Application) -> bool:
    try:
        await asyncio.wait_for(app[REDIS].ping(), CHECK_SECONDS)
    except (TimeoutError, RedisError, OSError) as exc:
        app[REDIS_LOG].failed(f"{type(exc).__name__}: {exc}")
        return False
    app[REDIS_LOG].recovered()
    return True


async def readiness(app: web.Application) -> dict[str, bool]:
    kafka_ok, redis_ok = await asyncio.gather(app[PRODUCER].writable(CHECK_SECONDS), _redis_ok(app))
    found = {"kafka": kafka_ok, "redis": redis_ok}
    for dependency, ok in found.items():
        app[METRICS].ready.labels(dependency).set(int(ok))
    return found


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers (dependencies are /readyz's business)."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """200 when Kafka takes writes and Redis answers; else 503 naming what is missing."""
    found = await readiness(request.app)
    ready = all(found.values())
    body = {
        "ready": ready,
        "dependencies": {name: "ok" if ok else "unavailable" for name, ok in found.items()},
    }
    headers = {} if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return web.Response(
        body=orjson.dumps(body),
        status=200 if ready else 503,
        content_type="application/json",
        headers=headers,
    )


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def worker_report(app: web.Application, now: float | None = None) -> dict[str, Any]:
    """What the worker last wrote about itself (engine/selfheal.py), and whether it is fresh."""
    raw = await app[REDIS].hgetall(rm.WORKER_HEALTH)
    fields = {_text(k): _text(v) for k, v in raw.items()}
    at = float(fields.get("at", 0) or 0)
    fresh = at > 0 and (time.time() if now is None else now) - at < WORKER_STALE_SECONDS
    return {
        "reported_at": at or None,
        "fresh": fresh,
        "kafka": fresh and fields.get("kafka") == "ok",
        "redis": fresh and fields.get("redis") == "ok",
        "rebuilding": fields.get("rebuilding") == "1",
    }


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (prometheus-client)."""
    from web.api import poller_rows
    from web.dashboard import gather_stats

    app = request.app
    families = app[METRICS]
    await readiness(app)
    try:
        families.read_model(await gather_stats(app))
        families.pollers(await poller_rows(app))
        report = await worker_report(app)
    except RedisError:  # the gauges keep their last values; readiness says Redis is gone
        pass
    else:
        for dependency in ("kafka", "redis"):
            families.worker_ready.labels(dependency).set(int(report[dependency]))
    return web.Response(
        body=families.exposition(),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "X-Content-Type-Options": "nosniff"},
    )
