"""A Redis lease per store (SET NX PX, renewed): one process polls a store at a time."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Renew only while we still own the lease; an expired or taken lease is never extended.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, redis: aioredis.Redis, key: str, owner: str, ttl_ms: int) -> None:
        self.redis, self.key, self.owner, self.ttl_ms = redis, key, owner, ttl_ms

    async def acquire(self) -> bool:
        try:
            return bool(await self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms))
        except RedisError as exc:
            log.warning("lease %s: %s", self.key, exc)
            return False

    async def renew(self) -> bool:
        try:
            result = await self.redis.eval(_RENEW, 1, self.key, self.owner, str(self.ttl_ms))
        except RedisError as exc:
            log.warning("lease %s not renewed: %s", self.key, exc)
            return False
        return bool(result)

    async def release(self) -> None:
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.owner)
        except RedisError as exc:
            log.warning("lease %s not released (it expires by itself): %s", self.key, exc)

    async def keep(self) -> None:
        """Renew every third of the lease's life; return as soon as the lease is lost."""
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            if not await self.renew():
                log.warning("lost the lease %s", self.key)
                return
