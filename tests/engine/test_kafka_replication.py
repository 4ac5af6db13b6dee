"""How many copies the engine's topics get: it follows the number of brokers the cluster has.
A real 3-node KafkaCluster is exercised by the fault suite (tests/integration/test_faults.py,
scenario e), which also checks the topics it created there."""

from __future__ import annotations

from engine import kafka


def test_replication_follows_the_number_of_brokers() -> None:
    assert kafka.replication_for(1) == (1, {})
    assert kafka.replication_for(2) == (1, {})
    assert kafka.replication_for(3) == (3, {"min.insync.replicas": "2"})
    assert kafka.replication_for(5) == (3, {"min.insync.replicas": "2"})
