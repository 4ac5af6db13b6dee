"""Which producer errors are fatal, and the backoff between restarts (no broker needed)."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from engine.producer import backoff, is_fatal


@pytest.mark.parametrize(
    "error", [OutOfOrderSequenceNumber(), ProducerFenced(), UnknownProducerId()]
)
def test_errors_that_end_an_idempotent_producer_are_fatal(error: Exception) -> None:
    assert is_fatal(error)


def test_a_fatal_error_wrapped_by_the_sender_is_fatal() -> None:
    wrapped = KafkaError("Unexpected error during batch delivery")
    wrapped.__cause__ = OutOfOrderSequenceNumber()
    assert is_fatal(wrapped)


@pytest.mark.parametrize(
    "error",
    [KafkaConnectionError(), KafkaTimeoutError(), NotLeaderForPartitionError(), KafkaError()],
)
def test_passing_errors_are_not_fatal_by_themselves(error: Exception) -> None:
    assert not is_fatal(error)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert backoff(10_000) == 5.0
    with pytest.raises(ValueError, match="attempt"):
        backoff(-1)
