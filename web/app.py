"""The web process: webhook ingestor, API and dashboard in one aiohttp application."""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import AsyncIterator, Mapping

import redis.asyncio as aioredis
from aiohttp import web

from engine import kafka
from engine.config import Config
from models.order import Marketplace
from web import dashboard, ingest
from web.state import CONFIG, PRODUCER, REDIS, SECRETS, SOCKETS

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    redis_ok = True
    try:
        await request.app[REDIS].ping()
    except Exception:
        redis_ok = False
    status = 200 if redis_ok else 503
    return web.json_response({"redis": redis_ok}, status=status)


def create_app(config: Config, env: Mapping[str, str] | None = None) -> web.Application:
    environ = os.environ if env is None else env
    app = web.Application(client_max_size=config.max_body_bytes)
    app[CONFIG] = config
    # Resolved now so a missing secret stops the start with its variable's name.
    app[SECRETS] = {
        store.id: store.webhook_secrets(environ)
        for store in config.stores.values()
        if store.marketplace is Marketplace.SHOPIFY
    }
    app[SOCKETS] = weakref.WeakSet()

    async def connections(app: web.Application) -> AsyncIterator[None]:
        app[REDIS] = aioredis.from_url(config.redis_url)
        await kafka.ensure_topics(config.kafka)
        producer = kafka.producer(config.kafka)
        await producer.start()
        app[PRODUCER] = producer
        yield
        await producer.stop()
        await app[REDIS].aclose()

    app.cleanup_ctx.append(connections)
    app.cleanup_ctx.append(dashboard.broadcaster)
    app.router.add_post("/webhooks/shopify/{store_id}", ingest.shopify_webhook)
    app.router.add_get("/", dashboard.index)
    app.router.add_get("/ws", dashboard.websocket)
    app.router.add_get("/api/orders", dashboard.list_orders)
    app.router.add_get("/healthz", healthz)
    return app
