"""The web process: webhook ingestor, order API and live dashboard in one aiohttp application."""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from engine.domain.config import Config
from engine.domain.exceptions import ConfigError
from engine.shell import kafka, redisconn
from engine.shell.producer import ResilientProducer
from engine.shell.quietlog import DependencyLog
from engine.shell.readmodel_query import OrderList
from models.order import Marketplace
from web import api, auth, dashboard, health, ingest
from web.auth import DEFAULT_OPERATOR_ID, DEFAULT_VIEWER_ID, operators_from, principals
from web.errors import error_family
from web.state import (
    CONFIG,
    HEALTH,
    PRINCIPALS,
    PRODUCER,
    REDIS,
    SECRETS,
    SETTINGS,
    SOCKETS,
    WEBHOOKS,
    DashboardSettings,
    EngineHealth,
    Principal,
    WebhookMeter,
)

log = logging.getLogger(__name__)

STUCK_AFTER_ENV = "WINKEL_STUCK_AFTER"


def _tokens(variable: str, default_id: str, environ: Mapping[str, str]) -> dict[str, str]:
    raw = environ.get(variable, "")
    try:
        return operators_from(raw, default_id) if raw.strip() else {}
    except ValueError as exc:
        raise ConfigError(f"{variable}: {exc}") from None


def _principals(config: Config, environ: Mapping[str, str]) -> dict[str, Principal]:
    """Operators and viewers by token (web/auth.py); without any, nothing can be read."""
    operators = _tokens(config.operator_token_env, DEFAULT_OPERATOR_ID, environ)
    viewers = _tokens(config.viewer_token_env, DEFAULT_VIEWER_ID, environ)
    if not operators:
        log.warning(
            "%s is not set: no operator can sign in, every action will be refused",
            config.operator_token_env,
        )
    try:
        return principals(operators, viewers)
    except ValueError as exc:
        raise ConfigError(f"{config.viewer_token_env}: {exc}") from None


def _settings(environ: Mapping[str, str]) -> DashboardSettings:
    raw = environ.get(STUCK_AFTER_ENV) or dashboard.DEFAULT_STUCK_AFTER
    try:
        return DashboardSettings(stuck_after=dashboard.parse_stuck_after(raw))
    except ValueError as exc:
        raise ConfigError(f"{STUCK_AFTER_ENV}: {exc}") from None


#: Marketplaces whose webhooks are signed with a shared secret from the store's config.
SIGNED_WEBHOOKS = frozenset({Marketplace.SHOPIFY, Marketplace.WOOCOMMERCE})


def create_app(config: Config, env: Mapping[str, str] | None = None) -> web.Application:
    environ = os.environ if env is None else env
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[
            api.count_webhooks,
            health.dependencies_unavailable,
            error_family,
            auth.require_sign_in,
        ],
    )
    app[CONFIG] = config
    # Resolved now so a missing secret stops the start with its variable's name.
    app[SECRETS] = {
        store.id: store.webhook_secrets(environ)
        for store in config.stores.values()
        if store.marketplace in SIGNED_WEBHOOKS
    }
    app[ingest.BOL_KEYS] = ingest.bol_public_keys(config, environ)
    app[ingest.AMAZON_SECRETS] = ingest.amazon_relay_secrets(config, environ)
    app[PRINCIPALS] = _principals(config, environ)
    app[SETTINGS] = _settings(environ)
    app[SOCKETS] = weakref.WeakSet()
    app[WEBHOOKS] = WebhookMeter()
    app[HEALTH] = EngineHealth()
    app[health.METRICS] = health.WebMetrics()
    app[health.REDIS_LOG] = DependencyLog(log, "redis")

    async def connections(app: web.Application) -> AsyncIterator[None]:
        app[REDIS] = redisconn.client(config.redis_url)
        app[api.ORDER_LIST] = OrderList(app[REDIS])
        await kafka.ensure_topics(config.kafka)
        producer = ResilientProducer(lambda: kafka.producer(config.kafka), name="web")
        await producer.start()
        app[PRODUCER] = producer
        yield
        await producer.stop()
        await app[REDIS].aclose()

    # Cleaned up in reverse: the background tasks stop before the connections close.
    app.cleanup_ctx.append(connections)
    app.cleanup_ctx.append(dashboard.broadcaster)
    app.cleanup_ctx.append(api.background)

    app.router.add_post("/webhooks/shopify/{store_id}", ingest.shopify_webhook)
    app.router.add_post("/webhooks/woocommerce/{store_id}", ingest.woocommerce_webhook)
    app.router.add_post("/webhooks/bol/{store_id}", ingest.bol_webhook)
    app.router.add_post("/webhooks/amazon/{store_id}", ingest.amazon_webhook)
    app.router.add_get("/", dashboard.index)
    # The dashboard's own URLs (web/static): the page routes them itself.
    app.router.add_get(r"/orders/{order_uuid}", dashboard.index)
    app.router.add_get("/stuck", dashboard.index)
    app.router.add_get("/dead-letters", dashboard.index)
    app.router.add_get("/ws", dashboard.websocket)
    app.router.add_static("/static/", dashboard.STATIC, append_version=False)
    app.router.add_get("/api/orders", api.list_orders)
    app.router.add_get("/api/orders.csv", api.orders_csv)
    app.router.add_get("/api/stuck", api.stuck_orders)
    app.router.add_get(r"/api/orders/{order_uuid}", api.order_detail)
    app.router.add_post(r"/api/orders/{order_uuid}/status", api.change_status)
    app.router.add_get("/api/session", auth.session)
    app.router.add_post("/api/ws-ticket", auth.issue_ticket)
    app.router.add_get("/api/stats", dashboard.stats)
    app.router.add_get("/api/pollers", api.pollers)
    app.router.add_get("/api/vat/thresholds", api.vat_thresholds)
    app.router.add_get("/api/deadletters", api.list_dead_letters)
    app.router.add_get("/api/dead-letters", api.list_dead_letters)
    app.router.add_post("/api/deadletters/{dead_letter_id}/replay", api.replay_dead_letter)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    return app
