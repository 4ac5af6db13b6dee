"""The Redis read model: key names shared by the projection agent (writer) and the web (reader),
and the pure shaping of the documents it holds.

Everything here is re-derivable from Kafka, so the layout favours cheap reads for the dashboard:

| key | type | holds |
|---|---|---|
| `winkel:orders` | hash | order uuid -> order summary JSON (the `order` of `order.summary`) |
| `winkel:orders:recent` | zset | order uuid scored by its last change (epoch s) |
| `winkel:orders:placement` | hash | order uuid -> `marketplace|store|stage` it is counted under |
| `winkel:orders:counts` | hash | `marketplace|stage` -> number of orders |
| `winkel:stage:<stage>` | zset | order uuid scored by when it entered the stage (`stage_since`) |
| `winkel:marketplace:<m>`, `winkel:store:<id>` | zset | order uuid scored by its last change |
| `winkel:sort:<column>` | zset | order uuid scored by the list column (`SORT_COLUMNS`) |
| `winkel:idx:<filter>:<value>` | set | order uuids with that filter value (`SET_FILTERS`) |
| `winkel:waiting:<reason>` | zset | order uuid scored by when it began to wait (domain/stuck.py) |
| `winkel:search` | zset | `<token> <uuid>`, all scored 0: prefix search by ZRANGEBYLEX |
| `winkel:orders:indexed` | hash | order uuid -> the index entries it is in (JSON), to move it |
| `winkel:order:<uuid>:audit` | hash | audit `entry_id` -> audit entry JSON |
| `winkel:order:<uuid>:triggers` | hash | `trigger_id` -> trigger JSON |
| `winkel:deadletters` | hash | `dead_letter_id` -> dead-letter row JSON (original as a preview) |
| `winkel:deadletters:recent` | zset | `dead_letter_id` scored by `failed_at` |
| `winkel:deadletters:replayed` | hash | `dead_letter_id` -> replay note JSON |
| `winkel:ingest:<minute>` | hash | epoch second -> webhooks accepted (expires) |
| `winkel:latency:<minute>` | hash | `<second>|n`, `<second>|ms`: webhook-to-decision samples |
| `winkel:webhooks` | hash | `marketplace|outcome` -> webhooks since the read model began |

Entries keyed by their own ids (audit `entry_id`, `trigger_id`, `dead_letter_id`) make every write
idempotent: a replayed record lands on the same field and is neither counted nor announced twice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from engine.domain.stuck import waiting_for
from engine.domain.workbench import SORTS
from models.codec import parse_utc
from models.exceptions import InputError

ORDERS_HASH = "winkel:orders"
RECENT_ORDERS = "winkel:orders:recent"
ORDER_PLACEMENT = "winkel:orders:placement"
ORDER_COUNTS = "winkel:orders:counts"
UPDATES_CHANNEL = "winkel:orders:updates"  # pub/sub: one summary JSON per change
ACTIVITY_CHANNEL = "winkel:activity"  # pub/sub: timeline and dead-letter notices (JSON)
DEAD_LETTERS = "winkel:deadletters"
RECENT_DEAD_LETTERS = "winkel:deadletters:recent"
REPLAYED_DEAD_LETTERS = "winkel:deadletters:replayed"
WEBHOOK_TOTALS = "winkel:webhooks"
DELIVERY_PREFIX = "winkel:delivery"  # webhook dedupe keys
#: Written with the read model's first row and by every refill; a read model without it was
#: lost (a new Redis, a flush) and is refilled from Kafka by the worker (engine/selfheal.py).
#: Its name carries the layout's version: a read model of an older layout (2: the list
#: indexes) is refilled once after an upgrade, which writes the new indexes for every order.
EPOCH_KEY = "winkel:readmodel:epoch:2"
#: Present while the worker refills the read model (the dashboard says "rebuilding").
REBUILDING_KEY = "winkel:readmodel:rebuilding"
#: The worker's own report: Kafka and Redis as it sees them, refreshed every few seconds.
WORKER_HEALTH = "winkel:engine:worker"

#: Per-second buckets are kept this long; the dashboard charts the last few minutes of them.
BUCKET_TTL_SECONDS = 2 * 3600
#: Characters of a dead letter's original kept in Redis; the full bytes stay on Kafka.
PREVIEW_CHARS = 600

#: Stages in lifecycle order (docs/topics.md); unknown future stages are shown after these.
STAGES = (
    "new",
    "paid",
    "partially_shipped",
    "shipped",
    "invoiced",
    "cancelled",
    "return_requested",
    "returned",
    "credited",
)


#: Which orders are being moved in the list indexes: uuid -> the entries it is in (JSON).
INDEXED = "winkel:orders:indexed"
SEARCH = "winkel:search"
#: Temporary keys of list queries live only inside one Lua call; the prefix keeps them apart.
TEMP_PREFIX = "winkel:tmp:"

#: List columns sortable server-side (engine/domain/workbench.py); `updated` is
#: `RECENT_ORDERS`, the others `sort_key`.
SORT_COLUMNS = SORTS
#: Filters held as plain sets (`filter_key`); marketplace, store and stage use their zsets.
SET_FILTERS = (
    "company",
    "country",
    "payment_status",
    "fulfilment_status",
    "invoice_status",
    "return_status",
)
#: The summary field behind each filter / text column.
SUMMARY_FIELDS = {
    "marketplace": "marketplace",
    "store": "store_id",
    "company": "company_id",
    "country": "country",
    "stage": "stage",
    "payment_status": "payment_status",
    "fulfilment_status": "fulfilment_status",
    "invoice_status": "invoice_status",
    "return_status": "return_status",
    "name": "name",
    "customer": "customer",
}
#: Characters of a text column that decide its sort order (6 bits each: 48 < 53 bits).
TEXT_SORT_CHARS = 8


def sort_key(column: str) -> str:
    return RECENT_ORDERS if column == "updated" else f"winkel:sort:{column}"


def filter_key(name: str, value: str) -> str:
    return f"winkel:idx:{name}:{value}"


def waiting_key(reason: str) -> str:
    return f"winkel:waiting:{reason}"


def _folded(text: str) -> str:
    """Case- and accent-insensitive form (`Ö` -> `o`), for sorting and searching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _char_code(char: str) -> int:
    if char.isdigit() and char.isascii():
        return 2 + ord(char) - ord("0")
    if "a" <= char <= "z":
        return 12 + ord(char) - ord("a")
    if char.isalnum():
        return 38 + ord(char) % 26  # other scripts after the latin letters, roughly grouped
    return 1  # space and punctuation before digits and letters


def text_score(text: str | None) -> float:
    """An order-preserving number for the first `TEXT_SORT_CHARS` folded characters; beyond
    them (and for equal prefixes) the list orders by uuid."""
    folded = _folded(text or "")
    score = 0
    for position in range(TEXT_SORT_CHARS):
        code = _char_code(folded[position]) if position < len(folded) else 0
        score = score * 64 + code
    return float(score)


_TOKEN_PARTS = re.compile(r"[^\w]+")


def search_tokens(order: dict[str, Any]) -> set[str]:
    """The words a list search (`q`) finds the order by, each by any prefix: order name and
    number, external order id, customer, SKUs and the uuid; whole values and their parts."""
    values = [
        order.get("name"),
        order.get("external_order_id"),
        order.get("customer"),
        order.get("order_uuid"),
        *(line.get("sku") for line in order.get("lines") or [] if isinstance(line, dict)),
    ]
    tokens: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        folded = _folded(value.strip())
        tokens.update(folded.split())
        tokens.update(part for part in _TOKEN_PARTS.split(folded) if part)
    return {token[:64] for token in tokens}


def search_words(text: str) -> list[str]:
    """A search text as the prefixes it must all match (folded like the tokens)."""
    return [word[:64] for word in _folded(text).split() if word]


def _optional_epoch(raw: object, what: str) -> float | None:
    return None if raw is None else _epoch(raw, what)


def _money_score(raw: object) -> float:
    try:
        return float(str(raw))
    except ValueError:
        return 0.0


def list_index(order: dict[str, Any], updated: float, stage_since: float) -> bytes:
    """The list indexes one summary belongs in, as the writer's Lua script reads them:
    `sorts` (zset, score), `sets` (filter sets), `waiting` (zset, score), `search` members.
    Scores are strings: Lua would round numbers to 14 digits."""
    ordered_at = _optional_epoch(order.get("ordered_at"), "ordered_at")
    sorts = {
        "ordered_at": updated if ordered_at is None else ordered_at,
        "stage_since": stage_since,
        "total_gross": _money_score(order.get("total_gross")),
        "name": text_score(order.get("name")),
        "customer": text_score(order.get("customer")),
        "marketplace": text_score(order.get("marketplace")),
        "store": text_score(order.get("store_id")),
        "country": text_score(order.get("country")),
        "stage": float(stage_order(str(order.get("stage")))),
    }
    sets = [
        filter_key(name, str(order[SUMMARY_FIELDS[name]]))
        for name in SET_FILTERS
        if order.get(SUMMARY_FIELDS[name])
    ]
    waiting = []
    try:
        found = waiting_for(order)
    except ValueError as exc:
        raise NotProjectable(str(exc)) from None
    if found is not None:
        waiting.append([waiting_key(found.reason), repr(found.since.timestamp())])
    uuid = order["order_uuid"]
    return orjson.dumps(
        {
            "sorts": [[sort_key(column), repr(score)] for column, score in sorts.items()],
            "sets": sets,
            "waiting": waiting,
            "search": sorted(f"{token} {uuid}" for token in search_tokens(order)),
        }
    )


def delivery_key(marketplace: str, store_id: str, delivery_id: str) -> str:
    return f"{DELIVERY_PREFIX}:{marketplace}:{store_id}:{delivery_id}"


def stage_key(stage: str) -> str:
    return f"winkel:stage:{stage}"


def marketplace_key(marketplace: str) -> str:
    return f"winkel:marketplace:{marketplace}"


def store_key(store_id: str) -> str:
    return f"winkel:store:{store_id}"


def audit_key(order_uuid: str) -> str:
    return f"winkel:order:{order_uuid}:audit"


def triggers_key(order_uuid: str) -> str:
    return f"winkel:order:{order_uuid}:triggers"


def ingest_key(epoch_second: int) -> str:
    return f"winkel:ingest:{epoch_second // 60}"


def latency_key(epoch_second: int) -> str:
    return f"winkel:latency:{epoch_second // 60}"


class NotProjectable(InputError, ValueError):
    """A record the read model cannot use (wrong shape); it is skipped, never retried."""


# --- what the projection writes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummaryRow:
    order_uuid: str
    marketplace: str
    store_id: str
    stage: str
    stage_since: float  # epoch s; the last change when the summary does not say
    updated: float  # epoch s of the order's last change
    document: bytes  # the summary itself, as stored and published
    #: The list indexes it belongs in (`list_index`).
    index: bytes = b"{}"


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """An audit entry or trigger of one order, stored under its own id."""

    order_uuid: str
    item_id: str
    document: bytes
    #: When the webhook that caused it reached the engine (epoch s), where the document says.
    received_at: float | None


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    dead_letter_id: str
    failed_at: float
    document: bytes


#: OSS threshold gauges: hash `company:year` -> the latest `vat.threshold` analytics document,
#: and beside it the count (`sales_counted`) that document reached, so a replay never rolls a
#: gauge back (docs/vat.md §3).
VAT_THRESHOLDS = "winkel:vat:thresholds"
VAT_THRESHOLD_COUNTS = "winkel:vat:thresholds:counted"


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    field: str  # company:year
    counted: int
    document: bytes


def threshold_row(value: bytes) -> ThresholdRow | None:
    """The gauge row of a `vat.threshold` analytics record; None for any other analytics."""
    document = _object(value)
    if document.get("type") != "vat.threshold":
        return None
    year, counted = document.get("year"), document.get("sales_counted")
    if not isinstance(year, int) or not isinstance(counted, int):
        raise NotProjectable("vat.threshold without year or sales_counted")
    return ThresholdRow(f"{_text(document, 'company_id')}:{year}", counted, value)


def _object(value: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise NotProjectable(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise NotProjectable("not a JSON object")
    return document


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise NotProjectable(f"{key} missing or not text")
    return value


def _epoch(raw: object, what: str) -> float:
    if not isinstance(raw, str):
        raise NotProjectable(f"{what} missing or not text")
    try:
        return parse_utc(raw, what).timestamp()
    except ValueError as exc:
        raise NotProjectable(str(exc)) from None


def summary_row(value: bytes) -> SummaryRow | None:
    """The row of a `winkel.analytics` record; None for analytics that are no order summary."""
    document = _object(value)
    if document.get("type") != "order.summary":
        return None
    order = document.get("order")
    if not isinstance(order, dict):
        raise NotProjectable("order.summary without an order")
    updated = _epoch(order.get("updated_at"), "updated_at")
    since = order.get("stage_since")
    stage_since = updated if since is None else _epoch(since, "stage_since")
    return SummaryRow(
        order_uuid=_text(order, "order_uuid"),
        marketplace=_text(order, "marketplace"),
        store_id=_text(order, "store_id"),
        stage=_text(order, "stage"),
        stage_since=stage_since,
        updated=updated,
        # `updated`, `ordered_at` and `fees` on every row the list, the detail and /ws show.
        document=orjson.dumps(
            {"ordered_at": None, "fees": [], **order, "updated": order.get("updated_at")}
        ),
        index=list_index(order, updated, stage_since),
    )


def _timeline_item(value: bytes, id_field: str) -> TimelineItem:
    document = _object(value)
    received = document.get("received_at")
    return TimelineItem(
        order_uuid=_text(document, "order_uuid"),
        item_id=_text(document, id_field),
        document=value,
        received_at=None if received is None else _epoch(received, "received_at"),
    )


def audit_item(value: bytes) -> TimelineItem:
    return _timeline_item(value, "entry_id")


def trigger_item(value: bytes) -> TimelineItem:
    return _timeline_item(value, "trigger_id")


def dead_letter_owner(original: str) -> dict[str, str | None]:
    """Whose a dead letter is, where its original says (a raw delivery names its store and
    marketplace, an order event its `ref`, a command its order): `store_id`, `marketplace`,
    `order_uuid`, `external_order_id`, None where unknown."""
    owner: dict[str, str | None] = dict.fromkeys(
        ("store_id", "marketplace", "order_uuid", "external_order_id")
    )
    try:
        document = orjson.loads(original) if original else None
    except orjson.JSONDecodeError:
        return owner
    if not isinstance(document, dict):
        return owner
    ref = document.get("ref")
    sources = [ref, document] if isinstance(ref, dict) else [document]
    names = {
        "store_id": ("store_id",),
        "marketplace": ("marketplace",),
        "order_uuid": ("order_uuid", "uuid"),
        "external_order_id": ("external_order_id",),
    }
    for key, candidates in names.items():
        for source in sources:
            found = next((source[c] for c in candidates if isinstance(source.get(c), str)), None)
            if found:
                owner[key] = found
                break
    return owner


def dead_letter_row(value: bytes, partition: int, offset: int) -> DeadLetterRow:
    """A dead letter cut down for the dashboard, remembering where its full bytes are on Kafka."""
    document = _object(value)
    original = document.get("original")
    data = original.get("data", "") if isinstance(original, dict) else ""
    key = document.get("key")
    dead_letter_id = _text(document, "dead_letter_id")
    row = {
        "dead_letter_id": dead_letter_id,
        "source_topic": _text(document, "source_topic"),
        "reason": _text(document, "reason"),
        "failed_at": document.get("failed_at"),
        "key": key.get("data") if isinstance(key, dict) else None,
        "original_encoding": original.get("encoding") if isinstance(original, dict) else None,
        "original_preview": data[:PREVIEW_CHARS],
        "original_chars": len(data),
        # Where the dead letter itself is, so one can be replayed without scanning the topic.
        "location": {"partition": partition, "offset": offset},
        **dead_letter_owner(data if isinstance(data, str) else ""),
    }
    return DeadLetterRow(
        dead_letter_id=dead_letter_id,
        failed_at=_epoch(document.get("failed_at"), "failed_at"),
        document=orjson.dumps(row),
    )


def timeline_notice(kind: str, order_uuid: str, item_id: str) -> bytes:
    """What `ACTIVITY_CHANNEL` says when an order's timeline or triggers grew."""
    return orjson.dumps({"kind": kind, "order_uuid": order_uuid, "id": item_id})


def dead_letter_notice(dead_letter_id: str) -> bytes:
    return orjson.dumps({"kind": "deadletter", "id": dead_letter_id})


def latency_fields(item: TimelineItem, produced_at: float) -> tuple[str, str, int] | None:
    """The latency bucket a newly seen item adds to: (key, second, milliseconds), if known.

    `produced_at` is the Kafka timestamp of the record, i.e. when the orders agent decided.
    """
    if item.received_at is None:
        return None
    second = int(produced_at)
    return latency_key(second), str(second), max(0, round((produced_at - item.received_at) * 1000))


# --- what the web reads ----------------------------------------------------------------------


def _text_of(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def stage_order(stage: str) -> int:
    """Position of a stage for display; stages added later sort after the known ones."""
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def split_counts(raw: dict[Any, Any]) -> dict[str, dict[str, int]]:
    """`winkel:orders:counts` (`marketplace|stage` -> n) as marketplace -> stage -> n."""
    counts: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        marketplace, _, stage = _text_of(field).partition("|")
        number = int(value)
        if number > 0:
            counts.setdefault(marketplace, {})[stage] = number
    return counts


def per_second(hashes: list[dict[Any, Any]]) -> dict[int, int]:
    """Merge per-minute bucket hashes (epoch second -> n) into one mapping."""
    merged: dict[int, int] = {}
    for buckets in hashes:
        for field, value in buckets.items():
            merged[int(_text_of(field))] = merged.get(int(_text_of(field)), 0) + int(value)
    return merged


def latency_samples(hashes: list[dict[Any, Any]]) -> dict[int, tuple[int, int]]:
    """Latency buckets (`<second>|n`, `<second>|ms`) as second -> (samples, total ms)."""
    samples: dict[int, list[int]] = {}
    for buckets in hashes:
        for field, value in buckets.items():
            second, _, kind = _text_of(field).partition("|")
            slot = samples.setdefault(int(second), [0, 0])
            slot[0 if kind == "n" else 1] += int(value)
    return {second: (n, ms) for second, (n, ms) in samples.items()}


def minute_keys(key: Any, now: int, window: int) -> list[str]:
    """The per-minute bucket keys covering the `window` seconds up to `now`."""
    return [key(minute * 60) for minute in range((now - window) // 60, now // 60 + 1)]


def _steps(now: int, window: int, step: int) -> range:
    """Starts of the aligned steps covering `window` seconds up to and including `now`."""
    first = now - window
    return range(first - first % step, now + 1, step)


def rate_series(counts: dict[int, int], now: int, window: int, step: int) -> list[list[float]]:
    """[[step start, events per second], ...]; the current step is averaged over its elapsed
    seconds so the newest point is live, not a partial sum."""
    return [
        [
            start,
            sum(counts.get(s, 0) for s in range(start, start + step)) / min(step, now - start + 1),
        ]
        for start in _steps(now, window, step)
    ]


def latency_series(
    samples: dict[int, tuple[int, int]], now: int, window: int, step: int
) -> list[list[float | None]]:
    """[[step start, mean ms or None], ...] over the `window` seconds up to `now`."""
    points: list[list[float | None]] = []
    for start in _steps(now, window, step):
        n = ms = 0
        for second in range(start, start + step):
            count, total = samples.get(second, (0, 0))
            n, ms = n + count, ms + total
        points.append([start, round(ms / n, 1) if n else None])
    return points


def timeline(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit entries in the order they happened (same instant: in lifecycle order)."""
    return sorted(
        entries,
        key=lambda e: (str(e.get("at", "")), stage_order(str(e.get("to_stage", "")))),
    )
