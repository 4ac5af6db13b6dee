"""What cannot be processed goes to `winkel.deadletter`, keeping the original bytes.

`guarded` is the one guard every agent puts around its per-record work, so that no input stops
a stream and none is lost, and no input is dead-lettered because a dependency blinked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from engine.domain.exceptions import TransientError, WinkelError
from engine.shell import metrics
from models.codec import encode_dead_letter
from models.raw import DeadLetter

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The first pause before work a dependency stopped is tried again; each retry doubles it ...
RETRY_FIRST_SECONDS = 0.5
#: ... up to this.
RETRY_LONGEST_SECONDS = 30.0


async def send_dead_letter(dead_letter_topic: Any, event: Any, reason: str) -> None:
    """Dead-letter the faust `event`; its id is its position, so a re-send is recognisable."""
    message = event.message
    letter = DeadLetter(
        dead_letter_id=f"{message.topic}:{message.partition}:{message.offset}",
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        reason=reason,
        failed_at=datetime.now(UTC),
        original=event.value,
    )
    log.warning("dead-lettered %s: %s", letter.dead_letter_id, reason)
    await dead_letter_topic.send(key=message.key, value=encode_dead_letter(letter))
    metrics.DEAD_LETTERS.inc()


async def guarded(
    dead_letter_topic: Any,
    event: Any,
    what: str,
    work: Callable[[], Awaitable[T]],
    *,
    first_pause: float = RETRY_FIRST_SECONDS,
) -> T | None:
    """The result of `work()` on the faust `event`, or None once the event is dead-lettered.

    A `TransientError` (Redis, VIES or another dependency unavailable for now) is no fault of
    the input: `work` is called again after a pause that doubles up to RETRY_LONGEST_SECONDS,
    for as long as it takes. The agent stays on this event meanwhile, so its offset is not
    committed and a worker that stops while waiting leaves it to be processed again.
    Any other error of the family (bad bytes, an unknown store, a VAT question the rules cannot
    answer) dead-letters the event with its message as the reason, for a person to look at.
    Any other exception is a bug: logged with its traceback and dead-lettered as an internal
    error, so the stream goes on and the input is kept. Sending the results stays outside the
    guard: a broker that cannot take them must stop the agent, not dead-letter the input.
    """
    pause = first_pause
    while True:
        try:
            return await work()
        except TransientError as exc:
            log.warning(
                "%s: %s unavailable (%s); trying %s again in %.1f s",
                what,
                exc.dependency or "a dependency",
                exc,
                _where(event),
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_LONGEST_SECONDS)
        except WinkelError as exc:
            await send_dead_letter(dead_letter_topic, event, str(exc))
            return None
        except Exception as exc:
            log.exception("%s failed", what)
            await send_dead_letter(dead_letter_topic, event, f"internal error: {exc!r}")
            return None


def _where(event: Any) -> str:
    message = event.message
    return f"{message.topic}:{message.partition}:{message.offset}"
