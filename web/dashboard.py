"""The live order list: `/` serves the page, `/ws` streams order summaries to it.

One broadcaster task per web process listens to the Redis channel, coalesces changes for a
short window and sends each batch, serialised once, to every open socket; any number of web
processes can serve the same live view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import orjson
from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from engine.readmodel import ORDERS_HASH, RECENT_ORDERS, UPDATES_CHANNEL
from web.state import REDIS, SOCKETS

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
COALESCE_SECONDS = 0.25
SNAPSHOT_SIZE = 200


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def recent_orders(request: web.Request, limit: int = SNAPSHOT_SIZE) -> list[bytes]:
    redis = request.app[REDIS]
    uuids = cast(list[bytes], await redis.zrevrange(RECENT_ORDERS, 0, limit - 1))
    if not uuids:
        return []
    rows = cast(list[bytes | None], await redis.hmget(ORDERS_HASH, uuids))
    return [row for row in rows if row is not None]


def _batch(kind: str, rows: list[bytes]) -> bytes:
    return b'{"type":"%s","orders":[%s]}' % (kind.encode(), b",".join(rows))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(heartbeat=20)
    await socket.prepare(request)
    await socket.send_bytes(_batch("snapshot", await recent_orders(request)))
    request.app[SOCKETS].add(socket)
    try:
        async for message in socket:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        request.app[SOCKETS].discard(socket)
    return socket


async def list_orders(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", SNAPSHOT_SIZE))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None
    rows = await recent_orders(request, max(1, min(limit, 1000)))
    return web.Response(body=_batch("orders", rows), content_type="application/json")


def _open_sockets(app: web.Application) -> list[web.WebSocketResponse]:
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    return [socket for socket in sockets if not socket.closed]


async def _broadcast(app: web.Application) -> None:
    while True:
        try:
            async with app[REDIS].pubsub() as pubsub:
                await pubsub.subscribe(UPDATES_CHANNEL)
                pending: dict[bytes, bytes] = {}
                loop = asyncio.get_running_loop()
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
                        pending[orjson.loads(data)["order_uuid"].encode()] = data
                        flush_at = flush_at or loop.time() + COALESCE_SECONDS
                    if flush_at is not None and loop.time() >= flush_at:
                        frame = _batch("orders", list(pending.values()))
                        pending.clear()
                        flush_at = None
                        await asyncio.gather(
                            *(s.send_bytes(frame) for s in _open_sockets(app)),
                            return_exceptions=True,
                        )
        except RedisError as exc:
            log.warning("live updates interrupted, reconnecting: %s", exc)
            await asyncio.sleep(1.0)


async def broadcaster(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_broadcast(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for socket in _open_sockets(app):
        await socket.close(code=1001, message=b"server shutdown")
