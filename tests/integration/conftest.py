"""The engine as real worker and web processes, one stack per integration module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Stack, tails


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    engine = Stack(tmp_path_factory.mktemp("stack"), kafka_bootstrap, redis_url)
    engine.start_web()
    engine.start_worker()
    try:
        yield engine
    finally:
        engine.stop()
        for tail in tails(engine):
            print(tail)
