"""Session-wide real infrastructure: one Apache Kafka (KRaft) and one Redis per test session.

Set WINKEL_TEST_KAFKA_BOOTSTRAP / WINKEL_TEST_REDIS_URL to reuse running ones while developing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime import KafkaBroker, RedisServer, free_port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("WINKEL_TEST_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("WINKEL_TEST_REDIS_URL")
    if existing:
        yield existing
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


#: Fixtures that start or reach real infrastructure. A test that uses any of them, directly or
#: through another fixture, is an integration test whatever its module says.
INFRASTRUCTURE_FIXTURES = frozenset({"kafka_bootstrap", "redis_url", "stack"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark by what a test needs, so `-m "not integration"` is the pure suite in seconds."""
    for item in items:
        if INFRASTRUCTURE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
