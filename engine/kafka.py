"""Kafka plumbing shared by the web process, the worker and the CLI (imperative shell)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from engine import topics
from engine.config import KafkaSettings

log = logging.getLogger(__name__)

#: Largest record the engine writes: a raw delivery (bodies up to the web's 2 MiB limit, JSON
#: escaped) or a dead letter wrapping one. Kafka's default of 1 MiB would refuse them.
MAX_RECORD_BYTES = 8 * 1024 * 1024

#: Copies of every topic on a cluster of at least this many brokers, and the copies an
#: acks=all write waits for: any one broker may die (or restart) without losing or stopping it.
CLUSTER_REPLICAS = 3
CLUSTER_MIN_INSYNC = 2


def replication_for(brokers: int) -> tuple[int, dict[str, str]]:
    """The replication factor and topic configs for a cluster of `brokers` brokers.

    Below three brokers every topic has one copy (a development broker); from three on,
    three copies of which two must have each acknowledged write.
    """
    if brokers >= CLUSTER_REPLICAS:
        return CLUSTER_REPLICAS, {"min.insync.replicas": str(CLUSTER_MIN_INSYNC)}
    return 1, {}


async def ensure_topics(settings: KafkaSettings, patience: float = 60.0) -> int:
    """Create every contract topic with the configured partition count (existing ones stay),
    replicated as the cluster's size allows (`replication_for`); returns that replication
    factor, which faust's own topics use too.

    Waits up to `patience` seconds for the broker, which may still be starting.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        cluster = await admin.describe_cluster()
        replicas, replica_configs = replication_for(len(cluster.get("brokers") or []))
        existing = set(await admin.list_topics())
        wanted: dict[str, dict[str, str]] = {name: {} for name in topics.ALL}
        wanted.update({name: {"cleanup.policy": "compact"} for name in topics.CHANGELOGS})
        missing = [name for name in wanted if name not in existing]
        if missing:
            # Another process may create them in the meantime; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            settings.partitions,
                            replicas,
                            topic_configs={
                                "max.message.bytes": str(MAX_RECORD_BYTES),
                                **replica_configs,
                                **wanted[name],
                            },
                        )
                        for name in missing
                    ]
                )
            log.info("created topics %s (%d replicas)", ", ".join(missing), replicas)
    finally:
        await admin.close()
    return replicas


def producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A producer whose `send_and_wait` returns only once every in-sync replica has the record."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=2,
        max_request_size=MAX_RECORD_BYTES,
        request_timeout_ms=15_000,
    )


def reader(settings: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer outside any group, for reading topics back (replay, read-model rebuild)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_bytes=MAX_RECORD_BYTES * 2,
        max_partition_fetch_bytes=MAX_RECORD_BYTES,
    )


async def partitions(settings: KafkaSettings, topic: str) -> list[int]:
    """The partitions of `topic`; none when it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if description["error_code"]:
        return []
    return sorted(partition["partition"] for partition in description["partitions"])


async def records_to_end(
    settings: KafkaSettings, topic: str
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from its beginning up to its end as of the call."""
    consumer = reader(settings)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in await partitions(settings, topic)]
        if not assigned:
            return
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        while remaining := [tp for tp in assigned if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
    finally:
        await consumer.stop()
