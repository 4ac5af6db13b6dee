"""The one order model every marketplace is normalised into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID


class Marketplace(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    BOL = "bol"
    AMAZON = "amazon"


class Stage(StrEnum):
    """Where an order stands, as the dashboard shows it (documented in docs/lifecycle.md)."""

    NEW = "new"
    PAID = "paid"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    CREDITED = "credited"


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class DocumentScope(StrEnum):
    ORDER = "order"
    SHIPMENT = "shipment"


class LineKind(StrEnum):
    PRODUCT = "product"
    SHIPPING = "shipping"


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    country: str | None
    vat_id: str | None = None
    is_business: bool = False
    email: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line as the customer bought it; amounts are for the whole quantity, after discounts."""

    line_id: str
    sku: str
    description: str
    quantity: int
    net: Decimal
    vat: Decimal
    gross: Decimal
    vat_rate: Decimal
    kind: LineKind = LineKind.PRODUCT


@dataclass(frozen=True, slots=True)
class LineQuantity:
    line_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    shipment_id: str
    shipped_at: datetime
    lines: tuple[LineQuantity, ...]
    location_id: str | None = None
    #: Units of this (marketplace) shipment that an operator had already marked shipped: the
    #: same parcel reported twice, counted once (engine/lifecycle.py, docs/lifecycle.md).
    confirms: tuple[LineQuantity, ...] = ()
    #: The carrier and tracking numbers, as the marketplace reports them (Shopify
    #: `tracking_company`/`tracking_numbers`, bol `transporterCode`/`trackAndTrace`, Amazon
    #: v2026 package `carrier`/`trackingNumber`); kept for the operator, never taxed on.
    carrier: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    #: The country this parcel left from, where the marketplace names it (an Amazon v2026
    #: package's `shipFromAddress`): its VAT origin (engine/vat.py, docs/vat.md §7).
    ship_from_country: str | None = None

    @property
    def key(self) -> tuple[datetime, str]:
        """Facts of a kind are kept in (time, id) order; the id identifies the fact."""
        return self.shipped_at, self.shipment_id


@dataclass(frozen=True, slots=True)
class Cancellation:
    """Units the customer will not get; no `lines` means the whole order is called off."""

    cancellation_id: str
    cancelled_at: datetime
    reason: str | None
    lines: tuple[LineQuantity, ...] = ()

    @property
    def whole_order(self) -> bool:
        return not self.lines

    @property
    def key(self) -> tuple[datetime, str]:
        """Facts of a kind are kept in (time, id) order; the id identifies the fact."""
        return self.cancelled_at, self.cancellation_id


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The marketplace took a whole-order cancellation back (a WooCommerce order cancelled or
    trashed, then paid or restored): the cancellation with this id, if older, no longer holds."""

    cancellation_id: str
    withdrawn_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class Return:
    """A return, as requested by the customer or as received back in the warehouse."""

    return_id: str
    at: datetime
    lines: tuple[LineQuantity, ...]
    reason: str | None = None

    @property
    def key(self) -> tuple[datetime, str]:
        """Facts of a kind are kept in (time, id) order; the id identifies the fact."""
        return self.at, self.return_id


@dataclass(frozen=True, slots=True)
class Refund:
    """Money paid back: for `lines` (units) and/or a gross `amount` not tied to units."""

    refund_id: str
    refunded_at: datetime
    lines: tuple[LineQuantity, ...]
    amount: Decimal
    reason: str | None = None

    @property
    def key(self) -> tuple[datetime, str]:
        """Facts of a kind are kept in (time, id) order; the id identifies the fact."""
        return self.refunded_at, self.refund_id


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """What a marketplace says an order contains at one moment (`as_of`)."""

    name: str
    currency: str
    customer: Customer
    lines: tuple[OrderLine, ...]
    placed_at: datetime
    as_of: datetime
    #: Why the marketplace, not the seller, issues this order's invoice (Amazon's VAT
    #: Calculation Service invoicing, Amazon as deemed supplier or IOSS, Amazon Business EU SARL
    #: as seller of record); None: the seller invoices. Such an order gets no invoice or
    #: credit-note trigger; the lifecycle audits that instead (engine/lifecycle.py).
    invoiced_by_marketplace: str | None = None
    #: The country the goods ship from (a fulfilment warehouse), where the marketplace says.
    ship_from_country: str | None = None
    #: Marketplace fees for the order (commission, fulfilment fees), kept apart from what the
    #: customer paid: (fee type, amount in `currency`, positive = charged to the seller).
    costs: tuple[tuple[str, Decimal], ...] = ()
    #: Whether the marketplace states prices including VAT (Shopify `taxes_included`,
    #: WooCommerce `prices_include_tax`; bol always). None: not reported, and the VAT step
    #: takes the marketplace's default (engine/vat.py `prices_include_vat`).
    prices_include_vat: bool | None = None
    #: Fields the marketplace left out and the normaliser filled in, each as "path: what was
    #: used" (a Shopify shipping line without an `id`, say); the lifecycle audits them.
    defaulted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderRef:
    """Identifies an order across the engine; `uuid` is the contract UUID of the other three."""

    uuid: UUID
    marketplace: Marketplace
    store_id: str
    external_order_id: str


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One line of an emitted invoice or credit note; amounts are frozen once emitted."""

    line_id: str
    quantity: int
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True, slots=True)
class Document:
    """An invoice or credit note the engine has asked the invoice service to produce."""

    trigger_id: UUID
    kind: DocumentKind
    scope: DocumentScope
    cause: str  # the fact it follows from: a shipment, return, refund, cancellation or order
    created_at: datetime
    lines: tuple[DocumentLine, ...]
    corrects: UUID | None = None  # credit notes: the invoice document they correct
    shipment_id: str | None = None
    #: The company that issues it, where that is not the store's own company (units shipped
    #: from a location the store's `locations` map to another company); None: the store's.
    company_id: str | None = None
    #: The country the invoiced goods left from, where the shipments or the order name it
    #: (one invoice per origin, docs/vat.md §7); None: the VAT step takes the company's.
    #: Credit notes carry their invoice's.
    ship_from_country: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    """The invoice service's answer on `winkel.invoices.issued` (EU VAT Directive Art. 219)."""

    trigger_id: UUID
    invoice_number: str
    invoice_date: datetime


@dataclass(frozen=True, slots=True)
class OrderState:
    """Everything the engine knows about one order; the value of the per-order table."""

    ref: OrderRef
    stage: Stage
    stage_since: datetime | None = None
    details: OrderDetails | None = None
    paid_at: datetime | None = None
    shipments: tuple[Shipment, ...] = ()
    cancellations: tuple[Cancellation, ...] = ()
    #: The newest withdrawal per cancellation id; a cancellation older than it is void.
    withdrawals: tuple[Withdrawal, ...] = ()
    return_requests: tuple[Return, ...] = ()
    returns: tuple[Return, ...] = ()
    refunds: tuple[Refund, ...] = ()
    documents: tuple[Document, ...] = ()
    issued: tuple[IssuedInvoice, ...] = ()
    last_changed_at: datetime | None = None
    # Bounded memory of applied event ids: duplicates inside this window are recognised by id;
    # older ones are harmless anyway because every fact is merged by its own id.
    applied_event_ids: tuple[str, ...] = field(default=())

    @property
    def locked(self) -> bool:
        """Invoiced: the lines on emitted invoices are frozen from here on."""
        return any(d.kind is DocumentKind.INVOICE for d in self.documents)
