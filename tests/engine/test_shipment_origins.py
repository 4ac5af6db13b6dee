"""Shipments keep the marketplace's tracking and ship-from country; the VAT origin is taken per
shipment (docs/vat.md §7): the lifecycle issues a per-order invoice per origin, the VAT draft
takes the invoice's origin before the order's, and the decision follows where goods leave from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import lifecycle, triggers, vat
from engine.config import Company, InvoiceGranularity, Store
from engine.identity import trigger_id
from engine.marketplaces import bol, shopify
from engine.summary import summarise
from engine.tax import ThresholdState
from models.codec import decode_event, decode_state, encode_event, encode_state
from models.commands import OperatorAction
from models.events import DetailsReported, OrderEvent, ReturnReceived, ShipmentSent
from models.order import (
    Customer,
    Document,
    DocumentKind,
    DocumentScope,
    Marketplace,
    OrderDetails,
    OrderState,
    Return,
    Shipment,
)
from models.trigger import Trigger
from tests import bol_payloads as bol_payloads
from tests import shopify_payloads as shop
from tests.amazon_v2026_examples import GET_ORDER_EXAMPLE
from tests.engine.marketplaces.test_amazon_v2026 import UK_STORE, events_of
from tests.engine.marketplaces.test_shopify import STORE as SHOPIFY_STORE
from tests.engine.marketplaces.test_shopify import delivery
from tests.engine.test_lifecycle import (
    HOUR,
    LINES,
    PER_ORDER,
    PER_SHIPMENT,
    T0,
    details,
    event,
    operator,
    quantities,
    run,
    triggers_of,
)
from tests.engine.test_lifecycle_companies import BE, BE_SITE, SPLIT_ORDER
from tests.engine.test_lifecycle_companies import run as run_split

D = Decimal
#: A Dutch company below the OSS threshold and not OSS-registered: where its goods leave from
#: decides between Dutch VAT (distance sale under the threshold) and the warehouse's own VAT.
NL_SELLER = Company("acme-nl", "Acme B.V.", "NL", "NL004495445B01", oss_registered=False)
GERMAN_CONSUMER = Customer("Jonas Weber", "DE")


def sent(
    shipment_id: str,
    at: datetime,
    *lines: tuple[str, int],
    origin: str | None = None,
    carrier: str | None = None,
    tracking: tuple[str, ...] = (),
    event_id: str | None = None,
) -> OrderEvent:
    shipment = Shipment(
        shipment_id,
        at,
        quantities(*lines),
        carrier=carrier,
        tracking_numbers=tracking,
        ship_from_country=origin,
    )
    return event(event_id or f"shipment:{shipment_id}", at, ShipmentSent(shipment))


def invoices(state: OrderState) -> list[Document]:
    return [d for d in state.documents if d.kind is DocumentKind.INVOICE]


def units(document: Document) -> dict[str, int]:
    return {line.line_id: line.quantity for line in document.lines}


class TestOnePerOrderInvoicePerOrigin:
    def test_shipments_from_two_countries_get_an_invoice_each(self) -> None:
        state, transitions = run(
            [
                details(T0),
                sent("s1", T0 + HOUR, ("a", 1), origin="DE"),
                sent("s2", T0 + 2 * HOUR, ("a", 1), ("b", 1), origin="PL"),
            ]
        )
        first, second = invoices(state)
        # the first origin's invoice carries the delivery charge, as the first company's does
        assert (first.ship_from_country, units(first)) == ("DE", {"a": 1, "ship": 1})
        assert (second.ship_from_country, units(second)) == ("PL", {"a": 1, "b": 1})
        assert [first.trigger_id, second.trigger_id] == [
            trigger_id(state.ref.uuid, DocumentKind.INVOICE, DocumentScope.ORDER, "0"),
            trigger_id(state.ref.uuid, DocumentKind.INVOICE, DocumentScope.ORDER, "1"),
        ]
        # every line's units and money are invoiced exactly once over the two invoices
        gross = sum((line.gross for d in (first, second) for line in d.lines), D(0))
        assert gross == sum((line.gross for line in LINES), D(0))
        assert len(triggers_of(transitions)) == 2

    def test_companies_and_origins_split_together_with_distinct_ids(self) -> None:
        def parcel(
            shipment_id: str, hours: int, site: str | None, origin: str, *lines: tuple[str, int]
        ) -> OrderEvent:
            shipment = Shipment(
                shipment_id,
                T0 + hours * HOUR,
                quantities(*lines),
                location_id=site,
                ship_from_country=origin,
            )
            return event(f"shipment:{shipment_id}", T0 + hours * HOUR, ShipmentSent(shipment))

        state, _ = run_split(
            [
                details(T0),
                parcel("s1", 1, None, "NL", ("a", 1)),
                parcel("s2", 2, BE_SITE, "BE", ("a", 1)),
                parcel("s3", 3, None, "DE", ("b", 1)),
            ],
            SPLIT_ORDER,
        )
        found = [(d.cause, d.company_id, d.ship_from_country, units(d)) for d in invoices(state)]
        assert found == [
            ("order:0", None, "NL", {"a": 1, "ship": 1}),
            (f"order:0@{BE.id}", BE.id, "BE", {"a": 1}),
            ("order:1", None, "DE", {"b": 1}),
        ]

    def test_shipments_from_one_country_get_one_invoice_with_that_origin(self) -> None:
        state, _ = run(
            [
                details(T0),
                sent("s1", T0 + HOUR, ("a", 2), origin="DE"),
                sent("s2", T0 + 2 * HOUR, ("b", 1), origin="DE"),
            ]
        )
        (invoice,) = invoices(state)
        assert invoice.ship_from_country == "DE"
        assert units(invoice) == {"a": 2, "b": 1, "ship": 1}

    def test_shipments_that_name_no_country_are_invoiced_exactly_as_before(self) -> None:
        state, _ = run(
            [details(T0), sent("s1", T0 + HOUR, ("a", 2)), sent("s2", T0 + HOUR, ("b", 1))]
        )
        (invoice,) = invoices(state)
        assert invoice.ship_from_country is None
        assert invoice.cause == "order:0"

    def test_a_credit_note_keeps_the_origin_of_the_invoice_it_corrects(self) -> None:
        state, _ = run(
            [
                details(T0),
                sent("s1", T0 + HOUR, ("a", 2), ("b", 1), origin="PL"),
                event(
                    "ret:r1",
                    T0 + 3 * HOUR,
                    ReturnReceived(Return("r1", T0 + 3 * HOUR, quantities(("b", 1)))),
                ),
            ],
            PER_SHIPMENT,
        )
        (credit,) = [d for d in state.documents if d.kind is DocumentKind.CREDIT_NOTE]
        assert credit.ship_from_country == "PL"


@st.composite
def parcels_from_two_countries(draw: st.DrawFn) -> list[OrderEvent]:
    """The order's units in one to three parcels, each from DE or PL, in any arrival order."""
    boxes: dict[int, list[tuple[str, int]]] = {}
    count = draw(st.integers(1, 3))
    for line_id, quantity in (("a", 2), ("b", 1)):
        for _ in range(quantity):
            boxes.setdefault(draw(st.integers(0, count - 1)), []).append((line_id, 1))
    events = []
    for box, contents in sorted(boxes.items()):
        merged = Counter[str]()
        for line_id, quantity in contents:
            merged[line_id] += quantity
        minutes = draw(st.integers(1, 300))
        origin = draw(st.sampled_from(["DE", "PL"]))
        at = T0 + timedelta(minutes=minutes)
        events.append(sent(f"p{box}", at, *sorted(merged.items()), origin=origin))
    return [details(T0), *draw(st.permutations(events))]


@settings(max_examples=150, deadline=None)
@given(events=parcels_from_two_countries(), store=st.sampled_from([PER_ORDER, PER_SHIPMENT]))
def test_each_unit_is_invoiced_once_from_the_country_it_left_from(
    events: list[OrderEvent], store: Store
) -> None:
    state, transitions = run(events, store)
    shipped_from: Counter[tuple[str, str | None]] = Counter()
    for shipment in state.shipments:
        for part in shipment.lines:
            shipped_from[(part.line_id, shipment.ship_from_country)] += part.quantity
    invoiced_from: Counter[tuple[str, str | None]] = Counter()
    for document in invoices(state):
        for line in document.lines:
            if line.line_id != "ship":
                invoiced_from[(line.line_id, document.ship_from_country)] += line.quantity
    assert invoiced_from == shipped_from
    ids = [t.trigger_id for t in triggers_of(transitions)]
    assert len(ids) == len(set(ids)) == len(invoices(state))
    if store is PER_ORDER:  # no two invoices of one order share an origin
        origins = [d.ship_from_country for d in invoices(state)]
        assert len(origins) == len(set(origins))


class TestTracking:
    def test_a_matched_marketplace_shipment_keeps_its_tracking_and_the_audit_names_it(
        self,
    ) -> None:
        state, transitions = run(
            [
                details(T0),
                operator(OperatorAction.MARK_SHIPPED, T0 + HOUR, "c1"),
                sent(
                    "F-77",
                    T0 + 2 * HOUR,
                    ("a", 2),
                    ("b", 1),
                    origin="PL",
                    carrier="DHL",
                    tracking=("JJD0001",),
                ),
            ]
        )
        kept = next(s for s in state.shipments if s.shipment_id == "F-77")
        assert (kept.carrier, kept.tracking_numbers, kept.ship_from_country) == (
            "DHL",
            ("JJD0001",),
            "PL",
        )
        assert kept.confirms == quantities(("a", 2), ("b", 1))
        (entry,) = transitions[-1].audit
        assert entry.reason == (
            "shipment F-77 (DHL JJD0001, from PL) matched with operator:c1: a x2, b x1 counted once"
        )
        assert transitions[-1].triggers == ()  # the operator's invoice stands; nothing more

    def test_tracking_reported_later_is_added_and_a_stale_report_takes_none_away(self) -> None:
        state, transitions = run(
            [
                details(T0),
                sent("s1", T0 + HOUR, ("a", 2), ("b", 1)),
                sent(
                    "s1",
                    T0 + HOUR,
                    ("a", 2),
                    ("b", 1),
                    carrier="PostNL",
                    tracking=("3S1",),
                    event_id="shipment:s1@2",
                ),
                sent("s1", T0 + HOUR, ("a", 2), ("b", 1), event_id="shipment:s1@stale"),
            ]
        )
        (shipment,) = state.shipments
        assert (shipment.carrier, shipment.tracking_numbers) == ("PostNL", ("3S1",))
        assert len(triggers_of(transitions)) == 1  # the same parcel: one invoice, no more
        summary = summarise(state, PER_ORDER)
        assert summary is not None
        (shown,) = summary.shipments
        assert (shown.shipment_id, shown.carrier, shown.tracking_numbers) == (
            "s1",
            "PostNL",
            ("3S1",),
        )
        assert shown.company_id == PER_ORDER.company_id
        assert orjson.loads(orjson.dumps(shown))["tracking_numbers"] == ["3S1"]


# --- the VAT step ---------------------------------------------------------------------------


def decide(state: OrderState, trigger: Trigger, company: Company = NL_SELLER) -> dict[str, str]:
    document = next(d for d in state.documents if d.trigger_id == trigger.trigger_id)
    draft = vat.draft(state, document, trigger, company, {})
    outcome = vat.invoice(draft, company, ThresholdState(company.id, 2026))
    assert outcome.trigger is not None
    treatment: dict[str, str] = orjson.loads(outcome.trigger)["vat"]
    return {"ship_from": draft.ship_from, **treatment}


def german_order(store: Store, *events: OrderEvent, fba: str | None = None) -> OrderState:
    state: OrderState | None = None
    company = NL_SELLER
    info = OrderDetails("#1001", "EUR", GERMAN_CONSUMER, LINES, T0, T0, ship_from_country=fba)
    for item in [event("details", T0, DetailsReported(info)), *events]:
        state = lifecycle.apply(state, item, store, company).state
    assert state is not None
    return state


def built(state: OrderState, store: Store) -> list[Trigger]:
    return [triggers.build(state, d, store, NL_SELLER) for d in invoices(state)]


class TestVatOriginPerShipment:
    STORE = replace(PER_SHIPMENT, company_id=NL_SELLER.id)

    def test_a_parcel_from_a_german_warehouse_is_german_vat_the_dutch_one_dutch(self) -> None:
        state = german_order(
            self.STORE,
            sent("nl-1", T0 + HOUR, ("a", 2), origin="NL"),
            sent("de-1", T0 + 2 * HOUR, ("b", 1), origin="DE"),
        )
        from_nl, from_de = (decide(state, t) for t in built(state, self.STORE))
        # NL to a German consumer under the EUR 10,000 threshold: Dutch VAT
        assert (from_nl["ship_from"], from_nl["scheme"], from_nl["country"]) == (
            "NL",
            "domestic",
            "NL",
        )
        # the German warehouse to a German consumer: the goods stay in Germany
        assert (from_de["ship_from"], from_de["scheme"], from_de["country"]) == (
            "DE",
            "domestic",
            "DE",
        )
        assert from_de["reason"] == "goods stay in DE"

    def test_a_per_order_invoice_of_one_origin_takes_it(self) -> None:
        store = replace(PER_ORDER, company_id=NL_SELLER.id)
        state = german_order(
            store,
            sent("s1", T0 + HOUR, ("a", 2), origin="DE"),
            sent("s2", T0 + 2 * HOUR, ("b", 1), origin="DE"),
        )
        (only,) = (decide(state, t) for t in built(state, store))
        assert (only["ship_from"], only["country"], only["reason"]) == (
            "DE",
            "DE",
            "goods stay in DE",
        )

    def test_without_a_shipment_origin_the_order_s_and_then_the_company_s_stand(self) -> None:
        store = replace(PER_ORDER, company_id=NL_SELLER.id)
        fba = german_order(store, sent("s1", T0 + HOUR, ("a", 2), ("b", 1)), fba="DE")
        (from_fba,) = (decide(fba, t) for t in built(fba, store))
        assert from_fba["ship_from"] == "DE"  # the order's (an FBA store's) origin
        plain = german_order(store, sent("s1", T0 + HOUR, ("a", 2), ("b", 1)))
        (from_home,) = (decide(plain, t) for t in built(plain, store))
        assert (from_home["ship_from"], from_home["country"]) == ("NL", "NL")


# --- codec ---------------------------------------------------------------------------------


class TestCodec:
    def state(self) -> OrderState:
        state, _ = run(
            [
                details(T0),
                sent(
                    "s1",
                    T0 + HOUR,
                    ("a", 2),
                    ("b", 1),
                    origin="PL",
                    carrier="DPD",
                    tracking=("0123", "0124"),
                ),
            ]
        )
        return state

    def test_tracking_and_origins_survive_a_round_trip(self) -> None:
        state = self.state()
        assert decode_state(encode_state(state)) == state
        (shipment,) = state.shipments
        assert shipment.tracking_numbers == ("0123", "0124")
        assert invoices(state)[0].ship_from_country == "PL"
        shipment_event = sent("s9", T0, ("a", 1), origin="DE", carrier="GLS", tracking=("9",))
        assert decode_event(encode_event(shipment_event)) == shipment_event

    def test_a_state_written_before_tracking_and_origins_decodes(self) -> None:
        document = orjson.loads(encode_state(self.state()))
        for shipment in document["state"]["shipments"]:
            for key in ("carrier", "tracking_numbers", "ship_from_country"):
                del shipment[key]
        for item in document["state"]["documents"]:
            del item["ship_from_country"]
        old = decode_state(orjson.dumps(document))
        (shipment,) = old.shipments
        assert (shipment.carrier, shipment.tracking_numbers, shipment.ship_from_country) == (
            None,
            (),
            None,
        )
        assert invoices(old)[0].ship_from_country is None


# --- normalisers ---------------------------------------------------------------------------


def test_shopify_fulfillment_tracking_and_origin_address_are_kept() -> None:
    fulfillment = {
        **shop.fulfillment(1005, 1, [(10050 + 501, 2)]),
        "tracking_company": "DHL Express",
        "tracking_numbers": ["JD01", "JD02"],
        "origin_address": {"city": "Poznań", "country_code": "pl"},
    }
    document = shop.order(1005, financial_status="paid", fulfillments=[fulfillment])
    events = shopify.normalise(delivery("orders/fulfilled", document), SHOPIFY_STORE)
    (shipment,) = [e.payload.shipment for e in events if isinstance(e.payload, ShipmentSent)]
    assert (shipment.carrier, shipment.tracking_numbers, shipment.ship_from_country) == (
        "DHL Express",
        ("JD01", "JD02"),
        "PL",
    )


def test_shopify_s_single_tracking_number_of_older_versions_is_kept() -> None:
    fulfillment = shop.fulfillment(1005, 1, [(10050 + 501, 2)])  # tracking_number only
    document = shop.order(1005, financial_status="paid", fulfillments=[fulfillment])
    events = shopify.normalise(delivery("orders/fulfilled", document), SHOPIFY_STORE)
    (shipment,) = [e.payload.shipment for e in events if isinstance(e.payload, ShipmentSent)]
    assert (shipment.carrier, shipment.tracking_numbers, shipment.ship_from_country) == (
        None,
        ("3STEST10051",),
        None,
    )


def test_bol_transport_gives_carrier_and_track_and_trace() -> None:
    store = Store("bol-nl", "acme-nl", Marketplace.BOL, InvoiceGranularity.PER_SHIPMENT)
    shipment = bol_payloads.shipment("541757635", "1043965710", [(bol_payloads.LAMP, 1)])
    (parsed,) = bol.parse_shipments(bol_payloads.body(shipment), store, T0)
    assert isinstance(parsed.payload, ShipmentSent)
    kept = parsed.payload.shipment
    assert (kept.carrier, kept.tracking_numbers, kept.ship_from_country) == (
        "TNT",
        ("3SBOL541757635",),
        None,
    )


def test_an_amazon_v2026_package_gives_carrier_tracking_and_ship_from_country() -> None:
    store = replace(UK_STORE, invoice_granularity=InvoiceGranularity.PER_SHIPMENT)
    events = events_of(GET_ORDER_EXAMPLE["order"], store)
    (shipment,) = [e.payload.shipment for e in events if isinstance(e.payload, ShipmentSent)]
    assert (shipment.carrier, shipment.tracking_numbers, shipment.ship_from_country) == (
        "Royal Mail",
        ("RR123456789GB",),
        "GB",
    )
