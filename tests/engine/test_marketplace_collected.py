"""Orders the marketplace invoices itself (Amazon VCS invoicing, deemed supplier, IOSS, Amazon
Business as seller of record): no seller invoice, no credit note, an audit note instead."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from engine.domain import lifecycle
from engine.domain.config import Company, InvoiceGranularity, Store
from engine.domain.identity import order_uuid
from models.codec import decode_event, decode_state, encode_event, encode_state
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ReturnReceived,
    ShipmentSent,
)
from models.order import (
    Cancellation,
    Customer,
    LineKind,
    LineQuantity,
    Marketplace,
    OrderDetails,
    OrderLine,
    OrderRef,
    OrderState,
    Return,
    Shipment,
    Stage,
)

COMPANY = Company("acme-nl", "Acme B.V.", "NL", "NL004495445B01", oss_registered=True)
PER_ORDER = Store("amz", COMPANY.id, Marketplace.AMAZON, InvoiceGranularity.PER_ORDER)
PER_SHIPMENT = replace(PER_ORDER, invoice_granularity=InvoiceGranularity.PER_SHIPMENT)
REF = OrderRef(
    order_uuid("amz", Marketplace.AMAZON, "028-1234567-1234567"),
    Marketplace.AMAZON,
    "amz",
    "028-1234567-1234567",
)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
REASON = "Amazon is the deemed supplier (DeemedResellerCategory UOSS)"

LINES = (
    OrderLine(
        "a",
        "MUG",
        "Mug",
        2,
        Decimal("20.00"),
        Decimal("3.80"),
        Decimal("23.80"),
        Decimal("0.19"),
    ),
    OrderLine(
        "b", "POT", "Pot", 1, Decimal("10.00"), Decimal("1.90"), Decimal("11.90"), Decimal("0.19")
    ),
    OrderLine(
        "shipping",
        "SHIPPING",
        "Shipping",
        1,
        Decimal("4.00"),
        Decimal("0.76"),
        Decimal("4.76"),
        Decimal("0.19"),
        LineKind.SHIPPING,
    ),
)


def event(event_id: str, at: datetime, payload: object) -> OrderEvent:
    return OrderEvent(event_id, REF, at, at, "test", payload)  # type: ignore[arg-type]


def details(at: datetime, invoiced_by: str | None = REASON) -> OrderEvent:
    info = OrderDetails(
        "028-1234567-1234567",
        "EUR",
        Customer("Lena Schmidt", "DE"),
        LINES,
        T0,
        at,
        invoiced_by_marketplace=invoiced_by,
        ship_from_country="PL",
        costs=(("Commission", Decimal("4.25")), ("FBAPerUnitFulfillmentFee", Decimal("6.10"))),
    )
    return event(f"details@{at.isoformat()}", at, DetailsReported(info))


def shipped(shipment_id: str, at: datetime, *lines: tuple[str, int]) -> OrderEvent:
    shipment = Shipment(
        shipment_id, at, tuple(LineQuantity(i, q) for i, q in lines), location_id="AFN"
    )
    return event(f"shipment:{shipment_id}", at, ShipmentSent(shipment))


def run(events: list[OrderEvent], store: Store = PER_ORDER) -> list[lifecycle.Transition]:
    state: OrderState | None = None
    transitions = []
    for item in events:
        transition = lifecycle.apply(state, item, store, COMPANY)
        state = transition.state
        transitions.append(transition)
    return transitions


HISTORY = [
    details(T0),
    event("paid", T0, PaymentCaptured(T0)),
    shipped("s1", T0 + HOUR, ("a", 2)),
    shipped("s2", T0 + 2 * HOUR, ("b", 1)),
]


def test_a_marketplace_invoiced_order_ships_without_any_invoice() -> None:
    transitions = run(HISTORY)
    assert all(not t.triggers for t in transitions)
    final = transitions[-1].state
    assert final.stage is Stage.SHIPPED
    assert final.documents == ()


def test_the_audit_says_why_there_is_no_invoice_once_where_one_would_be_due() -> None:
    transitions = run(HISTORY)
    notes = [
        entry
        for t in transitions
        for entry in t.audit
        if entry.reason.startswith(lifecycle.NOT_INVOICED_PREFIX)
    ]
    assert len(notes) == 1
    note = notes[0]
    assert note.reason == f"no seller invoice: {REASON}"
    assert note.actor == lifecycle.SYSTEM_ACTOR
    assert note.from_stage is note.to_stage is Stage.SHIPPED
    assert note.at == T0 + 2 * HOUR
    assert note.source_event_id == "shipment:s2"


def test_per_shipment_stores_get_no_shipment_invoices_either() -> None:
    transitions = run(HISTORY, PER_SHIPMENT)
    assert all(not t.triggers for t in transitions)
    assert transitions[-1].state.stage is Stage.SHIPPED


def test_the_same_order_without_the_flag_is_invoiced_by_the_seller() -> None:
    transitions = run([details(T0, invoiced_by=None), *HISTORY[1:]])
    triggers = [trigger for t in transitions for trigger in t.triggers]
    assert len(triggers) == 1
    assert triggers[0].totals.gross == Decimal("40.46")
    assert transitions[-1].state.stage is Stage.INVOICED


def test_returns_and_cancellations_after_shipping_make_no_credit_note() -> None:
    later = T0 + 5 * HOUR
    returned = Return("r1", later, (LineQuantity("a", 1),))
    transitions = run([*HISTORY, event("return:r1", later, ReturnReceived(returned))])
    assert all(not t.triggers for t in transitions)
    assert transitions[-1].state.stage is Stage.RETURNED


def test_a_cancelled_marketplace_invoiced_order_is_just_cancelled() -> None:
    whole = Cancellation("order", T0 + HOUR, "cancelled on Amazon")
    transitions = run([details(T0), event("cancel", T0 + HOUR, OrderCancelled(whole))])
    assert transitions[-1].state.stage is Stage.CANCELLED
    assert all(not t.triggers for t in transitions)
    assert not any(
        e.reason.startswith(lifecycle.NOT_INVOICED_PREFIX) for t in transitions for e in t.audit
    )


def test_any_arrival_order_gives_the_same_state_and_no_triggers() -> None:
    finals = set()
    for permutation in itertools.permutations(HISTORY):
        transitions = run(list(permutation))
        assert all(not t.triggers for t in transitions)
        final = transitions[-1].state
        finals.add((final.stage, final.shipments, final.details))
        notes = [
            e
            for t in transitions
            for e in t.audit
            if e.reason.startswith(lifecycle.NOT_INVOICED_PREFIX)
        ]
        assert len(notes) == 1
    assert len(finals) == 1


def test_the_new_details_fields_survive_the_codec() -> None:
    original = details(T0)
    decoded = decode_event(encode_event(original))
    assert decoded == original
    assert isinstance(decoded.payload, DetailsReported)
    assert decoded.payload.details.costs == (
        ("Commission", Decimal("4.25")),
        ("FBAPerUnitFulfillmentFee", Decimal("6.10")),
    )
    state = run(HISTORY)[-1].state
    assert decode_state(encode_state(state)) == state


def test_documents_written_before_the_fields_existed_still_decode() -> None:
    document = orjson.loads(encode_event(details(T0, invoiced_by=None)))
    for key in ("invoiced_by_marketplace", "ship_from_country", "costs"):
        document["payload"]["details"].pop(key)
    decoded = decode_event(orjson.dumps(document))
    assert isinstance(decoded.payload, DetailsReported)
    assert decoded.payload.details.invoiced_by_marketplace is None
    assert decoded.payload.details.costs == ()
