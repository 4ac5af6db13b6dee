"""The process's Prometheus metrics (prometheus-client), one registry per process.

Counters count what this process did (503s, producer replacements, dead letters written,
read-model refills); gauges say what it sees now (Kafka writable, readiness per dependency).
The web process adds its own per-application families (webhooks by outcome, orders, lag:
web/health.py) and serves both on `/metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

UNAVAILABLE = Counter(
    "winkel_unavailable_responses",
    "Requests answered 503 with Retry-After, by the dependency that was missing.",
    ["dependency"],
    registry=REGISTRY,
)
PRODUCER_REPLACEMENTS = Counter(
    "winkel_producer_replacements",
    "Kafka producers replaced after they broke (fatal error, dead sender, failed batch).",
    ["producer"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "winkel_dead_letters_written",
    "Records this process sent to the dead-letter topic.",
    registry=REGISTRY,
)
KAFKA_WRITABLE = Gauge(
    "winkel_kafka_writable",
    "1 while the named producer has a working Kafka producer, else 0.",
    ["producer"],
    registry=REGISTRY,
)
READY = Gauge(
    "winkel_ready",
    "1 if the dependency answered this process's last readiness check, else 0.",
    ["process", "dependency"],
    registry=REGISTRY,
)
READ_MODEL_REBUILDING = Gauge(
    "winkel_read_model_rebuilding",
    "1 while the read model is being refilled from Kafka after Redis lost it.",
    registry=REGISTRY,
)
READ_MODEL_REBUILDS = Counter(
    "winkel_read_model_rebuilds",
    "Times this process refilled the read model from Kafka by itself.",
    registry=REGISTRY,
)
