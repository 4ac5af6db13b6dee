"""The engine as real worker and web processes, one stack per integration module."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Generator, Iterator

import pytest

from tests.support import Stack, Stacks, diagnostics


@pytest.fixture(scope="module")
def stacks(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stacks]:
    """Starts a module's stacks (`stacks.start(name, stores, env)`); stops them at its end."""
    started = Stacks(tmp_path_factory.mktemp("stacks"), kafka_bootstrap, redis_url)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def stack(stacks: Stacks) -> Stack:
    """The engine with the test config's stores; a module needing others overrides this."""
    return stacks.start("stack")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test on the stack reports where the pipeline stood: offsets, lag, logs."""
    report = yield
    engine = getattr(item, "funcargs", {}).get("stack")
    if report.when == "call" and report.failed and isinstance(engine, Stack):
        # Its own thread: the test's event loop may still be set on this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            found = pool.submit(diagnostics, engine).result()
        report.sections.append(("engine diagnostics", found))
    return report
