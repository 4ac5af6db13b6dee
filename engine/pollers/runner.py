"""One poll loop per store that needs one, each under its Redis lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Protocol, cast

import aiohttp
import redis.asyncio as aioredis

from engine import kafka, polling, redisconn
from engine.config import Config, Store
from engine.pollers.bol import BolClient, BolPoller
from engine.pollers.lease import Lease
from engine.pollers.sink import Sink
from engine.pollers.status import StatusBoard
from engine.pollers.woocommerce import WooCommercePoller
from engine.producer import ResilientProducer
from models.order import Marketplace

log = logging.getLogger(__name__)

#: How long a loop without the lease waits before trying to take it again.
LEASE_RETRY_SECONDS = 2.0


class NoPoller(Exception):
    """This engine has no poller for the store's marketplace (yet)."""


class Poller(Protocol):
    async def cycle(self) -> int: ...


class PushPoller(Poller, Protocol):
    """A poller that also serves prompt fetches asked for by pushes (bol, Amazon)."""

    async def handle_push(self, fetch: polling.PushFetch) -> int: ...


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class StoreLoop:
    def __init__(
        self,
        store: Store,
        env: Mapping[str, str],
        redis: aioredis.Redis,
        session: aiohttp.ClientSession,
        sink: Sink,
        owner: str,
    ) -> None:
        self.store, self.env, self.redis, self.session, self.sink = store, env, redis, session, sink
        self.owner = owner
        self.interval = polling.poll_interval(store)
        self.status = StatusBoard(redis, store, owner)
        self.lease = Lease(
            redis, polling.poll_key(store.id, "lease"), owner, polling.LEASE_MILLISECONDS
        )

    def build(self) -> Poller:
        if self.store.marketplace is Marketplace.BOL:
            client = BolClient(self.session, self.redis, self.store, self.env, self.status)
            return BolPoller(self.store, client, self.redis, self.sink, self.status, self.interval)
        if self.store.marketplace is Marketplace.WOOCOMMERCE:
            return WooCommercePoller.create(
                self.store, self.env, self.session, self.redis, self.sink
            )
        if self.store.marketplace is Marketplace.SHOPIFY:
            from engine.pollers.shopify import ShopifyPoller

            return ShopifyPoller.create(self.store, self.env, self.session, self.redis, self.sink)
        if self.store.marketplace is Marketplace.AMAZON:
            from engine.pollers.amazon import AmazonPoller

            return AmazonPoller.create(
                self.store,
                self.env,
                self.session,
                self.redis,
                self.sink,
                self.status,
                self.interval,
            )
        raise NoPoller(f"no poller for {self.store.marketplace.value} store {self.store.id!r}")

    async def run(self) -> None:
        while True:
            try:
                poller = self.build()
                break
            except NoPoller as exc:
                log.info("%s", exc)
                return
            except Exception as exc:  # a config error, or a broken poller module
                log.error("poller for %s cannot start: %s", self.store.id, exc)
                with contextlib.suppress(Exception):
                    await self.status.failure(str(exc), 1, time.time() + 60)
                await asyncio.sleep(60)
        with contextlib.suppress(Exception):
            await self.status.started()
        while True:
            if await self.lease.acquire():
                log.info("polling %s (lease %s)", self.store.id, self.owner)
                try:
                    await self._hold(poller)
                finally:
                    await self.lease.release()
            await asyncio.sleep(LEASE_RETRY_SECONDS)

    async def _hold(self, poller: Poller) -> None:
        keeper = asyncio.create_task(self.lease.keep())
        work = asyncio.create_task(self._work(poller))
        try:
            await asyncio.wait({keeper, work}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (keeper, work):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _work(self, poller: Poller) -> None:
        failures = 0
        next_at = time.time()
        pending = polling.pending_fetches_key(self.store.id)
        while True:
            remaining = next_at - time.time()
            if remaining > 0:
                if hasattr(poller, "handle_push"):
                    await self._serve_pushes(cast(PushPoller, poller), pending, min(remaining, 1.0))
                else:
                    await asyncio.sleep(min(remaining, 1.0))
                continue
            try:
                produced = await poller.cycle()
            except Exception as exc:  # every failure is reported and retried, none stops the loop
                failures += 1
                next_at = time.time() + polling.backoff_seconds(failures, self.interval)
                log.warning("poll of %s failed (%d in a row): %s", self.store.id, failures, exc)
                with contextlib.suppress(Exception):
                    await self.status.failure(f"{type(exc).__name__}: {exc}", failures, next_at)
                continue
            failures = 0
            next_at = time.time() + self.interval
            with contextlib.suppress(Exception):
                await self.status.success(produced, next_at)

    async def _serve_pushes(self, poller: PushPoller, pending: str, patience: float) -> None:
        """Wait up to `patience` seconds for a push's fetch request and serve it at once."""
        item = await self.redis.blpop([pending], timeout=max(patience, 0.1))
        if item is None:
            return
        fetch = polling.PushFetch.decode(item[1])
        if fetch is None:
            return
        try:
            produced = await poller.handle_push(fetch)
        except Exception as exc:
            # The list poll is the backstop: whatever the push named is listed as changed.
            log.warning("push fetch %s for %s failed: %s", fetch.encode(), self.store.id, exc)
            with contextlib.suppress(Exception):
                await self.status.failure(f"push fetch: {type(exc).__name__}: {exc}", 0, 0)
            return
        with contextlib.suppress(Exception):
            await self.status.counted(produced)


async def run(config: Config, env: Mapping[str, str] | None = None) -> None:
    """Poll every store that needs it until cancelled (the worker's task)."""
    environ = os.environ if env is None else env
    stores = [store for store in config.stores.values() if store.polled]
    if not stores:
        return
    redis = redisconn.client(config.redis_url, reply_seconds=None)  # BLPOP waits on purpose
    # Replaced by itself after a long broker outage; a failed write is retried next poll.
    producer = ResilientProducer(lambda: kafka.producer(config.kafka), name="pollers", deadline=30)
    await producer.start()
    session = aiohttp.ClientSession()
    owner = owner_id()
    sink = Sink(redis, producer, config.dedupe_ttl_seconds)
    try:
        loops = [StoreLoop(s, environ, redis, session, sink, owner) for s in stores]
        await asyncio.gather(*(loop.run() for loop in loops))
    finally:
        await session.close()
        await producer.stop()
        await redis.aclose()
