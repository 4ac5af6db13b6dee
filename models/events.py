"""Normalised order events: what `agents/normalize` emits on `winkel.orders.events`, and what
the orders agent derives from invoice-service and operator messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.commands import OperatorAction
from models.order import (
    Cancellation,
    IssuedInvoice,
    OrderDetails,
    OrderRef,
    Refund,
    Return,
    Shipment,
    Withdrawal,
)

ORDER_EVENT_SCHEMA = "winkel.order-event/1"


@dataclass(frozen=True, slots=True)
class DetailsReported:
    """The marketplace reported the order's content (lines, prices, customer)."""

    details: OrderDetails


@dataclass(frozen=True, slots=True)
class PaymentCaptured:
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentSent:
    shipment: Shipment


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    cancellation: Cancellation


@dataclass(frozen=True, slots=True)
class CancellationWithdrawn:
    withdrawal: Withdrawal


@dataclass(frozen=True, slots=True)
class ReturnRequested:
    request: Return


@dataclass(frozen=True, slots=True)
class ReturnReceived:
    received: Return


@dataclass(frozen=True, slots=True)
class RefundIssued:
    refund: Refund


@dataclass(frozen=True, slots=True)
class InvoiceIssued:
    issued: IssuedInvoice


@dataclass(frozen=True, slots=True)
class OperatorStatusChanged:
    command_id: str
    operator_id: str
    action: OperatorAction
    reason: str


EventPayload = (
    DetailsReported
    | PaymentCaptured
    | ShipmentSent
    | OrderCancelled
    | CancellationWithdrawn
    | ReturnRequested
    | ReturnReceived
    | RefundIssued
    | InvoiceIssued
    | OperatorStatusChanged
)

EVENT_TYPES: dict[type[EventPayload], str] = {
    DetailsReported: "details_reported",
    PaymentCaptured: "payment_captured",
    ShipmentSent: "shipment_sent",
    OrderCancelled: "order_cancelled",
    CancellationWithdrawn: "cancellation_withdrawn",
    ReturnRequested: "return_requested",
    ReturnReceived: "return_received",
    RefundIssued: "refund_issued",
    InvoiceIssued: "invoice_issued",
    OperatorStatusChanged: "operator_status_changed",
}


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One fact about one order.

    `event_id` is derived from the fact itself (not from the delivery that carried it), so the
    same fact seen through a webhook, a retry and a poll is one event.
    """

    event_id: str
    ref: OrderRef
    occurred_at: datetime
    received_at: datetime
    source: str
    payload: EventPayload

    @property
    def type(self) -> str:
        return EVENT_TYPES[type(self.payload)]
