"""Dead-letter replay, shared by `winkel replay` and the operator API.

Replaying sends a dead letter's original bytes back to its source topic under its original key,
so the agent that refused it tries again (once the cause is fixed). Processing downstream is
idempotent, so replaying a letter twice is harmless.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import TopicPartition

from engine import kafka, topics
from engine.config import KafkaSettings
from engine.producer import Sender
from models.codec import decode_dead_letter
from models.raw import DeadLetter


async def dead_letters(settings: KafkaSettings) -> AsyncIterator[DeadLetter]:
    """Every dead letter on the topic up to its current end."""
    async for record in kafka.records_to_end(settings, topics.DEAD_LETTER):
        yield decode_dead_letter(record.value)


async def dead_letter_at(settings: KafkaSettings, partition: int, offset: int) -> DeadLetter | None:
    """The dead letter stored at `partition`/`offset` of the dead-letter topic, if any."""
    consumer = kafka.reader(settings)
    await consumer.start()
    try:
        tp = TopicPartition(topics.DEAD_LETTER, partition)
        if partition not in await kafka.partitions(settings, topics.DEAD_LETTER):
            return None
        consumer.assign([tp])
        if offset >= (await consumer.end_offsets([tp]))[tp]:
            return None
        consumer.seek(tp, offset)
        batches = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        records = batches.get(tp, [])
        if not records or records[0].offset != offset:
            return None  # compacted or deleted by retention
        return decode_dead_letter(records[0].value)
    finally:
        await consumer.stop()


async def resend(producer: Sender, letter: DeadLetter) -> None:
    """Send the original back to where it came from; returns once the broker has it."""
    await producer.send_and_wait(letter.source_topic, letter.original, key=letter.key)


async def replay_all(producer: Sender, settings: KafkaSettings, only: set[str]) -> int:
    """Replay every dead letter (or those whose ids are in `only`); returns how many."""
    replayed = 0
    async for letter in dead_letters(settings):
        if only and letter.dead_letter_id not in only:
            continue
        await resend(producer, letter)
        replayed += 1
    return replayed
