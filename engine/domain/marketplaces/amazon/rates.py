"""SP-API usage plans: rate-limit headers, Retry-After, and one token bucket per operation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.domain.marketplaces._door import header_number, header_value

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
REQUEST_ID_HEADER = "x-amzn-RequestId"
RETRY_AFTER_HEADER = "Retry-After"


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """Requests per second, and how many may come at once (the bucket's size)."""

    rate: float
    burst: int


#: Default usage plans (docs/marketplaces.md §2.1, §2.3); the header may report a different rate.
DEFAULT_RATES: Mapping[str, UsagePlan] = {
    "getOrders": UsagePlan(0.0167, 20),
    "getOrder": UsagePlan(0.5, 30),
    "getOrderItems": UsagePlan(0.5, 30),
    "listFinancialEventsByOrderId": UsagePlan(0.5, 30),
    # Orders API v2026-01-01 (amazon.v2026)
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder@2026-01-01": UsagePlan(0.5, 30),
}
MAX_BACKOFF_SECONDS = 300.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def reported_rate(headers: Mapping[str, str]) -> float | None:
    """`x-amzn-RateLimit-Limit`: the operation's rate in requests per second, when sent."""
    return header_number(header_value(headers, RATE_LIMIT_HEADER), positive=True)


def retry_after(
    status: int,
    headers: Mapping[str, str],
    operation: str,
    attempt: int = 0,
    known_rate: float | None = None,
) -> float | None:
    """Seconds to wait before calling `operation` again, or None: go ahead, or give up.

    SP-API answers 429 (`QuotaExceeded`) with neither `Retry-After` nor (per the v0 and v2026
    models) `x-amzn-RateLimit-Limit`: only `x-amzn-RequestId`. So the wait is one token of the
    operation's rate (one request's worth), doubled per failed attempt, capped; the rate is the
    429's header if one is sent after all, else `known_rate` (what the last successful answer
    reported), else the default usage plan. A `Retry-After` is honoured where one is sent.
    5xx answers back off the same way. Other 4xx answers are not retried (None).
    """
    if status not in RETRYABLE_STATUSES:
        return None
    explicit = header_number(header_value(headers, RETRY_AFTER_HEADER), positive=True)
    if explicit is not None:
        return min(explicit, MAX_BACKOFF_SECONDS)
    plan = DEFAULT_RATES.get(operation, UsagePlan(0.5, 1))
    rate = reported_rate(headers) or known_rate or plan.rate
    return min((1.0 / rate) * math.pow(2.0, max(attempt, 0)), MAX_BACKOFF_SECONDS)


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket for one operation (SP-API's own model of rate and burst), held per
    seller and operation in the shell; `take` says how long to wait before the call."""

    plan: UsagePlan
    tokens: float
    at: datetime

    @classmethod
    def full(cls, plan: UsagePlan, now: datetime) -> Bucket:
        return cls(plan, float(plan.burst), now)

    def take(self, now: datetime) -> tuple[Bucket, float]:
        """The bucket after one request at `now`, and the seconds to wait before making it.

        A request already promised a later slot (`at` in the future) queues behind it.
        """
        start = max(now, self.at)
        elapsed = (start - self.at).total_seconds()
        tokens = min(float(self.plan.burst), self.tokens + elapsed * self.plan.rate)
        if tokens >= 1.0:
            return Bucket(self.plan, tokens - 1.0, start), (start - now).total_seconds()
        ready = start + timedelta(seconds=(1.0 - tokens) / self.plan.rate)
        return Bucket(self.plan, 0.0, ready), (ready - now).total_seconds()

    def throttled(self, now: datetime) -> Bucket:
        """After a 429: Amazon's bucket is empty whatever ours said."""
        return Bucket(self.plan, 0.0, now)
