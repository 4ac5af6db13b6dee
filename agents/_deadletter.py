"""Sending what cannot be processed to `winkel.deadletter`, keeping the original bytes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from engine import metrics
from models.codec import encode_dead_letter
from models.raw import DeadLetter

log = logging.getLogger(__name__)


async def send_dead_letter(dead_letter_topic: Any, event: Any, reason: str) -> None:
    """Dead-letter the faust `event`; its id is its position, so a re-send is recognisable."""
    message = event.message
    letter = DeadLetter(
        dead_letter_id=f"{message.topic}:{message.partition}:{message.offset}",
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        reason=reason,
        failed_at=datetime.now(UTC),
        original=event.value,
    )
    log.warning("dead-lettered %s: %s", letter.dead_letter_id, reason)
    await dead_letter_topic.send(key=message.key, value=encode_dead_letter(letter))
    metrics.DEAD_LETTERS.inc()
