"""Engine output -> the Redis read model and its live channels (`engine/shell/readmodel.py`).

Five agents, one per topic: order summaries (`winkel.analytics`), audit entries, invoice and
credit-note triggers, dead letters. Each takes records in small batches and writes a batch with
one Redis pipeline, so the per-event cost is a fraction of a round trip. Every write is
idempotent (ids as hash fields; counters move only when an order changes placement), so the
at-least-once redelivery after a crash or rebalance leaves the read model as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine.shell import readmodel as rm
from engine.shell import redisconn
from engine.shell.readmodel_writer import ReadModelWriter

if TYPE_CHECKING:
    from agents.wiring import Wiring

log = logging.getLogger(__name__)

#: Up to this many records per Redis pipeline ...
BATCH_SIZE = 500
#: ... gathered for at most this long (bounds the added latency of the live view).
BATCH_SECONDS = 0.05


def _parsed(events: Sequence[Any], parse: Callable[[Any], Any], what: str) -> list[Any]:
    """Parse each event, skipping (with a log line) what the read model cannot use."""
    parsed = []
    for event in events:
        try:
            item = parse(event)
        except rm.NotProjectable as exc:
            log.warning("skipping %s record at %s: %s", what, _where(event), exc)
            continue
        if item is not None:
            parsed.append(item)
    return parsed


def _where(event: Any) -> str:
    message = event.message
    return f"{message.topic}:{message.partition}:{message.offset}"


def _timestamp(event: Any) -> float:
    """The record's Kafka timestamp in epoch seconds (faust's messages already carry seconds)."""
    return float(event.message.timestamp)


def register(wiring: Wiring) -> None:
    # Bounded waits: a Redis outage is a retried error, not a batch hanging on a dead socket.
    writer = ReadModelWriter(redisconn.client(wiring.config.redis_url, reply_seconds=5.0))
    app = wiring.app

    @app.agent(wiring.analytics, name="projections")
    async def project_summaries(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            rows = _parsed(events, lambda e: rm.summary_row(e.value), "analytics")
            if rows:
                await writer.summaries(rows)
            gauges = _parsed(events, lambda e: rm.threshold_row(e.value), "analytics")
            if gauges:
                await writer.thresholds(gauges)

    @app.agent(wiring.audit, name="projections-audit")
    async def project_audit(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            items = _parsed(events, lambda e: (rm.audit_item(e.value), _timestamp(e)), "audit")
            if items:
                await writer.audit(items)

    async def project_triggers(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            items = _parsed(events, lambda e: rm.trigger_item(e.value), "trigger")
            if items:
                await writer.triggers(items)

    app.agent(wiring.invoice_triggers, name="projections-invoices")(project_triggers)
    app.agent(wiring.credit_note_triggers, name="projections-credit-notes")(project_triggers)

    @app.agent(wiring.dead_letter, name="projections-deadletters")
    async def project_dead_letters(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            rows = _parsed(
                events,
                lambda e: rm.dead_letter_row(e.value, e.message.partition, e.message.offset),
                "dead letter",
            )
            if rows:
                await writer.dead_letters(rows)
