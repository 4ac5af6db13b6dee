"""Normalised order events: what `agents/normalize` emits on `winkel.orders.events`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.order import OrderDetails, OrderRef, Shipment

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
    cancelled_at: datetime
    reason: str | None


EventPayload = DetailsReported | PaymentCaptured | ShipmentSent | OrderCancelled

EVENT_TYPES: dict[type[EventPayload], str] = {
    DetailsReported: "details_reported",
    PaymentCaptured: "payment_captured",
    ShipmentSent: "shipment_sent",
    OrderCancelled: "order_cancelled",
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
