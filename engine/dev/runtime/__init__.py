"""Local infrastructure for tests and ``winkel run``: Kafka or Tansu brokers and Redis."""

from engine.dev.runtime.exceptions import InfrastructureError, RuntimeStartError
from engine.dev.runtime.kafka import (
    KAFKA_VERSION,
    KafkaBroker,
    KafkaCluster,
    default_cache_root,
    java_available,
    kafka_classpath,
    maven_available,
    wait_for_kafka_metadata,
)
from engine.dev.runtime.processes import (
    ManagedProcess,
    ensure_port_free,
    free_port,
    port_open,
    wait_for_port,
)
from engine.dev.runtime.redis import RedisServer, redis_reachable, redis_server_binary
from engine.dev.runtime.tansu import TansuBroker, tansu_binary

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
