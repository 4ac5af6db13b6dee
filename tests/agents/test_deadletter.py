"""The one guard of the agents (agents/_deadletter.py `guarded`), without a broker.

The dead-letter topic is a list that records what would be sent; the event is shaped like a
faust event (its message's topic, partition, offset and key; its value).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agents._deadletter import guarded
from engine.domain.exceptions import NormalisationError, TransientError
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

    assert await guarded(topic, event(), "normaliser", work()) == []
    assert topic.sent == []


@pytest.mark.parametrize(
    "error",
    [
        DecodeError("$.id is missing"),
        NormalisationError("unknown store 'x'"),
        TaxError("no reduced VAT rate for HR"),
        TransientError("VIES is down", dependency="vies"),
    ],
)
async def test_an_error_of_the_family_dead_letters_the_input_with_its_reason(
    error: Exception,
) -> None:
    topic = Topic()

    async def work() -> int:
        raise error

    assert await guarded(topic, event(), "normaliser", work()) is None
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

    assert await guarded(topic, event(), "lifecycle", work()) is None
    (letter,) = letters(topic)
    assert letter.reason == "internal error: KeyError('missing')"
    assert any(r.message == "lifecycle failed" and r.exc_info is not None for r in caplog.records)
