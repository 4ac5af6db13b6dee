"""Rate-limited logging: one line per failing dependency per interval, one on recovery."""

from __future__ import annotations

import logging

import pytest

from engine.quietlog import DependencyLog, RateLimiter, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_admits_one_event_per_interval_and_counts_the_rest() -> None:
    clock = Clock()
    limiter = RateLimiter(interval=5.0, clock=clock)
    assert limiter.admit("kafka") == 0
    assert [limiter.admit("kafka") for _ in range(3)] == [None, None, None]
    assert limiter.admit("redis") == 0  # another key has its own budget
    clock.now += 4.9
    assert limiter.admit("kafka") is None
    clock.now += 0.2
    assert limiter.admit("kafka") == 4  # the four held back since the last line
    assert limiter.admit("kafka") is None
    assert limiter.forget("kafka") == 1
    assert limiter.admit("kafka") == 0  # afresh after forget


def test_a_dependency_logs_one_failure_per_interval_and_one_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = DependencyLog(logging.getLogger("test.dep"), "kafka", RateLimiter(5.0, clock))
    with caplog.at_level(logging.INFO, logger="test.dep"):
        for _ in range(1000):
            log.failed("connection refused")
        clock.now += 5
        log.failed("connection refused")
        log.failed("connection refused")
        log.recovered()
        log.recovered()  # nothing to say twice
    assert [r.getMessage() for r in caplog.records] == [
        "kafka unavailable: connection refused",
        "kafka unavailable: connection refused (999 similar suppressed)",
        "kafka recovered (1 similar suppressed)",
    ]
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR, logging.WARNING]


def test_the_filter_drops_repeats_of_a_template_but_never_info() -> None:
    clock = Clock()
    repeat = RepeatFilter(RateLimiter(5.0, clock))

    def record(msg: str, level: int, *args: object) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.conn", level, __file__, 1, msg, args, None)

    first = record("Unable connect to node with id %s: %s", logging.ERROR, 1, "refused")
    assert repeat.filter(first)
    kept = [
        repeat.filter(record("Unable connect to node with id %s: %s", logging.ERROR, n, "x"))
        for n in range(500)
    ]
    assert not any(kept)
    assert repeat.filter(record("Unable connect %s", logging.ERROR, 1))  # another template
    assert all(repeat.filter(record("info %s", logging.INFO, n)) for n in range(10))
    clock.now += 5
    later = record("Unable connect to node with id %s: %s", logging.ERROR, 1, "refused")
    assert repeat.filter(later)
    assert (
        later.getMessage() == "Unable connect to node with id 1: refused (500 similar suppressed)"
    )
    # The same record passing a second handler is not counted twice.
    assert repeat.filter(later)
