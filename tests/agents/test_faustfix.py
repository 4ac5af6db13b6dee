"""agents/faustfix.py's patches take hold where faust builds its worker consumer (no broker:
an aiokafka consumer connects only when it starts)."""

from __future__ import annotations

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from agents import faustfix


async def test_the_worker_consumer_waits_briefly_for_records_that_have_not_come() -> None:
    faustfix.apply()
    faustfix.apply()  # idempotent: one wrapper, not two
    create = AIOKafkaConsumerThread._create_worker_consumer
    assert not getattr(create.__wrapped__, faustfix._PATCHED, False)
    app = faust.App("faustfix-test", broker="kafka://127.0.0.1:1", store="memory://")
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == faustfix.FETCH_MAX_WAIT_MS < 1_500
    finally:
        await consumer.stop()
