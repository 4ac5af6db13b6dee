"""A Kafka producer that answers within a deadline and replaces itself when it breaks.

aiokafka's idempotent producer does not survive a long broker outage: batches that expire
leave a gap in its sequence numbers, the broker answers the next batch with
`OutOfOrderSequenceNumber`, the sender task dies, and every later send fails for good. The
`ResilientProducer` watches for that (a failed batch, a dead sender, a fatal error class),
starts a fresh producer (a new producer id, so new sequence numbers) in the background with
backoff, and swaps it in once the broker takes it. A send is bounded by a deadline and raises
`DependencyUnavailable` when it passes, so the web answers 503 instead of waiting.

No acknowledged record is lost or reordered: a record counts as acknowledged only when its
future resolved, and the old producer is flushed and stopped *before* the new one takes
sends, so nothing the new one writes can overtake what the old one still delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
    UnknownProducerId,
)
from aiokafka.structs import RecordMetadata

from engine import metrics
from engine.exceptions import DependencyUnavailable
from engine.quietlog import DependencyLog

log = logging.getLogger(__name__)

#: How long a send may wait for the broker's acknowledgement: below Shopify's 5 s, so a
#: webhook gets its 503 with time to spare.
SEND_DEADLINE_SECONDS = 2.5
#: How long the old producer may take to flush and stop before it is abandoned.
STOP_SECONDS = 5.0
#: Suggested wait for a client told 503.
RETRY_AFTER_SECONDS = 5

#: Errors after which an (idempotent) producer never sends again.
FATAL_ERRORS: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    ProducerFenced,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerClosed,
    UnknownProducerId,
    TransactionalIdAuthorizationFailed,
)


class Sender(Protocol):
    """What code that writes records needs of a producer (a plain or a resilient one)."""

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> Any: ...


def is_fatal(error: BaseException) -> bool:
    """True when a producer that raised `error` must be replaced rather than retried."""
    if isinstance(error, FATAL_ERRORS):
        return True
    # aiokafka wraps anything unexpected in its sender task; the sender is dead after it.
    cause = error.__cause__
    return cause is not None and cause is not error and is_fatal(cause)


def backoff(attempt: int, first: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before restart attempt `attempt` (0-based): doubling, capped."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    return float(min(cap, first * 2 ** min(attempt, 32)))


def _sender_dead(producer: AIOKafkaProducer) -> bool:
    """True when the producer's background sender has stopped (it never restarts)."""
    sender = getattr(producer, "_sender", None)
    task = None if sender is None else sender.sender_task
    return task is not None and task.done()


class ResilientProducer:
    """`send_and_wait` with a deadline over a producer that is replaced when it breaks."""

    def __init__(
        self,
        factory: Callable[[], AIOKafkaProducer],
        *,
        name: str = "producer",
        deadline: float = SEND_DEADLINE_SECONDS,
    ) -> None:
        self._factory = factory
        self.name = name
        self.deadline = deadline
        self._producer: AIOKafkaProducer | None = None
        self._tainted = False
        self._healer: asyncio.Task[None] | None = None
        self._closed = False
        self.last_failure: str | None = None
        self.replacements = 0
        self._log = DependencyLog(log, "kafka")

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the first producer (the broker must be reachable, as at any start)."""
        producer = self._factory()
        await producer.start()
        self._producer = producer
        metrics.KAFKA_WRITABLE.labels(self.name).set(1)

    async def stop(self) -> None:
        self._closed = True
        if self._healer is not None:
            self._healer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._healer
        if self._producer is not None:
            await self._stop_quietly(self._producer)
            self._producer = None

    # --- sending -----------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """A producer is in place and nothing it sent has failed since it started."""
        producer = self._producer
        return (
            producer is not None
            and not self._tainted
            and self.last_failure is None
            and not _sender_dead(producer)
        )

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        deadline: float | None = None,
    ) -> RecordMetadata:
        """The record's metadata once every in-sync replica has it, or `DependencyUnavailable`.

        `deadline` (seconds, default the producer's) bounds the whole call.
        """
        budget = self.deadline if deadline is None else max(0.05, deadline)
        producer = self._producer
        if producer is None or self._tainted or _sender_dead(producer):
            self._taint("the producer is being replaced")
            raise DependencyUnavailable(
                "Kafka is not accepting writes (producer restarting)", dependency="kafka"
            )
        started = time.monotonic()
        try:
            future = await asyncio.wait_for(producer.send(topic, value=value, key=key), budget)
        except TimeoutError:
            self._failed("could not queue a record within the deadline")
            raise DependencyUnavailable(
                f"Kafka did not take the record within {budget:.1f} s", dependency="kafka"
            ) from None
        except KafkaError as exc:
            self._failed(f"{type(exc).__name__}: {exc}", fatal=True)
            raise DependencyUnavailable(
                f"Kafka refused the record: {exc}", dependency="kafka"
            ) from exc
        future.add_done_callback(functools.partial(self._watch, producer))
        remaining = budget - (time.monotonic() - started)
        try:
            # Shielded: the record stays queued when the caller stops waiting for it.
            metadata: RecordMetadata = await asyncio.wait_for(
                asyncio.shield(future), max(remaining, 0.01)
            )
        except TimeoutError:
            self._failed("no acknowledgement within the deadline")
            raise DependencyUnavailable(
                f"Kafka did not acknowledge within {budget:.1f} s", dependency="kafka"
            ) from None
        except KafkaError as exc:
            raise DependencyUnavailable(
                f"Kafka refused the record: {exc}", dependency="kafka"
            ) from exc
        if self.last_failure is not None and producer is self._producer and not self._tainted:
            self._log.recovered()
            metrics.KAFKA_WRITABLE.labels(self.name).set(1)
        self.last_failure = None
        return metadata

    async def writable(self, patience: float = 1.0) -> bool:
        """True if a healthy producer is in place and a broker answers a metadata request."""
        producer = self._producer
        if producer is None or self._tainted or _sender_dead(producer):
            return False
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), patience)
        except (TimeoutError, KafkaError, OSError):
            return False
        return True

    # --- healing -----------------------------------------------------------------------------

    def _watch(self, producer: AIOKafkaProducer, future: asyncio.Future[Any]) -> None:
        """Done callback of every record: a failed batch taints the producer that sent it."""
        if future.cancelled():
            return
        error = future.exception()  # retrieved here, so asyncio does not log it again
        if error is not None and producer is self._producer:
            # An idempotent producer that dropped a batch has a gap in its sequence numbers.
            self._failed(f"{type(error).__name__}: {error}", fatal=True)

    def _failed(self, reason: str, *, fatal: bool = False) -> None:
        self.last_failure = reason
        metrics.KAFKA_WRITABLE.labels(self.name).set(0)
        self._log.failed(reason)
        producer = self._producer
        if fatal or (producer is not None and _sender_dead(producer)):
            self._taint(reason)

    def _taint(self, reason: str) -> None:
        if self._closed:
            return
        self._tainted = True
        metrics.KAFKA_WRITABLE.labels(self.name).set(0)
        if self._healer is None or self._healer.done():
            self._healer = asyncio.get_running_loop().create_task(self._heal(reason))

    async def _heal(self, reason: str) -> None:
        """Start a new producer (with backoff until the broker takes it), retire the old one."""
        attempt = 0
        while not self._closed:
            fresh = self._factory()
            try:
                await fresh.start()
            except Exception as exc:
                self._log.failed(f"restarting the producer: {type(exc).__name__}: {exc}")
                await self._stop_quietly(fresh)
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                continue
            old, self._producer = self._producer, None
            if old is not None:
                await self._stop_quietly(old)
            self._producer, self._tainted, self.last_failure = fresh, False, None
            self.replacements += 1
            metrics.PRODUCER_REPLACEMENTS.labels(self.name).inc()
            metrics.KAFKA_WRITABLE.labels(self.name).set(1)
            log.warning("replaced the %s Kafka producer (%s)", self.name, reason)
            self._log.recovered()
            return

    @staticmethod
    async def _stop_quietly(producer: AIOKafkaProducer) -> None:
        """Flush and stop, bounded: a producer that cannot flush in time is abandoned."""
        try:
            await asyncio.wait_for(producer.stop(), STOP_SECONDS)
        except Exception as exc:  # a dead producer may fail to stop; it is dropped either way
            log.debug("stopping a broken producer: %s", exc)
