"""Multi-company routing: shipped units belong to the company of the location they left from.

The rules are in docs/lifecycle.md ("Several companies"); the single-company behaviour is the
one tests/engine/test_lifecycle.py pins down, and must not change.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain import lifecycle
from engine.domain.config import Company, Store
from engine.domain.exceptions import ConfigError
from models.codec import decode_state, encode_state
from models.events import DetailsReported, OrderEvent, ShipmentSent
from models.order import (
    DocumentKind,
    LineKind,
    OrderDetails,
    OrderLine,
    OrderState,
    Shipment,
    Stage,
)
from models.trigger import Trigger, TriggerKind, TriggerScope
from tests.engine.test_lifecycle import (
    COMPANY,
    HOUR,
    ORDER_GROSS,
    PER_ORDER,
    PER_SHIPMENT,
    REF,
    T0,
    cancelled,
    details,
    event,
    histories,
    line,
    quantities,
    returned,
    share,
)

BE = Company("winkel-be", "Winkel BV", "BE", "BE0428759497", oss_registered=False)
DE = Company("winkel-de", "Winkel GmbH", "DE", "DE136695976", oss_registered=True)
COMPANIES = {c.id: c for c in (COMPANY, BE, DE)}
NL_SITE, BE_SITE, DE_SITE, UNMAPPED = "70001", "70002", "70003", "99999"
LOCATIONS = {NL_SITE: COMPANY.id, BE_SITE: BE.id, DE_SITE: DE.id}
SPLIT_ORDER = replace(PER_ORDER, locations=LOCATIONS)
SPLIT_SHIPMENT = replace(PER_SHIPMENT, locations=LOCATIONS)


def shipped_from(
    location: str | None, shipment_id: str, at: datetime, *lines: tuple[str, int]
) -> OrderEvent:
    shipment = Shipment(shipment_id, at, quantities(*lines), location_id=location)
    return event(f"shipment:{shipment_id}", at, ShipmentSent(shipment))


def run(events: list[OrderEvent], store: Store) -> tuple[OrderState, list[lifecycle.Transition]]:
    state: OrderState | None = None
    transitions = []
    for item in events:
        transition = lifecycle.apply(state, item, store, COMPANY, COMPANIES)
        transitions.append(transition)
        state = transition.state
    assert state is not None
    return state, transitions


def triggers_of(transitions: list[lifecycle.Transition]) -> list[Trigger]:
    return [t for transition in transitions for t in transition.triggers]


def net_by_company(triggers: list[Trigger]) -> dict[str, Decimal]:
    """Invoiced minus credited, per company."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for t in triggers:
        net[t.company_id] += t.totals.gross if t.kind is TriggerKind.INVOICE else -t.totals.gross
    return {company: amount for company, amount in net.items()}


def invoice_id(sequence: str) -> uuid.UUID:
    return uuid.uuid5(REF.uuid, f"trigger:invoice:order:{sequence}")


def units(trigger: Trigger) -> dict[str, int]:
    return {x.sku: x.quantity for x in trigger.lines}


# --- examples ------------------------------------------------------------------------------


class TestOneCompany:
    @pytest.mark.parametrize("location", [NL_SITE, UNMAPPED, None])
    @pytest.mark.parametrize("store", ["per_order", "per_shipment"])
    def test_the_store_s_own_locations_change_nothing(
        self, location: str | None, store: str
    ) -> None:
        located, plain = (
            (SPLIT_ORDER, PER_ORDER) if store == "per_order" else (SPLIT_SHIPMENT, PER_SHIPMENT)
        )
        events = [
            details(T0),
            shipped_from(location, "s1", T0 + HOUR, ("a", 1)),
            shipped_from(location, "s2", T0 + 2 * HOUR, ("a", 1), ("b", 1)),
            returned("r1", T0 + 5 * HOUR, ("a", 1)),
        ]
        state, transitions = run(events, located)
        reference, reference_transitions = run(events, plain)
        assert state == reference
        assert triggers_of(transitions) == triggers_of(reference_transitions)
        assert all(d.company_id is None for d in state.documents)
        assert {t.company_id for t in triggers_of(transitions)} == {COMPANY.id}

    def test_an_order_shipped_only_by_another_company_is_invoiced_by_it(self) -> None:
        state, transitions = run(
            [details(T0), shipped_from(BE_SITE, "s1", T0 + HOUR, ("a", 2), ("b", 1))], SPLIT_ORDER
        )
        (invoice,) = triggers_of(transitions)
        assert invoice.company_id == BE.id
        assert invoice.trigger_id == invoice_id("0@winkel-be")
        assert invoice.totals.gross == ORDER_GROSS  # charges and all
        assert state.stage is Stage.INVOICED


class TestSplitPerOrder:
    EVENTS = [
        details(T0),
        shipped_from(NL_SITE, "s1", T0 + HOUR, ("a", 1)),
        shipped_from(BE_SITE, "s2", T0 + 2 * HOUR, ("a", 1), ("b", 1)),
    ]

    def test_one_invoice_per_company_once_everything_has_shipped(self) -> None:
        state, transitions = run(self.EVENTS, SPLIT_ORDER)
        assert not triggers_of(transitions[:-1])  # nothing before the order is fully shipped
        nl, be = transitions[-1].triggers
        assert (nl.company_id, be.company_id) == (COMPANY.id, BE.id)
        assert nl.trigger_id == invoice_id("0")  # the store's own company: the plain id
        assert be.trigger_id == invoice_id("0@winkel-be")
        assert units(nl) == {"SKU-a": 1, "SKU-ship": 1}  # charges: the first company to ship
        assert units(be) == {"SKU-a": 1, "SKU-b": 1}
        assert nl.totals.gross + be.totals.gross == ORDER_GROSS
        assert nl.lines[0].gross + be.lines[0].gross == Decimal("24.20")
        assert nl.created_at == be.created_at == T0 + 2 * HOUR  # the order's tax point
        assert nl.vat.country == "NL" and be.vat.country == "BE"  # each its own company's VAT
        assert state.stage is Stage.INVOICED
        assert [d.company_id for d in state.documents] == [None, BE.id]

    def test_charges_and_fees_go_with_the_company_that_shipped_first(self) -> None:
        events = [
            details(T0),
            shipped_from(NL_SITE, "s2", T0 + 2 * HOUR, ("a", 1), ("b", 1)),
            shipped_from(BE_SITE, "s1", T0 + HOUR, ("a", 1)),
        ]
        _, transitions = run(events, SPLIT_ORDER)
        be, nl = triggers_of(transitions)
        assert units(be) == {"SKU-a": 1, "SKU-ship": 1}
        assert units(nl) == {"SKU-a": 1, "SKU-b": 1}

    def test_a_return_is_credited_by_the_company_whose_invoice_holds_the_units(self) -> None:
        events = [
            *self.EVENTS,
            returned("r1", T0 + 5 * HOUR, ("b", 1)),
            returned("r2", T0 + 6 * HOUR, ("a", 2)),
        ]
        _, transitions = run(events, SPLIT_ORDER)
        nl, be = transitions[2].triggers
        (lamp,) = transitions[3].triggers
        assert (lamp.company_id, lamp.corrects and lamp.corrects.invoice_trigger_id) == (
            BE.id,
            be.trigger_id,
        )
        first, second = transitions[4].triggers  # a's units: NL's invoice first (shipped first)
        assert first.corrects is not None and second.corrects is not None
        assert (first.company_id, first.corrects.invoice_trigger_id) == (COMPANY.id, nl.trigger_id)
        assert (second.company_id, second.corrects.invoice_trigger_id) == (BE.id, be.trigger_id)
        net = net_by_company(triggers_of(transitions))
        assert net == {COMPANY.id: Decimal("4.95"), BE.id: Decimal(0)}

    def test_a_whole_cancellation_after_invoicing_credits_each_company(self) -> None:
        _, transitions = run([*self.EVENTS, cancelled(T0 + 9 * HOUR)], SPLIT_ORDER)
        notes = transitions[-1].triggers
        assert {n.company_id for n in notes} == {COMPANY.id, BE.id}
        assert net_by_company(triggers_of(transitions)) == {COMPANY.id: 0, BE.id: 0}

    def test_the_document_s_company_survives_the_changelog(self) -> None:
        state, _ = run(self.EVENTS, SPLIT_ORDER)
        encoded = encode_state(state)
        assert decode_state(encoded) == state
        assert b'"company_id":"winkel-be"' in encoded

    def test_a_company_missing_from_the_configuration_is_an_error(self) -> None:
        state, _ = run(self.EVENTS[:2], SPLIT_ORDER)
        with pytest.raises(ConfigError, match="winkel-be"):
            lifecycle.apply(state, self.EVENTS[2], SPLIT_ORDER, COMPANY)


class TestSplitPerShipment:
    def test_each_shipment_is_invoiced_by_its_location_s_company(self) -> None:
        events = [
            details(T0),
            shipped_from(BE_SITE, "s1", T0 + HOUR, ("a", 1)),
            shipped_from(NL_SITE, "s2", T0 + 2 * HOUR, ("a", 1), ("b", 1)),
            returned("r1", T0 + 5 * HOUR, ("a", 2)),
        ]
        _, transitions = run(events, SPLIT_SHIPMENT)
        first, second, *notes = triggers_of(transitions)
        assert (first.company_id, second.company_id) == (BE.id, COMPANY.id)
        assert first.scope is second.scope is TriggerScope.SHIPMENT
        assert first.trigger_id == uuid.uuid5(REF.uuid, "trigger:invoice:shipment:s1")
        assert units(first) == {"SKU-a": 1, "SKU-ship": 1}  # the first invoice emitted
        assert sorted(n.company_id for n in notes) == sorted([BE.id, COMPANY.id])
        assert net_by_company(triggers_of(transitions)) == {
            BE.id: Decimal("4.95"),
            COMPANY.id: Decimal("79.00"),
        }


# --- properties over generated split histories ---------------------------------------------

SITES = [BE_SITE, NL_SITE, DE_SITE, UNMAPPED, None]


def site_company(location: str | None) -> str:
    return COMPANY.id if location is None else LOCATIONS.get(location, COMPANY.id)


@st.composite
def split_histories(
    draw: st.DrawFn,
) -> tuple[list[OrderEvent], OrderDetails, dict[str, dict[str, Decimal]]]:
    """A valid history whose boxes leave from locations of several companies, and the gross
    each company keeps: what it invoiced for its units (sliced in the documented order) less
    what the returns take back from it (earliest invoice holding the units first)."""
    lines: list[OrderLine] = []
    for index in range(draw(st.integers(1, 3))):
        cents = Decimal(draw(st.integers(1, 50_000))) / 100
        lines.append(
            line(f"l{index}", draw(st.integers(1, 5).map(lambda n: n % 5 + 1)), f"{cents:.2f}")
        )
    charges = draw(st.booleans())
    if charges:
        lines.append(line("ship", 1, "4.95", LineKind.SHIPPING))
    info = tuple(lines)
    snapshots = [details(T0 + timedelta(minutes=m), info) for m in range(draw(st.integers(1, 3)))]
    final = snapshots[-1].payload
    assert isinstance(final, DetailsReported)
    events = list(snapshots)
    if draw(st.integers(0, 7)) == 7:
        events.append(cancelled(T0 + HOUR))
        return events, final.details, {}
    boxes = draw(st.integers(1, 4).map(lambda n: n % 4 + 1))
    # Mostly two or more companies: the first box's site, then any of the others.
    sites = [draw(st.sampled_from(SITES))]
    sites += [draw(st.sampled_from([s for s in SITES if s != sites[0]])) for _ in range(1, boxes)]
    parts: dict[int, list[tuple[str, int]]] = {}
    cancel: list[tuple[str, int]] = []
    backs: dict[str, int] = {}
    for product in (x for x in info if x.kind is LineKind.PRODUCT):
        dropped = draw(st.integers(0, product.quantity - 1))
        if dropped:
            cancel.append((product.line_id, dropped))
        for _ in range(product.quantity - dropped):  # round robin, shifted at random
            box = (sum(map(len, parts.values())) + draw(st.integers(0, boxes - 1))) % boxes
            parts.setdefault(box, []).append((product.line_id, 1))
        backs[product.line_id] = draw(st.integers(0, product.quantity - dropped))
    if cancel:
        events.append(cancelled(T0 + timedelta(minutes=30), *cancel))
    for box in sorted(parts):  # reported in time order: the reference run
        events.append(shipped_from(sites[box], f"s{box}", T0 + (2 + box) * HOUR, *parts[box]))
    for number, (line_id, back) in enumerate(backs.items()):
        if back:
            events.append(returned(f"r{number}", T0 + (10 + number) * HOUR, (line_id, back)))
    return events, final.details, expected_kept(info, parts, sites, backs, charges)


def expected_kept(
    info: tuple[OrderLine, ...],
    parts: dict[int, list[tuple[str, int]]],
    sites: list[str | None],
    backs: dict[str, int],
    charges: bool,
) -> dict[str, dict[str, Decimal]]:
    """Per granularity, per company: gross kept (the documented rules, computed apart)."""
    order = list(dict.fromkeys(site_company(sites[box]) for box in sorted(parts)))
    result: dict[str, dict[str, Decimal]] = {}
    for granularity in ("per_order", "per_shipment"):
        kept: dict[str, Decimal] = defaultdict(Decimal)
        if charges:  # the first company to ship; per shipment: the first invoice emitted
            kept[order[0]] += sum(
                (x.gross for x in info if x.kind is not LineKind.PRODUCT), Decimal(0)
            )
        for product in (x for x in info if x.kind is LineKind.PRODUCT):
            # The invoice lines holding this line's units, in crediting order.
            holders: list[tuple[str, int]] = []
            for box in sorted(parts):
                count = sum(1 for line_id, _ in parts[box] if line_id == product.line_id)
                if count:
                    holders.append((site_company(sites[box]), count))
            if granularity == "per_order":  # one invoice per company, in shipping order
                merged: dict[str, int] = defaultdict(int)
                for company, count in holders:
                    merged[company] += count
                holders = [(c, merged[c]) for c in order if merged[c]]
            already, back = 0, backs[product.line_id]
            for company, count in holders:
                taken = min(back, count)
                back -= taken
                for amount in (product.net, product.vat):
                    invoiced = share(amount, already + count, product.quantity) - share(
                        amount, already, product.quantity
                    )
                    kept[company] += invoiced - share(invoiced, taken, count)
                already += count
        result[granularity] = {c: amount for c, amount in kept.items() if c in order}
    return result


def comparable(state: OrderState, store: Store) -> object:
    """As in test_lifecycle: per shipment, credit notes may follow arrival order."""
    kinds = {DocumentKind.INVOICE} if store is SPLIT_SHIPMENT else set(DocumentKind)
    documents = sorted((d.trigger_id.hex, d.company_id) for d in state.documents if d.kind in kinds)
    facts = replace(
        state,
        applied_event_ids=tuple(sorted(state.applied_event_ids)),
        documents=(),
        stage_since=None,
        last_changed_at=None,
    )
    return facts, documents


@settings(max_examples=500, deadline=None)
@given(
    history=split_histories(),
    data=st.data(),
    store=st.sampled_from([SPLIT_ORDER, SPLIT_SHIPMENT]),
)
def test_split_orders_any_duplication_and_reordering_gives_the_same_outcome(
    history: tuple[list[OrderEvent], OrderDetails, dict[str, dict[str, Decimal]]],
    data: st.DataObject,
    store: Store,
) -> None:
    events, final_details, _ = history
    reference, reference_transitions = run(events, store)
    noisy = data.draw(
        st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6)))
    )
    state, transitions = run(noisy, store)

    assert comparable(state, store) == comparable(reference, store)
    assert state.details == final_details
    found, expected = triggers_of(transitions), triggers_of(reference_transitions)
    ids = {t.trigger_id for t in found}
    assert len(ids) == len(found)  # each document asked for once
    invoices = {(t.trigger_id, t.company_id) for t in found if t.kind is TriggerKind.INVOICE}
    assert invoices == {
        (t.trigger_id, t.company_id) for t in expected if t.kind is TriggerKind.INVOICE
    }
    if store is SPLIT_ORDER:
        assert ids == {t.trigger_id for t in expected}
        assert {(t.trigger_id, t.company_id) for t in found} == {
            (t.trigger_id, t.company_id) for t in expected
        }
        assert net_by_company(found) == net_by_company(expected)
    else:  # which invoice a return reported early corrects follows arrival (docs/lifecycle.md)
        total = sum(net_by_company(found).values(), Decimal(0))
        assert abs(total - sum(net_by_company(expected).values(), Decimal(0))) <= Decimal(
            "0.01"
        ) * len(ids)


@settings(max_examples=500, deadline=None)
@given(history=split_histories(), store=st.sampled_from([SPLIT_ORDER, SPLIT_SHIPMENT]))
def test_split_orders_per_company_invoiced_minus_credited_is_what_it_kept(
    history: tuple[list[OrderEvent], OrderDetails, dict[str, dict[str, Decimal]]],
    store: Store,
) -> None:
    events, _, kept = history
    state, transitions = run(events, store)
    found = triggers_of(transitions)
    by_id = {d.trigger_id: d for d in state.documents}
    for trigger in found:
        document = by_id[trigger.trigger_id]
        assert trigger.company_id == lifecycle.document_company(store, document)
        if document.corrects is not None:  # a credit note: its invoice's company
            assert trigger.company_id == lifecycle.document_company(store, by_id[document.corrects])
        if document.kind is DocumentKind.INVOICE and document.scope is TriggerScope.ORDER:
            sequence = document.cause.removeprefix("order:")
            assert trigger.trigger_id == invoice_id(sequence)
            assert ("@" in sequence) == (trigger.company_id != COMPANY.id)
    net = net_by_company(found)
    granularity = "per_order" if store is SPLIT_ORDER else "per_shipment"
    assert net == kept.get(granularity, {})
    assert all(amount >= 0 for amount in net.values())


@settings(max_examples=150, deadline=None)
@given(
    history=histories(),
    data=st.data(),
    store=st.sampled_from(["per_order", "per_shipment"]),
)
def test_orders_of_the_store_s_own_company_are_documented_exactly_as_before(
    history: tuple[list[OrderEvent], OrderDetails, Decimal], data: st.DataObject, store: str
) -> None:
    """Shipments from the store's own, unmapped or unnamed locations: the state, documents
    and triggers of a store with `locations` equal those of the same store without."""
    events = []
    for item in history[0]:
        if isinstance(item.payload, ShipmentSent):
            site = data.draw(st.sampled_from([NL_SITE, UNMAPPED, None]))
            shipment = replace(item.payload.shipment, location_id=site)
            item = replace(item, payload=ShipmentSent(shipment))
        events.append(item)
    located, plain = (
        (SPLIT_ORDER, PER_ORDER) if store == "per_order" else (SPLIT_SHIPMENT, PER_SHIPMENT)
    )
    state, transitions = run(events, located)
    reference, reference_transitions = run(events, plain)
    assert state == reference
    assert triggers_of(transitions) == triggers_of(reference_transitions)
