"""Reading the order list from the Redis read model: one Lua call per page.

The page is cut from one sorted set per sort column (`winkel:sort:<column>`), narrowed by the
filter sets, the ordered-at range and the search prefixes. The count is ZINTERCARD of those. A
view of few orders (under 1/20 of all) is intersected with the sort set into a temporary set
that lives only inside the script (concurrent writes never see it, it is never left behind); a
view of many walks the sort set and keeps the rows in every filter, which costs about
`limit * all / matching` look-ups instead of sorting every match.
Paging is keyset: the cursor is the last row's (score, uuid); the script
finds its position by rank, with the cursor row put back at its cursor score for that moment if
it has moved since, so a page never repeats or skips rows while others change.
An unfiltered page costs O(log n + limit).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from engine.domain.workbench import Cursor, ListQuery
from engine.shell import readmodel as rm

# KEYS: sort set, temp result, then one temp set per search word, then the filter keys
# ARGV: dir, limit, cursor score ('' for none), cursor uuid, date key ('' for none), date low,
#       date high, search set, number of search words, the words...
# Returns {total, {uuid, score, uuid, score, ...}} with up to limit + 1 rows (one more: a next).
LIST_PAGE = """
local sort, result = KEYS[1], KEYS[2]
local direction, limit = ARGV[1], tonumber(ARGV[2])
local cursor_score, cursor_uuid = ARGV[3], ARGV[4]
local date_key, date_low, date_high = ARGV[5], ARGV[6], ARGV[7]
local words = tonumber(ARGV[9])
local temps = {result}
local inputs = {}
local low, high = '-inf', '+inf'
-- a prefix search: every order with a token starting with the word
for i = 1, words do
  local set = KEYS[2 + i]
  temps[#temps + 1] = set
  inputs[#inputs + 1] = set
  local word = ARGV[9 + i]
  local members = redis.call('ZRANGEBYLEX', ARGV[8], '[' .. word, '[' .. word .. '\\255')
  local batch = {}
  for _, member in ipairs(members) do
    batch[#batch + 1] = string.match(member, ' ([^ ]*)$')
    if #batch == 1000 then redis.call('SADD', set, unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call('SADD', set, unpack(batch)) end
end
for i = 3 + words, #KEYS do inputs[#inputs + 1] = KEYS[i] end
if date_key ~= '' then
  if date_key == sort then low, high = date_low, date_high end
  local range = result .. ':date'
  temps[#temps + 1] = range
  redis.call('ZRANGESTORE', range, date_key, date_low, date_high, 'BYSCORE')
  inputs[#inputs + 1] = range
end
-- how many orders match: every order is in every sort set, so the inputs alone decide
local kinds = {}
for i, key in ipairs(inputs) do kinds[i] = redis.call('TYPE', key).ok end
local everything = redis.call('ZCARD', sort)
local total
if #inputs == 0 then
  total = everything
elseif #inputs == 1 then
  if kinds[1] == 'set' then total = redis.call('SCARD', inputs[1])
  else total = redis.call('ZCARD', inputs[1]) end
else
  local args = {'ZINTERCARD', #inputs}
  for _, key in ipairs(inputs) do args[#args + 1] = key end
  total = redis.call(unpack(args))
end
-- few matches: intersect them into a small sorted set and page that; many: walk the sort set
-- and keep the rows in every input (about limit * everything / total look-ups)
local source = sort
local walk = #inputs == 0 or total * 20 >= everything
if not walk then
  local args = {'ZINTERSTORE', result, #inputs + 1, sort}
  for _, key in ipairs(inputs) do args[#args + 1] = key end
  args[#args + 1] = 'WEIGHTS'
  args[#args + 1] = 1
  for _ = 1, #inputs do args[#args + 1] = 0 end
  redis.call(unpack(args))
  source = result
end
local start
local restore = nil
if cursor_score ~= '' then
  -- the cursor row at its cursor score for this moment: its rank is where the page begins
  local had = redis.call('ZSCORE', source, cursor_uuid)
  if not had or tonumber(had) ~= tonumber(cursor_score) then
    redis.call('ZADD', source, cursor_score, cursor_uuid)
    restore = had or false
  end
  if direction == 'desc' then
    start = redis.call('ZREVRANK', source, cursor_uuid) + 1
  else
    start = redis.call('ZRANK', source, cursor_uuid) + 1
  end
elseif direction == 'desc' then
  start = redis.call('ZCOUNT', source, '(' .. high, '+inf')
else
  start = redis.call('ZCOUNT', source, '-inf', '(' .. low)
end
local low_n = low == '-inf' and -math.huge or tonumber(low)
local high_n = high == '+inf' and math.huge or tonumber(high)
local function wanted(member)
  if member == cursor_uuid then return false end
  if not walk then return true end
  for i, key in ipairs(inputs) do
    if kinds[i] == 'set' then
      if redis.call('SISMEMBER', key, member) == 0 then return false end
    elseif not redis.call('ZSCORE', key, member) then
      return false
    end
  end
  return true
end
local chunk = limit + 1
if walk and total > 0 then
  chunk = math.min(5000, math.ceil((limit + 1) * everything / total * 1.2) + 8)
end
local page = {}
local position = start
local finished = false
while not finished and #page < 2 * (limit + 1) do
  local rows
  if direction == 'desc' then
    rows = redis.call('ZRANGE', source, position, position + chunk - 1, 'REV', 'WITHSCORES')
  else
    rows = redis.call('ZRANGE', source, position, position + chunk - 1, 'WITHSCORES')
  end
  if #rows == 0 then break end
  position = position + #rows / 2
  for i = 1, #rows, 2 do
    local score = tonumber(rows[i + 1])
    if score < low_n or score > high_n then finished = true; break end
    if wanted(rows[i]) then
      page[#page + 1] = rows[i]
      page[#page + 1] = rows[i + 1]
      if #page == 2 * (limit + 1) then break end
    end
  end
  if not walk then break end
end
if restore ~= nil and source == sort then
  if restore then redis.call('ZADD', sort, restore, cursor_uuid)
  else redis.call('ZREM', sort, cursor_uuid) end
end
redis.call('DEL', unpack(temps))
return {total, page}
"""


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[bytes]  # summary JSON documents
    next: str | None
    total: int


def _filter_keys(filters: dict[str, str] | Any) -> list[str]:
    keys = []
    for name, value in filters.items():
        if name == "marketplace":
            keys.append(rm.marketplace_key(value))
        elif name == "store":
            keys.append(rm.store_key(value))
        elif name == "stage":
            keys.append(rm.stage_key(value))
        else:
            keys.append(rm.filter_key(name, value))
    return keys


class OrderList:
    """Pages of the order list (see the module's docstring)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.script: AsyncScript = client.register_script(LIST_PAGE)

    async def page(self, query: ListQuery) -> Page:
        words = rm.search_words(query.text or "")
        temp = f"{rm.TEMP_PREFIX}{uuid.uuid4().hex}"
        word_sets = [f"{temp}:q{i}" for i in range(len(words))]
        date_args: Sequence[str] = ("", "", "")
        if query.ordered_from is not None or query.ordered_to is not None:
            low = "-inf" if query.ordered_from is None else repr(query.ordered_from.timestamp())
            high = "+inf" if query.ordered_to is None else repr(query.ordered_to.timestamp())
            date_args = (rm.sort_key("ordered_at"), low, high)
        after = query.after
        reply = await self.script(
            keys=[rm.sort_key(query.sort), temp, *word_sets, *_filter_keys(dict(query.filters))],
            args=[
                query.direction,
                query.limit,
                "" if after is None else after.score,
                "" if after is None else after.order_uuid,
                *date_args,
                rm.SEARCH,
                len(words),
                *words,
            ],
        )
        total, flat = cast(list[Any], reply)
        pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        more = len(pairs) > query.limit
        pairs = pairs[: query.limit]
        documents: list[bytes] = []
        if pairs:
            rows = cast(
                list[bytes | None],
                await self.client.hmget(rm.ORDERS_HASH, [member for member, _ in pairs]),
            )
            documents = [row for row in rows if row is not None]
        next_cursor = None
        if more and pairs:
            member, score = pairs[-1]
            next_cursor = Cursor(_text(score), _text(member), query.sort, query.direction).encode()
        return Page(documents, next_cursor, int(total))


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def summaries(rows: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(row) for row in rows]
