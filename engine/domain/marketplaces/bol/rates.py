"""Rate limits: bol's x-ratelimit headers and Retry-After."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from engine.domain.marketplaces._door import header_number, header_value
from engine.domain.marketplaces.bol.wire import DEFAULT_BACKOFF_SECONDS

RATE_LIMIT_HEADER = "x-ratelimit-limit"
RATE_REMAINING_HEADER = "x-ratelimit-remaining"
#: Seconds until the budget is replenished.
RATE_RESET_HEADER = "x-ratelimit-reset"
RETRY_AFTER_HEADER = "Retry-After"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The budget bol reports on every response, per method and path (absent: unknown)."""

    limit: int | None
    remaining: int | None
    reset_seconds: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit:
        limit = header_number(header_value(headers, RATE_LIMIT_HEADER))
        remaining = header_number(header_value(headers, RATE_REMAINING_HEADER))
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset_seconds=header_number(header_value(headers, RATE_RESET_HEADER)),
        )

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


def _retry_after_value(raw: str | None, now: datetime | None) -> float | None:
    """`Retry-After` is delta-seconds, or an HTTP date (then `now` is needed)."""
    seconds = header_number(raw)
    if seconds is not None or raw is None or now is None:
        return seconds
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())


def retry_after(
    status: int, headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Seconds to wait before the next call on this path, or None to go ahead.

    On 429: `Retry-After`, else the budget's reset, else `DEFAULT_BACKOFF_SECONDS`. On any
    other answer that spent the last of the budget: its reset, so the next call is not a 429
    (bol watches clients that collect 429s).
    """
    limit = RateLimit.from_headers(headers)
    if status == 429:
        waited = _retry_after_value(header_value(headers, RETRY_AFTER_HEADER), now)
        if waited is not None:
            return waited
        return limit.reset_seconds if limit.reset_seconds is not None else DEFAULT_BACKOFF_SECONDS
    if limit.exhausted and limit.reset_seconds is not None:
        return limit.reset_seconds
    return None
