"""Quiet logs under faults: one line per failing dependency per few seconds, one on recovery.

A broker outage makes aiokafka, faust and our own code log the same failure many thousand
times a second. `RateLimiter` (pure) decides which repeats to drop and counts them;
`DependencyLog` says "kafka unavailable ... (N similar suppressed)" at most once per interval
and "kafka recovered" once; `RepeatFilter` applies the same limit to third-party loggers.
`install()` puts the filter on the handlers of the web and worker processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

#: Seconds between two lines about the same failure.
INTERVAL_SECONDS = 5.0


@dataclass
class RateLimiter:
    """Admits one event per key per `interval` seconds and counts the ones it holds back."""

    interval: float = INTERVAL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _last: dict[Hashable, float] = field(default_factory=dict)
    _held: dict[Hashable, int] = field(default_factory=dict)

    def admit(self, key: Hashable) -> int | None:
        """None if the event is to be dropped; else how many were dropped since the last one."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def forget(self, key: Hashable) -> int:
        """Start afresh for `key`; returns how many of its events were still held back."""
        self._last.pop(key, None)
        return self._held.pop(key, 0)


def _suffix(suppressed: int) -> str:
    return f" ({suppressed} similar suppressed)" if suppressed else ""


class DependencyLog:
    """The log of one dependency's health as one process sees it."""

    def __init__(
        self, logger: logging.Logger, dependency: str, limiter: RateLimiter | None = None
    ) -> None:
        self.logger, self.dependency = logger, dependency
        self.limiter = limiter or RateLimiter()
        self.failing = False

    def failed(self, reason: str) -> None:
        self.failing = True
        suppressed = self.limiter.admit(self.dependency)
        if suppressed is not None:
            self.logger.error("%s unavailable: %s%s", self.dependency, reason, _suffix(suppressed))

    def recovered(self) -> None:
        if not self.failing:
            return
        self.failing = False
        suppressed = self.limiter.forget(self.dependency)
        self.logger.warning("%s recovered%s", self.dependency, _suffix(suppressed))


def _message_key(record: logging.LogRecord) -> Hashable:
    # The template, not the formatted text: "connection to node 1 failed: %r" repeats with a
    # new error object each time.
    return (record.name, record.levelno, str(record.msg)[:200])


class RepeatFilter(logging.Filter):
    """Lets a warning or error of one template through once per interval, counting repeats."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        super().__init__()
        self.limiter = limiter or RateLimiter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.__dict__.get("_winkel_admitted", False):
            return True
        suppressed = self.limiter.admit(_message_key(record))
        if suppressed is None:
            return False
        record.__dict__["_winkel_admitted"] = True
        if suppressed:
            record.msg = f"{record.msg}{_suffix(suppressed)}"
        return True


def install(root: logging.Logger | None = None) -> RepeatFilter:
    """Rate-limit repeated warnings and errors on every handler of `root` (once per handler)."""
    target = root or logging.getLogger()
    found = next(
        (f for h in target.handlers for f in h.filters if isinstance(f, RepeatFilter)), None
    )
    repeat = found or RepeatFilter()
    for handler in target.handlers:
        if repeat not in handler.filters:
            handler.addFilter(repeat)
    return repeat
