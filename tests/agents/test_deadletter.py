"""The one guard of the agents (agents/_deadletter.py `guarded`), without a broker.

The dead-letter topic is a list that records what would be sent; the event is shaped like a
faust event (its message's topic, partition, offset and key; its value).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agents._deadletter import guarded
from engine.domain.exceptions import DependencyUnavailable, NormalisationError, TransientError
from engine.domain.tax import TaxError
from models.codec import DecodeError, decode_dead_letter
from models.raw import DeadLetter


class Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))


def event(value: bytes = b'{"half": ') -> Any:
    message = SimpleNamespace(topic="winkel.raw.shopify", partition=3, offset=41, key=b"order-7")
    return SimpleNamespace(message=message, value=value)


def letters(topic: Topic) -> list[DeadLetter]:
    return [decode_dead_letter(value) for _, value in topic.sent]


async def test_the_result_of_work_that_succeeds_is_returned_and_nothing_dead_lettered() -> None:
    topic = Topic()

    async def work() -> list[int]:
        return []

    assert await guarded(topic, event(), "normaliser", work) == []
    assert topic.sent == []


@pytest.mark.parametrize(
    "error",
    [
        DecodeError("$.id is missing"),
        NormalisationError("unknown store 'x'"),
        TaxError("no reduced VAT rate for HR"),
    ],
)
async def test_an_error_of_the_family_dead_letters_the_input_with_its_reason(
    error: Exception,
) -> None:
    topic = Topic()

    async def work() -> int:
        raise error

    assert await guarded(topic, event(), "normaliser", work) is None
    (letter,) = letters(topic)
    assert letter.reason == str(error)
    assert letter.original == b'{"half": '
    assert (letter.dead_letter_id, letter.key) == ("winkel.raw.shopify:3:41", b"order-7")
    assert topic.sent[0][0] == b"order-7"  # keyed like the input


async def test_a_bug_is_logged_and_dead_lettered_as_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = Topic()

    async def work() -> int:
        return {}["missing"]  # type: ignore[no-any-return]

    assert await guarded(topic, event(), "lifecycle", work) is None
    (letter,) = letters(topic)
    assert letter.reason == "internal error: KeyError('missing')"
    assert any(r.message == "lifecycle failed" and r.exc_info is not None for r in caplog.records)


async def test_a_dependency_down_is_retried_until_it_answers_and_nothing_is_dead_lettered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = Topic()
    attempts = 0

    async def work() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise DependencyUnavailable("Redis refused the connection", dependency="redis")
        return "decided"

    assert await guarded(topic, event(), "VAT step", work, first_pause=0.001) == "decided"
    assert attempts == 4
    assert topic.sent == []
    retries = [r.getMessage() for r in caplog.records if "again" in r.getMessage()]
    assert len(retries) == 3
    assert "redis unavailable" in retries[0] and "winkel.raw.shopify:3:41" in retries[0]


async def test_retry_pauses_double_up_to_the_longest(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("agents._deadletter.asyncio.sleep", no_wait)
    attempts = 0

    async def work() -> int:
        nonlocal attempts
        attempts += 1
        if attempts <= 8:
            raise TransientError("VIES is down", dependency="vies")
        return attempts

    assert await guarded(Topic(), event(), "VAT step", work) == 9
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


async def test_an_input_error_after_a_transient_one_is_dead_lettered() -> None:
    topic = Topic()
    errors: list[Exception] = [
        TransientError("VIES is down", dependency="vies"),
        NormalisationError("unknown store 'x'"),
    ]

    async def work() -> int:
        raise errors.pop(0)

    assert await guarded(topic, event(), "normaliser", work, first_pause=0.001) is None
    assert [letter.reason for letter in letters(topic)] == ["unknown store 'x'"]
