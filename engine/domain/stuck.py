"""Stuck orders: what an order waits for, and whether it has waited longer than its store allows.

Pure: works on the read model's summary documents (`models.trigger.OrderSummary` as JSON), so
the web process and the projection agree on the same rules. Every order that is not done waits
for one thing, named by a stable reason code (docs/api.md "Stuck orders"); the limit that
applies is found under a *limit key*, one per stage plus `partly_invoiced`, configurable per
store (`[stuck_after]` and `[stores.stuck_after]` in the config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.exceptions import ConfigError
from models.codec import parse_utc

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: Limit keys in lifecycle order: the stage an order waits in, and `partly_invoiced` for a
#: shipped order only part of which is invoiced.
LIMIT_KEYS = (
    "new",
    "paid",
    "partially_shipped",
    "shipped",
    "partly_invoiced",
    "return_requested",
    "returned",
)

#: How long an order may wait before the worklist shows it, where the config says nothing.
DEFAULT_LIMITS: Mapping[str, float] = {
    "new": 24 * 3600.0,
    "paid": 48 * 3600.0,
    "partially_shipped": 48 * 3600.0,
    "shipped": 24 * 3600.0,
    "partly_invoiced": 48 * 3600.0,
    "return_requested": 14 * 86400.0,
    "returned": 48 * 3600.0,
}

#: Reason codes, each with the limit key it is judged by.
REASONS: Mapping[str, str] = {
    "awaiting_payment": "new",
    "awaiting_shipment": "paid",
    "partly_shipped": "partially_shipped",
    "awaiting_invoice": "shipped",
    "awaiting_invoice_confirmation": "shipped",
    "partly_invoiced": "partly_invoiced",
    "awaiting_return": "return_requested",
    "awaiting_refund": "returned",
}


def parse_duration(raw: object, where: str) -> float:
    """`90`, `"30m"`, `"48h"`, `"14d"` -> seconds; `ConfigError` naming `where` otherwise."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str) and raw.strip()[-1:] in _UNITS:
        text = raw.strip()
        try:
            seconds = float(text[:-1]) * _UNITS[text[-1]]
        except ValueError:
            seconds = -1.0
    else:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f'{where}: {raw!r} is not a duration like 90, "30m", "48h", "14d"')
    return seconds


def parse_limits(
    table: object, where: str, base: Mapping[str, float] = DEFAULT_LIMITS
) -> dict[str, float]:
    """A `stuck_after` table (limit key = duration) over `base`; unknown keys are refused."""
    if table is None:
        return dict(base)
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of stage = duration")
    unknown = sorted(set(table) - set(LIMIT_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown stages {unknown}; known: {', '.join(LIMIT_KEYS)}")
    return {**base, **{key: parse_duration(v, f"{where} {key}") for key, v in table.items()}}


@dataclass(frozen=True, slots=True)
class Waiting:
    """What a not-finished order waits for, since when."""

    reason: str
    since: datetime
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def limit_key(self) -> str:
        return REASONS[self.reason]


@dataclass(frozen=True, slots=True)
class Stuck:
    reason: str
    since: datetime
    age_seconds: int
    limit_seconds: int
    params: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "since": self.since.isoformat().replace("+00:00", "Z"),
            "age_seconds": self.age_seconds,
            "limit_seconds": self.limit_seconds,
            "params": dict(self.params),
        }


def _since(summary: Mapping[str, Any]) -> datetime:
    raw = summary.get("stage_since") or summary.get("updated_at")
    return parse_utc(str(raw), "stage_since")


def waiting_for(summary: Mapping[str, Any]) -> Waiting | None:
    """What the order waits for; None for an order that is done (invoiced and confirmed,
    cancelled, credited, or invoiced by the marketplace)."""
    stage = summary.get("stage")
    marketplace = summary.get("marketplace")
    since = _since(summary)
    shipments = summary.get("shipments") or []
    match stage:
        case "new":
            return Waiting("awaiting_payment", since, {"marketplace": marketplace})
        case "paid":
            return Waiting("awaiting_shipment", since, {"marketplace": marketplace})
        case "partially_shipped":
            return Waiting(
                "partly_shipped",
                since,
                {"marketplace": marketplace, "shipments": len(shipments)},
            )
        case "shipped":
            if summary.get("invoice_status") == "partial":
                return Waiting("partly_invoiced", since, {})
            if summary.get("invoiced_by_marketplace"):
                return None
            return Waiting("awaiting_invoice", since, {})
        case "invoiced":
            unconfirmed = int(summary.get("unconfirmed_invoices") or 0)
            if unconfirmed:
                return Waiting(
                    "awaiting_invoice_confirmation", since, {"unconfirmed_invoices": unconfirmed}
                )
            return None
        case "return_requested":
            return Waiting("awaiting_return", since, {"marketplace": marketplace})
        case "returned":
            if summary.get("payment_status") == "refunded":
                return None
            return Waiting("awaiting_refund", since, {"marketplace": marketplace})
        case _:
            return None


def stuck(summary: Mapping[str, Any], limits: Mapping[str, float], now: datetime) -> Stuck | None:
    """The order's stuck entry if it has waited longer than its limit, else None."""
    waiting = waiting_for(summary)
    if waiting is None:
        return None
    limit = limits.get(waiting.limit_key, DEFAULT_LIMITS[waiting.limit_key])
    age = (now - waiting.since).total_seconds()
    if age <= limit:
        return None
    return Stuck(waiting.reason, waiting.since, int(age), int(limit), waiting.params)
