"""The operator workbench's rules, pure: what the order list may be asked (parameters, checked),
what an order's timeline says in stable event codes, and which status changes fit an order.

docs/api.md lists the parameters, the event codes and the action rules for the dashboard.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

from engine.domain.lifecycle import NOT_INVOICED_PREFIX
from models.commands import OperatorAction
from models.exceptions import InputError
from models.order import Marketplace, Stage

SORTS = (
    "ordered_at",
    "updated",
    "stage_since",
    "total_gross",
    "name",
    "customer",
    "marketplace",
    "store",
    "country",
    "stage",
)
DIRECTIONS = ("desc", "asc")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

#: Filters with a closed set of values (the summary's vocabulary).
CHOICES: Mapping[str, tuple[str, ...]] = {
    "marketplace": tuple(m.value for m in Marketplace),
    "stage": tuple(s.value for s in Stage),
    "payment_status": ("pending", "paid", "refunded"),
    "fulfilment_status": ("unfulfilled", "partial", "fulfilled", "cancelled"),
    "invoice_status": ("none", "partial", "invoiced"),
    "return_status": ("none", "requested", "returned"),
}
#: Filters whose values the config knows (store and company ids).
CONFIGURED = ("store", "company")
FILTERS = (*CHOICES, *CONFIGURED, "country")
#: `status` is the older name of `stage` (still accepted).
ALIASES = {"status": "stage"}
PAGING = ("limit", "after")
TEXT = ("q", "from", "to")
LIST_PARAMETERS = (*FILTERS, *ALIASES, *TEXT, "sort", "dir", *PAGING)
STUCK_PARAMETERS = ("store", "marketplace", "company", *PAGING)

_COUNTRY = re.compile(r"^[A-Z]{2}$")


class BadParameter(InputError, ValueError):
    """A list parameter the API does not know, or a value it does not allow (answered 400)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: the last row's sort score and uuid (keyset paging)."""

    score: str
    order_uuid: str
    sort: str
    direction: str

    def encode(self) -> str:
        raw = orjson.dumps([self.score, self.order_uuid, self.sort, self.direction])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str, direction: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            score, order_uuid, was_sort, was_direction = orjson.loads(raw)
            if not isinstance(score, str) or not math.isfinite(float(score)):
                raise ValueError(score)
        except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
            raise BadParameter("after is not a cursor this API gave out") from None
        if (was_sort, was_direction) != (sort, direction):
            raise BadParameter(
                f"after is a cursor of sort={was_sort}&dir={was_direction}; "
                "start again without it to change the order"
            )
        return cls(str(score), str(order_uuid), sort, direction)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One checked question to the order list."""

    filters: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    ordered_from: datetime | None = None  # inclusive
    ordered_to: datetime | None = None  # inclusive
    sort: str = "ordered_at"
    direction: str = "desc"
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None


def _moment(raw: str, name: str, end_of_day: bool) -> datetime:
    """ISO 8601 date or datetime; UTC when it has no offset; a date `to` means its whole day."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime.combine(day, time(0), tzinfo=UTC)
            moment = start + timedelta(days=1, microseconds=-1) if end_of_day else start
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            moment = moment.astimezone(UTC)
        moment.timestamp()  # the years 1 and 9999 at their edges have none
    except (ValueError, OverflowError):
        raise BadParameter(
            f"{name} must be an ISO 8601 date or date-time (2026-12-01, 2026-12-01T10:00:00Z)"
        ) from None
    return moment


def _single(query: Mapping[str, str], getall: Any, name: str) -> str:
    values = getall(name) if getall is not None else [query[name]]
    if len(values) > 1:
        raise BadParameter(f"{name} is given {len(values)} times; give it once")
    return str(values[0]).strip()


def parse_list_query(
    query: Mapping[str, str],
    known: Mapping[str, Collection[str]],
    allowed: Collection[str] = LIST_PARAMETERS,
    *,
    list_cursor: bool = True,
) -> ListQuery:
    """The list question in `query` (a query string), or `BadParameter` naming what is wrong.

    `known` holds the configured `store` and `company` ids; `allowed` the parameter names
    this route takes (the CSV export takes no paging); without `list_cursor` the caller reads
    `after` itself (the stuck worklist pages by age).
    """
    getall = getattr(query, "getall", None)
    unknown = sorted(name for name in query if name not in allowed)
    if unknown:
        raise BadParameter(f"unknown parameter {', '.join(unknown)}; known: {', '.join(allowed)}")
    values = {name: _single(query, getall, name) for name in query}
    for alias, name in ALIASES.items():
        if alias in values:
            if name in values and values[name] != values[alias]:
                raise BadParameter(f"{alias} and {name} say different things; give one")
            values[name] = values.pop(alias)
    filters: dict[str, str] = {}
    for name in FILTERS:
        value = values.get(name, "")
        if not value:
            continue
        if name == "country":
            value = value.upper()
            if not _COUNTRY.match(value):
                raise BadParameter("country must be an ISO 3166 alpha-2 code such as NL")
        choices = CHOICES.get(name) or known.get(name)
        if choices is not None and value not in choices:
            raise BadParameter(f"{name} must be one of {', '.join(sorted(choices))}")
        filters[name] = value
    sort = values.get("sort") or "ordered_at"
    if sort not in SORTS:
        raise BadParameter(f"sort must be one of {', '.join(SORTS)}")
    direction = values.get("dir") or "desc"
    if direction not in DIRECTIONS:
        raise BadParameter("dir must be desc or asc")
    limit = DEFAULT_LIMIT
    if values.get("limit"):
        try:
            limit = int(values["limit"])
        except ValueError:
            raise BadParameter(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadParameter(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    ordered_from = _moment(values["from"], "from", False) if values.get("from") else None
    ordered_to = _moment(values["to"], "to", True) if values.get("to") else None
    if ordered_from and ordered_to and ordered_from > ordered_to:
        raise BadParameter("from is after to")
    after = None
    if list_cursor and values.get("after"):
        after = Cursor.decode(values["after"], sort, direction)
    return ListQuery(
        filters=filters,
        text=values.get("q") or None,
        ordered_from=ordered_from,
        ordered_to=ordered_to,
        sort=sort,
        direction=direction,
        limit=limit,
        after=after,
    )


# --- actions ---------------------------------------------------------------------------------


def valid_actions(order: Mapping[str, Any]) -> list[str]:
    """The operator status changes that fit the order's state now (docs/api.md "Actions")."""
    stage = order.get("stage")
    if stage == Stage.CANCELLED.value:
        return []
    actions = []
    if order.get("payment_status") == "pending":
        actions.append(OperatorAction.MARK_PAID.value)
    if order.get("fulfilment_status") in ("unfulfilled", "partial"):
        actions += [OperatorAction.MARK_SHIPPED.value, OperatorAction.CANCEL.value]
    return actions


def refused_action(order: Mapping[str, Any], action: str) -> str | None:
    """Why `action` does not fit the order now, or None when it does."""
    if action in valid_actions(order):
        return None
    stage = order.get("stage")
    if action == OperatorAction.MARK_PAID.value and order.get("payment_status") != "pending":
        return f"the order is already {order.get('payment_status')}"
    if stage == Stage.CANCELLED.value:
        return "the order is cancelled"
    return f"nothing is left to ship or cancel (fulfilment {order.get('fulfilment_status')})"


# --- the timeline ----------------------------------------------------------------------------

#: Audit reasons the lifecycle writes as "<event type> received", by event type.
_RECEIVED = {
    "payment_captured": "paid",
    "order_cancelled": "cancelled",
    "cancellation_withdrawn": "cancellation_withdrawn",
    "return_requested": "return_requested",
    "return_received": "returned",
    "refund_issued": "refunded",
    "invoice_issued": "invoice_confirmed",
}
#: Every code a timeline entry may carry (docs/api.md "Timeline events").
EVENT_CODES = (
    "ordered",
    "details_updated",
    "paid",
    "shipped",
    "partly_shipped",
    "shipment_matched",
    "invoice_requested",
    "credit_note_requested",
    "invoice_confirmed",
    "invoiced_by_marketplace",
    "cancelled",
    "cancellation_withdrawn",
    "return_requested",
    "returned",
    "refunded",
    "status_changed_by_operator",
    "refused",
    "field_defaulted",
    "note",
)
OPERATOR_SHIPMENT_PREFIX = "operator:"
_ACTIONS = {a.value for a in OperatorAction}


def shipment_params(shipment: Mapping[str, Any]) -> dict[str, Any]:
    """A shipment as the operator knows it: the marketplace's id and the tracking numbers;
    one marked by an operator has no marketplace id (`by_operator`)."""
    shipment_id = str(shipment.get("shipment_id", ""))
    by_operator = shipment_id.startswith(OPERATOR_SHIPMENT_PREFIX)
    return {
        "shipment_id": None if by_operator else shipment_id,
        "carrier": shipment.get("carrier"),
        "tracking_numbers": list(shipment.get("tracking_numbers") or []),
        "by_operator": by_operator,
    }


def _emitted(reason: str) -> tuple[str, dict[str, Any]]:
    kinds = [part.strip().split(" ") for part in reason.removeprefix("emitted ").split(",")]
    invoices = [p[1] for p in kinds if len(p) == 2 and p[0] == "invoice"]
    credit_notes = [p[1] for p in kinds if len(p) == 2 and p[0] == "credit_note"]
    if credit_notes and not invoices:
        return "credit_note_requested", {"trigger_ids": credit_notes}
    return "invoice_requested", {"trigger_ids": invoices, "credit_note_ids": credit_notes}


def timeline_event(
    entry: Mapping[str, Any], shipments: list[Mapping[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """The stable code and params of one audit entry (`models.trigger.AuditEntry` as JSON).

    Shipments are matched by time: the shipment an entry is about was sent at the entry's `at`.
    """
    reason = str(entry.get("reason") or "")
    to_stage = entry.get("to_stage")
    head, _, rest = reason.partition(": ")
    if reason.startswith("refused:"):
        return "refused", {"reason": reason.removeprefix("refused:").strip()}
    if reason.startswith("emitted "):
        return _emitted(reason)
    if reason.startswith("defaulted "):
        return "field_defaulted", {"field": reason.removeprefix("defaulted ")}
    if reason.startswith(NOT_INVOICED_PREFIX):
        return "invoiced_by_marketplace", {"reason": reason.removeprefix(NOT_INVOICED_PREFIX)}
    if reason.startswith("shipment ") and " matched with " in reason:
        return "shipment_matched", {"text": reason}
    if head in _ACTIONS:
        return "status_changed_by_operator", {"action": head, "reason": rest}
    event_type = reason.removesuffix(" received")
    if head in ("order_cancelled", "cancellation_withdrawn"):
        event_type = head
    if event_type == "details_reported":
        return ("ordered" if entry.get("from_stage") is None else "details_updated"), {}
    if event_type == "shipment_sent":
        code = "partly_shipped" if to_stage == Stage.PARTIALLY_SHIPPED.value else "shipped"
        at = str(entry.get("at", ""))
        match = next((s for s in shipments if str(s.get("shipped_at")) == at), None)
        return code, shipment_params(match) if match is not None else {}
    if event_type in _RECEIVED:
        params = {"reason": rest} if rest and head == event_type else {}
        return _RECEIVED[event_type], params
    return "note", {"text": reason}
