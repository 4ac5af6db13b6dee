"""The order lifecycle: stages, invoice triggers, idempotency and order-independence."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import lifecycle
from engine.config import Company, InvoiceGranularity, Store
from engine.identity import order_uuid
from engine.money import to_cents
from models.events import DetailsReported, OrderCancelled, OrderEvent, PaymentCaptured, ShipmentSent
from models.order import (
    Customer,
    LineKind,
    Marketplace,
    OrderDetails,
    OrderLine,
    OrderRef,
    OrderState,
    Shipment,
    ShippedLine,
    Stage,
)
from models.trigger import TriggerScope

COMPANY = Company("acme-nl", "Acme B.V.", "NL", "NL004495445B01", oss_registered=True)
PER_ORDER = Store("shop", COMPANY.id, Marketplace.SHOPIFY, InvoiceGranularity.PER_ORDER)
PER_SHIPMENT = replace(PER_ORDER, invoice_granularity=InvoiceGranularity.PER_SHIPMENT)
REF = OrderRef(order_uuid("shop", Marketplace.SHOPIFY, "1001"), Marketplace.SHOPIFY, "shop", "1001")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def line(line_id: str, quantity: int, gross: str, kind: LineKind = LineKind.PRODUCT) -> OrderLine:
    total = Decimal(gross)
    vat = to_cents(total * Decimal("0.21") / Decimal("1.21"))
    return OrderLine(
        line_id,
        f"SKU-{line_id}",
        f"Item {line_id}",
        quantity,
        total - vat,
        vat,
        total,
        Decimal("0.21"),
        kind,
    )


LINES = (line("a", 2, "24.20"), line("b", 1, "79.00"), line("ship", 1, "4.95", LineKind.SHIPPING))


def details_event(
    at: datetime, lines: tuple[OrderLine, ...] = LINES, name: str = "Sanne"
) -> OrderEvent:
    details = OrderDetails("#1001", "EUR", Customer(name, "NL"), lines, T0, at)
    return OrderEvent(f"details@{at.isoformat()}", REF, at, at, "test", DetailsReported(details))


def shipment_event(shipment_id: str, at: datetime, *lines: tuple[str, int]) -> OrderEvent:
    shipment = Shipment(shipment_id, at, tuple(ShippedLine(i, q) for i, q in lines))
    return OrderEvent(f"shipment:{shipment_id}", REF, at, at, "test", ShipmentSent(shipment))


def paid_event(at: datetime) -> OrderEvent:
    return OrderEvent(f"paid@{at.isoformat()}", REF, at, at, "test", PaymentCaptured(at))


def cancel_event(at: datetime) -> OrderEvent:
    return OrderEvent("cancelled", REF, at, at, "test", OrderCancelled(at, "customer"))


def run(
    events: list[OrderEvent], store: Store = PER_ORDER
) -> tuple[OrderState | None, list[lifecycle.Transition]]:
    state: OrderState | None = None
    transitions = []
    for event in events:
        transition = lifecycle.apply(state, event, store, COMPANY)
        transitions.append(transition)
        state = transition.state
    return state, transitions


def triggers_of(transitions: list[lifecycle.Transition]) -> list[object]:
    return [t for transition in transitions for t in transition.triggers]


class TestStages:
    def test_an_order_moves_through_its_stages_and_is_invoiced_once_fully_shipped(self) -> None:
        events = [
            details_event(T0),
            paid_event(T0 + timedelta(minutes=5)),
            shipment_event("s1", T0 + timedelta(hours=2), ("a", 1)),
            shipment_event("s2", T0 + timedelta(hours=3), ("a", 1), ("b", 1)),
        ]
        state, transitions = run(events)
        assert [t.state.stage for t in transitions] == [
            Stage.NEW,
            Stage.PAID,
            Stage.PARTIALLY_SHIPPED,
            Stage.INVOICED,
        ]
        (trigger,) = triggers_of(transitions)
        assert trigger.trigger_id == uuid.uuid5(REF.uuid, "trigger:invoice:order:0")  # type: ignore[attr-defined]
        assert trigger.scope is TriggerScope.ORDER  # type: ignore[attr-defined]
        assert trigger.totals.gross == Decimal("108.15")  # type: ignore[attr-defined]
        assert trigger.created_at == T0 + timedelta(hours=3)  # type: ignore[attr-defined]
        assert state is not None and state.locked

    def test_every_stage_change_is_audited_with_actor_and_source(self) -> None:
        _, transitions = run([details_event(T0), shipment_event("s1", T0, ("a", 2), ("b", 1))])
        entries = [e for t in transitions for e in t.audit]
        assert [(e.from_stage, e.to_stage, e.actor) for e in entries] == [
            (None, Stage.NEW, "shopify"),
            (Stage.NEW, Stage.SHIPPED, "shopify"),
            (Stage.SHIPPED, Stage.INVOICED, "system"),
        ]
        assert entries[1].source_event_id == "shipment:s1"
        assert len({e.entry_id for e in entries}) == 3

    def test_an_order_cancelled_before_shipping_is_never_invoiced(self) -> None:
        state, transitions = run(
            [
                details_event(T0),
                paid_event(T0),
                cancel_event(T0 + timedelta(hours=1)),
                shipment_event("s1", T0 + timedelta(hours=2), ("a", 2), ("b", 1)),
            ]
        )
        assert state is not None and state.stage is Stage.CANCELLED
        assert triggers_of(transitions) == []

    def test_a_shipment_before_the_order_details_waits_for_them(self) -> None:
        state, transitions = run([shipment_event("s1", T0, ("a", 2), ("b", 1)), details_event(T0)])
        assert state is not None and state.stage is Stage.INVOICED
        assert len(triggers_of(transitions)) == 1

    def test_a_stale_snapshot_never_rolls_details_back(self) -> None:
        newer, older = T0 + timedelta(hours=1), T0
        state, _ = run([details_event(newer, name="Sanne Jansen"), details_event(older, name="S.")])
        assert state is not None and state.details is not None
        assert state.details.customer.name == "Sanne Jansen"

    def test_a_duplicate_event_changes_nothing(self) -> None:
        event = details_event(T0)
        _, transitions = run([event, event])
        assert transitions[1].changed is False
        assert transitions[1].state == transitions[0].state

    def test_invoiced_lines_are_locked_against_marketplace_edits(self) -> None:
        edited = (line("a", 3, "36.30"), *LINES[1:])
        state, transitions = run(
            [
                details_event(T0),
                shipment_event("s1", T0, ("a", 2), ("b", 1)),
                details_event(T0 + timedelta(days=1), lines=edited),
            ]
        )
        assert state is not None and state.details is not None
        assert state.details.lines == LINES
        refusal = transitions[-1].audit[0]
        assert refusal.reason.startswith("refused")
        assert len(triggers_of(transitions)) == 1


class TestPerShipment:
    def test_each_shipment_gets_an_invoice_with_only_its_units(self) -> None:
        _, transitions = run(
            [
                details_event(T0),
                shipment_event("s1", T0 + timedelta(hours=1), ("a", 1)),
                shipment_event("s2", T0 + timedelta(hours=2), ("a", 1), ("b", 1)),
            ],
            PER_SHIPMENT,
        )
        first, second = triggers_of(transitions)
        assert [(x.sku, x.quantity) for x in first.lines] == [("SKU-a", 1), ("SKU-ship", 1)]  # type: ignore[attr-defined]
        assert [(x.sku, x.quantity) for x in second.lines] == [("SKU-a", 1), ("SKU-b", 1)]  # type: ignore[attr-defined]
        assert first.shipment_id == "s1" and second.shipment_id == "s2"  # type: ignore[attr-defined]
        # Half of line a each: 12.10 gross, and the parts add up to the whole to the cent.
        assert first.lines[0].gross == second.lines[0].gross == Decimal("12.10")  # type: ignore[attr-defined]
        assert first.totals.gross + second.totals.gross == Decimal("108.15")  # type: ignore[attr-defined]


# --- properties over generated order histories ---------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[OrderEvent], OrderDetails, bool]:
    """Events of one order: snapshots, payment, shipments covering every unit, or a cancel."""
    count = draw(st.integers(1, 4))
    lines = []
    for index in range(count):
        quantity = draw(st.integers(1, 4))
        cents = draw(st.integers(1, 50_000))
        lines.append(line(f"l{index}", quantity, f"{Decimal(cents) / 100:.2f}"))
    if draw(st.booleans()):
        lines.append(line("ship", 1, "4.95", LineKind.SHIPPING))
    snapshots = draw(st.integers(1, 3))
    events = [
        details_event(T0 + timedelta(minutes=m), tuple(lines), name=f"v{m}")
        for m in range(snapshots)
    ]
    if draw(st.booleans()):
        events.append(paid_event(T0 + timedelta(minutes=draw(st.integers(0, 60)))))
    cancelled = draw(st.integers(0, 4)) == 0
    if cancelled:
        events.append(cancel_event(T0 + timedelta(hours=1)))
    else:
        boxes = draw(st.integers(1, 3))
        parts: dict[int, list[tuple[str, int]]] = {}
        for product in lines:
            if product.kind is not LineKind.PRODUCT:
                continue
            for _ in range(product.quantity):
                box = draw(st.integers(0, boxes - 1))
                parts.setdefault(box, []).append((product.line_id, 1))
        for box, units in parts.items():
            events.append(shipment_event(f"s{box}", T0 + timedelta(hours=2 + box), *units))
    final = events[snapshots - 1].payload
    assert isinstance(final, DetailsReported)
    return events, final.details, cancelled


def comparable(state: OrderState | None, store: Store) -> object:
    assert state is not None
    state = replace(state, applied_event_ids=tuple(sorted(state.applied_event_ids)))
    if store is PER_SHIPMENT:
        # Which invoice carries the delivery charge follows arrival order (lifecycle docs).
        state = replace(
            state, invoices=tuple(replace(r, line_quantities=()) for r in state.invoices)
        )
    return state


@settings(max_examples=150, deadline=None)
@given(history=histories(), data=st.data(), store=st.sampled_from([PER_ORDER, PER_SHIPMENT]))
def test_any_duplication_and_reordering_gives_the_same_outcome(
    history: tuple[list[OrderEvent], OrderDetails, bool], data: st.DataObject, store: Store
) -> None:
    events, details, cancelled = history
    reference, reference_transitions = run(events, store)
    noisy = data.draw(
        st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6)))
    )
    state, transitions = run(noisy, store)

    assert comparable(state, store) == comparable(reference, store)
    ids = {t.trigger_id for t in triggers_of(transitions)}  # type: ignore[attr-defined]
    assert ids == {t.trigger_id for t in triggers_of(reference_transitions)}  # type: ignore[attr-defined]
    assert state is not None and state.details == details
    if cancelled:
        assert ids == set() and state.stage is Stage.CANCELLED
    else:
        assert state.stage is Stage.INVOICED
        # Money is conserved: what was invoiced is what the customer bought, to the cent.
        invoiced = sum((t.totals.gross for t in triggers_of(transitions)), Decimal(0))  # type: ignore[attr-defined]
        assert invoiced == sum((x.gross for x in details.lines), Decimal(0))
        for trigger in triggers_of(transitions):
            for trigger_line in trigger.lines:  # type: ignore[attr-defined]
                assert trigger_line.net + trigger_line.vat == trigger_line.gross
