"""The live dashboard: `/` serves the page, `/ws` streams order changes and engine stats to it.

One broadcaster task per web process listens to the read model's Redis channels, coalesces
changes for a short window and sends each batch, serialised once, to every open socket; a stats
task sends the counters, bottlenecks, charts and engine health every few seconds the same way.
Because everything comes from Redis, any number of web processes serve the same live view.

Frames (JSON, binary websocket messages): `snapshot` (`orders`, `stats`) on connect; `orders`
(`orders`: changed summaries, `touched`: uuids whose timeline or triggers grew); `stats`
(`stats`, and an empty `orders`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson
from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from engine.shell import readmodel as rm
from web import api
from web.health import worker_report
from web.state import HEALTH, REDIS, SETTINGS, SOCKETS
from web.tasks import stop_tasks

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
COALESCE_SECONDS = 0.25
STATS_SECONDS = 2.0
SNAPSHOT_SIZE = 200
#: The charts show this many seconds, in steps of `CHART_STEP` seconds.
CHART_WINDOW = 600
CHART_STEP = 10
RECENT_DEAD_LETTERS = 20
STUCK_SHOWN = 5
#: How long an order may wait in a stage before the bottleneck panel calls it stuck; override
#: with WINKEL_STUCK_AFTER, e.g. "paid=48h,partially_shipped=2d,new=30m".
DEFAULT_STUCK_AFTER = "new=24h,paid=48h,partially_shipped=48h,return_requested=14d,returned=48h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_stuck_after(raw: str) -> dict[str, float]:
    """`stage=<number><s|m|h|d>` pairs, comma-separated -> stage: seconds."""
    limits: dict[str, float] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        stage, _, duration = (part.strip() for part in entry.partition("="))
        unit = _UNITS.get(duration[-1:])
        try:
            amount = float(duration[:-1])
        except ValueError:
            amount = -1.0
        if not stage or unit is None or amount <= 0:
            raise ValueError(f"stuck limit {entry!r} is not stage=<number><s|m|h|d>")
        limits[stage] = amount * unit
    return limits


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def recent_orders(request: web.Request, limit: int = SNAPSHOT_SIZE) -> list[bytes]:
    redis = request.app[REDIS]
    uuids = cast(list[bytes], await redis.zrevrange(rm.RECENT_ORDERS, 0, limit - 1))
    if not uuids:
        return []
    rows = cast(list[bytes | None], await redis.hmget(rm.ORDERS_HASH, uuids))
    return [row for row in rows if row is not None]


def _orders_frame(rows: Iterable[bytes], touched: Iterable[str] = ()) -> bytes:
    return b'{"type":"orders","orders":[%s],"touched":%s}' % (
        b",".join(rows),
        orjson.dumps(sorted(touched)),
    )


# --- stats -----------------------------------------------------------------------------------


def _lite(order: bytes | None, uuid: str, since: float, now: float) -> dict[str, Any]:
    """An order as the bottleneck panel names it."""
    summary = orjson.loads(order) if order else {}
    return {
        "order_uuid": uuid,
        "name": summary.get("name", uuid[:8]),
        "marketplace": summary.get("marketplace"),
        "store_id": summary.get("store_id"),
        "customer": summary.get("customer"),
        "stage_since": since,
        "age_seconds": max(0, round(now - since)),
    }


async def gather_stats(app: web.Application, now: float | None = None) -> dict[str, Any]:
    """Counts, bottlenecks, charts, dead letters and engine health, from the shared read model."""
    moment = time.time() if now is None else now
    second = int(moment)
    redis = app[REDIS]
    stuck_after = app[SETTINGS].stuck_after
    counts = rm.split_counts(await redis.hgetall(rm.ORDER_COUNTS))
    stages = sorted(
        {stage for by_stage in counts.values() for stage in by_stage} | set(stuck_after),
        key=rm.stage_order,
    )
    ingest_keys = rm.minute_keys(rm.ingest_key, second, CHART_WINDOW)
    latency_keys = rm.minute_keys(rm.latency_key, second, CHART_WINDOW)
    pipe = redis.pipeline(transaction=False)
    for stage in stages:
        pipe.zrange(rm.stage_key(stage), 0, 0, withscores=True)
    for stage in stuck_after:
        cutoff = moment - stuck_after[stage]
        pipe.zcount(rm.stage_key(stage), "-inf", cutoff)
        pipe.zrangebyscore(
            rm.stage_key(stage), "-inf", cutoff, start=0, num=STUCK_SHOWN, withscores=True
        )
    pipe.hlen(rm.DEAD_LETTERS)
    pipe.zrevrange(rm.RECENT_DEAD_LETTERS, 0, RECENT_DEAD_LETTERS - 1)
    pipe.hgetall(rm.WEBHOOK_TOTALS)
    for key in [*ingest_keys, *latency_keys]:
        pipe.hgetall(key)
    pipe.exists(rm.REBUILDING_KEY)
    replies = iter(await pipe.execute())

    oldest = {stage: next(replies) for stage in stages}
    stuck = {stage: (next(replies), next(replies)) for stage in stuck_after}
    dead_letter_count = int(next(replies))
    dead_letter_ids = cast(list[bytes], next(replies))
    webhook_totals = cast(dict[bytes, bytes], next(replies))
    ingest = rm.per_second([next(replies) for _ in ingest_keys])
    latency = rm.latency_samples([next(replies) for _ in latency_keys])
    rebuilding = bool(next(replies))

    named = {uuid for pairs in oldest.values() for uuid, _ in pairs}
    named |= {uuid for _, pairs in stuck.values() for uuid, _ in pairs}
    uuids = sorted(named)
    second_pipe = redis.pipeline(transaction=False)
    second_pipe.hmget(rm.ORDERS_HASH, uuids or [b""])
    second_pipe.hmget(rm.DEAD_LETTERS, dead_letter_ids or [b""])
    second_pipe.hmget(rm.REPLAYED_DEAD_LETTERS, dead_letter_ids or [b""])
    summaries, letters, replays = await second_pipe.execute()
    summary_of = dict(zip(uuids, summaries, strict=False))

    def lite(pairs: list[tuple[bytes, float]]) -> list[dict[str, Any]]:
        return [_lite(summary_of.get(u), u.decode(), since, moment) for u, since in pairs]

    bottlenecks = []
    for stage in stages:
        by_marketplace = sum(c.get(stage, 0) for c in counts.values())
        limit = stuck_after.get(stage)
        stuck_count, stuck_pairs = stuck.get(stage, (0, []))
        bottlenecks.append(
            {
                "stage": stage,
                "count": by_marketplace,
                "oldest": next(iter(lite(oldest[stage])), None),
                "limit_seconds": limit,
                "stuck_count": int(stuck_count),
                "stuck": lite(stuck_pairs),
            }
        )
    webhooks: dict[str, dict[str, int]] = {}
    for field, value in webhook_totals.items():
        marketplace, _, outcome = field.decode().partition("|")
        webhooks.setdefault(marketplace, {})[outcome] = int(value)
    recent_letters = []
    for letter, replay in zip(letters, replays, strict=False):
        if letter:
            row = {**api.OWNER_UNKNOWN, **orjson.loads(letter)}
            row["replayed"] = orjson.loads(replay) if replay else None
            recent_letters.append(row)
    health = app[HEALTH]
    return {
        "at": moment,
        "counts": counts,
        "stages": {stage: sum(c.get(stage, 0) for c in counts.values()) for stage in stages},
        "marketplaces": {m: sum(by_stage.values()) for m, by_stage in counts.items()},
        "bottlenecks": bottlenecks,
        "dead_letters": {"count": dead_letter_count, "recent": recent_letters},
        "webhooks": webhooks,
        "ingest": rm.rate_series(ingest, second, CHART_WINDOW, CHART_STEP),
        "latency": rm.latency_series(latency, second, CHART_WINDOW, CHART_STEP),
        "latency_known": bool(latency),
        "lag": {
            "by_topic": health.lag_by_topic,
            "checked_at": health.checked_at,
            "error": health.error,
        },
        # The worker refills a read model that Redis lost; until then the counts are partial.
        "read_model": {"rebuilding": rebuilding},
        "worker": await worker_report(app, moment),
        # What GET /api/vat/thresholds and GET /api/pollers answer, so the page polls nothing.
        "thresholds": await api.threshold_rows(app),
        "pollers": await api.poller_rows(app),
        # The stuck worklist's `total` (GET /api/stuck), by each store's own limits.
        "stuck_total": await api.stuck_count(app, datetime.fromtimestamp(moment, UTC)),
    }


async def stats(request: web.Request) -> web.Response:
    body = orjson.dumps(await gather_stats(request.app))
    return web.Response(body=body, content_type="application/json")


# --- sockets ---------------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.WebSocketResponse:
    # The protocol the dashboard offers beside its ticket (web/auth.py); the browser needs
    # one of its offers echoed back or it drops the connection.
    socket = web.WebSocketResponse(heartbeat=20, protocols=("winkel.v1",))
    await socket.prepare(request)
    rows = await recent_orders(request)
    snapshot_stats = orjson.dumps(await gather_stats(request.app))
    await socket.send_bytes(
        b'{"type":"snapshot","orders":[%s],"stats":%s}' % (b",".join(rows), snapshot_stats)
    )
    request.app[SOCKETS].add(socket)
    try:
        async for message in socket:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        request.app[SOCKETS].discard(socket)
    return socket


def _open_sockets(app: web.Application) -> list[web.WebSocketResponse]:
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    return [socket for socket in sockets if not socket.closed]


async def _send_all(app: web.Application, frame: bytes) -> None:
    await asyncio.gather(
        *(socket.send_bytes(frame) for socket in _open_sockets(app)), return_exceptions=True
    )


async def _send_stats(app: web.Application) -> None:
    if _open_sockets(app):
        # Every frame carries `orders` (empty here), so a client may read any frame the same way.
        frame = b'{"type":"stats","orders":[],"stats":%s}' % orjson.dumps(await gather_stats(app))
        await _send_all(app, frame)


async def _broadcast(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            async with app[REDIS].pubsub() as pubsub:
                await pubsub.subscribe(rm.UPDATES_CHANNEL, rm.ACTIVITY_CHANNEL)
                updated: dict[bytes, bytes] = {}  # order uuid -> its newest summary
                touched: set[str] = set()  # orders whose timeline or triggers grew
                dead_letters_changed = False
                flush_at: float | None = None
                while True:
                    timeout = (
                        COALESCE_SECONDS if flush_at is None else max(0.0, flush_at - loop.time())
                    )
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=timeout
                    )
                    if message is not None:
                        data: bytes = message["data"]
                        try:
                            notice = orjson.loads(data)
                            if message["channel"] == rm.UPDATES_CHANNEL.encode():
                                updated[notice["order_uuid"].encode()] = data
                            elif notice.get("kind") == "deadletter":
                                dead_letters_changed = True
                            else:
                                touched.add(notice["order_uuid"])
                        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                            # One malformed message must not end the live view for everyone.
                            log.warning("ignoring malformed live update %r", data[:200])
                            continue
                        flush_at = flush_at or loop.time() + COALESCE_SECONDS
                    if flush_at is not None and loop.time() >= flush_at:
                        if updated or touched:
                            await _send_all(app, _orders_frame(updated.values(), touched))
                        if dead_letters_changed:
                            await _send_stats(app)
                        updated, touched, dead_letters_changed = {}, set(), False
                        flush_at = None
        except RedisError as exc:
            log.warning("live updates interrupted, reconnecting: %s", exc)
            await asyncio.sleep(1.0)


async def _stats_ticker(app: web.Application) -> None:
    while True:
        await asyncio.sleep(STATS_SECONDS)
        try:
            await _send_stats(app)
        except RedisError as exc:
            log.warning("dashboard stats unavailable: %s", exc)
        except Exception:  # a bug in one round must not end the live stats for good
            log.exception("dashboard stats failed")


async def broadcaster(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(_broadcast(app)), asyncio.create_task(_stats_ticker(app))]
    yield
    await stop_tasks(tasks)
    for socket in _open_sockets(app):
        await socket.close(code=1001, message=b"server shutdown")
