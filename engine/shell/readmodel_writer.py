"""Writes the Redis read model (`engine/shell/readmodel.py` names its keys and shapes its
documents): one pipeline per batch, idempotent Lua scripts, waiting out Redis outages.

Used by the projection agents (agents/projections.py) and by `winkel rebuild-read-model`
(engine/shell/rebuild.py), which therefore need no faust.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from engine.shell import readmodel as rm

log = logging.getLogger(__name__)

# Places one summary: skips it when the stored one is newer (a replay must not roll an order
# back), moves the order between stage sets and counters only when its placement changed.
# Then moves it in the list indexes (engine/shell/readmodel.py `list_index`): out of every
# filter set, waiting set and search entry it was in, into the ones it belongs in now.
# KEYS: orders, recent, placement, counts, stage set, marketplace set, store set, indexed, search
# ARGV: uuid, summary, updated, placement (marketplace|store|stage), counter field, stage since,
#       stage-set prefix, updates channel, list index (JSON)
PLACE_SUMMARY = """
local uuid = ARGV[1]
local updated = tonumber(ARGV[3])
local stored = redis.call('ZSCORE', KEYS[2], uuid)
if stored and tonumber(stored) > updated then return 0 end
local previous = redis.call('HGET', KEYS[3], uuid)
if previous ~= ARGV[4] then
  if previous then
    local marketplace, store, stage = string.match(previous, '^(.-)|(.-)|(.*)$')
    redis.call('HINCRBY', KEYS[4], marketplace .. '|' .. stage, -1)
    redis.call('ZREM', ARGV[7] .. stage, uuid)
  end
  redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
  redis.call('HSET', KEYS[3], uuid, ARGV[4])
end
redis.call('ZADD', KEYS[5], tonumber(ARGV[6]), uuid)
redis.call('ZADD', KEYS[6], updated, uuid)
redis.call('ZADD', KEYS[7], updated, uuid)
redis.call('ZADD', KEYS[2], updated, uuid)
redis.call('HSET', KEYS[1], uuid, ARGV[2])
local before = redis.call('HGET', KEYS[8], uuid)
if before then
  local old = cjson.decode(before)
  for _, key in ipairs(old.sets or {}) do redis.call('SREM', key, uuid) end
  for _, entry in ipairs(old.waiting or {}) do redis.call('ZREM', entry[1], uuid) end
  for _, member in ipairs(old.search or {}) do redis.call('ZREM', KEYS[9], member) end
end
local index = cjson.decode(ARGV[9])
for _, entry in ipairs(index.sorts or {}) do redis.call('ZADD', entry[1], entry[2], uuid) end
for _, key in ipairs(index.sets or {}) do redis.call('SADD', key, uuid) end
for _, entry in ipairs(index.waiting or {}) do redis.call('ZADD', entry[1], entry[2], uuid) end
for _, member in ipairs(index.search or {}) do redis.call('ZADD', KEYS[9], 0, member) end
redis.call('HSET', KEYS[8], uuid, ARGV[9])
redis.call('PUBLISH', ARGV[8], ARGV[2])
return 1
"""

# Adds one item under its own id; only a new one is announced and counted.
# KEYS: the hash; ARGV: id, document, channel, notice, counter ttl, then (key, field, increment)
# triples of counters to bump for a new item
ADD_ONCE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
for i = 6, #ARGV, 3 do
  redis.call('HINCRBY', ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]))
  redis.call('EXPIRE', ARGV[i], tonumber(ARGV[5]))
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""


# Stores one OSS threshold gauge unless a newer one (a higher count) is stored already.
# KEYS: gauges hash, counts hash; ARGV: company:year, count, document
PLACE_THRESHOLD = """
local stored = redis.call('HGET', KEYS[2], ARGV[1])
if stored and tonumber(stored) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class ReadModelWriter:
    """Writes projected records to Redis; one pipeline per batch, waiting out Redis outages."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.place_summary: AsyncScript = client.register_script(PLACE_SUMMARY)
        self.add_once: AsyncScript = client.register_script(ADD_ONCE)
        self.place_threshold: AsyncScript = client.register_script(PLACE_THRESHOLD)

    async def thresholds(self, rows: Sequence[rm.ThresholdRow]) -> None:
        async def write(pipe: Any) -> None:
            for row in rows:
                await self.place_threshold(
                    keys=[rm.VAT_THRESHOLDS, rm.VAT_THRESHOLD_COUNTS],
                    args=[row.field, row.counted, row.document],
                    client=pipe,
                )

        await self._pipelined(write)

    async def summaries(self, rows: Sequence[rm.SummaryRow]) -> None:
        async def write(pipe: Any) -> None:
            for row in rows:
                await self.place_summary(
                    keys=[
                        rm.ORDERS_HASH,
                        rm.RECENT_ORDERS,
                        rm.ORDER_PLACEMENT,
                        rm.ORDER_COUNTS,
                        rm.stage_key(row.stage),
                        rm.marketplace_key(row.marketplace),
                        rm.store_key(row.store_id),
                        rm.INDEXED,
                        rm.SEARCH,
                    ],
                    args=[
                        row.order_uuid,
                        row.document,
                        row.updated,
                        f"{row.marketplace}|{row.store_id}|{row.stage}",
                        f"{row.marketplace}|{row.stage}",
                        row.stage_since,
                        rm.stage_key(""),
                        rm.UPDATES_CHANNEL,
                        row.index,
                    ],
                    client=pipe,
                )

        await self._pipelined(write)

    async def audit(self, items: Sequence[tuple[rm.TimelineItem, float]]) -> None:
        """Audit entries with their Kafka timestamps (epoch s), which date the decision."""

        async def write(pipe: Any) -> None:
            for item, produced_at in items:
                counters: list[str | int] = []
                latency = rm.latency_fields(item, produced_at)
                if latency is not None:
                    key, second, millis = latency
                    counters += [key, f"{second}|n", 1, key, f"{second}|ms", millis]
                await self.add_once(
                    keys=[rm.audit_key(item.order_uuid)],
                    args=[
                        item.item_id,
                        item.document,
                        rm.ACTIVITY_CHANNEL,
                        rm.timeline_notice("audit", item.order_uuid, item.item_id),
                        rm.BUCKET_TTL_SECONDS,
                        *counters,
                    ],
                    client=pipe,
                )

        await self._pipelined(write)

    async def triggers(self, items: Sequence[rm.TimelineItem]) -> None:
        async def write(pipe: Any) -> None:
            for item in items:
                await self.add_once(
                    keys=[rm.triggers_key(item.order_uuid)],
                    args=[
                        item.item_id,
                        item.document,
                        rm.ACTIVITY_CHANNEL,
                        rm.timeline_notice("trigger", item.order_uuid, item.item_id),
                        rm.BUCKET_TTL_SECONDS,
                    ],
                    client=pipe,
                )

        await self._pipelined(write)

    async def dead_letters(self, rows: Sequence[rm.DeadLetterRow]) -> None:
        async def write(pipe: Any) -> None:
            for row in rows:
                pipe.zadd(rm.RECENT_DEAD_LETTERS, {row.dead_letter_id: row.failed_at})
                await self.add_once(
                    keys=[rm.DEAD_LETTERS],
                    args=[
                        row.dead_letter_id,
                        row.document,
                        rm.ACTIVITY_CHANNEL,
                        rm.dead_letter_notice(row.dead_letter_id),
                        rm.BUCKET_TTL_SECONDS,
                    ],
                    client=pipe,
                )

        await self._pipelined(write)

    async def _pipelined(self, write: Callable[[Any], Awaitable[None]]) -> None:
        """Run `write` into one pipeline; on a Redis outage retry the whole (idempotent) batch."""
        delay = 0.2
        while True:
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    await write(pipe)
                    await pipe.execute()
                return
            except RedisError as exc:
                # The read model lags meanwhile; nothing is lost, the batch is not acked yet.
                log.warning("read model write failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
