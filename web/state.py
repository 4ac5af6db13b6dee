"""Typed application state (aiohttp `web.AppKey`s) and the small mutable holders behind them."""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import redis.asyncio as aioredis
from aiohttp import web

from engine.domain.config import Config
from engine.shell.producer import ResilientProducer


@dataclass
class WebhookMeter:
    """Webhook outcomes seen by this process: totals for `/metrics`, and per-second counts not
    yet added to the shared read model (flushed once a second, off the request path)."""

    totals: Counter[tuple[str, str]] = field(default_factory=Counter)  # (marketplace, outcome)
    unflushed: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # + epoch second

    def record(self, marketplace: str, outcome: str, epoch_second: int) -> None:
        self.totals[marketplace, outcome] += 1
        self.unflushed[marketplace, outcome, epoch_second] += 1

    def take_unflushed(self) -> Counter[tuple[str, str, int]]:
        taken, self.unflushed = self.unflushed, Counter()
        return taken


@dataclass
class EngineHealth:
    """What the web process last learned about the worker's consumer group."""

    lag_by_topic: dict[str, int] | None = None  # None: not known (yet)
    checked_at: float | None = None
    error: str | None = None


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in person: the name their actions are audited under, and what they may do."""

    name: str
    role: Role

    @property
    def may_act(self) -> bool:
        return self.role is Role.OPERATOR


@dataclass(frozen=True)
class DashboardSettings:
    #: Stage -> seconds an order may wait there before the bottleneck panel calls it stuck.
    stuck_after: Mapping[str, float]


CONFIG = web.AppKey("config", Config)
SECRETS = web.AppKey("secrets", dict[str, tuple[bytes, ...]])
REDIS = web.AppKey("redis", aioredis.Redis)
PRODUCER = web.AppKey("producer", ResilientProducer)
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
#: Bearer token -> the operator or viewer it signs in (see web/auth.py).
PRINCIPALS = web.AppKey("principals", dict[str, Principal])
WEBHOOKS = web.AppKey("webhooks", WebhookMeter)
HEALTH = web.AppKey("health", EngineHealth)
SETTINGS = web.AppKey("dashboard_settings", DashboardSettings)
