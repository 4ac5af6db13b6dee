"""The order lifecycle: stages, invoices, credit notes, locking, audit, idempotency, ordering."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import lifecycle
from engine.config import Company, InvoiceGranularity, Store
from engine.identity import order_uuid, trigger_id
from engine.money import to_cents
from engine.summary import summarise
from models.commands import OperatorAction
from models.events import (
    CancellationWithdrawn,
    DetailsReported,
    InvoiceIssued,
    OperatorStatusChanged,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
    ShipmentSent,
)
from models.order import (
    Cancellation,
    Customer,
    DocumentKind,
    IssuedInvoice,
    LineKind,
    LineQuantity,
    Marketplace,
    OrderDetails,
    OrderLine,
    OrderRef,
    OrderState,
    Refund,
    Return,
    Shipment,
    Stage,
    Withdrawal,
)
from models.trigger import Trigger, TriggerKind, TriggerScope

COMPANY = Company("acme-nl", "Acme B.V.", "NL", "NL004495445B01", oss_registered=True)
PER_ORDER = Store("shop", COMPANY.id, Marketplace.SHOPIFY, InvoiceGranularity.PER_ORDER)
PER_SHIPMENT = replace(PER_ORDER, invoice_granularity=InvoiceGranularity.PER_SHIPMENT)
REF = OrderRef(order_uuid("shop", Marketplace.SHOPIFY, "1001"), Marketplace.SHOPIFY, "shop", "1001")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


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
ORDER_GROSS = Decimal("108.15")


def quantities(*lines: tuple[str, int]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(line_id, units) for line_id, units in lines)


def event(event_id: str, at: datetime, payload: object) -> OrderEvent:
    return OrderEvent(event_id, REF, at, at, "test", payload)  # type: ignore[arg-type]


def details(at: datetime, lines: tuple[OrderLine, ...] = LINES, name: str = "Sanne") -> OrderEvent:
    info = OrderDetails("#1001", "EUR", Customer(name, "NL"), lines, T0, at)
    return event(f"details@{at.isoformat()}", at, DetailsReported(info))


def shipped(shipment_id: str, at: datetime, *lines: tuple[str, int]) -> OrderEvent:
    return event(
        f"shipment:{shipment_id}", at, ShipmentSent(Shipment(shipment_id, at, quantities(*lines)))
    )


def paid(at: datetime) -> OrderEvent:
    return event(f"paid@{at.isoformat()}", at, PaymentCaptured(at))


def cancelled(at: datetime, *lines: tuple[str, int], cancel_id: str = "c1") -> OrderEvent:
    return event(
        f"cancel:{cancel_id}",
        at,
        OrderCancelled(Cancellation(cancel_id, at, "customer", quantities(*lines))),
    )


def return_requested(return_id: str, at: datetime, *lines: tuple[str, int]) -> OrderEvent:
    return event(f"rr:{return_id}", at, ReturnRequested(Return(return_id, at, quantities(*lines))))


def returned(return_id: str, at: datetime, *lines: tuple[str, int]) -> OrderEvent:
    return event(f"ret:{return_id}", at, ReturnReceived(Return(return_id, at, quantities(*lines))))


def refunded(refund_id: str, at: datetime, amount: str, *lines: tuple[str, int]) -> OrderEvent:
    refund = Refund(refund_id, at, quantities(*lines), Decimal(amount), "goodwill")
    return event(f"refund:{refund_id}", at, RefundIssued(refund))


def operator(action: OperatorAction, at: datetime, command_id: str = "cmd-1") -> OrderEvent:
    payload = OperatorStatusChanged(command_id, "op-anna", action, "customer phoned")
    return event(f"command:{command_id}", at, payload)


SHIPPED_ALL = (("a", 2), ("b", 1))


def run(
    events: list[OrderEvent], store: Store = PER_ORDER
) -> tuple[OrderState, list[lifecycle.Transition]]:
    state: OrderState | None = None
    transitions = []
    for item in events:
        transition = lifecycle.apply(state, item, store, COMPANY)
        transitions.append(transition)
        state = transition.state
    assert state is not None
    return state, transitions


def triggers_of(transitions: list[lifecycle.Transition]) -> list[Trigger]:
    return [t for transition in transitions for t in transition.triggers]


def net_gross(triggers: list[Trigger]) -> Decimal:
    """Invoiced minus credited."""
    return sum(
        (t.totals.gross if t.kind is TriggerKind.INVOICE else -t.totals.gross for t in triggers),
        Decimal(0),
    )


class TestInvoicing:
    def test_an_order_moves_through_its_stages_and_is_invoiced_once_fully_shipped(self) -> None:
        state, transitions = run(
            [
                details(T0),
                paid(T0 + HOUR),
                shipped("s1", T0 + 2 * HOUR, ("a", 1)),
                shipped("s2", T0 + 3 * HOUR, ("a", 1), ("b", 1)),
            ]
        )
        assert [t.state.stage for t in transitions] == [
            Stage.NEW,
            Stage.PAID,
            Stage.PARTIALLY_SHIPPED,
            Stage.INVOICED,
        ]
        (trigger,) = triggers_of(transitions)
        assert trigger.trigger_id == uuid.uuid5(REF.uuid, "trigger:invoice:order:0")
        assert trigger.scope is TriggerScope.ORDER
        assert trigger.totals.gross == ORDER_GROSS
        assert trigger.created_at == T0 + 3 * HOUR  # the tax point: when it all had shipped
        assert state.locked
        assert state.stage_since == T0 + 3 * HOUR

    def test_every_stage_change_is_audited_with_actor_and_source(self) -> None:
        _, transitions = run([details(T0), shipped("s1", T0, *SHIPPED_ALL)])
        entries = [e for t in transitions for e in t.audit]
        assert [(e.from_stage, e.to_stage, e.actor) for e in entries] == [
            (None, Stage.NEW, "shopify"),
            (Stage.NEW, Stage.SHIPPED, "shopify"),
            (Stage.SHIPPED, Stage.INVOICED, "system"),
        ]
        assert entries[1].source_event_id == "shipment:s1"
        assert len({e.entry_id for e in entries}) == 3

    def test_an_order_cancelled_before_shipping_is_never_invoiced(self) -> None:
        state, transitions = run([details(T0), paid(T0), cancelled(T0 + HOUR)])
        assert state.stage is Stage.CANCELLED
        assert triggers_of(transitions) == []

    def test_an_order_called_off_while_partially_shipped_is_never_invoiced(self) -> None:
        state, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, ("a", 1)),
                cancelled(T0 + 2 * HOUR),
            ]
        )
        assert state.stage is Stage.CANCELLED
        assert triggers_of(transitions) == []

    def test_cancelled_units_are_left_off_the_invoice(self) -> None:
        _, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, ("a", 1), ("b", 1)),
                cancelled(T0 + 2 * HOUR, ("a", 1)),
            ]
        )
        (invoice,) = triggers_of(transitions)
        assert {(x.sku, x.quantity) for x in invoice.lines} == {
            ("SKU-a", 1),
            ("SKU-b", 1),
            ("SKU-ship", 1),
        }
        assert invoice.totals.gross == Decimal("12.10") + Decimal("79.00") + Decimal("4.95")

    def test_a_shipment_before_the_order_details_waits_for_them(self) -> None:
        state, transitions = run([shipped("s1", T0, *SHIPPED_ALL), details(T0)])
        assert state.stage is Stage.INVOICED
        assert len(triggers_of(transitions)) == 1

    def test_a_stale_snapshot_never_rolls_details_back(self) -> None:
        state, transitions = run([details(T0 + HOUR, name="Sanne Jansen"), details(T0, name="S.")])
        assert state.details is not None
        assert state.details.customer.name == "Sanne Jansen"
        assert transitions[1].audit == ()
        assert transitions[1].state.details == transitions[0].state.details

    def test_a_duplicate_event_changes_nothing(self) -> None:
        _, transitions = run([details(T0), details(T0)])
        assert transitions[1].changed is False
        assert transitions[1].state == transitions[0].state


class TestPerShipment:
    def test_each_shipment_gets_an_invoice_with_only_its_units(self) -> None:
        state, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, ("a", 1)),
                shipped("s2", T0 + 2 * HOUR, ("a", 1), ("b", 1)),
            ],
            PER_SHIPMENT,
        )
        first, second = triggers_of(transitions)
        assert [(x.sku, x.quantity) for x in first.lines] == [("SKU-a", 1), ("SKU-ship", 1)]
        assert [(x.sku, x.quantity) for x in second.lines] == [("SKU-a", 1), ("SKU-b", 1)]
        assert (first.shipment_id, second.shipment_id) == ("s1", "s2")
        assert first.trigger_id == uuid.uuid5(REF.uuid, "trigger:invoice:shipment:s1")
        # Half of line a each: 12.10 gross, and the parts add up to the whole to the cent.
        assert first.lines[0].gross == second.lines[0].gross == Decimal("12.10")
        assert first.totals.gross + second.totals.gross == ORDER_GROSS
        assert [t.state.stage for t in transitions][-1] is Stage.INVOICED
        assert state.stage is Stage.INVOICED


class TestCreditNotes:
    def test_a_cancellation_after_invoicing_credits_everything_against_the_invoice(self) -> None:
        invoice_id = uuid.uuid5(REF.uuid, "trigger:invoice:order:0")
        issued = IssuedInvoice(invoice_id, "2026-000123", T0 + 4 * HOUR)
        state, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, *SHIPPED_ALL),
                event("issued", T0 + 4 * HOUR, InvoiceIssued(issued)),
                cancelled(T0 + 5 * HOUR),
            ]
        )
        invoice, credit = triggers_of(transitions)
        assert credit.kind is TriggerKind.CREDIT_NOTE
        assert credit.corrects is not None
        assert credit.corrects.invoice_trigger_id == invoice.trigger_id
        assert (credit.corrects.invoice_number, credit.corrects.invoice_date) == (
            "2026-000123",
            T0 + 4 * HOUR,
        )
        assert credit.totals == invoice.totals
        assert state.stage is Stage.CREDITED
        assert net_gross([invoice, credit]) == 0

    def test_a_return_of_one_of_three_units_credits_that_unit_with_its_vat(self) -> None:
        three = (line("m", 3, "36.30"),)
        _state, transitions = run(
            [
                details(T0, three),
                shipped("s1", T0 + HOUR, ("m", 3)),
                return_requested("r1", T0 + 24 * HOUR, ("m", 1)),
                returned("r1", T0 + 48 * HOUR, ("m", 1)),
            ]
        )
        assert [t.state.stage for t in transitions] == [
            Stage.NEW,
            Stage.INVOICED,
            Stage.RETURN_REQUESTED,
            Stage.RETURNED,
        ]
        invoice, credit = triggers_of(transitions)
        (credited,) = credit.lines
        # 36.30 incl. 21% VAT for 3 units: 6.30 VAT; one unit is 12.10 with 2.10 VAT.
        assert (credited.quantity, credited.gross, credited.vat, credited.net) == (
            1,
            Decimal("12.10"),
            Decimal("2.10"),
            Decimal("10.00"),
        )
        assert credit.reason == "return received"
        assert net_gross([invoice, credit]) == Decimal("24.20")  # what the customer kept

    def test_a_return_reported_before_the_invoice_is_credited_with_it(self) -> None:
        _, transitions = run(
            [
                details(T0),
                returned("r1", T0 + 48 * HOUR, ("b", 1)),
                shipped("s1", T0 + HOUR, *SHIPPED_ALL),
            ]
        )
        kinds = [t.kind for t in triggers_of(transitions)]
        assert kinds == [TriggerKind.INVOICE, TriggerKind.CREDIT_NOTE]

    def test_a_money_refund_is_credited_up_to_what_was_invoiced(self) -> None:
        _, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, *SHIPPED_ALL),
                refunded("f1", T0 + 2 * HOUR, "5.00"),
                refunded("f2", T0 + 3 * HOUR, "500.00"),
            ]
        )
        invoice, small, rest = triggers_of(transitions)
        assert small.totals.gross == Decimal("5.00")
        assert all(x.net + x.vat == x.gross for x in small.lines)
        assert rest.totals.gross == ORDER_GROSS - Decimal("5.00")  # never more than invoiced
        assert net_gross([invoice, small, rest]) == 0

    def test_per_shipment_credits_name_the_invoice_that_holds_the_units(self) -> None:
        _, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, ("a", 2)),
                shipped("s2", T0 + 2 * HOUR, ("b", 1)),
                returned("r1", T0 + 5 * HOUR, ("b", 1)),
            ],
            PER_SHIPMENT,
        )
        _first, second, credit = triggers_of(transitions)
        assert credit.corrects is not None
        assert credit.corrects.invoice_trigger_id == second.trigger_id
        assert credit.shipment_id == "s2"

    def test_a_lower_price_after_invoicing_is_credited_as_the_difference(self) -> None:
        cheaper = (line("a", 2, "20.00"), *LINES[1:])
        _state, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, *SHIPPED_ALL),
                details(T0 + 2 * HOUR, cheaper),
            ]
        )
        invoice, credit = triggers_of(transitions)
        assert credit.totals.gross == Decimal("4.20")
        assert credit.reason == "price lowered after invoicing"
        assert net_gross([invoice, credit]) == ORDER_GROSS - Decimal("4.20")

    def test_rewriting_invoiced_data_is_refused_and_audited(self) -> None:
        more = (line("a", 3, "36.30"), *LINES[1:])
        state, transitions = run(
            [
                details(T0),
                shipped("s1", T0, *SHIPPED_ALL),
                details(T0 + HOUR, more, name="Someone else"),
            ]
        )
        assert state.details is not None
        assert state.details.lines == LINES
        assert state.details.customer.name == "Sanne"
        (refusal,) = transitions[-1].audit
        assert refusal.reason.startswith("refused: line a, customer and currency")
        assert len(triggers_of(transitions)) == 1


class TestOperator:
    def test_operator_actions_become_facts_audited_under_the_operator(self) -> None:
        state, transitions = run(
            [
                details(T0),
                operator(OperatorAction.MARK_PAID, T0 + HOUR, "c1"),
                operator(OperatorAction.MARK_SHIPPED, T0 + 2 * HOUR, "c2"),
            ]
        )
        assert state.stage is Stage.INVOICED
        entries = [e for t in transitions[1:] for e in t.audit]
        assert [(e.actor, e.to_stage) for e in entries] == [
            ("op-anna", Stage.PAID),
            ("op-anna", Stage.SHIPPED),
            ("system", Stage.INVOICED),
        ]
        assert entries[0].reason == "mark_paid: customer phoned"

    def test_an_operator_cancel_is_a_whole_cancellation(self) -> None:
        state, _ = run([details(T0), operator(OperatorAction.CANCEL, T0 + HOUR)])
        assert state.stage is Stage.CANCELLED

    def test_an_impossible_operator_action_is_refused_in_the_audit(self) -> None:
        _, transitions = run([details(T0), paid(T0), operator(OperatorAction.MARK_PAID, T0 + HOUR)])
        (entry,) = transitions[-1].audit
        assert entry.reason == "refused: the order is already paid"
        assert entry.actor == "op-anna"


# --- properties over generated order histories ---------------------------------------------


def share(total: Decimal, units: int, of: int) -> Decimal:
    """The documented rounding rule: a slice of a line, half-up to the cent, pro rata."""
    return total if units == of else to_cents(total * units / of)


def kept_value(order_line: OrderLine, shipped_units: int, back: int) -> Decimal:
    """Gross the customer keeps of a line: invoiced for the shipped units, less the returned."""
    kept = Decimal(0)
    for amount in (order_line.net, order_line.vat):
        invoiced = share(amount, shipped_units, order_line.quantity)
        kept += invoiced - share(invoiced, back, shipped_units)
    return kept


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[OrderEvent], OrderDetails, Decimal]:
    """A valid history of one order and the gross value of what the customer keeps.

    Units are either cancelled before shipping or shipped; shipped units may come back
    (returns); or the whole order is called off before anything ships.
    """
    lines = []
    for index in range(draw(st.integers(1, 3))):
        quantity = draw(st.integers(1, 4))
        cents = Decimal(draw(st.integers(1, 50_000))) / 100
        lines.append(line(f"l{index}", quantity, f"{cents:.2f}"))
    if draw(st.booleans()):
        lines.append(line("ship", 1, "4.95", LineKind.SHIPPING))
    info = tuple(lines)
    snapshots = [details(T0 + timedelta(minutes=m), info) for m in range(draw(st.integers(1, 3)))]
    final = snapshots[-1].payload
    assert isinstance(final, DetailsReported)
    events = list(snapshots)
    if draw(st.booleans()):
        events.append(paid(T0 + timedelta(minutes=draw(st.integers(0, 60)))))
    if draw(st.integers(0, 5)) == 0:
        events.append(cancelled(T0 + HOUR))
        return events, final.details, Decimal(0)
    boxes = draw(st.integers(1, 3))
    parts: dict[int, list[tuple[str, int]]] = {}
    cancel: list[tuple[str, int]] = []
    kept = sum((x.gross for x in info if x.kind is not LineKind.PRODUCT), Decimal(0))
    for number, product in enumerate(x for x in info if x.kind is LineKind.PRODUCT):
        dropped = draw(st.integers(0, product.quantity - 1))
        if dropped:
            cancel.append((product.line_id, dropped))
        units = product.quantity - dropped
        for _ in range(units):
            parts.setdefault(draw(st.integers(0, boxes - 1)), []).append((product.line_id, 1))
        back = draw(st.integers(0, units))
        if back:
            events.append(
                returned(f"r{number}", T0 + (10 + number) * HOUR, (product.line_id, back))
            )
        kept += kept_value(product, units, back)
    if cancel:
        events.append(cancelled(T0 + timedelta(minutes=30), *cancel))
    for box, units_in_box in parts.items():
        events.append(shipped(f"s{box}", T0 + (2 + box) * HOUR, *units_in_box))
    return events, final.details, kept


def comparable(state: OrderState, store: Store) -> object:
    """The state without what legitimately follows arrival order (see docs/lifecycle.md).

    With shipment invoices, a return reported before the shipment invoice that holds its units
    is credited against the invoices there are, in as many credit notes as that takes.
    """
    kinds = {DocumentKind.INVOICE} if store is PER_SHIPMENT else set(DocumentKind)
    return replace(
        state,
        applied_event_ids=tuple(sorted(state.applied_event_ids)),
        documents=tuple(sorted(d.trigger_id.hex for d in state.documents if d.kind in kinds)),
        stage_since=None,
        last_changed_at=None,
    )


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data(), store=st.sampled_from([PER_ORDER, PER_SHIPMENT]))
def test_any_duplication_and_reordering_gives_the_same_outcome(
    history: tuple[list[OrderEvent], OrderDetails, Decimal], data: st.DataObject, store: Store
) -> None:
    events, final_details, _ = history
    reference, reference_transitions = run(events, store)
    noisy = data.draw(
        st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6)))
    )
    state, transitions = run(noisy, store)

    assert comparable(state, store) == comparable(reference, store)
    assert state.details == final_details
    ids = {t.trigger_id for t in triggers_of(transitions)}
    assert len(ids) == len(triggers_of(transitions))  # each document asked for once
    if store is PER_ORDER:
        assert ids == {t.trigger_id for t in triggers_of(reference_transitions)}
    difference = net_gross(triggers_of(transitions)) - net_gross(triggers_of(reference_transitions))
    if store is PER_ORDER:
        assert difference == 0
    else:  # which shipment invoice a unit's cent of rounding lands on follows arrival order
        assert abs(difference) <= Decimal("0.01") * len(ids)


@settings(max_examples=200, deadline=None)
@given(history=histories(), store=st.sampled_from([PER_ORDER, PER_SHIPMENT]))
def test_money_is_conserved_invoiced_minus_credited_is_what_the_customer_kept(
    history: tuple[list[OrderEvent], OrderDetails, Decimal], store: Store
) -> None:
    events, _, kept = history
    _, transitions = run(events, store)
    documents = triggers_of(transitions)
    for trigger in documents:
        assert trigger.totals.net + trigger.totals.vat == trigger.totals.gross
        for trigger_line in trigger.lines:
            assert trigger_line.net + trigger_line.vat == trigger_line.gross
    if store is PER_ORDER:
        assert net_gross(documents) == kept
    else:  # shipment invoices round each shipment's slice; the total may differ by cents
        assert abs(net_gross(documents) - kept) <= Decimal("0.01") * len(documents)
    assert net_gross(documents) >= 0


def withdrawn(at: datetime, cancel_id: str = "c1") -> OrderEvent:
    withdrawal = Withdrawal(cancel_id, at, "processing")
    return event(f"withdraw:{cancel_id}@{at.isoformat()}", at, CancellationWithdrawn(withdrawal))


def called_off(at: datetime, cancel_id: str = "c1") -> OrderEvent:
    """A whole-order cancellation whose event id carries its time, as WooCommerce's do."""
    return event(
        f"cancel:{cancel_id}@{at.isoformat()}",
        at,
        OrderCancelled(Cancellation(cancel_id, at, "unpaid")),
    )


class TestWithdrawnCancellations:
    def test_a_withdrawn_cancellation_no_longer_holds_and_the_order_is_invoiced(self) -> None:
        state, transitions = run(
            [
                details(T0),
                called_off(T0 + HOUR),
                withdrawn(T0 + 2 * HOUR),
                paid(T0 + 2 * HOUR),
                shipped("s1", T0 + 3 * HOUR, *SHIPPED_ALL),
            ]
        )
        (invoice,) = triggers_of(transitions)
        assert invoice.kind is TriggerKind.INVOICE and invoice.totals.gross == ORDER_GROSS
        assert state.stage is Stage.INVOICED and state.cancellations == ()
        revived = transitions[2].audit[0]
        assert (revived.from_stage, revived.to_stage) == (Stage.CANCELLED, Stage.NEW)
        assert revived.reason == "cancellation_withdrawn: processing"

    def test_a_withdrawal_older_than_the_cancellation_changes_nothing(self) -> None:
        state, transitions = run([details(T0), called_off(T0 + 2 * HOUR), withdrawn(T0 + HOUR)])
        assert state.stage is Stage.CANCELLED
        assert transitions[-1].changed  # remembered, so a late older cancellation stays void

    def test_a_cancellation_reported_after_a_newer_withdrawal_is_void(self) -> None:
        state, _ = run([details(T0), withdrawn(T0 + 2 * HOUR), called_off(T0 + HOUR)])
        assert state.stage is Stage.NEW and state.cancellations == ()

    def test_cancelling_again_after_a_withdrawal_holds(self) -> None:
        state, transitions = run(
            [
                details(T0),
                called_off(T0 + HOUR),
                withdrawn(T0 + 2 * HOUR),
                called_off(T0 + 3 * HOUR),
                shipped("s1", T0 + 4 * HOUR, *SHIPPED_ALL),
            ]
        )
        assert state.stage is Stage.CANCELLED
        assert triggers_of(transitions) == []

    def test_a_cancellation_already_credited_is_not_withdrawn_and_says_why(self) -> None:
        state, transitions = run(
            [
                details(T0),
                shipped("s1", T0 + HOUR, *SHIPPED_ALL),
                called_off(T0 + 2 * HOUR),
                withdrawn(T0 + 3 * HOUR),
            ]
        )
        invoice, credit = triggers_of(transitions[:3])
        assert credit.kind is TriggerKind.CREDIT_NOTE
        assert transitions[-1].triggers == ()
        (refusal,) = transitions[-1].audit
        assert refusal.reason.startswith("refused: cancellation c1 was withdrawn, but credit note")
        assert state.stage is Stage.CREDITED and len(state.cancellations) == 1
        assert net_gross([invoice, credit]) == 0


# WooCommerce-like snapshots: each delivery's events stay in their order (one Kafka record, one
# partition); deliveries arrive in any order and any number of times.
SNAPSHOTS = [
    [details(T0)],
    [details(T0 + HOUR), called_off(T0 + HOUR)],
    [details(T0 + 2 * HOUR), withdrawn(T0 + 2 * HOUR), paid(T0 + 2 * HOUR)],
    [
        details(T0 + 3 * HOUR),
        withdrawn(T0 + 3 * HOUR),
        paid(T0 + 2 * HOUR),
        shipped("s1", T0 + 3 * HOUR, *SHIPPED_ALL),
    ],
]


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_revived_order_ends_invoiced_once_whatever_the_delivery_order(
    data: st.DataObject,
) -> None:
    deliveries = data.draw(
        st.permutations(SNAPSHOTS + data.draw(st.lists(st.sampled_from(SNAPSHOTS), max_size=4)))
    )
    state, transitions = run([item for delivery in deliveries for item in delivery])
    (invoice,) = triggers_of(transitions)
    assert invoice.kind is TriggerKind.INVOICE and invoice.totals.gross == ORDER_GROSS
    assert state.stage is Stage.INVOICED


# --- an operator's shipment and the marketplace's are one shipment -------------------------


def parcel(
    shipment_id: str, at: datetime, *lines: tuple[str, int], location: str | None = None
) -> OrderEvent:
    shipment = Shipment(shipment_id, at, quantities(*lines), location_id=location)
    return event(f"shipment:{shipment_id}", at, ShipmentSent(shipment))


def invoiced_units(triggers: list[Trigger]) -> dict[str, int]:
    units: dict[str, int] = {}
    for trigger in triggers:
        if trigger.kind is TriggerKind.INVOICE:
            for trigger_line in trigger.lines:
                units[trigger_line.sku] = units.get(trigger_line.sku, 0) + trigger_line.quantity
    return units


class TestDefaultedFields:
    def test_a_defaulted_field_is_audited_once(self) -> None:
        filled = ("$.shipping_lines[0].id: missing, derived shipping:derived-0 from its position",)
        first = details(T0)
        assert isinstance(first.payload, DetailsReported)
        info = replace(first.payload.details, defaulted=filled)
        later = replace(info, as_of=T0 + HOUR)
        _, transitions = run(
            [
                event("d1", T0, DetailsReported(info)),
                event("d2", T0 + HOUR, DetailsReported(later)),
            ]
        )
        reasons = [entry.reason for entry in transitions[0].audit]
        assert reasons == ["details_reported received", f"defaulted {filled[0]}"]
        assert transitions[1].audit == ()


class TestOperatorAndMarketplaceShipments:
    def test_the_marketplace_report_of_an_operator_shipment_is_matched_not_shipped_again(
        self,
    ) -> None:
        state, transitions = run(
            [
                details(T0),
                operator(OperatorAction.MARK_SHIPPED, T0 + HOUR, "c1"),
                parcel("F-77", T0 + 2 * HOUR, ("a", 2), ("b", 1), location="wh-1"),
            ]
        )
        assert state.stage is Stage.INVOICED
        assert len(triggers_of(transitions)) == 1  # the operator's invoice, nothing more
        assert transitions[-1].triggers == ()
        assert lifecycle.shipped_units(state) == {"a": 2, "b": 1}
        kept = next(s for s in state.shipments if s.shipment_id == "F-77")
        assert (kept.shipped_at, kept.location_id) == (T0 + 2 * HOUR, "wh-1")
        assert kept.confirms == quantities(("a", 2), ("b", 1))
        (entry,) = transitions[-1].audit
        assert entry.reason == ("shipment F-77 matched with operator:c1: a x2, b x1 counted once")
        summary = summarise(state, PER_ORDER)
        assert summary is not None
        assert (summary.invoice_status, summary.fulfilment_status) == ("invoiced", "fulfilled")
        assert (entry.from_stage, entry.to_stage) == (Stage.INVOICED, Stage.INVOICED)

    def test_a_per_shipment_store_gets_no_second_invoice_for_the_same_parcel(self) -> None:
        state, transitions = run(
            [
                details(T0),
                operator(OperatorAction.MARK_SHIPPED, T0 + HOUR, "c1"),
                parcel("F-77", T0 + 2 * HOUR, ("a", 2), ("b", 1)),
            ],
            PER_SHIPMENT,
        )
        assert state.stage is Stage.INVOICED
        assert [t.shipment_id for t in triggers_of(transitions)] == ["operator:c1"]

    def test_the_marketplace_reporting_fewer_units_leaves_the_rest_marked_and_says_so(
        self,
    ) -> None:
        state, transitions = run(
            [
                details(T0),
                operator(OperatorAction.MARK_SHIPPED, T0 + HOUR, "c1"),
                parcel("F-1", T0 + 2 * HOUR, ("a", 1)),
            ]
        )
        assert state.stage is Stage.INVOICED
        assert lifecycle.shipped_units(state) == {"a": 2, "b": 1}
        assert lifecycle.unconfirmed_operator_units(state) == {"a": 1, "b": 1}
        (entry,) = transitions[-1].audit
        assert entry.reason == (
            "shipment F-1 matched with operator:c1: a x1 counted once; "
            "marked by an operator, not reported by the marketplace: a x1, b x1"
        )

    def test_units_beyond_the_operators_marks_ship_as_a_shipment_of_their_own(self) -> None:
        # The operator marked what was open while one unit of a was cancelled; the marketplace
        # then reports both units of a: one confirms, one is new (and the order says so).
        state, transitions = run(
            [
                details(T0),
                cancelled(T0, ("a", 1)),
                operator(OperatorAction.MARK_SHIPPED, T0 + HOUR, "c1"),
                parcel("F-2", T0 + 2 * HOUR, ("a", 2), ("b", 1)),
            ],
            PER_SHIPMENT,
        )
        assert lifecycle.shipped_units(state) == {"a": 2, "b": 1}
        kept = next(s for s in state.shipments if s.shipment_id == "F-2")
        assert kept.confirms == quantities(("a", 1), ("b", 1))
        assert "shipped beyond the operator's marks: a x1" in transitions[-1].audit[-1].reason

    def test_an_order_without_operator_shipments_is_documented_as_before(self) -> None:
        state, transitions = run(
            [details(T0), parcel("s1", T0 + HOUR, ("a", 2)), parcel("s2", T0 + HOUR, ("b", 1))]
        )
        assert all(not s.confirms for s in state.shipments)
        (invoice,) = triggers_of(transitions)
        assert invoice.trigger_id == trigger_id(
            REF.uuid, DocumentKind.INVOICE, TriggerScope.ORDER, "0"
        )


@st.composite
def operator_and_marketplace(draw: st.DrawFn) -> tuple[list[OrderEvent], list[str]]:
    """Details, an operator's mark_shipped and the marketplace's parcels (covering all units
    or only some), in any arrival order; returns the events and the marketplace parcel ids."""
    parcels: list[OrderEvent] = []
    ids: list[str] = []
    boxes = draw(st.integers(1, 3))
    contents: dict[int, list[tuple[str, int]]] = {}
    for line_id, quantity in SHIPPED_ALL:
        for _ in range(quantity):
            if draw(st.booleans()) or boxes == 1:
                contents.setdefault(draw(st.integers(0, boxes - 1)), []).append((line_id, 1))
    for box, units in sorted(contents.items()):
        shipment_id = f"F-{box}"
        ids.append(shipment_id)
        minutes = draw(st.integers(0, 300))
        parcels.append(parcel(shipment_id, T0 + timedelta(minutes=minutes), *units, location="wh"))
    mark = operator(OperatorAction.MARK_SHIPPED, T0 + timedelta(minutes=draw(st.integers(0, 300))))
    events = [details(T0), mark, *parcels]
    order = draw(st.permutations(events[1:]))
    return [events[0], *order], ids


@settings(max_examples=200, deadline=None)
@given(case=operator_and_marketplace(), store=st.sampled_from([PER_ORDER, PER_SHIPMENT]))
def test_operator_and_marketplace_shipments_count_each_unit_once_in_any_arrival_order(
    case: tuple[list[OrderEvent], list[str]], store: Store
) -> None:
    events, parcel_ids = case
    state, transitions = run(events, store)
    assert lifecycle.shipped_units(state) == {"a": 2, "b": 1}  # every unit once, none twice
    assert state.stage is Stage.INVOICED
    assert invoiced_units(triggers_of(transitions)) == {"SKU-a": 2, "SKU-b": 1, "SKU-ship": 1}
    kept = {s.shipment_id: s for s in state.shipments}
    for shipment_id in parcel_ids:  # the marketplace's data is kept, whatever came first
        assert kept[shipment_id].location_id == "wh"
    reported = sum(len(kept[shipment_id].lines) for shipment_id in parcel_ids)
    if reported == 3:  # the marketplace reported every unit: no operator mark is left open
        assert not lifecycle.unconfirmed_operator_units(state)
    ids = [t.trigger_id for t in triggers_of(transitions)]
    assert len(ids) == len(set(ids))
