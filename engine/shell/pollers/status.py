"""Per-store poller status in Redis, for the dashboard's engine-health panel."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from engine.domain import polling
from engine.domain.config import Store


class StatusBoard:
    def __init__(self, redis: aioredis.Redis, store: Store, owner: str) -> None:
        self.redis, self.store, self.owner = redis, store, owner
        self.key = polling.status_key(store.id)

    async def started(self) -> None:
        await self.redis.sadd(polling.POLLED_STORES, self.store.id)
        await self.redis.hset(
            self.key,
            mapping={"marketplace": self.store.marketplace.value, "owner": self.owner},
        )

    async def success(self, orders: int, next_run: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(
            self.key,
            mapping={
                "owner": self.owner,
                "last_success": f"{time.time():.3f}",
                "last_cycle_orders": str(orders),
                "next_run": f"{next_run:.3f}",
                "failures": "0",
            },
        )
        pipe.hincrby(self.key, "orders_seen", orders)
        await pipe.execute()

    async def counted(self, orders: int) -> None:
        """Orders produced outside a cycle (a push-triggered fetch)."""
        await self.redis.hincrby(self.key, "orders_seen", orders)

    async def failure(self, error: str, failures: int, next_run: float) -> None:
        await self.redis.hset(
            self.key,
            mapping={
                "owner": self.owner,
                "last_error": error[:500],
                "last_error_at": f"{time.time():.3f}",
                "next_run": f"{next_run:.3f}",
                "failures": str(failures),
            },
        )

    async def throttled(self, wait_seconds: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key, "throttled", 1)
        pipe.hset(self.key, "last_throttle_wait", f"{wait_seconds:.1f}")
        await pipe.execute()
