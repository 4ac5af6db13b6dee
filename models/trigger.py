"""Documents the engine emits for downstream services: triggers, audit entries, dead letters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from models.order import (
    Customer,
    DocumentKind,
    DocumentScope,
    LineKind,
    LineQuantity,
    Marketplace,
    Stage,
)

TRIGGER_SCHEMA = "winkel.trigger/1"
AUDIT_SCHEMA = "winkel.audit/1"
ANALYTICS_SCHEMA = "winkel.analytics/1"
DEAD_LETTER_SCHEMA = "winkel.deadletter/1"
#: Internal: the orders agent's draft for the `vat` agent (`winkel.vat.drafts`).
VAT_DRAFT_SCHEMA = "winkel.vat-draft/1"


# A trigger asks for exactly the document the order state records.
TriggerKind = DocumentKind
TriggerScope = DocumentScope


class VatScheme(StrEnum):
    DOMESTIC = "domestic"
    OSS = "oss"
    REVERSE_CHARGE = "reverse_charge"
    EXPORT = "export"
    MARKETPLACE_COLLECTED = "marketplace_collected"
    EXEMPT = "exempt"


@dataclass(frozen=True, slots=True)
class TriggerLine:
    sku: str
    description: str
    quantity: int
    unit_price_net: Decimal
    vat_rate: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True, slots=True)
class ViesEvidence:
    """The VIES check behind a decision on a customer's VAT number (docs/vat.md §2).

    `result`: `vies_confirmed`, `vies_rejected`, or `format_valid` when VIES gave no answer
    (`error` says why) and the checksum decided; `consultation_id` is VIES's
    `requestIdentifier`, the evidence a tax office accepts that the number was checked.
    """

    result: str
    vat_id: str
    consultation_id: str | None
    checked_at: datetime | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class VatTreatment:
    """The trigger's `vat`: which VAT applies, and why (docs/vat.md)."""

    scheme: VatScheme
    country: str
    #: Reverse charge: the customer's VAT number the invoice must show (Art. 226(4)).
    customer_vat_id: str | None = None
    #: Zero-rated supplies: the exemption the invoice must cite (Art. 226(11)).
    exemption: str | None = None
    #: The tax point (shipment day, UTC) the rates were taken for.
    tax_point: date | None = None
    #: The rule that decided it, in words, for the audit trail.
    reason: str | None = None
    #: The VIES check of the customer's VAT number, when VIES was asked; left out otherwise.
    vies: ViesEvidence | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    net: Decimal
    vat: Decimal
    gross: Decimal


def totals(lines: Iterable[TriggerLine]) -> Totals:
    """A trigger's totals: the sums of its lines (no rounding of its own)."""
    net = vat_total = Decimal("0.00")
    for line in lines:
        net += line.net
        vat_total += line.vat
    return Totals(net=net, vat=vat_total, gross=net + vat_total)


@dataclass(frozen=True, slots=True)
class Correction:
    invoice_trigger_id: UUID
    invoice_number: str | None = None
    invoice_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    trigger_id: UUID
    kind: TriggerKind
    order_uuid: UUID
    store_id: str
    company_id: str
    marketplace: Marketplace
    external_order_id: str
    order_name: str
    scope: TriggerScope
    shipment_id: str | None
    currency: str
    lines: tuple[TriggerLine, ...]
    vat: VatTreatment
    totals: Totals
    customer: Customer
    costs: tuple[tuple[str, Decimal], ...]
    corrects: Correction | None
    reason: str
    created_at: datetime


class TaxCategory(StrEnum):
    """A product's VAT category, configured per SKU; `standard` unless the config says otherwise."""

    STANDARD = "standard"
    REDUCED = "reduced"
    ZERO = "zero"


@dataclass(frozen=True, slots=True)
class DraftLine:
    """What the VAT step needs of one trigger line besides the marketplace's figures.

    `amount` is this part of the line in the basis the marketplace states its prices in (the
    gross for VAT-inclusive prices, the net otherwise); for a credit note's money-only line
    (`units` 0) it is the gross amount paid back.
    """

    line_id: str
    kind: LineKind
    category: str  # standard | reduced | zero
    units: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class VatDraft:
    """An invoice or credit note before the VAT step: the orders agent sends it to the `vat`
    agent on `winkel.vat.drafts` (keyed by company), which decides and emits the trigger.

    `trigger` is what the lifecycle built, with the marketplace's own tax figures; its
    `lines` and `draft_lines` correspond one to one.
    """

    trigger: Trigger
    draft_lines: tuple[DraftLine, ...]
    prices_include_vat: bool
    ship_from: str
    tax_point: date
    goods_categories: tuple[str, ...]  # of every goods line of the order: shipping's rate
    marketplace_collected: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: UUID
    order_uuid: UUID
    at: datetime  # marketplace time of the fact
    received_at: datetime  # when the engine received it: webhook-to-decision latency
    actor: str
    from_stage: Stage | None
    to_stage: Stage
    reason: str
    source_event_id: str


@dataclass(frozen=True, slots=True)
class SummaryLine:
    sku: str
    description: str
    quantity: int
    net: Decimal
    vat: Decimal
    gross: Decimal
    vat_rate: Decimal


@dataclass(frozen=True, slots=True)
class SummaryShipment:
    """One shipment as the order detail shows it: the marketplace's data, kept when it is
    matched with an operator's mark (`confirms`: the units it matched)."""

    shipment_id: str
    shipped_at: datetime
    lines: tuple[LineQuantity, ...]
    company_id: str
    location_id: str | None
    ship_from_country: str | None
    carrier: str | None
    tracking_numbers: tuple[str, ...]
    confirms: tuple[LineQuantity, ...]


@dataclass(frozen=True, slots=True)
class SummaryFee:
    """A marketplace fee or cost component of the order (Amazon `Commission`,
    `FBAPerUnitFulfillmentFee`, ...): `kind` is the stable class the dashboard groups by
    (`commission`, `fba_fee`, `shipping_fee`, `other`), `description` the marketplace's name
    for it; `amount` in the order's currency, positive = charged to the seller."""

    kind: str
    description: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """The read-model row of one order: what the dashboard list and detail show."""

    order_uuid: UUID
    marketplace: Marketplace
    store_id: str
    company_id: str
    external_order_id: str
    name: str
    stage: Stage
    stage_since: datetime | None
    customer: str
    country: str | None
    currency: str
    total_gross: Decimal
    payment_status: str  # pending | paid | refunded
    fulfilment_status: str  # unfulfilled | partial | fulfilled | cancelled
    invoice_status: str  # none | partial | invoiced
    return_status: str  # none | requested | returned
    lines: tuple[SummaryLine, ...]
    updated_at: datetime
    #: Every company that ships the order, in the order they first shipped; `company_id` is
    #: the store's. More than one where the store's `locations` split the order.
    companies: tuple[str, ...] = ()
    #: The shipments in the order they were sent, with carrier, tracking and origin.
    shipments: tuple[SummaryShipment, ...] = ()
    #: When the customer placed the order (the marketplace's time).
    ordered_at: datetime | None = None
    #: Marketplace fees and cost components, where the marketplace reports them.
    fees: tuple[SummaryFee, ...] = ()
    #: Invoice triggers the invoice service has not confirmed yet (no invoice number).
    unconfirmed_invoices: int = 0
    #: Why the marketplace, not the seller, invoices this order (no invoice is asked for).
    invoiced_by_marketplace: str | None = None
