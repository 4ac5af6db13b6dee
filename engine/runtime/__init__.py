"""Local infrastructure for tests and ``winkel run``: Kafka or Tansu brokers and Redis."""

from engine.runtime.exceptions import InfrastructureError, RuntimeStartError
from engine.runtime.kafka import (
    KAFKA_VERSION,
    KafkaBroker,
    KafkaCluster,
    default_cache_root,
    java_available,
    kafka_classpath,
    maven_available,
    wait_for_kafka_metadata,
)
from engine.runtime.processes import (
    ManagedProcess,
    ensure_port_free,
    free_port,
    port_open,
    wait_for_port,
)
from engine.runtime.redis import RedisServer, redis_reachable, redis_server_binary
from engine.runtime.tansu import TansuBroker, tansu_binary

__all__ = [
    "KAFKA_VERSION",
    "InfrastructureError",
    "KafkaBroker",
    "KafkaCluster",
    "ManagedProcess",
    "RedisServer",
    "RuntimeStartError",
    "TansuBroker",
    "default_cache_root",
    "ensure_port_free",
    "free_port",
    "java_available",
    "kafka_classpath",
    "maven_available",
    "port_open",
    "redis_reachable",
    "redis_server_binary",
    "tansu_binary",
    "wait_for_kafka_metadata",
    "wait_for_port",
]
