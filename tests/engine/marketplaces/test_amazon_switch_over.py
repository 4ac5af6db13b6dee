"""Switching a store from Orders API v0 to v2026-01-01 re-invoices nothing.

The same Amazon facts (generated order stories applied to the fake seller account) are read
through both versions after every change; both must give the same delivery ids, event ids and
lines, and the lifecycle the same triggers, also when a store switches halfway.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.dev.fakes.amazon import AmazonShop, FakeAmazon, PlaceOrder, Step
from engine.dev.fakes.amazon_v2026 import render_order
from engine.domain import lifecycle
from engine.domain.config import Company, InvoiceGranularity, Store
from engine.domain.marketplaces import amazon
from engine.domain.marketplaces.amazon import v2026 as amazon_v2026
from models.events import DetailsReported, OrderEvent
from models.order import Marketplace

STORE = Store(
    "amazon-de", "acme-nl", Marketplace.AMAZON, InvoiceGranularity.PER_ORDER,
    amazon_marketplace_id="A1PA6795UKMFR9", fba_ship_from_country="DE",
)  # fmt: skip
COMPANY = Company("acme-nl", "Acme B.V.", "NL", "NL859123456B01", True)
RECEIVED = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
FINANCE_LISTS = ("ShipmentEventList", "RefundEventList", "GuaranteeClaimEventList")


def _finances(fake: FakeAmazon, order_id: str) -> dict[str, Any] | None:
    posted = fake.finances.get(order_id)
    if not posted:
        return None
    return {name: list(posted.get(name, [])) for name in (*FINANCE_LISTS, "ChargebackEventList")}


def v0_document(fake: FakeAmazon, order_id: str) -> bytes:
    return amazon.order_document(
        fake.orders[order_id], fake.items[order_id], _finances(fake, order_id)
    )


def v2026_document(fake: FakeAmazon, order_id: str) -> bytes:
    return amazon_v2026.order_document(render_order(fake, order_id), _finances(fake, order_id))


def _order_of(step: Step) -> str:
    return step.order["AmazonOrderId"] if isinstance(step, PlaceOrder) else step.order_id


def _stories(count: int, seed: int) -> list[Step]:
    shop = AmazonShop(seed=seed, business_share=0.3, split_share=0.5)
    steps = [step for story in shop.stories(count) for step in story]
    return sorted(steps, key=lambda step: step.at)


def _fetches(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(v0 document, v2026 document) of the touched order after every change."""
    fake = FakeAmazon(usage_plans={})
    fetched = []
    for step in _stories(count, seed):
        fake.apply(step)
        order_id = _order_of(step)
        fetched.append((v0_document(fake, order_id), v2026_document(fake, order_id)))
    return fetched


def _events(document: bytes, store: Store, v0: bool) -> list[OrderEvent]:
    if v0:
        return amazon.normalise_order(document, store, RECEIVED)
    return amazon_v2026.normalise_order(document, store, RECEIVED)


def _lines(events: list[OrderEvent]) -> list[tuple[object, ...]]:
    return [
        (line.line_id, line.quantity, line.net, line.vat, line.gross, line.kind)
        for event in events
        if isinstance(event.payload, DetailsReported)
        for line in event.payload.details.lines
    ]


def _triggers(events: list[OrderEvent], store: Store) -> list[tuple[str, str]]:
    states: dict[object, lifecycle.OrderState | None] = {}
    found = []
    for event in events:
        transition = lifecycle.apply(states.get(event.ref.uuid), event, store, COMPANY)
        states[event.ref.uuid] = transition.state
        found += [(str(t.trigger_id), t.kind.value) for t in transition.triggers]
    return found


@pytest.mark.parametrize("seed", [3, 11])
def test_both_versions_give_the_same_ids_lines_and_customers(seed: int) -> None:
    fetched = _fetches(40, seed)
    business_with_vat_id = 0
    for old, new in fetched:
        assert amazon.document_delivery_id(old) == amazon_v2026.document_delivery_id(new)
        old_events, new_events = _events(old, STORE, True), _events(new, STORE, False)
        assert [e.event_id for e in old_events] == [e.event_id for e in new_events]
        assert [e.ref for e in old_events] == [e.ref for e in new_events]
        assert _lines(old_events) == _lines(new_events)
        for before, after in zip(old_events, new_events, strict=True):
            if isinstance(before.payload, DetailsReported):
                assert isinstance(after.payload, DetailsReported)
                old_details, new_details = before.payload.details, after.payload.details
                # v2026 gives the buyer's email for merchant-fulfilled orders only
                assert replace(old_details.customer, email=None) == replace(
                    new_details.customer, email=None
                )
                assert old_details.ship_from_country == new_details.ship_from_country or (
                    old_details.ship_from_country == "NL" and new_details.ship_from_country is None
                )  # v2026 names an MFN origin once a package ships
                assert (old_details.invoiced_by_marketplace is None) == (
                    new_details.invoiced_by_marketplace is None
                )
                business_with_vat_id += new_details.customer.vat_id is not None
            else:
                assert before.payload == after.payload
    assert business_with_vat_id > 0  # the stories hold Amazon Business orders with a VAT id


@pytest.mark.parametrize("switch_at", [0.0, 0.5, 1.0])
def test_switching_halfway_emits_the_same_triggers_as_staying(switch_at: float) -> None:
    fetched = _fetches(40, 5)
    cut = int(len(fetched) * switch_at)
    stayed = [e for old, _ in fetched for e in _events(old, STORE, True)]
    switched = [e for old, _ in fetched[:cut] for e in _events(old, STORE, True)]
    switched += [e for _, new in fetched[cut:] for e in _events(new, STORE, False)]
    expected = _triggers(stayed, STORE)
    assert expected  # invoices were due
    assert _triggers(switched, STORE) == expected


def test_a_per_shipment_store_switching_is_not_invoiced_twice() -> None:
    """Packages are shipments of their own in v2026; units a v0 item shipment invoiced are
    not invoiced again when the same order is read per package afterwards."""
    store = replace(STORE, invoice_granularity=InvoiceGranularity.PER_SHIPMENT)
    fetched = _fetches(40, 7)
    events = [e for old, _ in fetched for e in _events(old, store, True)]
    events += [e for _, new in fetched for e in _events(new, store, False)]
    assert any(":shipment:package:" in e.event_id for e in events)
    states: dict[object, lifecycle.OrderState | None] = {}
    for event in events:
        transition = lifecycle.apply(states.get(event.ref.uuid), event, store, COMPANY)
        states[event.ref.uuid] = transition.state
    invoiced_orders = 0
    for state in states.values():
        assert state is not None
        units: dict[str, int] = {}
        for trigger_lines in (d.lines for d in state.documents if d.kind.value == "invoice"):
            for line in trigger_lines:
                units[line.line_id] = units.get(line.line_id, 0) + line.quantity
        assert state.details is not None
        ordered = {line.line_id: line.quantity for line in state.details.lines}
        for line_id, quantity in units.items():
            assert quantity <= ordered[line_id], (state.ref.external_order_id, line_id)
        invoiced_orders += bool(units)
    assert invoiced_orders > 5
