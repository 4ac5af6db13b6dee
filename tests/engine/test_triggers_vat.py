"""The VAT step on triggers (engine/vat.py): hand-computed cases an accountant can check.

The seller is a Dutch company shipping from the Netherlands. Every expected amount is worked
out in the comment next to it with the one rounding rule of docs/vat.md §5.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import triggers, vat
from engine.config import Company, InvoiceGranularity, Store
from engine.identity import order_uuid, trigger_id
from engine.tax import TaxError, ThresholdLevel, ThresholdState
from engine.tax.vies import ViesAnswer
from models.order import (
    Customer,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentScope,
    LineKind,
    Marketplace,
    OrderDetails,
    OrderLine,
    OrderRef,
    OrderState,
    Stage,
)
from models.trigger import VatDraft, VatScheme

D = Decimal
NL_SELLER = Company("acme", "Acme B.V.", "NL", "NL004495445B01", oss_registered=False)
NL_OSS = replace(NL_SELLER, oss_registered=True)
STORE = Store("shop", "acme", Marketplace.SHOPIFY, InvoiceGranularity.PER_ORDER)
SHIPPED = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
CONSUMER_BE = Customer("Lukas Peeters", "BE")
CONSUMER_NL = Customer("Sanne de Vries", "NL")


def line(
    line_id: str,
    sku: str,
    quantity: int,
    charged: str,
    marketplace_vat: str,
    *,
    include: bool = True,
    kind: LineKind = LineKind.PRODUCT,
) -> OrderLine:
    """A line as the marketplace reports it: `charged` in the order's price basis."""
    amount, tax = D(charged), D(marketplace_vat)
    net, gross = (amount - tax, amount) if include else (amount, amount + tax)
    rate = (tax / net).quantize(D("0.01")) if net else D(0)
    return OrderLine(line_id, sku, sku.title(), quantity, net, tax, gross, rate, kind)


MUG = line("1", "MUG-BLUE", 2, "24.20", "4.20")  # 2 x 12.10 incl. 21%
SHIPPING = line("s", "SHIPPING", 1, "4.95", "0.86", kind=LineKind.SHIPPING)


def order(
    lines: tuple[OrderLine, ...],
    customer: Customer,
    *,
    include: bool = True,
    currency: str = "EUR",
    external: str = "1001",
) -> OrderState:
    ref = OrderRef(
        order_uuid(STORE.id, Marketplace.SHOPIFY, external), Marketplace.SHOPIFY, STORE.id, external
    )
    details = OrderDetails(
        name=f"#{external}",
        currency=currency,
        customer=customer,
        lines=lines,
        placed_at=SHIPPED,
        as_of=SHIPPED,
        prices_include_vat=include,
    )
    return OrderState(ref, Stage.SHIPPED, details=details)


def invoice_draft(
    state: OrderState,
    company: Company = NL_SELLER,
    shipped: datetime = SHIPPED,
    categories: dict[str, str] | None = None,
) -> tuple[OrderState, VatDraft]:
    assert state.details is not None
    document = Document(
        trigger_id=trigger_id(state.ref.uuid, DocumentKind.INVOICE, DocumentScope.ORDER, 0),
        kind=DocumentKind.INVOICE,
        scope=DocumentScope.ORDER,
        cause="order:0",
        created_at=shipped,
        lines=tuple(
            DocumentLine(x.line_id, x.quantity, x.net, x.vat, x.gross) for x in state.details.lines
        ),
    )
    state = replace(state, documents=(document,))
    trigger = triggers.build(state, document, STORE, company)
    return state, vat.draft(state, document, trigger, company, categories or {})


def credit_draft(
    state: OrderState,
    parts: tuple[DocumentLine, ...],
    at: datetime,
    company: Company = NL_SELLER,
    cause: str = "return:r1",
) -> VatDraft:
    invoice = state.documents[0]
    document = Document(
        trigger_id=trigger_id(
            state.ref.uuid, DocumentKind.CREDIT_NOTE, DocumentScope.ORDER, f"{cause}/0"
        ),
        kind=DocumentKind.CREDIT_NOTE,
        scope=DocumentScope.ORDER,
        cause=cause,
        created_at=at,
        lines=parts,
        corrects=invoice.trigger_id,
    )
    state = replace(state, documents=(*state.documents, document))
    trigger = triggers.build(state, document, STORE, company)
    return vat.draft(state, document, trigger, company, {})


def fresh(company: Company = NL_SELLER, total: str = "0.00") -> ThresholdState:
    """A 2026 state standing at `total`, with the 80% level announced once passed."""
    return ThresholdState(company.id, 2026, total_eur=D(total), reached_80=D(total) >= 8000)


def emitted(outcome: vat.Outcome) -> dict[str, object]:
    assert outcome.trigger is not None
    parsed: dict[str, object] = orjson.loads(outcome.trigger)
    return parsed


def amounts(document: dict[str, object]) -> list[tuple[str, str, str, str, str]]:
    return [
        (x["sku"], x["vat_rate"], x["net"], x["vat"], x["gross"])
        for x in document["lines"]  # type: ignore[attr-defined]
    ]


# --- schemes and rates ---------------------------------------------------------------------


def test_nl_consumer_is_domestic_at_21_percent() -> None:
    _, draft = invoice_draft(order((MUG, SHIPPING), CONSUMER_NL))
    outcome = vat.invoice(draft, NL_SELLER, fresh())
    document = emitted(outcome)
    # 24.20 x 0.21 / 1.21 = 4.20; 4.95 x 0.21 / 1.21 = 0.859 -> 0.86
    assert amounts(document) == [
        ("MUG-BLUE", "0.21", "20.00", "4.20", "24.20"),
        ("SHIPPING", "0.21", "4.09", "0.86", "4.95"),
    ]
    assert document["totals"] == {"net": "24.09", "vat": "5.06", "gross": "29.15"}
    assert document["vat"] == {
        "scheme": "domestic",
        "country": "NL",
        "customer_vat_id": None,
        "exemption": None,
        "tax_point": "2026-11-03",
        "reason": "goods stay in NL",
    }
    assert outcome.threshold is None  # a domestic sale is no distance sale


BOOK = line("2", "BOOK-NL", 1, "20.00", "1.65")  # 20.00 incl. 9%


def test_be_consumer_under_the_threshold_pays_dutch_vat_and_counts() -> None:
    state = order((BOOK, MUG), CONSUMER_BE)
    _, draft = invoice_draft(state, categories={"BOOK-NL": "reduced"})
    outcome = vat.invoice(draft, NL_SELLER, fresh(total="5000.00"))
    document = emitted(outcome)
    # Dutch rates: book 9%: 20.00 x 0.09 / 1.09 = 1.651 -> 1.65; mug 21%: 4.20
    assert amounts(document) == [
        ("BOOK-NL", "0.09", "18.35", "1.65", "20.00"),
        ("MUG-BLUE", "0.21", "20.00", "4.20", "24.20"),
    ]
    assert document["vat"]["scheme"] == "domestic"  # type: ignore[index]
    assert document["vat"]["country"] == "NL"  # type: ignore[index]
    # counted at the home rate, net: 18.35 + 20.00 = 38.35
    assert outcome.threshold is not None
    assert outcome.threshold.total_eur == D("5038.35")
    assert outcome.threshold_key == "acme:2026"
    assert outcome.record.counted is not None
    assert outcome.record.counted.amount_eur == D("38.35")


def test_be_consumer_over_the_threshold_pays_belgian_vat_under_oss() -> None:
    _, draft = invoice_draft(order((BOOK, MUG), CONSUMER_BE), categories={"BOOK-NL": "reduced"})
    outcome = vat.invoice(
        draft, NL_SELLER, replace(fresh(total="10500.00"), exceeded_this_year=True)
    )
    document = emitted(outcome)
    # Belgian rates: book 6%: 20.00 x 0.06 / 1.06 = 1.132 -> 1.13; mug 21%: 4.20
    assert amounts(document) == [
        ("BOOK-NL", "0.06", "18.87", "1.13", "20.00"),
        ("MUG-BLUE", "0.21", "20.00", "4.20", "24.20"),
    ]
    assert document["vat"]["scheme"] == "oss"  # type: ignore[index]
    assert document["vat"]["country"] == "BE"  # type: ignore[index]
    assert document["totals"] == {"net": "38.87", "vat": "5.33", "gross": "44.20"}


def test_the_sale_that_crosses_the_threshold_takes_destination_vat_itself() -> None:
    # VAT-exclusive prices: a 100.00 net lamp to a German consumer, the total at 9,950.00.
    lamp = line("3", "LAMP", 1, "100.00", "21.00", include=False)
    _, draft = invoice_draft(order((lamp,), Customer("Jonas Weber", "DE"), include=False))
    outcome = vat.invoice(draft, NL_SELLER, fresh(total="9950.00"))
    document = emitted(outcome)
    # German VAT on the net: 100.00 x 0.19 = 19.00
    assert amounts(document) == [("LAMP", "0.19", "100.00", "19.00", "119.00")]
    assert document["vat"]["scheme"] == "oss"  # type: ignore[index]
    assert outcome.threshold is not None
    assert outcome.threshold.total_eur == D("10050.00")
    assert outcome.threshold.exceeded_this_year
    assert [r.level for r in outcome.reached] == [ThresholdLevel.PERCENT_100]


def test_reaching_80_percent_is_reported_once() -> None:
    lamp = line("3", "LAMP", 1, "100.00", "21.00", include=False)
    _, draft = invoice_draft(order((lamp,), Customer("Jonas Weber", "DE"), include=False))
    outcome = vat.invoice(draft, NL_SELLER, fresh(total="7950.00"))
    assert [r.level for r in outcome.reached] == [ThresholdLevel.PERCENT_80]
    assert emitted(outcome)["vat"]["scheme"] == "domestic"  # type: ignore[index]


def test_a_replayed_draft_is_not_counted_twice() -> None:
    lamp = line("3", "LAMP", 1, "100.00", "21.00", include=False)
    _, draft = invoice_draft(order((lamp,), Customer("Jonas Weber", "DE"), include=False))
    first = vat.invoice(draft, NL_SELLER, fresh(total="9950.00"))
    assert first.threshold is not None
    # The record was lost in a crash but the threshold write landed: deciding again on that
    # state must not add the sale a second time, and must come to the same trigger.
    again = vat.invoice(draft, NL_SELLER, first.threshold)
    assert again.threshold is None
    assert again.trigger == first.trigger
    assert again.record.counted is not None
    assert again.record.counted.after.total_eur == D("10050.00")


def test_restore_writes_back_only_a_lost_threshold_write() -> None:
    lamp = line("3", "LAMP", 1, "100.00", "21.00", include=False)
    _, draft = invoice_draft(order((lamp,), Customer("Jonas Weber", "DE"), include=False))
    before = fresh(total="9950.00")
    outcome = vat.invoice(draft, NL_SELLER, before)
    counted = outcome.record.counted
    assert counted is not None
    assert vat.restore(before, counted) == outcome.threshold  # the write was lost
    assert vat.restore(None, counted) == outcome.threshold
    assert vat.restore(outcome.threshold, counted) is None  # it landed


DE_BUSINESS = Customer("Weber GmbH", "DE", vat_id="DE 136 695 976", is_business=True)


def test_a_german_business_with_a_valid_vat_id_is_reverse_charged_at_zero() -> None:
    _, draft = invoice_draft(order((MUG, SHIPPING), DE_BUSINESS))
    outcome = vat.invoice(draft, NL_SELLER, fresh())
    document = emitted(outcome)
    # 0%: net = gross = the price as stated
    assert amounts(document) == [
        ("MUG-BLUE", "0", "24.20", "0.00", "24.20"),
        ("SHIPPING", "0", "4.95", "0.00", "4.95"),
    ]
    vat_field = document["vat"]
    assert vat_field["scheme"] == "reverse_charge"  # type: ignore[index]
    assert vat_field["country"] == "NL"  # type: ignore[index]
    assert vat_field["customer_vat_id"] == "DE136695976"  # type: ignore[index]
    assert "Art. 138" in vat_field["exemption"]  # type: ignore[index]
    assert document["customer"]["vat_id"] == "DE 136 695 976"  # type: ignore[index]
    assert outcome.threshold is None


CHECKED = datetime(2026, 11, 3, 14, 0, 5, tzinfo=UTC)


def test_vies_confirming_the_number_is_kept_as_evidence_on_the_reverse_charge() -> None:
    _, draft = invoice_draft(order((MUG, SHIPPING), DE_BUSINESS))
    assert vat.vies_question(draft) == "DE 136 695 976"
    answer = ViesAnswer("DE136695976", True, "WAPI000000000001", CHECKED)
    outcome = vat.invoice(draft, NL_SELLER, fresh(), vies=answer)
    document = emitted(outcome)
    # the evidence survives the decision's record, so a replay or a credit note keeps it
    assert vat.decode_record(vat.encode_record(outcome.record)) == outcome.record
    assert document["vat"]["scheme"] == "reverse_charge"  # type: ignore[index]
    assert document["vat"]["vies"] == {  # type: ignore[index]
        "result": "vies_confirmed",
        "vat_id": "DE136695976",
        "consultation_id": "WAPI000000000001",
        "checked_at": "2026-11-03T14:00:05Z",
        "error": None,
    }


def test_vies_refusing_the_number_makes_the_customer_a_consumer() -> None:
    _, draft = invoice_draft(order((MUG,), DE_BUSINESS))
    answer = ViesAnswer("DE136695976", False, "WAPI000000000002", CHECKED)
    outcome = vat.invoice(draft, NL_SELLER, fresh(), vies=answer)
    document = emitted(outcome)
    # a consumer in Germany under the threshold: Dutch VAT, and the sale counts (net 20.00)
    assert document["vat"]["scheme"] == "domestic"  # type: ignore[index]
    assert document["vat"]["reason"].startswith(  # type: ignore[index]
        "distance sale, origin rate (NL to DE to a consumer (VAT number vies_rejected))"
    )
    assert document["vat"]["vies"]["result"] == "vies_rejected"  # type: ignore[index]
    assert amounts(document) == [("MUG-BLUE", "0.21", "20.00", "4.20", "24.20")]
    assert outcome.threshold is not None and outcome.threshold.total_eur == D("20.00")


def test_vies_down_leaves_the_checksum_to_decide_and_says_so() -> None:
    _, draft = invoice_draft(order((MUG,), DE_BUSINESS))
    answer = ViesAnswer("DE136695976", None, error="MS_UNAVAILABLE")
    document = emitted(vat.invoice(draft, NL_SELLER, fresh(), vies=answer))
    assert document["vat"]["scheme"] == "reverse_charge"  # type: ignore[index]
    assert document["vat"]["vies"] == {  # type: ignore[index]
        "result": "format_valid",
        "vat_id": "DE136695976",
        "consultation_id": None,
        "checked_at": None,
        "error": "MS_UNAVAILABLE",
    }


def test_only_a_would_be_reverse_charge_asks_vies() -> None:
    nl_business = Customer("Bakker BV", "NL", vat_id="NL004495445B01", is_business=True)
    for customer in (CONSUMER_BE, nl_business, replace(DE_BUSINESS, vat_id="DE123456789")):
        _, draft = invoice_draft(order((MUG,), customer))
        assert vat.vies_question(draft) is None
    _, draft = invoice_draft(order((MUG,), CONSUMER_NL))
    assert "vies" not in emitted(vat.invoice(draft, NL_SELLER, fresh()))["vat"]  # type: ignore[operator]


def test_a_business_with_an_invalid_vat_id_is_a_distance_sale() -> None:
    customer = replace(DE_BUSINESS, vat_id="DE123456789")
    _, draft = invoice_draft(order((MUG,), customer))
    document = emitted(vat.invoice(draft, NL_OSS, fresh(NL_OSS)))
    assert document["vat"]["scheme"] == "oss"  # type: ignore[index]
    # German 19% on 24.20 incl.: 24.20 x 0.19 / 1.19 = 3.863 -> 3.86
    assert amounts(document) == [("MUG-BLUE", "0.19", "20.34", "3.86", "24.20")]


def test_switzerland_is_an_export_at_zero() -> None:
    _, draft = invoice_draft(order((MUG, SHIPPING), Customer("Anna Meier", "CH")))
    outcome = vat.invoice(draft, NL_SELLER, fresh())
    document = emitted(outcome)
    assert document["vat"]["scheme"] == "export"  # type: ignore[index]
    assert document["vat"]["country"] == "NL"  # type: ignore[index]
    assert "Art. 146" in document["vat"]["exemption"]  # type: ignore[index]
    assert document["totals"] == {"net": "29.15", "vat": "0.00", "gross": "29.15"}


def test_exclusive_prices_are_taxed_on_the_net_and_shipping_is_apportioned_by_value() -> None:
    book = line("2", "BOOK-NL", 1, "24.95", "2.25", include=False)
    lamp = line("3", "LAMP", 1, "60.00", "12.60", include=False)
    ship = line("s", "SHIPPING", 1, "4.09", "0.86", include=False, kind=LineKind.SHIPPING)
    _, draft = invoice_draft(
        order((book, lamp, ship), CONSUMER_NL, include=False), categories={"BOOK-NL": "reduced"}
    )
    document = emitted(vat.invoice(draft, NL_SELLER, fresh()))
    # 24.95 x 0.09 = 2.2455 -> 2.25; 60.00 x 0.21 = 12.60. Shipping 4.09 net over the goods'
    # net 24.95 : 60.00: exact 1.20126.. and 2.88873.., cut to 1.20 + 2.88 = 4.08; the missing
    # cent goes to the larger remainder (the lamp's): 1.20 at 9% (0.108 -> 0.11) and 2.89 at
    # 21% (0.6069 -> 0.61).
    assert amounts(document) == [
        ("BOOK-NL", "0.09", "24.95", "2.25", "27.20"),
        ("LAMP", "0.21", "60.00", "12.60", "72.60"),
        ("SHIPPING", "0.09", "1.20", "0.11", "1.31"),
        ("SHIPPING", "0.21", "2.89", "0.61", "3.50"),
    ]
    descriptions = [x["description"] for x in document["lines"]]  # type: ignore[attr-defined]
    assert descriptions[2:] == ["Shipping (share at 9%)", "Shipping (share at 21%)"]
    assert document["totals"] == {"net": "89.04", "vat": "15.57", "gross": "104.61"}


def test_a_refund_of_apportioned_shipping_comes_back_from_each_share() -> None:
    book = line("2", "BOOK-NL", 1, "20.00", "1.65")
    lamp = line("3", "LAMP", 1, "60.00", "10.41")
    state, draft = invoice_draft(
        order((book, lamp, SHIPPING), CONSUMER_NL), categories={"BOOK-NL": "reduced"}
    )
    invoiced = vat.invoice(draft, NL_SELLER, fresh())
    # 4.95 over 20 : 60 -> 1.2375 / 3.7125 -> 1.24 at 9% and 3.71 at 21%
    assert amounts(emitted(invoiced))[2:] == [
        ("SHIPPING", "0.09", "1.14", "0.10", "1.24"),
        ("SHIPPING", "0.21", "3.07", "0.64", "3.71"),
    ]
    refund = credit_draft(
        state,
        (DocumentLine("s", 0, D("2.00"), D("0.00"), D("2.00")),),
        datetime(2026, 11, 10, tzinfo=UTC),
        cause="refund:7",
    )
    credited = vat.credit(refund, invoiced.record, None)
    # 2.00 over what the shares hold, 1.24 : 3.71 -> 0.50101.. / 1.49898.. -> 0.50 / 1.50
    assert amounts(emitted(credited)) == [
        ("SHIPPING", "0.09", "0.46", "0.04", "0.50"),
        ("SHIPPING", "0.21", "1.24", "0.26", "1.50"),
    ]
    everything = credit_draft(
        state,
        (DocumentLine("s", 1, D("4.09"), D("0.86"), D("4.95")),),
        datetime(2026, 11, 11, tzinfo=UTC),
        cause="cancellation:c1",
    )
    rest = emitted(vat.credit(everything, credited.record, None))
    # the charge cancelled whole: each share gives back what it still holds
    assert amounts(rest) == [
        ("SHIPPING", "0.09", "0.68", "0.06", "0.74"),
        ("SHIPPING", "0.21", "1.83", "0.38", "2.21"),
    ]


@pytest.mark.parametrize(
    ("customer", "company", "categories", "sha256"),
    [
        (
            CONSUMER_NL,
            NL_SELLER,
            {},
            "393f727cb32628034ed650157c69bd86297e7ef7986b8c54b13078ee33026be0",
        ),
        (
            CONSUMER_BE,
            NL_OSS,
            {},
            "221b5d2cdc1efe459fdd12c69829cec373c41f3d7b480db0fc0cf7eeb0884fbc",
        ),
        (
            CONSUMER_NL,
            NL_SELLER,
            {"BOOK-NL": "reduced"},
            "5c575054ab6be30f8efe424ea97f5bbaca5296ef302df082e224ea0e2b8a618f",
        ),
    ],
)
def test_single_rate_triggers_are_byte_for_byte_what_they_were(
    customer: Customer, company: Company, categories: dict[str, str], sha256: str
) -> None:
    # The SHA-256 of each invoice's bytes as the VAT step emitted them before charges were
    # apportioned (domestic at 21%, OSS to Belgium, a 9% book with its shipping at 9%).
    goods = MUG if not categories else line("2", "BOOK-NL", 1, "20.00", "1.65")
    _, draft = invoice_draft(order((goods, SHIPPING), customer), company, categories=categories)
    outcome = vat.invoice(draft, company, fresh(company))
    assert outcome.trigger is not None
    assert hashlib.sha256(outcome.trigger).hexdigest() == sha256


def test_the_rate_follows_the_tax_point_not_the_order_date() -> None:
    # Estonia: 22% until 2025-06-30, 24% from 2025-07-01 (UTC day of the shipment).
    customer = Customer("Mari Tamm", "EE")
    before = datetime(2025, 6, 30, 21, 30, tzinfo=UTC)  # 00:30 in Tallinn, still 30 June UTC
    _, draft = invoice_draft(order((MUG,), customer), NL_OSS, before)
    first = emitted(vat.invoice(draft, NL_OSS, ThresholdState("acme", 2025)))
    # 24.20 x 0.22 / 1.22 = 4.364 -> 4.36
    assert amounts(first) == [("MUG-BLUE", "0.22", "19.84", "4.36", "24.20")]
    _, draft = invoice_draft(order((MUG,), customer), NL_OSS, datetime(2025, 7, 1, tzinfo=UTC))
    second = emitted(vat.invoice(draft, NL_OSS, ThresholdState("acme", 2025)))
    # 24.20 x 0.24 / 1.24 = 4.683 -> 4.68
    assert amounts(second) == [("MUG-BLUE", "0.24", "19.52", "4.68", "24.20")]


def test_other_currencies_count_toward_the_threshold_in_eur_and_stay_on_the_trigger() -> None:
    shipped = datetime(2026, 10, 24, 10, 0, tzinfo=UTC)  # a Saturday: Friday's ECB rate
    lamp = line("3", "LAMP", 1, "1000.00", "210.00", include=False)
    state = order((lamp,), Customer("Erik Berg", "SE"), include=False, currency="SEK")
    _, draft = invoice_draft(state, shipped=shipped)
    outcome = vat.invoice(draft, NL_SELLER, fresh())
    assert emitted(outcome)["currency"] == "SEK"
    # 1000.00 SEK / 11.131 SEK per EUR (ECB, Friday 2026-10-23) = 89.839... -> 89.84
    assert outcome.threshold is not None
    assert outcome.threshold.total_eur == D("89.84")


def test_an_unknown_reduced_rate_is_refused_not_guessed() -> None:
    _, draft = invoice_draft(
        order((BOOK,), Customer("Ana Horvat", "HR")), NL_OSS, categories={"BOOK-NL": "reduced"}
    )
    with pytest.raises(TaxError, match="no reduced VAT rate"):
        vat.invoice(draft, NL_OSS, fresh(NL_OSS))


def test_marketplace_invoiced_orders_get_no_seller_invoice() -> None:
    state = order((MUG,), CONSUMER_BE)
    assert state.details is not None
    state = replace(state, details=replace(state.details, invoiced_by_marketplace="amazon_vcs"))
    _, draft = invoice_draft(state)
    outcome = vat.invoice(draft, NL_SELLER, fresh())
    assert outcome.trigger is None
    assert outcome.record.treatment.scheme is VatScheme.MARKETPLACE_COLLECTED
    assert outcome.threshold is None


# --- credit notes --------------------------------------------------------------------------


def test_a_credit_note_keeps_the_invoice_rate_after_a_rate_change() -> None:
    customer = Customer("Mari Tamm", "EE")
    state, draft = invoice_draft(
        order((MUG,), customer), NL_OSS, datetime(2025, 6, 30, 12, tzinfo=UTC)
    )
    invoiced = vat.invoice(draft, NL_OSS, ThresholdState("acme", 2025))
    # one of the two mugs comes back on 10 July, after Estonia went to 24%
    returned = credit_draft(
        state,
        (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),),
        datetime(2025, 7, 10, tzinfo=UTC),
        NL_OSS,
    )
    credited = vat.credit(returned, invoiced.record, invoiced.threshold)
    document = emitted(credited)
    # the invoice line: 19.84 net, 4.36 VAT at 22%; one of two units: 9.92 and 2.18
    assert amounts(document) == [("MUG-BLUE", "0.22", "9.92", "2.18", "12.10")]
    assert document["vat"]["scheme"] == "oss"  # type: ignore[index]
    assert document["vat"]["tax_point"] == "2025-06-30"  # type: ignore[index]
    assert document["corrects"]["invoice_trigger_id"] == str(invoiced.record.trigger_id)  # type: ignore[index]
    # the second unit takes exactly what is left
    second = replace(
        returned,
        trigger=replace(returned.trigger, trigger_id=UUID("00000000-0000-0000-0000-000000000002")),
    )
    rest = emitted(vat.credit(second, credited.record, credited.threshold))
    assert amounts(rest) == [("MUG-BLUE", "0.22", "9.92", "2.18", "12.10")]


def test_a_money_refund_is_split_at_the_invoice_rate_and_capped() -> None:
    state, draft = invoice_draft(order((MUG, SHIPPING), CONSUMER_NL))
    invoiced = vat.invoice(draft, NL_SELLER, fresh())
    refund = credit_draft(
        state,
        (DocumentLine("s", 0, D("5.00"), D("0.00"), D("9.00")),),  # more than shipping held
        datetime(2026, 11, 10, tzinfo=UTC),
        cause="refund:9",
    )
    document = emitted(vat.credit(refund, invoiced.record, None))
    # capped at the shipping line's 4.95; 4.95 x 0.21 / 1.21 = 0.86
    assert amounts(document) == [("SHIPPING", "0.21", "4.09", "0.86", "4.95")]


def test_a_credit_note_lowers_the_threshold_total_of_the_invoice_year() -> None:
    state, draft = invoice_draft(order((MUG,), CONSUMER_BE))
    invoiced = vat.invoice(draft, NL_SELLER, fresh(total="1000.00"))
    assert invoiced.threshold is not None
    assert invoiced.threshold.total_eur == D("1020.00")  # 24.20 incl. 21%: net 20.00
    returned = credit_draft(
        state,
        (DocumentLine("1", 2, D("20.00"), D("4.20"), D("24.20")),),
        datetime(2027, 1, 5, tzinfo=UTC),
    )
    credited = vat.credit(returned, invoiced.record, invoiced.threshold)
    assert credited.threshold_key == "acme:2026"
    assert credited.threshold is not None
    assert credited.threshold.total_eur == D("1000.00")
    # replayed: recognised, not counted again
    assert vat.credit(returned, invoiced.record, credited.threshold).threshold is None


def test_a_credit_note_must_match_its_invoice() -> None:
    state, _ = invoice_draft(order((MUG,), CONSUMER_NL))
    with pytest.raises(TaxError, match="only invoices"):
        vat.invoice(credit_draft(state, (), datetime(2026, 11, 9, tzinfo=UTC)), NL_SELLER, fresh())
    _, other = invoice_draft(order((MUG,), CONSUMER_NL, external="2002"))
    record = vat.invoice(other, NL_SELLER, fresh()).record
    returned = credit_draft(
        state, (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),), SHIPPED
    )
    with pytest.raises(TaxError, match="not the invoice"):
        vat.credit(returned, record, None)


# --- drafts and records on Kafka -----------------------------------------------------------


def test_drafts_and_records_survive_encoding() -> None:
    state, draft = invoice_draft(
        order((BOOK, MUG, SHIPPING), DE_BUSINESS), categories={"BOOK-NL": "reduced"}
    )
    assert vat.decode_draft(vat.encode_draft(draft)) == draft
    outcome = vat.invoice(draft, NL_SELLER, fresh())
    assert vat.decode_record(vat.encode_record(outcome.record)) == outcome.record
    returned = credit_draft(
        state, (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),), SHIPPED
    )
    assert vat.decode_draft(vat.encode_draft(returned)) == returned
    credited = vat.credit(returned, outcome.record, None)
    assert vat.decode_record(vat.encode_record(credited.record)) == credited.record
    state_after = replace(fresh(), sales_counted=3, recent=("a", "b"), reached_80=True)
    assert vat.decode_threshold(vat.encode_threshold(state_after)) == state_after


def test_the_draft_records_the_price_basis_and_categories() -> None:
    _, draft = invoice_draft(order((BOOK, SHIPPING), CONSUMER_NL), categories={"BOOK-NL": "zero"})
    assert draft.prices_include_vat
    assert draft.tax_point == date(2026, 11, 3)
    assert draft.ship_from == "NL"
    assert draft.goods_categories == ("zero",)
    assert [(x.line_id, x.category, x.units, x.amount) for x in draft.draft_lines] == [
        ("2", "zero", 1, D("20.00")),
        ("s", "standard", 1, D("4.95")),
    ]
    assert vat.prices_include_vat(None, Marketplace.BOL)
    assert not vat.prices_include_vat(None, Marketplace.SHOPIFY)
    assert vat.prices_include_vat(False, Marketplace.BOL) is False


def test_final_triggers_match_the_documented_schema() -> None:
    from pathlib import Path

    from jsonschema import Draft202012Validator

    path = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "trigger.schema.json"
    schema = orjson.loads(path.read_bytes())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    produced = []
    for customer in (CONSUMER_NL, CONSUMER_BE, DE_BUSINESS, Customer("Anna Meier", "CH")):
        state, draft = invoice_draft(order((MUG, SHIPPING), customer))
        outcome = vat.invoice(draft, NL_SELLER, fresh())
        produced.append(emitted(outcome))
        returned = credit_draft(
            state, (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),), SHIPPED
        )
        produced.append(emitted(vat.credit(returned, outcome.record, outcome.threshold)))
    _, checked = invoice_draft(order((MUG,), DE_BUSINESS))
    answer = ViesAnswer("DE136695976", True, "WAPI000000000003", CHECKED)
    produced.append(emitted(vat.invoice(checked, NL_SELLER, fresh(), vies=answer)))
    for document in produced:
        validator.validate(document)
    assert {d["vat"]["scheme"] for d in produced} == {  # type: ignore[index]
        "domestic",
        "reverse_charge",
        "export",
    }


def test_marketplace_fees_travel_on_the_first_invoice_only() -> None:
    state = order((MUG,), CONSUMER_NL)
    assert state.details is not None
    state = replace(state, details=replace(state.details, costs=(("commission", D("3.63")),)))
    state, draft = invoice_draft(state)
    assert draft.trigger.costs == (("commission", D("3.63")),)
    returned = credit_draft(
        state, (DocumentLine("1", 1, D("10.00"), D("2.10"), D("12.10")),), SHIPPED
    )
    assert returned.trigger.costs == ()
    document = emitted(vat.invoice(draft, NL_SELLER, fresh()))
    assert document["costs"] == [{"type": "commission", "amount": "3.63"}]


@pytest.mark.parametrize(
    ("customer", "lines", "company", "expected"),
    [
        (CONSUMER_NL, (MUG,), NL_SELLER, ("domestic", "NL")),
        (CONSUMER_BE, (MUG,), NL_SELLER, ("domestic", "NL")),
        (CONSUMER_BE, (MUG,), NL_OSS, ("oss", "BE")),
        (Customer("Anna Meier", "CH"), (MUG,), NL_SELLER, ("export", "CH")),
        (DE_BUSINESS, (line("1", "MUG", 1, "20.00", "0.00"),), NL_SELLER, ("reverse_charge", "DE")),
    ],
)
def test_the_interim_rule_without_the_vat_step(
    customer: Customer, lines: tuple[OrderLine, ...], company: Company, expected: tuple[str, str]
) -> None:
    treatment = triggers.interim_treatment(company, customer, lines)
    assert (treatment.scheme.value, treatment.country) == expected
    assert treatment.tax_point is None


@settings(max_examples=150, deadline=None)
@given(
    goods=st.lists(
        st.tuples(st.booleans(), st.integers(1, 3), st.integers(0, 20_000)), min_size=1, max_size=4
    ),
    charges=st.lists(st.integers(-500, 2_000), min_size=1, max_size=2),
    include=st.booleans(),
)
def test_apportioned_charges_add_up_and_a_full_credit_mirrors_the_invoice(
    goods: list[tuple[bool, int, int]], charges: list[int], include: bool
) -> None:
    lines = []
    for number, (book, quantity, cents) in enumerate(goods):
        sku = "BOOK-NL" if book else "LAMP"
        lines.append(
            line(f"g{number}", sku, quantity, f"{D(cents) / 100:.2f}", "0.00", include=include)
        )
    for number, cents in enumerate(charges):
        lines.append(
            line(
                f"c{number}",
                "SHIPPING",
                1,
                f"{D(cents) / 100:.2f}",
                "0.00",
                include=include,
                kind=LineKind.SHIPPING,
            )
        )
    state, draft = invoice_draft(
        order(tuple(lines), CONSUMER_NL, include=include), categories={"BOOK-NL": "reduced"}
    )
    invoiced = vat.invoice(draft, NL_SELLER, fresh())
    document = emitted(invoiced)
    stated = "gross" if include else "net"
    # the charges' shares add up to the charges exactly, each at a rate of the goods
    goods_rates = {x["vat_rate"] for x in document["lines"] if x["sku"] != "SHIPPING"}  # type: ignore[attr-defined]
    assert {x["vat_rate"] for x in document["lines"] if x["sku"] == "SHIPPING"} <= goods_rates  # type: ignore[attr-defined]
    charge_total = sum(
        (D(x[stated]) for x in document["lines"] if x["sku"] == "SHIPPING"),  # type: ignore[attr-defined]
        D(0),
    )
    assert charge_total == sum((D(c) / 100 for c in charges), D(0))
    for x in document["lines"]:  # type: ignore[attr-defined]
        assert D(x["net"]) + D(x["vat"]) == D(x["gross"])
    everything = credit_draft(
        state,
        tuple(DocumentLine(x.line_id, x.quantity, x.net, x.vat, x.gross) for x in lines),
        datetime(2026, 11, 20, tzinfo=UTC),
        cause="cancellation:c1",
    )
    credited = emitted(vat.credit(everything, invoiced.record, invoiced.threshold))
    assert credited["totals"] == document["totals"]
    assert amounts(credited) == amounts(document)
