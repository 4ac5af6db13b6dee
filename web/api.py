"""The order API (docs/design.md "HTTP"): orders from the read model, operator actions to Kafka,
webhook counting, and the background tasks that keep the engine's health in view.

Reads come from Redis only. Operator actions are commands on `winkel.orders.commands`
(acks=all): the orders agent applies them and audits them under the operator's id, so an
action is answered 202 (accepted for processing), and its effect arrives on the live view.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from engine.domain import stuck, topics, workbench
from engine.domain.exceptions import DependencyUnavailable
from engine.domain.stuck import DEFAULT_LIMITS
from engine.shell import readmodel as rm
from engine.shell import replay
from engine.shell.ledger import Outcome
from engine.shell.readmodel_query import OrderList
from models.codec import encode_command
from models.commands import OperatorAction, OperatorCommand
from web.auth import require_operator
from web.errors import refusal
from web.health import METRICS
from web.ingest import OUTCOME, read_body
from web.state import CONFIG, HEALTH, PRODUCER, REDIS, WEBHOOKS
from web.tasks import stop_tasks

log = logging.getLogger(__name__)

OPENAPI = Path(__file__).with_name("openapi.json")
#: The order list's reader (engine/shell/readmodel_query.py), made with the Redis client.
ORDER_LIST = web.AppKey("order_list", OrderList)
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
MAX_REASON_CHARS = 500
CONSUMER_GROUP = topics.CONSUMER_GROUP
LAG_SECONDS = 10.0
#: How long reading a dead letter back from Kafka may take before the answer is 503.
READ_BACK_SECONDS = 5.0
FLUSH_SECONDS = 1.0


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=orjson.dumps({"error": message}).decode(), content_type="application/json"
    )


def _not_found(message: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=orjson.dumps({"error": message}).decode(), content_type="application/json"
    )


# --- orders ----------------------------------------------------------------------------------


def _known(request: web.Request) -> dict[str, list[str]]:
    config = request.app[CONFIG]
    return {"store": list(config.stores), "company": list(config.companies)}


def _listed(raw: bytes | str) -> dict[str, Any]:
    """A summary as the list shows it: with `ordered_at`, `updated` and `fees` always there."""
    order: dict[str, Any] = orjson.loads(raw)
    order.setdefault("ordered_at", None)
    order.setdefault("fees", [])
    order["updated"] = order.get("updated_at")
    return order


async def list_orders(request: web.Request) -> web.Response:
    """One page of the order list: filters, free text, sort, keyset paging (docs/api.md)."""
    query = workbench.parse_list_query(request.query, _known(request))
    page = await request.app[ORDER_LIST].page(query)
    return _json(
        {
            "orders": [_listed(row) for row in page.orders],
            "next": page.next,
            "total": page.total,
            "sort": query.sort,
            "dir": query.direction,
        }
    )


CSV_COLUMNS = (
    "order_uuid",
    "name",
    "external_order_id",
    "marketplace",
    "store_id",
    "company_id",
    "country",
    "customer",
    "stage",
    "stage_since",
    "ordered_at",
    "updated_at",
    "payment_status",
    "fulfilment_status",
    "invoice_status",
    "return_status",
    "currency",
    "total_gross",
    "fees",
)
CSV_PAGE = 500
CSV_TEXT_COLUMNS = frozenset({"name", "external_order_id", "customer"})


def _csv_value(order: dict[str, Any], column: str) -> str:
    if column == "fees":
        # Amounts stay exact: summed as Decimal, written as a plain decimal string.
        fees = [Decimal(str(fee.get("amount", "0"))) for fee in order.get("fees") or []]
        return str(sum(fees, Decimal("0.00"))) if fees else ""
    value = order.get(column)
    text = "" if value is None else str(value)
    # A customer's text starting like a formula would run in a spreadsheet (CSV injection).
    if column in CSV_TEXT_COLUMNS and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


async def orders_csv(request: web.Request) -> web.StreamResponse:
    """Every order of the list's current view as CSV, streamed page by page."""
    allowed = [name for name in workbench.LIST_PARAMETERS if name not in workbench.PAGING]
    query = workbench.parse_list_query(request.query, _known(request), allowed)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="orders-{stamp}.csv"',
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    orders = request.app[ORDER_LIST]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    page_query = replace(query, limit=CSV_PAGE, after=None)
    while True:
        page = await orders.page(page_query)
        for row in page.orders:
            order = orjson.loads(row)
            writer.writerow([_csv_value(order, column) for column in CSV_COLUMNS])
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
        if page.next is None:
            break
        page_query = replace(
            page_query,
            after=workbench.Cursor.decode(page.next, query.sort, query.direction),
        )
    await response.write_eof()
    return response


def _order_uuid(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["order_uuid"]))
    except ValueError:
        raise _not_found("no such order") from None


def _store_limits(request: web.Request | web.Application, store_id: object) -> Mapping[str, float]:
    app = request.app if isinstance(request, web.Request) else request
    store = app[CONFIG].store(str(store_id))
    return DEFAULT_LIMITS if store is None else store.stuck_after


def _timeline(entries: list[dict[str, Any]], order: dict[str, Any]) -> list[dict[str, Any]]:
    shipments = order.get("shipments") or []
    shown = []
    for entry in rm.timeline(entries):
        event, params = workbench.timeline_event(entry, shipments)
        shown.append(
            {
                "at": entry.get("at"),
                "event": event,
                "params": params,
                "actor": entry.get("actor"),
                "from_stage": entry.get("from_stage"),
                "to_stage": entry.get("to_stage"),
                "entry_id": entry.get("entry_id"),
                # The audit's own text (English, as logged); `event` and `params` are for display.
                "reason": entry.get("reason"),
            }
        )
    return shown


async def order_detail(request: web.Request) -> web.Response:
    """The summary with its lines, triggers, timeline (event codes), actions, stuck and fees."""
    order_uuid = _order_uuid(request)
    pipe = request.app[REDIS].pipeline(transaction=False)
    pipe.hget(rm.ORDERS_HASH, order_uuid)
    pipe.hvals(rm.audit_key(order_uuid))
    pipe.hvals(rm.triggers_key(order_uuid))
    summary, audit, triggers = await pipe.execute()
    if summary is None:
        raise _not_found("no such order")
    order = _listed(summary)
    trigger_documents = sorted(
        (orjson.loads(t) for t in triggers), key=lambda t: str(t.get("created_at", ""))
    )
    limits = _store_limits(request, order.get("store_id"))
    found = stuck.stuck(order, limits, datetime.now(UTC))
    return _json(
        {
            "order": order,
            "triggers": trigger_documents,
            "timeline": _timeline([orjson.loads(entry) for entry in audit], order),
            "actions": [{"action": action} for action in workbench.valid_actions(order)],
            "stuck": None if found is None else found.document(),
            "fees": order["fees"],
        }
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        document = orjson.loads(await read_body(request))
    except orjson.JSONDecodeError:
        raise _bad_request("the body must be a JSON object") from None
    if not isinstance(document, dict):
        raise _bad_request("the body must be a JSON object")
    return document


def operator_command(
    order_uuid: str, operator_id: str, document: dict[str, Any], now: datetime
) -> OperatorCommand:
    """The command an operator's request asks for; `HTTPBadRequest` says what is wrong with it."""
    try:
        action = OperatorAction(str(document.get("action")))
    except ValueError:
        choices = ", ".join(a.value for a in OperatorAction)
        raise _bad_request(f"action must be one of {choices}") from None
    reason = document.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _bad_request("a reason is required")
    if len(reason) > MAX_REASON_CHARS:
        raise _bad_request(f"the reason is longer than {MAX_REASON_CHARS} characters")
    return OperatorCommand(
        command_id=str(uuid.uuid4()),
        order_uuid=uuid.UUID(order_uuid),
        operator_id=operator_id,
        action=action,
        reason=reason.strip(),
        issued_at=now,
    )


async def change_status(request: web.Request) -> web.Response:
    """An operator's status adjustment, sent to the orders agent as a command."""
    operator_id = require_operator(request)
    order_uuid = _order_uuid(request)
    command = operator_command(order_uuid, operator_id, await _body(request), datetime.now(UTC))
    summary = await request.app[REDIS].hget(rm.ORDERS_HASH, order_uuid)
    if summary is None:
        raise _not_found("no such order")
    refused = workbench.refused_action(orjson.loads(summary), command.action.value)
    if refused is not None:
        raise refusal(web.HTTPConflict, "conflict", f"{command.action.value}: {refused}")
    # DependencyUnavailable (no ack within the deadline) is answered 503 with Retry-After.
    await request.app[PRODUCER].send_and_wait(
        topics.ORDER_COMMANDS, encode_command(command), key=order_uuid.encode()
    )
    log.info(
        "operator %s: %s on %s (%s)", operator_id, command.action, order_uuid, command.command_id
    )
    return _json(
        {"status": "accepted", "command_id": command.command_id, "operator_id": operator_id},
        status=202,
    )


#: A dead letter's owner fields, for rows the read model kept from before it named them.
OWNER_UNKNOWN = rm.dead_letter_owner("")


# --- stuck orders ----------------------------------------------------------------------------


async def stuck_orders(request: web.Request) -> web.Response:
    """Every order over its stage's limit, oldest first, keyset-paged (docs/api.md)."""
    # The worklist's cursor is by age, not a list sort: read apart from the filters.
    query = workbench.parse_list_query(
        request.query, _known(request), workbench.STUCK_PARAMETERS, list_cursor=False
    )
    after = None
    if request.query.get("after"):
        after = workbench.Cursor.decode(request.query["after"], "age", "asc")
    now = datetime.now(UTC)
    cutoffs, uniform = _cutoffs(request.app, now)
    uniform = uniform and not query.filters
    if uniform:
        # Every store allows the same wait: whatever is under a reason's cutoff is stuck, so
        # the count is ZCOUNT and only the page's own orders are read.
        total, rows = await _stuck_page(request, cutoffs, after, query.limit)
    else:
        rows = await _stuck_rows(request.app, cutoffs, query.filters, now)
        total = len(rows)
    if after is not None:
        position = (float(after.score), after.order_uuid)
        rows = [row for row in rows if (row[0], row[1]) > position]
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit and page:
        since, order_uuid, _ = page[-1]
        next_cursor = workbench.Cursor(repr(since), order_uuid, "age", "asc").encode()
    documents = []
    for _, _, order in page:
        found = stuck.stuck(order, _store_limits(request, order.get("store_id")), now)
        if found is not None:  # None only for an order that moved on meanwhile
            documents.append({**order, "stuck": found.document()})
    return _json({"orders": documents, "next": next_cursor, "total": total})


StuckRow = tuple[float, str, dict[str, Any]]  # since (epoch s), uuid, summary


def _cutoffs(app: web.Application, now: datetime) -> tuple[dict[str, float], bool]:
    """Per stuck reason, the latest start of a wait that is over the shortest limit any store
    sets; and whether every store sets the same limits (then that cutoff is exact)."""
    store_limits = [store.stuck_after for store in app[CONFIG].stores.values()] or [DEFAULT_LIMITS]
    cutoffs: dict[str, float] = {}
    uniform = True
    for reason, limit_key in stuck.REASONS.items():
        limits = {limits.get(limit_key, DEFAULT_LIMITS[limit_key]) for limits in store_limits}
        cutoffs[reason] = now.timestamp() - min(limits)
        uniform = uniform and len(limits) == 1
    return cutoffs, uniform


async def stuck_count(app: web.Application, now: datetime) -> int:
    """How many orders the worklist shows (its `total`), for the dashboard's stats."""
    cutoffs, uniform = _cutoffs(app, now)
    if not uniform:
        return len(await _stuck_rows(app, cutoffs, {}, now))
    pipe = app[REDIS].pipeline(transaction=False)
    for reason, cutoff in cutoffs.items():
        pipe.zcount(rm.waiting_key(reason), "-inf", cutoff)
    return sum(int(count) for count in await pipe.execute())


async def _stuck_rows(
    app: web.Application, cutoffs: Mapping[str, float], wanted: Mapping[str, str], now: datetime
) -> list[StuckRow]:
    """Every stuck order matching `wanted`, judged by its own store's limits, oldest first."""
    redis = app[REDIS]
    pipe = redis.pipeline(transaction=False)
    for reason, cutoff in cutoffs.items():
        pipe.zrangebyscore(rm.waiting_key(reason), "-inf", cutoff)
    candidates = sorted({member for found in await pipe.execute() for member in found})
    rows: list[StuckRow] = []
    summaries = await redis.hmget(rm.ORDERS_HASH, candidates) if candidates else []
    for raw in summaries:
        if raw is None:
            continue
        order = _listed(raw)
        if any(order.get(rm.SUMMARY_FIELDS[name]) != value for name, value in wanted.items()):
            continue
        found = stuck.stuck(order, _store_limits(app, order.get("store_id")), now)
        if found is not None:
            rows.append((found.since.timestamp(), str(order["order_uuid"]), order))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


async def _stuck_page(
    request: web.Request,
    cutoffs: Mapping[str, float],
    after: workbench.Cursor | None,
    limit: int,
) -> tuple[int, list[StuckRow]]:
    """The count of stuck orders, and the oldest `limit + 1` (and their ties) after `after`."""
    redis = request.app[REDIS]
    start = "-inf" if after is None else after.score
    pipe = redis.pipeline(transaction=False)
    for reason, cutoff in cutoffs.items():
        pipe.zcount(rm.waiting_key(reason), "-inf", cutoff)
        pipe.zcount(rm.waiting_key(reason), start, start)  # rows tied with the cursor
    replies = iter(await pipe.execute())
    counted = {reason: (int(next(replies)), int(next(replies))) for reason in cutoffs}
    pipe = redis.pipeline(transaction=False)
    for reason, cutoff in cutoffs.items():
        tied = counted[reason][1] if after is not None else 0
        pipe.zrangebyscore(
            rm.waiting_key(reason), start, cutoff, start=0, num=limit + 1 + tied, withscores=True
        )
    found = sorted(
        (float(score), member.decode())
        for members in await pipe.execute()
        for member, score in members
    )
    if after is not None:
        found = [row for row in found if row > (float(after.score), after.order_uuid)]
    found = found[: limit + 1]
    summaries = await redis.hmget(rm.ORDERS_HASH, [u for _, u in found]) if found else []
    rows = [
        (since, order_uuid, _listed(raw))
        for (since, order_uuid), raw in zip(found, summaries, strict=True)
        if raw is not None
    ]
    return sum(total for total, _ in counted.values()), rows


# --- dead letters ----------------------------------------------------------------------------


def _limit(query: Any) -> int:
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise _bad_request("limit must be a whole number") from None
    return max(1, min(limit, MAX_LIMIT))


async def list_dead_letters(request: web.Request) -> web.Response:
    limit = _limit(request.query)
    redis = request.app[REDIS]
    ids = cast(list[bytes], await redis.zrevrange(rm.RECENT_DEAD_LETTERS, 0, limit - 1))
    pipe = redis.pipeline(transaction=False)
    pipe.hlen(rm.DEAD_LETTERS)
    pipe.hmget(rm.DEAD_LETTERS, ids or [b""])
    pipe.hmget(rm.REPLAYED_DEAD_LETTERS, ids or [b""])
    count, rows, replays = await pipe.execute()
    letters = []
    for row, replayed in zip(rows, replays, strict=False):
        if row:
            letter = {**OWNER_UNKNOWN, **orjson.loads(row)}  # rows written before owners
            letter["replayed"] = orjson.loads(replayed) if replayed else None
            letters.append(letter)
    return _json({"count": count, "dead_letters": letters})


async def replay_dead_letter(request: web.Request) -> web.Response:
    """Send one dead letter's original back to its source topic."""
    operator_id = require_operator(request)
    dead_letter_id = request.match_info["dead_letter_id"]
    redis = request.app[REDIS]
    row = await redis.hget(rm.DEAD_LETTERS, dead_letter_id)
    if row is None:
        raise _not_found("no such dead letter")
    location = orjson.loads(row)["location"]
    try:
        letter = await asyncio.wait_for(
            replay.dead_letter_at(
                request.app[CONFIG].kafka, int(location["partition"]), int(location["offset"])
            ),
            READ_BACK_SECONDS,
        )
    except (TimeoutError, KafkaError) as exc:
        raise DependencyUnavailable(
            f"cannot read the dead letter: {exc!r}", dependency="kafka"
        ) from None
    if letter is None or letter.dead_letter_id != dead_letter_id:
        raise _not_found("the dead letter is no longer on Kafka")
    await replay.resend(request.app[PRODUCER], letter)
    note = {"replayed_at": datetime.now(UTC).isoformat(), "operator_id": operator_id}
    log.info("operator %s replayed dead letter %s", operator_id, dead_letter_id)
    with contextlib.suppress(RedisError):  # the replay itself is done; the note is a courtesy
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(rm.REPLAYED_DEAD_LETTERS, dead_letter_id, orjson.dumps(note))
            pipe.publish(rm.ACTIVITY_CHANNEL, rm.dead_letter_notice(dead_letter_id))
            await pipe.execute()
    return _json({"status": "replayed", "source_topic": letter.source_topic, **note}, status=202)


# --- health and metrics ----------------------------------------------------------------------


def _poller_row(store_id: str, marketplace: str, raw: dict[bytes, bytes]) -> dict[str, Any]:
    """One store's poller status from its Redis hash (engine/shell/pollers/status.py)."""
    fields = {key.decode(): value.decode() for key, value in raw.items()}

    def number(name: str) -> float | None:
        value = fields.get(name)
        return None if value is None else float(value)

    return {
        "store_id": store_id,
        "marketplace": fields.get("marketplace", marketplace),
        "owner": fields.get("owner"),
        "last_success": number("last_success"),
        "last_error": fields.get("last_error"),
        "last_error_at": number("last_error_at"),
        "orders_seen": int(fields.get("orders_seen", 0)),
        "next_run": number("next_run"),
        "failures": int(fields.get("failures", 0)),
        "throttled": int(fields.get("throttled", 0)),
    }


async def poller_rows(app: web.Application) -> list[dict[str, Any]]:
    """Every polled store's status, from Redis (written by the worker's pollers)."""
    from engine.domain.polling import status_key

    stores = [store for store in app[CONFIG].stores.values() if store.polled]
    pipe = app[REDIS].pipeline(transaction=False)
    for store in stores:
        pipe.hgetall(status_key(store.id))
    replies = await pipe.execute() if stores else []
    return [
        _poller_row(store.id, store.marketplace.value, raw)
        for store, raw in zip(stores, replies, strict=True)
    ]


async def pollers(request: web.Request) -> web.Response:
    """`GET /api/pollers`: per polled store, last success and error, orders seen, next run."""
    rows = await poller_rows(request.app)
    return web.Response(body=orjson.dumps({"pollers": rows}), content_type="application/json")


async def vat_thresholds(request: web.Request) -> web.Response:
    """`GET /api/vat/thresholds`: per company and year, the EU distance sales counted toward
    the EUR 10,000 OSS threshold (docs/vat.md §3), newest year first."""
    rows = await threshold_rows(request.app)
    return web.Response(body=orjson.dumps({"thresholds": rows}), content_type="application/json")


async def threshold_rows(app: web.Application) -> list[dict[str, Any]]:
    """The OSS gauges per company and year, newest year first (also on the `stats` frame)."""
    raw = await app[REDIS].hgetall(rm.VAT_THRESHOLDS)
    rows = []
    for value in raw.values():
        document = orjson.loads(value)
        rows.append({k: v for k, v in document.items() if k not in {"schema", "type"}})
    rows.sort(key=lambda row: (-int(row.get("year", 0)), str(row.get("company_id"))))
    return rows


async def openapi(request: web.Request) -> web.FileResponse:
    return web.FileResponse(OPENAPI, headers={"Content-Type": "application/json"})


# --- counting webhooks -----------------------------------------------------------------------


def webhook_outcome(status: int, outcome: Outcome | None) -> str:
    """accepted, duplicate, rejected (the sender's fault) or failed (ours: it will retry)."""
    if status >= 500 or status == 409:
        return "failed"
    if status >= 400:
        return "rejected"
    return "duplicate" if outcome is Outcome.DUPLICATE else "accepted"


@web.middleware
async def count_webhooks(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count every webhook's answer per marketplace (`/webhooks/<marketplace>/<store>`)."""
    parts = request.path.split("/")
    if len(parts) < 3 or parts[1] != "webhooks":
        return await handler(request)
    marketplace = parts[2]
    meter = request.app[WEBHOOKS]
    counter = request.app[METRICS].webhooks
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        outcome = webhook_outcome(exc.status, None)
        meter.record(marketplace, outcome, int(time.time()))
        counter.labels(marketplace, outcome).inc()
        raise
    outcome = webhook_outcome(response.status, request.get(OUTCOME))
    meter.record(marketplace, outcome, int(time.time()))
    counter.labels(marketplace, outcome).inc()
    return response


async def flush_webhook_counts(app: web.Application) -> None:
    """Add this process's per-second webhook counts to the shared read model."""
    meter = app[WEBHOOKS]
    counts = meter.take_unflushed()
    if not counts:
        return
    try:
        async with app[REDIS].pipeline(transaction=False) as pipe:
            for (marketplace, outcome, second), n in counts.items():
                pipe.hincrby(rm.WEBHOOK_TOTALS, f"{marketplace}|{outcome}", n)
                if outcome == "accepted":
                    pipe.hincrby(rm.ingest_key(second), str(second), n)
                    pipe.expire(rm.ingest_key(second), rm.BUCKET_TTL_SECONDS)
            await pipe.execute()
    except RedisError as exc:
        log.warning("could not record webhook counts, keeping them: %s", exc)
        meter.unflushed.update(counts)


async def _flush_webhooks_forever(app: web.Application) -> None:
    # Off the request path: a webhook costs a counter increment, not a Redis round trip.
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        await flush_webhook_counts(app)


async def _consumer_lag(app: web.Application) -> None:
    """The worker group's lag per topic: end offsets minus committed offsets, every few s."""
    settings = app[CONFIG].kafka
    health = app[HEALTH]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None)
    started = False
    try:
        while True:
            try:
                if not started:
                    await admin.start()
                    await consumer.start()
                    started = True
                committed = await admin.list_consumer_group_offsets(CONSUMER_GROUP)
                ends = await consumer.end_offsets(list(committed)) if committed else {}
                lag: dict[str, int] = {}
                for tp, position in committed.items():
                    if position.offset >= 0:
                        behind = max(0, ends.get(tp, position.offset) - position.offset)
                        lag[tp.topic] = lag.get(tp.topic, 0) + behind
                health.lag_by_topic, health.checked_at, health.error = lag, time.time(), None
            except Exception as exc:  # the dashboard says "unavailable" rather than failing
                health.error = f"{type(exc).__name__}: {exc}"
                log.debug("consumer lag unavailable: %s", exc)
            await asyncio.sleep(LAG_SECONDS)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()


async def background(app: web.Application) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_flush_webhooks_forever(app)),
        asyncio.create_task(_consumer_lag(app)),
    ]
    yield
    await stop_tasks(tasks)
    await flush_webhook_counts(app)
