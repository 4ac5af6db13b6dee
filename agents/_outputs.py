"""A batch's records, sent straight to the app's producer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

#: (topic, key, value): one record an agent sends
Record = tuple[Any, bytes, bytes]


async def send_all(app: Any, records: Iterable[Record]) -> None:
    """Send `records` in order and wait until the broker has every one (acks=all).

    Through faust's producer (`ProducerT.send`), not `Topic.send`: the same partition (the
    producer's default partitioner, by key, as `Topic.send` leaves it) and the same bytes,
    without the per-record bookkeeping a topic adds (a future message, sensor entries, the
    attachment check), which took more than half of each send's time at 300 webhooks/s
    (py-spy), and never held until an offset's commit (faust's attachments), which a batch
    that must know its records arrived cannot wait for.
    """
    producer = app.producer
    pending = [
        await producer.send(
            topic.get_topic_name(), key, value, partition=None, timestamp=None, headers=None
        )
        for topic, key, value in records
    ]
    await asyncio.gather(*pending)
