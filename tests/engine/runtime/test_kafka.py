"""KafkaBroker: a real single-node KRaft broker keeps its records across restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from engine.dev.runtime import (
    KAFKA_VERSION,
    KafkaBroker,
    default_cache_root,
    free_port,
    java_available,
    kafka_classpath,
    maven_available,
    port_open,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not java_available(), reason="Java 17+ is not on PATH"),
]

TOPIC = "runtime-test"


async def produce(bootstrap: str, count: int, first: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(first, first + count):
            await producer.send(TOPIC, key=b"k%d" % i, value=b"v%d" % i, partition=i % 4)
        await producer.flush()
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, count: int) -> set[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(4)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    values.extend(r.value for r in records if r.value is not None)
        assert len(values) == count
        return set(values)
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def jars() -> Path:
    cached = default_cache_root() / f"kafka-{KAFKA_VERSION}" / "libs.complete"
    if not maven_available() and not cached.is_file():
        pytest.skip("mvn is not on PATH and Kafka's jars are not cached")
    return kafka_classpath()


def test_kafka_keeps_records_across_restarts(jars: Path, tmp_path: Path) -> None:
    assert (jars / "kafka_2.13-4.4.0.jar").is_file()
    port = free_port()
    data_dir = tmp_path / "kafka"
    expected = {b"v%d" % i for i in range(100)}

    broker = KafkaBroker(data_dir, port=port, controller_port=free_port())
    started = time.monotonic()
    broker.start()
    first_start = time.monotonic() - started
    try:
        assert broker.bootstrap == f"127.0.0.1:{port}"
        assert (data_dir / "log" / "meta.properties").is_file()
        asyncio.run(produce(broker.bootstrap, 100))
        assert asyncio.run(consume_all(broker.bootstrap, 100)) == expected
    finally:
        started = time.monotonic()
        broker.stop()
        stop_time = time.monotonic() - started
    assert not port_open("127.0.0.1", port)
    assert stop_time < 30

    # A new broker object on the same data dir: same cluster, same records.
    again = KafkaBroker(data_dir, port=port)
    assert again.controller_port == broker.controller_port
    meta_before = (data_dir / "log" / "meta.properties").read_text()
    with again:
        assert (data_dir / "log" / "meta.properties").read_text() == meta_before
        assert asyncio.run(consume_all(again.bootstrap, 100)) == expected
        # A crash (SIGKILL) loses nothing that was acknowledged either. (The restart waits
        # ~9 s: the dead incarnation's broker session has to expire first.)
        asyncio.run(produce(again.bootstrap, 100, first=100))
        again.kill()
        assert not again.alive()
        again.start()
        assert asyncio.run(consume_all(again.bootstrap, 200)) == {b"v%d" % i for i in range(200)}
        # A broker that cannot shut down (here: frozen) does not make stop() hang.
        assert again.process is not None
        os.kill(again.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        again.stop(timeout=2.0)
        assert time.monotonic() - started < 5.0
    assert not again.alive()
    assert (data_dir / "server.log").stat().st_size > 0
    print(f"kafka first start {first_start:.1f} s, graceful stop {stop_time:.1f} s")


@pytest.mark.skipif(not maven_available(), reason="mvn is not on PATH")
def test_kafka_classpath_downloads_once_into_a_fresh_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINKEL_CACHE_DIR", str(tmp_path))
    assert default_cache_root() == tmp_path
    version_dir = tmp_path / f"kafka-{KAFKA_VERSION}"
    # Left over from an interrupted run without the marker: must not count as complete.
    (version_dir / "libs").mkdir(parents=True)
    (version_dir / "libs" / "half-downloaded.jar").write_bytes(b"")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: kafka_classpath(), range(2)))

    libs = version_dir / "libs"
    assert results == [libs, libs]
    assert (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()
    assert not (libs / "half-downloaded.jar").exists()
    assert (version_dir / "libs.complete").is_file()
    assert not list(version_dir.glob("libs.tmp-*"))
    started = time.monotonic()
    assert kafka_classpath(tmp_path) == libs
    assert time.monotonic() - started < 0.1
