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
class ShippedLine:
    line_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    shipment_id: str
    shipped_at: datetime
    lines: tuple[ShippedLine, ...]
    location_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """What a marketplace says an order contains at one moment (`as_of`)."""

    name: str
    currency: str
    customer: Customer
    lines: tuple[OrderLine, ...]
    placed_at: datetime
    as_of: datetime


@dataclass(frozen=True, slots=True)
class OrderRef:
    """Identifies an order across the engine; `uuid` is the contract UUID of the other three."""

    uuid: UUID
    marketplace: Marketplace
    store_id: str
    external_order_id: str


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    trigger_id: UUID
    invoiced_at: datetime
    line_quantities: tuple[ShippedLine, ...]


@dataclass(frozen=True, slots=True)
class OrderState:
    """Everything the engine knows about one order; the value of the per-order table."""

    ref: OrderRef
    stage: Stage
    details: OrderDetails | None = None
    paid_at: datetime | None = None
    shipments: tuple[Shipment, ...] = ()
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    invoices: tuple[InvoiceRecord, ...] = ()
    last_changed_at: datetime | None = None
    # Bounded memory of applied event ids: duplicates inside this window are recognised by id;
    # older ones are harmless anyway because every fact is applied as a set union.
    applied_event_ids: tuple[str, ...] = field(default=())

    @property
    def locked(self) -> bool:
        return bool(self.invoices)
