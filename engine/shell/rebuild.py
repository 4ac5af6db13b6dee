"""Rebuilding the Redis read model from Kafka, after Redis lost it (`winkel rebuild-readmodel`).

Order summaries come from the orders table's changelog: it is compacted, so it holds every
order's latest state however old the order is, and the summary is made by the same function
the orders agent uses. Audit timelines, triggers, dead letters and the OSS gauges come from
their own topics, as far back as those topics' retention reaches. Every write is one the
projection agents make (idempotent, never rolling a newer value back), so a rebuild may run
while the engine runs, and running it twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import redis.asyncio as aioredis
from aiokafka import ConsumerRecord

from engine.domain import topics
from engine.domain.config import Config
from engine.domain.summary import summarise
from engine.shell import kafka
from engine.shell import readmodel as rm
from engine.shell.readmodel_writer import ReadModelWriter
from models.codec import DecodeError, decode_state, encode_summary

log = logging.getLogger(__name__)

#: Rows per Redis pipeline, as in the projection agents.
BATCH_SIZE = 500

Row = TypeVar("Row")


@dataclass
class RebuildReport:
    orders: int = 0
    audit_entries: int = 0
    triggers: int = 0
    dead_letters: int = 0
    threshold_gauges: int = 0
    #: Records the read model cannot use (kept on Kafka; the projection skips them too).
    skipped: list[str] = field(default_factory=list)

    def text(self) -> str:
        return (
            f"read model rebuilt: {self.orders} orders, {self.audit_entries} audit entries, "
            f"{self.triggers} triggers, {self.dead_letters} dead letters, "
            f"{self.threshold_gauges} OSS gauge updates; {len(self.skipped)} records skipped"
        )


def _where(record: ConsumerRecord[bytes, bytes]) -> str:
    return f"{record.topic}:{record.partition}:{record.offset}"


async def _in_batches(
    rows: AsyncIterator[Row], write: Callable[[Sequence[Row]], Awaitable[None]]
) -> int:
    batch: list[Row] = []
    written = 0
    async for row in rows:
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            await write(batch)
            written, batch = written + len(batch), []
    if batch:
        await write(batch)
        written += len(batch)
    return written


async def _latest_states(config: Config) -> dict[bytes, bytes]:
    """The orders table as its changelog leaves it: the last value per order, deletions gone."""
    latest: dict[bytes, bytes | None] = {}
    async for record in kafka.records_to_end(config.kafka, topics.ORDERS_CHANGELOG):
        if record.key is not None:
            latest[record.key] = record.value
    return {key: value for key, value in latest.items() if value is not None}


async def _summaries(config: Config, report: RebuildReport) -> AsyncIterator[rm.SummaryRow]:
    for key, value in (await _latest_states(config)).items():
        try:
            state = decode_state(value)
        except DecodeError as exc:
            report.skipped.append(f"{topics.ORDERS_CHANGELOG} key {key!r}: {exc}")
            continue
        store = config.store(state.ref.store_id)
        summary = None if store is None else summarise(state, store)
        row = None if summary is None else rm.summary_row(encode_summary(summary))
        if row is not None:
            yield row


async def _projected(
    config: Config,
    topic: str,
    project: Callable[[ConsumerRecord[bytes, bytes]], Row | None],
    report: RebuildReport,
) -> AsyncIterator[Row]:
    """`project` applied to every record of `topic`; what it cannot use is reported."""
    async for record in kafka.records_to_end(config.kafka, topic):
        if record.value is None:
            continue
        try:
            row = project(record)
        except rm.NotProjectable as exc:
            report.skipped.append(f"{_where(record)}: {exc}")
            continue
        if row is not None:
            yield row


def _audit(record: ConsumerRecord[bytes, bytes]) -> tuple[rm.TimelineItem, float]:
    # Kafka's timestamp dates the decision, as in the live projection (milliseconds here).
    return rm.audit_item(record.value), record.timestamp / 1000


def _trigger(record: ConsumerRecord[bytes, bytes]) -> rm.TimelineItem:
    return rm.trigger_item(record.value)


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> rm.DeadLetterRow:
    return rm.dead_letter_row(record.value, record.partition, record.offset)


def _threshold(record: ConsumerRecord[bytes, bytes]) -> rm.ThresholdRow | None:
    return rm.threshold_row(record.value)


async def rebuild_read_model(config: Config, client: aioredis.Redis) -> RebuildReport:
    """Write everything Kafka still holds into the read model at `client`."""
    writer = ReadModelWriter(client)
    report = RebuildReport()
    report.orders = await _in_batches(_summaries(config, report), writer.summaries)
    report.audit_entries = await _in_batches(
        _projected(config, topics.AUDIT, _audit, report), writer.audit
    )
    for topic in (topics.INVOICE_TRIGGERS, topics.CREDIT_NOTE_TRIGGERS):
        report.triggers += await _in_batches(
            _projected(config, topic, _trigger, report), writer.triggers
        )
    report.dead_letters = await _in_batches(
        _projected(config, topics.DEAD_LETTER, _dead_letter, report), writer.dead_letters
    )
    report.threshold_gauges = await _in_batches(
        _projected(config, topics.ANALYTICS, _threshold, report), writer.thresholds
    )
    for reason in report.skipped:
        log.warning("rebuild skipped %s", reason)
    return report
