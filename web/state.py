"""Typed application state (aiohttp `web.AppKey`s)."""

from __future__ import annotations

import weakref

import redis.asyncio as aioredis
from aiohttp import web
from aiokafka import AIOKafkaProducer

from engine.config import Config

CONFIG = web.AppKey("config", Config)
SECRETS = web.AppKey("secrets", dict[str, tuple[bytes, ...]])
REDIS = web.AppKey("redis", aioredis.Redis)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
