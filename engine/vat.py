"""The VAT step between the order lifecycle and the trigger topics (docs/vat.md).

The lifecycle decides *what* to document (units, shipments, credits) with the marketplace's own
tax figures. This module turns such a document into the trigger an accountant can sign:

- `draft` (orders agent): the document plus what the VAT decision needs (price basis per line,
  product categories, ship-from, tax point), sent on `winkel.vat.drafts` keyed by company;
- `invoice` (vat agent): the scheme (`engine.tax.decide`, with the company's OSS threshold
  state), the rate per line by the tax point, every line re-split by the tax core's one
  rounding rule, totals as the sums of the lines; returns the trigger, the record to keep under
  the trigger id and the threshold state after the sale;
- `credit` (vat agent): a credit note against a recorded invoice, with that invoice's scheme
  and rates (whatever the rates are on the day of the credit note), never crediting more than
  the invoice line still holds.

Everything here is pure; `agents/vat.py` keeps the records and threshold states in changelog
tables and moves the bytes. A replayed draft finds its record and gets the same trigger back;
the threshold state remembers the ids it counted, so a replay never counts twice.

With `[vat] pipeline = false` the orders agent emits the lifecycle's triggers as they are: the
interim rule of `engine.triggers.interim_treatment` (the marketplace's tax lines as amounts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from engine.config import Company
from engine.money import ZERO
from engine.tax import (
    Decision,
    EcbRateTable,
    RateTable,
    Sale,
    TaxCategory,
    TaxError,
    ThresholdReached,
    ThresholdState,
    allocate,
    country_code,
    decide,
    is_member_state,
    rate_for,
    record_sale,
    round_half_up,
    shipping_rate,
    split_line,
    tax_point_date,
    to_eur,
    vat_id_check,
)
from engine.tax.schemes import VatIdCheck
from engine.tax.split import Amounts
from engine.tax.vies import ViesAnswer
from engine.triggers import totals, unit_price
from models.codec import DecodeError, dumps, encode_trigger, loads_object
from models.codec import _Reader as Reader
from models.order import (
    Customer,
    Document,
    DocumentKind,
    DocumentScope,
    LineKind,
    Marketplace,
    OrderState,
)
from models.trigger import (
    ANALYTICS_SCHEMA,
    Correction,
    DraftLine,
    Trigger,
    TriggerLine,
    VatDraft,
    VatScheme,
    VatTreatment,
    ViesEvidence,
)

DRAFT_SCHEMA = "winkel.vat-draft/1"
RECORD_SCHEMA = "winkel.vat-record/1"
THRESHOLD_SCHEMA = "winkel.vat-threshold/1"

#: Marketplaces whose prices always include VAT when the order does not say (bol always;
#: Amazon's EU `ItemPrice` is VAT-inclusive). Shopify and WooCommerce default to exclusive,
#: their platforms' own default setting.
INCLUSIVE_BY_DEFAULT = frozenset({Marketplace.BOL, Marketplace.AMAZON})

EXEMPTIONS = {
    VatScheme.REVERSE_CHARGE: (
        "Intra-Community supply exempt under Art. 138 Directive 2006/112/EC; "
        "VAT reverse charged to the customer"
    ),
    VatScheme.EXPORT: "Export exempt under Art. 146 Directive 2006/112/EC",
}
_VALID_IDS = frozenset({VatIdCheck.FORMAT_VALID, VatIdCheck.VIES_CONFIRMED})
_VIES_CHECKS = frozenset(
    {VatIdCheck.FORMAT_VALID, VatIdCheck.VIES_CONFIRMED, VatIdCheck.VIES_REJECTED}
)


# --- drafts (orders agent) -----------------------------------------------------------------


def prices_include_vat(include: bool | None, marketplace: Marketplace) -> bool:
    """The order's own statement, else the marketplace's default (`INCLUSIVE_BY_DEFAULT`)."""
    return include if include is not None else marketplace in INCLUSIVE_BY_DEFAULT


def category_of(categories: Mapping[str, str], sku: str) -> str:
    """A SKU's configured tax category; `standard` unless `[vat.categories]` says otherwise."""
    return TaxCategory(categories.get(sku, TaxCategory.STANDARD)).value


def draft(
    state: OrderState,
    document: Document,
    trigger: Trigger,
    company: Company,
    categories: Mapping[str, str],
) -> VatDraft:
    """What the `vat` agent needs to turn the lifecycle's `trigger` into the final one."""
    details = state.details
    if details is None:
        raise TaxError("a document needs the order's details")
    include = prices_include_vat(details.prices_include_vat, state.ref.marketplace)
    by_id = {line.line_id: line for line in details.lines}
    lines = []
    for part in document.lines:
        line = by_id[part.line_id]
        # Money paid back (no units) is a gross amount; otherwise the price basis.
        amount = part.gross if part.quantity == 0 or include else part.net
        lines.append(
            DraftLine(
                part.line_id, line.kind, category_of(categories, line.sku), part.quantity, amount
            )
        )
    goods = tuple(
        category_of(categories, line.sku) for line in details.lines if line.kind is LineKind.PRODUCT
    )
    return VatDraft(
        trigger=trigger,
        draft_lines=tuple(lines),
        prices_include_vat=include,
        # The parcel's own origin where its shipment named one (one invoice per origin,
        # docs/vat.md §7), else the order's (an FBA store's `fba_ship_from_country`), else
        # the issuing company's country.
        ship_from=document.ship_from_country or details.ship_from_country or company.country,
        tax_point=tax_point_date(document.created_at),
        goods_categories=goods,
        marketplace_collected=details.invoiced_by_marketplace is not None,
    )


# --- records kept by the vat agent ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One line of a recorded invoice, with what credit notes took back from it so far."""

    line_id: str
    quantity: int
    rate: Decimal
    home_rate: Decimal  # the ship-from rate: the threshold counts net at that rate
    net: Decimal
    vat: Decimal
    gross: Decimal
    credited_units: int = 0
    credited_net: Decimal = ZERO
    credited_vat: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Counted:
    """How one document moved the threshold: the state key, the count it reached, the state."""

    key: str
    amount_eur: Decimal
    sequence: int
    after: ThresholdState


@dataclass(frozen=True, slots=True)
class CreditEntry:
    trigger: bytes | None  # the emitted credit note (None: the marketplace invoices)
    counted: Counted | None


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """The decision on one invoice, kept under its trigger id for replays and credit notes."""

    trigger_id: UUID
    company_id: str
    currency: str
    treatment: VatTreatment
    prices_include_vat: bool
    tax_point: date
    lines: tuple[RecordLine, ...]
    trigger: bytes | None  # the emitted invoice trigger (None: the marketplace invoices)
    counted: Counted | None
    credits: Mapping[str, CreditEntry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the agent writes and sends for one draft."""

    record: InvoiceRecord  # under the invoice's trigger id
    trigger: bytes | None  # the final trigger; None when the marketplace invoices
    threshold_key: str | None = None  # the state to write, when it changed
    threshold: ThresholdState | None = None
    reached: tuple[ThresholdReached, ...] = ()


def threshold_key(company_id: str, year: int) -> str:
    return f"{company_id}:{year}"


def opening_state(
    company_id: str, year: int, stored: ThresholdState | None, previous: ThresholdState | None
) -> ThresholdState:
    """The state a sale in `year` is decided on: the stored one, or the year opened afresh."""
    return stored if stored is not None else ThresholdState.start(company_id, year, previous)


def restore(current: ThresholdState | None, counted: Counted | None) -> ThresholdState | None:
    """The state to write back when a replayed document's threshold write was lost.

    Documents of a company are applied one after the other, so a stored count below the one a
    record reached means exactly that record's write is missing: its `after` state is right.
    """
    if counted is None or (current is not None and current.sales_counted >= counted.sequence):
        return None
    return counted.after


# --- invoices ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    """One draft line, or one rate's share of a charge apportioned over the goods' rates."""

    position: int  # of the draft line (and the lifecycle's trigger line) it comes from
    record_id: str  # the line's id; `<line id>#<n>` for the n-th share of an apportioned charge
    rate: Decimal
    home_rate: Decimal
    amount: Decimal
    share: bool  # an apportioned charge's share: the trigger line names its rate


def _parts(
    draft: VatDraft,
    applied: Mapping[str, Decimal],
    home: Mapping[str, Decimal],
    categories: tuple[str, ...],
) -> list[_Part]:
    """The draft's lines at their rates, each charge (delivery, fee) apportioned over the
    rates of this document's goods by their value (`engine.tax.apportion`, docs/vat.md §5).

    A document without goods lines (a charge invoiced alone) gives the charge the highest rate
    among the order's goods (`categories`), as does goods of no value.
    """
    goods: dict[tuple[Decimal, Decimal], Decimal] = {}
    for line in draft.draft_lines:
        if line.kind is LineKind.PRODUCT:
            key = (applied[line.category], home[line.category])
            goods[key] = goods.get(key, ZERO) + max(line.amount, ZERO)
    # Rates whose goods have no value take no share (unless no goods have any value).
    keys = sorted(key for key, value in goods.items() if value > 0) or sorted(goods)
    result: list[_Part] = []
    for position, line in enumerate(draft.draft_lines):
        if line.kind is LineKind.PRODUCT:
            rates = (applied[line.category], home[line.category])
            result.append(_Part(position, line.line_id, *rates, line.amount, share=False))
            continue
        if len(keys) > 1 and sum(goods.values(), ZERO) > 0:
            shares = allocate(line.amount, [goods[key] for key in keys])
            result.extend(
                _Part(position, f"{line.line_id}#{n}", rate, home_rate, amount, share=True)
                for n, ((rate, home_rate), amount) in enumerate(zip(keys, shares, strict=True))
            )
            continue
        rate = shipping_rate(applied[c] for c in categories)
        home_rate = shipping_rate(home[c] for c in categories)
        if len(keys) == 1:
            rate, home_rate = keys[0]
        result.append(_Part(position, line.line_id, rate, home_rate, line.amount, share=False))
    return result


def _category_rates(
    country: str, on: date, categories: tuple[str, ...], table: RateTable | None, zero: bool
) -> dict[str, Decimal]:
    if zero:
        return {c: Decimal(0) for c in categories}
    return {c: rate_for(country, TaxCategory(c), on, table) for c in categories}


def vies_question(draft: VatDraft) -> str | None:
    """The VAT number to check in VIES before deciding this draft, if any.

    Only an invoice whose customer's number would make it a reverse charge on the checksum
    alone (a business of another member state, goods leaving the ship-from state): VIES can
    confirm or refuse that; every other sale is decided without it.
    """
    trigger = draft.trigger
    if trigger.kind is not DocumentKind.INVOICE or draft.marketplace_collected:
        return None
    customer = trigger.customer
    ship_from = country_code(draft.ship_from)
    if not customer.country or not is_member_state(customer.country):
        return None
    if country_code(customer.country) == ship_from:
        return None
    if vat_id_check(customer, ship_from) is not VatIdCheck.FORMAT_VALID:
        return None
    return customer.vat_id


def _evidence(decision: Decision, vies: ViesAnswer | None) -> ViesEvidence | None:
    if vies is None or decision.vat_id_check not in _VIES_CHECKS:
        return None
    return ViesEvidence(
        result=decision.vat_id_check.value,
        vat_id=vies.vat_id,
        consultation_id=vies.consultation_id,
        checked_at=vies.checked_at,
        error=vies.error,
    )


def invoice(
    draft: VatDraft,
    company: Company,
    threshold: ThresholdState,
    *,
    rates: RateTable | None = None,
    ecb: EcbRateTable | None = None,
    vies: ViesAnswer | None = None,
) -> Outcome:
    """Decide an invoice's VAT and compute its amounts (rules: docs/vat.md).

    `vies`: VIES's answer on the customer's number (`vies_question`), when it was asked; no
    answer leaves the checksum to decide, and the trigger records which it was.
    """
    trigger = draft.trigger
    if trigger.kind is not DocumentKind.INVOICE:
        raise TaxError("only invoices are decided; credit notes follow their invoice")
    on = draft.tax_point
    ship_from = country_code(draft.ship_from)
    customer = trigger.customer
    ship_to = country_code(customer.country) if customer.country else ship_from
    categories = tuple(dict.fromkeys((*draft.goods_categories, *_line_categories(draft))))
    vies_result = None if vies is None else vies.valid
    distance_sale = (
        not draft.marketplace_collected
        and is_member_state(ship_to)
        and ship_to != ship_from
        and vat_id_check(customer, ship_from, vies_result) not in _VALID_IDS
    )
    amount_eur = ZERO
    home: dict[str, Decimal] | None = None  # only a distance sale needs the home rates
    order_categories = draft.goods_categories or categories
    if distance_sale:
        home = _category_rates(ship_from, on, categories, rates, zero=False)
        home_net = sum(
            (
                split_line(part.amount, part.home_rate, draft.prices_include_vat).net
                for part in _parts(draft, home, home, order_categories)
            ),
            ZERO,
        )
        amount_eur = to_eur(home_net, trigger.currency, on, ecb)
    decision = decide(
        Sale(
            seller=company,
            ship_from=ship_from,
            ship_to=ship_to,
            customer=customer,
            tax_point=on,
            amount_eur=amount_eur,
            threshold=threshold,
            marketplace_collected=draft.marketplace_collected,
            vies_result=vies_result,
            sale_id=str(trigger.trigger_id),
        )
    )
    vat = replace(_treatment(decision, on), vies=_evidence(decision, vies))
    counted = None
    if decision.counts_toward_threshold:
        counted = Counted(
            threshold_key(company.id, decision.threshold.year),
            amount_eur,
            decision.threshold.sales_counted,
            decision.threshold,
        )
    if decision.scheme is VatScheme.MARKETPLACE_COLLECTED:
        record = InvoiceRecord(
            trigger.trigger_id,
            company.id,
            trigger.currency,
            vat,
            draft.prices_include_vat,
            on,
            (),
            None,
            None,
        )
        return Outcome(record, None)
    applied = _category_rates(decision.country, on, categories, rates, decision.zero_rated)
    lines: list[TriggerLine] = []
    kept: list[RecordLine] = []
    for part in _parts(draft, applied, home or applied, order_categories):
        line, shown = draft.draft_lines[part.position], trigger.lines[part.position]
        amounts = split_line(part.amount, part.rate, draft.prices_include_vat)
        lines.append(_trigger_line(_shown_as(shown, part.rate, part.share), part.rate, amounts))
        kept.append(
            RecordLine(
                part.record_id,
                line.units,
                part.rate,
                part.home_rate,
                amounts.net,
                amounts.vat,
                amounts.gross,
            )
        )
    final = replace(trigger, lines=tuple(lines), totals=totals(lines), vat=vat)
    encoded = encode_trigger_document(final)
    record = InvoiceRecord(
        trigger.trigger_id,
        company.id,
        trigger.currency,
        vat,
        draft.prices_include_vat,
        on,
        tuple(kept),
        encoded,
        counted,
    )
    if counted is None or counted.after == threshold:
        return Outcome(record, encoded)
    return Outcome(record, encoded, counted.key, counted.after, decision.threshold_events)


def _line_categories(draft: VatDraft) -> tuple[str, ...]:
    return tuple(line.category for line in draft.draft_lines if line.kind is LineKind.PRODUCT)


def _treatment(decision: Decision, on: date) -> VatTreatment:
    return VatTreatment(
        scheme=decision.scheme,
        country=decision.country,
        customer_vat_id=decision.customer_vat_id,
        exemption=EXEMPTIONS.get(decision.scheme),
        tax_point=on,
        reason=decision.reason,
    )


def _shown_as(shown: TriggerLine, rate: Decimal, share: bool) -> TriggerLine:
    """A charge's share at one rate says so: `PostNL (share at 9%)`."""
    if not share:
        return shown
    percent = format((rate * 100).normalize(), "f")
    return replace(shown, description=f"{shown.description} (share at {percent}%)")


def _trigger_line(shown: TriggerLine, rate: Decimal, amounts: Amounts) -> TriggerLine:
    return replace(
        shown,
        unit_price_net=unit_price(amounts.net, shown.quantity),
        vat_rate=rate,
        net=amounts.net,
        vat=amounts.vat,
        gross=amounts.gross,
    )


# --- credit notes --------------------------------------------------------------------------


def _share(total: Decimal, units: int, of: int) -> Decimal:
    return total if units >= of else round_half_up(total * units / of)


def _take(line: RecordLine, draft_line: DraftLine) -> tuple[RecordLine, Amounts]:
    """What a credit line takes from an invoice line; never more than it still holds."""
    net_left = line.net - line.credited_net
    vat_left = line.vat - line.credited_vat
    if draft_line.units > 0:
        units = min(draft_line.units, line.quantity - line.credited_units)
        if units == line.quantity - line.credited_units:  # the last units take what is left
            net, vat = net_left, vat_left
        else:
            done, upto = line.credited_units, line.credited_units + units
            net = min(
                _share(line.net, upto, line.quantity) - _share(line.net, done, line.quantity),
                net_left,
            )
            vat = min(
                _share(line.vat, upto, line.quantity) - _share(line.vat, done, line.quantity),
                vat_left,
            )
    else:
        units = 0
        gross = max(min(draft_line.amount, net_left + vat_left), ZERO)
        vat = min(round_half_up(gross * line.rate / (1 + line.rate)), vat_left)
        net = gross - vat
    taken = replace(
        line,
        credited_units=line.credited_units + units,
        credited_net=line.credited_net + net,
        credited_vat=line.credited_vat + vat,
    )
    return taken, Amounts(net, vat, net + vat)


def _held(ledger: Mapping[str, RecordLine], line_id: str) -> list[RecordLine]:
    """The invoice line a credit line takes from: the line, or its shares at each rate."""
    if line_id in ledger:
        return [ledger[line_id]]
    return [line for key, line in ledger.items() if key.startswith(f"{line_id}#")]


def _credit_shares(held: list[RecordLine], line: DraftLine) -> list[tuple[RecordLine, DraftLine]]:
    """What a credit line asks of each share of an apportioned charge.

    Units (a charge of one, credited whole) come back from every share; money paid back is
    apportioned over the shares by what each still holds, by the same largest-remainder rule.
    """
    if len(held) == 1 or line.units > 0:
        return [(part, line) for part in held]
    left = [max(part.gross - part.credited_net - part.credited_vat, ZERO) for part in held]
    if sum(left, ZERO) <= 0:
        return [(held[0], line)]
    shares = allocate(min(line.amount, sum(left, ZERO)), left)
    return [(part, replace(line, amount=share)) for part, share in zip(held, shares, strict=True)]


def credit(
    draft: VatDraft,
    record: InvoiceRecord,
    threshold: ThresholdState | None,
    *,
    ecb: EcbRateTable | None = None,
) -> Outcome:
    """A credit note against a recorded invoice: its scheme, its rates, its tax point.

    `threshold` is the company's state for the invoice's year; a credit note of a sale that
    counted toward the threshold lowers that year's total by the credited net (at the home
    rate, in EUR at the invoice's tax point), without undoing a switch already made.
    """
    trigger = draft.trigger
    credit_id = str(trigger.trigger_id)
    if trigger.kind is not DocumentKind.CREDIT_NOTE or trigger.corrects is None:
        raise TaxError("a credit note must correct an invoice")
    if trigger.corrects.invoice_trigger_id != record.trigger_id:
        raise TaxError("the record passed is not the invoice this credit note corrects")
    ledger = {line.line_id: line for line in record.lines}
    lines: list[TriggerLine] = []
    home_net = ZERO
    for line, shown in zip(draft.draft_lines, trigger.lines, strict=True):
        held = _held(ledger, line.line_id)
        if not held:
            if record.trigger is None:  # marketplace-invoiced: nothing of ours to credit
                continue
            raise TaxError(f"line {line.line_id!r} is not on invoice {record.trigger_id}")
        for part, wanted in _credit_shares(held, line):
            ledger[part.line_id], amounts = _take(part, wanted)
            lines.append(
                _trigger_line(_shown_as(shown, part.rate, len(held) > 1), part.rate, amounts)
            )
            basis = amounts.gross if record.prices_include_vat else amounts.net
            home_net += split_line(basis, part.home_rate, record.prices_include_vat).net
    vat = replace(
        record.treatment,
        reason=f"as invoice {record.trigger_id}: {record.treatment.reason or ''}".rstrip(": "),
    )
    encoded = None
    if record.trigger is not None:
        encoded = encode_trigger_document(
            replace(trigger, lines=tuple(lines), totals=totals(lines), vat=vat)
        )
    counted = None
    state_after: ThresholdState | None = None
    reached: tuple[ThresholdReached, ...] = ()
    if record.counted is not None and home_net:
        if threshold is None:
            raise TaxError(f"no threshold state for {record.counted.key}")
        amount_eur = to_eur(home_net, record.currency, record.tax_point, ecb)
        state_after, reached = record_sale(threshold, -amount_eur, record.tax_point, credit_id)
        counted = Counted(record.counted.key, -amount_eur, state_after.sales_counted, state_after)
    updated = replace(
        record,
        lines=tuple(ledger[line.line_id] for line in record.lines),
        credits={**record.credits, credit_id: CreditEntry(encoded, counted)},
    )
    if counted is None or state_after == threshold:
        return Outcome(updated, encoded)
    return Outcome(updated, encoded, counted.key, state_after, reached)


# --- documents on Kafka --------------------------------------------------------------------


def encode_trigger_document(trigger: Trigger) -> bytes:
    return encode_trigger(trigger)


def encode_draft(value: VatDraft) -> bytes:
    trigger = value.trigger
    costs = [{"type": name, "amount": amount} for name, amount in trigger.costs]
    document: dict[str, Any] = {
        "schema": DRAFT_SCHEMA,
        "trigger": {**{f: getattr(trigger, f) for f in _TRIGGER_FIELDS}, "costs": costs},
        "draft_lines": value.draft_lines,
        "prices_include_vat": value.prices_include_vat,
        "ship_from": value.ship_from,
        "tax_point": value.tax_point,
        "goods_categories": value.goods_categories,
        "marketplace_collected": value.marketplace_collected,
    }
    return dumps(document)


_TRIGGER_FIELDS = tuple(f for f in Trigger.__dataclass_fields__ if f != "costs")


def _day(r: Reader, key: str) -> date:
    raw = r.text(key)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DecodeError(f"{key} is not a date: {raw!r}") from None


def _customer(r: Reader) -> Customer:
    return Customer(
        name=r.text("name"),
        country=r.opt_text("country"),
        vat_id=r.opt_text("vat_id"),
        is_business=r.flag("is_business"),
        email=r.opt_text("email"),
    )


def _evidence_of(r: Reader | None) -> ViesEvidence | None:
    if r is None:
        return None
    return ViesEvidence(
        result=r.text("result"),
        vat_id=r.text("vat_id"),
        consultation_id=r.opt_text("consultation_id"),
        checked_at=r.opt_time("checked_at"),
        error=r.opt_text("error"),
    )


def _treatment_of(r: Reader) -> VatTreatment:
    tax_point = r.opt_text("tax_point")
    return VatTreatment(
        scheme=r.enum("scheme", VatScheme),
        country=r.text("country"),
        customer_vat_id=r.opt_text("customer_vat_id"),
        exemption=r.opt_text("exemption"),
        tax_point=None if tax_point is None else _day(r, "tax_point"),
        reason=r.opt_text("reason"),
        vies=_evidence_of(r.opt_obj("vies")),
    )


def _trigger(r: Reader) -> Trigger:
    corrects = r.opt_obj("corrects")
    return Trigger(
        trigger_id=r.uuid("trigger_id"),
        kind=r.enum("kind", DocumentKind),
        order_uuid=r.uuid("order_uuid"),
        store_id=r.text("store_id"),
        company_id=r.text("company_id"),
        marketplace=r.enum("marketplace", Marketplace),
        external_order_id=r.text("external_order_id"),
        order_name=r.text("order_name"),
        scope=r.enum("scope", DocumentScope),
        shipment_id=r.opt_text("shipment_id"),
        currency=r.text("currency"),
        lines=tuple(
            TriggerLine(
                sku=item.text("sku"),
                description=item.text("description"),
                quantity=item.integer("quantity"),
                unit_price_net=item.decimal("unit_price_net"),
                vat_rate=item.decimal("vat_rate"),
                net=item.decimal("net"),
                vat=item.decimal("vat"),
                gross=item.decimal("gross"),
            )
            for item in r.objs("lines")
        ),
        vat=_treatment_of(r.obj("vat")),
        totals=totals(()),  # recomputed from the lines below
        customer=_customer(r.obj("customer")),
        costs=tuple((item.text("type"), item.decimal("amount")) for item in r.objs("costs")),
        corrects=None
        if corrects is None
        else Correction(
            invoice_trigger_id=corrects.uuid("invoice_trigger_id"),
            invoice_number=corrects.opt_text("invoice_number"),
            invoice_date=corrects.opt_time("invoice_date"),
        ),
        reason=r.text("reason"),
        created_at=r.time("created_at"),
    )


def _category(raw: str) -> str:
    try:
        return TaxCategory(raw).value
    except ValueError:
        raise DecodeError(f"unknown tax category {raw!r}") from None


def decode_draft(data: bytes) -> VatDraft:
    r = Reader(loads_object(data))
    r.expect_schema(DRAFT_SCHEMA)
    trigger = _trigger(r.obj("trigger"))
    trigger = replace(trigger, totals=totals(trigger.lines))
    draft_lines = tuple(
        DraftLine(
            line_id=item.text("line_id"),
            kind=item.enum("kind", LineKind),
            category=item.enum("category", TaxCategory).value,
            units=item.integer("units"),
            amount=item.decimal("amount"),
        )
        for item in r.objs("draft_lines")
    )
    if len(draft_lines) != len(trigger.lines):
        raise DecodeError("a draft needs one draft line per trigger line")
    return VatDraft(
        trigger=trigger,
        draft_lines=draft_lines,
        prices_include_vat=r.flag("prices_include_vat"),
        ship_from=r.text("ship_from"),
        tax_point=_day(r, "tax_point"),
        goods_categories=tuple(_category(c) for c in r.texts("goods_categories")),
        marketplace_collected=r.flag("marketplace_collected"),
    )


def encode_threshold(state: ThresholdState) -> bytes:
    return dumps({"schema": THRESHOLD_SCHEMA, "state": state})


def _threshold_of(r: Reader) -> ThresholdState:
    return ThresholdState(
        company_id=r.text("company_id"),
        year=r.integer("year"),
        total_eur=r.decimal("total_eur"),
        reached_80=r.flag("reached_80"),
        reached_100=r.flag("reached_100"),
        exceeded_this_year=r.flag("exceeded_this_year"),
        exceeded_previous_year=r.flag("exceeded_previous_year"),
        sales_counted=r.integer("sales_counted"),
        recent=tuple(r.texts("recent")),
    )


def decode_threshold(data: bytes) -> ThresholdState:
    r = Reader(loads_object(data))
    r.expect_schema(THRESHOLD_SCHEMA)
    return _threshold_of(r.obj("state"))


def _text_bytes(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8")


def _counted_doc(counted: Counted | None) -> dict[str, Any] | None:
    if counted is None:
        return None
    return {
        "key": counted.key,
        "amount_eur": counted.amount_eur,
        "sequence": counted.sequence,
        "after": counted.after,
    }


def encode_record(record: InvoiceRecord) -> bytes:
    return dumps(
        {
            "schema": RECORD_SCHEMA,
            "trigger_id": record.trigger_id,
            "company_id": record.company_id,
            "currency": record.currency,
            "treatment": record.treatment,
            "prices_include_vat": record.prices_include_vat,
            "tax_point": record.tax_point,
            "lines": record.lines,
            "trigger": _text_bytes(record.trigger),
            "counted": _counted_doc(record.counted),
            "credits": {
                credit_id: {
                    "trigger": _text_bytes(entry.trigger),
                    "counted": _counted_doc(entry.counted),
                }
                for credit_id, entry in sorted(record.credits.items())
            },
        }
    )


def _counted_of(r: Reader | None) -> Counted | None:
    if r is None:
        return None
    return Counted(
        key=r.text("key"),
        amount_eur=r.decimal("amount_eur"),
        sequence=r.integer("sequence"),
        after=_threshold_of(r.obj("after")),
    )


def _bytes_of(r: Reader, key: str) -> bytes | None:
    text = r.opt_text(key)
    return None if text is None else text.encode("utf-8")


def decode_record(data: bytes) -> InvoiceRecord:
    r = Reader(loads_object(data))
    r.expect_schema(RECORD_SCHEMA)
    credits = r.mapping("credits")
    return InvoiceRecord(
        trigger_id=r.uuid("trigger_id"),
        company_id=r.text("company_id"),
        currency=r.text("currency"),
        treatment=_treatment_of(r.obj("treatment")),
        prices_include_vat=r.flag("prices_include_vat"),
        tax_point=_day(r, "tax_point"),
        lines=tuple(
            RecordLine(
                line_id=item.text("line_id"),
                quantity=item.integer("quantity"),
                rate=item.decimal("rate"),
                home_rate=item.decimal("home_rate"),
                net=item.decimal("net"),
                vat=item.decimal("vat"),
                gross=item.decimal("gross"),
                credited_units=item.integer("credited_units"),
                credited_net=item.decimal("credited_net"),
                credited_vat=item.decimal("credited_vat"),
            )
            for item in r.objs("lines")
        ),
        trigger=_bytes_of(r, "trigger"),
        counted=_counted_of(r.opt_obj("counted")),
        credits={
            credit_id: _credit_entry(Reader(entry, f"$.credits.{credit_id}"))
            for credit_id, entry in sorted(credits.items())
            if isinstance(entry, dict)
        },
    )


def _credit_entry(r: Reader) -> CreditEntry:
    return CreditEntry(trigger=_bytes_of(r, "trigger"), counted=_counted_of(r.opt_obj("counted")))


def threshold_event(state: ThresholdState) -> bytes:
    """`vat.threshold` analytics: a company's running total for a year (the dashboard gauge)."""
    return dumps(
        {
            "schema": ANALYTICS_SCHEMA,
            "type": "vat.threshold",
            "company_id": state.company_id,
            "year": state.year,
            "total_eur": state.total_eur,
            "threshold_eur": OSS_THRESHOLD,
            "reached_80": state.reached_80,
            "reached_100": state.reached_100,
            "destination_vat": state.destination_vat_required,
            "sales_counted": state.sales_counted,
        }
    )


def reached_event(event: ThresholdReached, trigger_id: UUID) -> bytes:
    """`vat.threshold_reached` analytics: a company reached 80% or 100% of the threshold."""
    return dumps(
        {
            "schema": ANALYTICS_SCHEMA,
            "type": "vat.threshold_reached",
            "company_id": event.company_id,
            "year": event.year,
            "level": event.level.value,
            "total_eur": event.total_eur,
            "threshold_eur": OSS_THRESHOLD,
            "trigger_id": trigger_id,
        }
    )


OSS_THRESHOLD = Decimal("10000.00")
