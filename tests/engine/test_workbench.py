"""The workbench's pure rules: list parameters, stuck reasons, event codes, valid actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from engine.domain import stuck, workbench
from engine.domain.config import parse_config
from engine.domain.exceptions import ConfigError
from engine.domain.summary import summarise
from engine.shell import readmodel as rm
from models.codec import dumps
from models.commands import OperatorAction
from models.events import ShipmentSent
from models.order import Shipment
from tests.engine.test_lifecycle import (
    PER_ORDER,
    SHIPPED_ALL,
    T0,
    details,
    event,
    operator,
    paid,
    quantities,
    return_requested,
    returned,
    run,
)

KNOWN = {"store": ["shop", "bol-nl"], "company": ["acme-nl"]}


def parse(**query: str) -> workbench.ListQuery:
    return workbench.parse_list_query(query, KNOWN)


# --- list parameters -------------------------------------------------------------------------


def test_the_list_takes_every_documented_filter_and_its_defaults() -> None:
    query = parse(
        marketplace="bol",
        store="bol-nl",
        company="acme-nl",
        country="nl",
        status="paid",
        payment_status="paid",
        fulfilment_status="unfulfilled",
        invoice_status="none",
        return_status="none",
        q="Sanne",
    )
    assert query.filters == {
        "marketplace": "bol",
        "store": "bol-nl",
        "company": "acme-nl",
        "country": "NL",
        "stage": "paid",
        "payment_status": "paid",
        "fulfilment_status": "unfulfilled",
        "invoice_status": "none",
        "return_status": "none",
    }
    assert (query.text, query.sort, query.direction, query.limit) == (
        "Sanne",
        "ordered_at",
        "desc",
        50,
    )


def test_a_date_range_is_utc_and_a_date_to_covers_its_whole_day() -> None:
    query = parse(**{"from": "2026-12-01", "to": "2026-12-02"})
    assert query.ordered_from == datetime(2026, 12, 1, tzinfo=UTC)
    assert query.ordered_to == datetime(2026, 12, 3, tzinfo=UTC) - timedelta(microseconds=1)
    offset = parse(**{"from": "2026-12-01T10:00:00+01:00"})
    assert offset.ordered_from == datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"offset": "200"}, "unknown parameter offset"),
        ({"since": "2026-12-01"}, "unknown parameter since"),
        ({"stage": "shipping"}, "stage must be one of"),
        ({"marketplace": "etsy"}, "marketplace must be one of"),
        ({"store": "nope"}, "store must be one of bol-nl, shop"),
        ({"company": "acme-de"}, "company must be one of acme-nl"),
        ({"country": "NLD"}, "country must be"),
        ({"sort": "price"}, "sort must be one of"),
        ({"dir": "up"}, "dir must be desc or asc"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 200"),
        ({"limit": "201"}, "limit must be a whole number from 1 to 200"),
        ({"limit": "many"}, "limit must be"),
        ({"from": "yesterday"}, "from must be an ISO 8601"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from is after to"),
        ({"after": "garbage!"}, "after is not a cursor"),
        ({"status": "paid", "stage": "new"}, "status and stage say different things"),
    ],
)
def test_an_unknown_parameter_or_value_is_refused_with_its_name(
    query: dict[str, str], named: str
) -> None:
    with pytest.raises(workbench.BadParameter, match=named):
        parse(**query)


def test_a_cursor_belongs_to_its_sort() -> None:
    cursor = workbench.Cursor("1765000000.5", "u-1", "name", "asc").encode()
    assert parse(sort="name", dir="asc", after=cursor).after == workbench.Cursor(
        "1765000000.5", "u-1", "name", "asc"
    )
    with pytest.raises(workbench.BadParameter, match="cursor of sort=name&dir=asc"):
        parse(sort="name", after=cursor)


def test_text_sort_scores_keep_the_order_of_the_first_eight_characters() -> None:
    names = ["Émile", "anna", "Bert", "bertje", "#1001", "#999", "Zoë", ""]
    ordered = sorted(names, key=rm.text_score)
    assert ordered == ["", "#1001", "#999", "anna", "Bert", "bertje", "Émile", "Zoë"]


def test_search_tokens_cover_name_ids_customer_skus_and_uuid() -> None:
    order = {
        "order_uuid": "3f2a9c1e-0000-4000-8000-000000000001",
        "name": "#1001",
        "external_order_id": "402-1234567-7654321",
        "customer": "Lukas Peeters",
        "lines": [{"sku": "MUG-BLUE"}, {"sku": "SHIPPING"}],
    }
    tokens = rm.search_tokens(order)
    for word in ["#1001", "1001", "402-1234567-7654321", "7654321", "lukas", "peeters"]:
        assert word in tokens
    assert {"mug-blue", "mug", "blue", "3f2a9c1e-0000-4000-8000-000000000001"} <= tokens
    assert rm.search_words("  Peeters  MUG ") == ["peeters", "mug"]


# --- stuck -----------------------------------------------------------------------------------


def summary(state_events: list[Any], store: Any = PER_ORDER) -> dict[str, Any]:
    state, _ = run(state_events, store)
    made = summarise(state, store)
    assert made is not None
    document: dict[str, Any] = orjson.loads(dumps(made))
    return document


def test_each_stage_waits_for_its_own_thing() -> None:
    new = summary([details(T0)])
    assert stuck.waiting_for(new) == stuck.Waiting(
        "awaiting_payment", T0, {"marketplace": "shopify"}
    )
    ordered_paid = summary([details(T0), paid(T0 + timedelta(hours=1))])
    waiting = stuck.waiting_for(ordered_paid)
    assert waiting is not None
    assert (waiting.reason, waiting.since) == ("awaiting_shipment", T0 + timedelta(hours=1))
    partly = summary([details(T0), paid(T0), shipment("s1", T0 + timedelta(hours=2), ("a", 1))])
    assert stuck.waiting_for(partly) == stuck.Waiting(
        "partly_shipped", T0 + timedelta(hours=2), {"marketplace": "shopify", "shipments": 1}
    )
    invoiced = summary([details(T0), paid(T0), shipment("s1", T0, *SHIPPED_ALL)])
    assert invoiced["stage"] == "invoiced"
    waiting = stuck.waiting_for(invoiced)
    assert waiting is not None
    assert (waiting.reason, waiting.params) == (
        "awaiting_invoice_confirmation",
        {"unconfirmed_invoices": 1},
    )
    requested = summary(
        [
            details(T0),
            paid(T0),
            shipment("s1", T0, *SHIPPED_ALL),
            return_requested("r1", T0, ("a", 1)),
        ]
    )
    assert stuck.waiting_for(requested) is not None
    assert stuck.waiting_for(requested).reason == "awaiting_return"  # type: ignore[union-attr]
    back = summary(
        [
            details(T0),
            paid(T0),
            shipment("s1", T0, *SHIPPED_ALL),
            return_requested("r1", T0, ("a", 1)),
            returned("r1", T0 + timedelta(days=1), ("a", 1)),
        ]
    )
    assert back["stage"] == "returned"
    assert stuck.waiting_for(back).reason == "awaiting_refund"  # type: ignore[union-attr]


def shipment(shipment_id: str, at: datetime, *lines: tuple[str, int]) -> Any:
    parcel = Shipment(
        shipment_id, at, quantities(*lines), carrier="PostNL", tracking_numbers=("3SABC1",)
    )
    return event(f"shipment:{shipment_id}", at, ShipmentSent(parcel))


def test_an_order_is_stuck_only_past_its_limit() -> None:
    order = summary([details(T0), paid(T0)])
    limits = dict(stuck.DEFAULT_LIMITS)
    limit = limits["paid"]
    assert stuck.stuck(order, limits, T0 + timedelta(seconds=limit)) is None
    late = stuck.stuck(order, limits, T0 + timedelta(seconds=limit + 3 * 86400))
    assert late is not None
    assert late.document() == {
        "reason": "awaiting_shipment",
        "since": T0.isoformat().replace("+00:00", "Z"),
        "age_seconds": int(limit + 3 * 86400),
        "limit_seconds": int(limit),
        "params": {"marketplace": "shopify"},
    }
    assert (
        stuck.stuck(order, {**limits, "paid": limit * 10}, T0 + timedelta(seconds=limit * 2))
        is None
    )


def test_a_store_s_limits_override_the_config_defaults_which_override_the_built_in_ones() -> None:
    config = parse_config(
        {
            "stuck_after": {"paid": "12h", "shipped": 3600},
            "companies": [{"id": "acme-nl", "name": "Acme", "country": "NL"}],
            "stores": [
                {"id": "a", "company_id": "acme-nl", "marketplace": "shopify"},
                {
                    "id": "b",
                    "company_id": "acme-nl",
                    "marketplace": "shopify",
                    "stuck_after": {"paid": "3d", "partly_invoiced": "30m"},
                },
            ],
        },
        {},
    )
    a, b = config.stores["a"].stuck_after, config.stores["b"].stuck_after
    assert (a["paid"], a["shipped"], a["new"]) == (12 * 3600, 3600, stuck.DEFAULT_LIMITS["new"])
    assert (b["paid"], b["shipped"], b["partly_invoiced"]) == (3 * 86400, 3600, 1800)
    with pytest.raises(ConfigError, match="unknown stages"):
        stuck.parse_limits({"shiped": "1h"}, "[stuck_after]")
    with pytest.raises(ConfigError, match="not a duration"):
        stuck.parse_limits({"paid": "soon"}, "[stuck_after]")


# --- timeline and actions --------------------------------------------------------------------


def test_the_timeline_of_a_real_order_is_told_in_event_codes() -> None:
    events = [
        details(T0),
        paid(T0 + timedelta(hours=1)),
        shipment("bol-77", T0 + timedelta(hours=2), ("a", 1)),
        shipment("bol-78", T0 + timedelta(hours=3), ("a", 1), ("b", 1)),
        return_requested("r1", T0 + timedelta(days=2), ("a", 1)),
        returned("r1", T0 + timedelta(days=3), ("a", 1)),
    ]
    state, transitions = run(events)
    made = summarise(state, PER_ORDER)
    assert made is not None
    order = orjson.loads(dumps(made))
    entries = [orjson.loads(dumps(e)) for t in transitions for e in t.audit]
    codes = [workbench.timeline_event(entry, order["shipments"]) for entry in entries]
    named = [code for code, _ in codes]
    assert named == [
        "ordered",
        "paid",
        "partly_shipped",
        "shipped",
        "invoice_requested",
        "return_requested",
        "returned",
    ]
    assert codes[2][1] == {
        "shipment_id": "bol-77",
        "carrier": "PostNL",
        "tracking_numbers": ["3SABC1"],
        "by_operator": False,
    }
    assert codes[3][1]["shipment_id"] == "bol-78"


def test_an_operator_shipment_is_named_as_such_never_by_its_internal_id() -> None:
    state, transitions = run(
        [details(T0), paid(T0), operator(OperatorAction.MARK_SHIPPED, T0 + timedelta(hours=1))]
    )
    made = summarise(state, PER_ORDER)
    assert made is not None
    order = orjson.loads(dumps(made))
    entries = [orjson.loads(dumps(e)) for t in transitions for e in t.audit]
    codes = [workbench.timeline_event(entry, order["shipments"]) for entry in entries]
    assert (
        "status_changed_by_operator",
        {"action": "mark_shipped", "reason": "customer phoned"},
    ) in codes
    assert workbench.shipment_params(order["shipments"][0]) == {
        "shipment_id": None,
        "carrier": None,
        "tracking_numbers": [],
        "by_operator": True,
    }


def test_only_the_actions_that_fit_the_order_are_offered() -> None:
    new = summary([details(T0)])
    assert workbench.valid_actions(new) == ["mark_paid", "mark_shipped", "cancel"]
    ordered_paid = summary([details(T0), paid(T0)])
    assert workbench.valid_actions(ordered_paid) == ["mark_shipped", "cancel"]
    invoiced = summary([details(T0), paid(T0), shipment("s1", T0, *SHIPPED_ALL)])
    assert workbench.valid_actions(invoiced) == []
    assert workbench.refused_action(invoiced, "mark_paid") == "the order is already paid"
    assert workbench.refused_action(ordered_paid, "mark_shipped") is None


def test_fees_are_classified_and_kept_exact() -> None:
    state, _ = run([details(T0)])
    assert state.details is not None
    costs = (("Commission", Decimal("4.54")), ("FBAPerUnitFulfillmentFee", Decimal("3.10")))
    with_costs = replace(state, details=replace(state.details, costs=costs))
    made = summarise(with_costs, PER_ORDER)
    assert made is not None
    fees = orjson.loads(dumps(made))["fees"]
    assert fees == [
        {"kind": "commission", "description": "Commission", "amount": "4.54"},
        {"kind": "fba_fee", "description": "FBAPerUnitFulfillmentFee", "amount": "3.10"},
    ]


def test_a_dead_letter_names_whose_it_is_where_the_original_says() -> None:
    event_original = orjson.dumps(
        {
            "ref": {
                "uuid": "u-1",
                "marketplace": "bol",
                "store_id": "bol-nl",
                "external_order_id": "B1",
            }
        }
    ).decode()
    assert rm.dead_letter_owner(event_original) == {
        "store_id": "bol-nl",
        "marketplace": "bol",
        "order_uuid": "u-1",
        "external_order_id": "B1",
    }
    raw = orjson.dumps({"marketplace": "shopify", "store_id": "shop", "body": "..."}).decode()
    assert rm.dead_letter_owner(raw) == {
        "store_id": "shop",
        "marketplace": "shopify",
        "order_uuid": None,
        "external_order_id": None,
    }
    assert rm.dead_letter_owner("not json") == dict.fromkeys(
        ("store_id", "marketplace", "order_uuid", "external_order_id")
    )
