"""KafkaCluster: three real KRaft nodes with a 3-voter quorum; the engine's topics on it are
replicated three times with min.insync.replicas=2, and acks=all writes go on with a node dead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from engine import kafka, topics
from engine.config import KafkaSettings
from engine.runtime import KafkaCluster, java_available
from models.order import Marketplace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not java_available(), reason="Java 17+ is not on PATH"),
]


def test_replication_follows_the_number_of_brokers() -> None:
    assert kafka.replication_for(1) == (1, {})
    assert kafka.replication_for(2) == (1, {})
    assert kafka.replication_for(3) == (3, {"min.insync.replicas": "2"})
    assert kafka.replication_for(5) == (3, {"min.insync.replicas": "2"})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    nodes = KafkaCluster(tmp_path_factory.mktemp("cluster"), size=3)
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


async def describe(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    """The replica count of the topic's partitions and its explicitly set configs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
        replicas = {len(p["replicas"]) for p in description["partitions"]}
        assert len(replicas) == 1, description
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
        entries: list[Any] = response.resources[0][4]
        configs = {entry[0]: entry[1] for entry in entries}
        return replicas.pop(), configs
    finally:
        await admin.close()


def test_the_nodes_form_one_cluster_with_a_three_voter_quorum(cluster: KafkaCluster) -> None:
    assert cluster.size == 3
    assert len(set(cluster.bootstrap.split(","))) == 3
    voters = {node.voters for node in cluster.nodes}
    assert len(voters) == 1
    assert voters.pop() == ",".join(
        f"{n.node_id}@{n.host}:{n.controller_port}" for n in cluster.nodes
    )
    ids = {
        (node.log_dir / "meta.properties").read_text().split("cluster.id=")[1].split()[0]
        for node in cluster.nodes
    }
    assert len(ids) == 1


async def test_engine_topics_get_three_replicas_and_two_in_sync(cluster: KafkaCluster) -> None:
    settings = KafkaSettings(bootstrap=cluster.bootstrap, partitions=2)
    assert await kafka.ensure_topics(settings) == 3
    for topic in (topics.raw(Marketplace.SHOPIFY), topics.ORDERS_CHANGELOG, topics.AUDIT):
        replicas, configs = await describe(cluster.bootstrap, topic)
        assert replicas == 3, topic
        assert configs["min.insync.replicas"] == "2", topic


async def test_acks_all_writes_go_on_with_a_node_killed_and_it_rejoins(
    cluster: KafkaCluster,
) -> None:
    settings = KafkaSettings(bootstrap=cluster.bootstrap, partitions=2)
    await kafka.ensure_topics(settings)
    victim = cluster.nodes[2]
    victim.kill()
    try:
        producer = AIOKafkaProducer(
            bootstrap_servers=cluster.bootstrap, acks="all", request_timeout_ms=30_000
        )
        await producer.start()
        try:
            for n in range(20):
                await producer.send_and_wait(topics.AUDIT, b"after-kill-%d" % n, key=b"k%d" % n)
        finally:
            await producer.stop()
    finally:
        victim.start()  # rejoins on its old ports and log
    assert cluster.alive()
