"""The read-model row of an order (what the dashboard lists)."""

from __future__ import annotations

from engine.money import ZERO
from models.order import OrderState
from models.trigger import OrderSummary


def summarise(state: OrderState) -> OrderSummary | None:
    """None until the order's details are known (a shipment can arrive before its order)."""
    details = state.details
    if details is None or state.last_changed_at is None:
        return None
    return OrderSummary(
        order_uuid=state.ref.uuid,
        marketplace=state.ref.marketplace,
        store_id=state.ref.store_id,
        external_order_id=state.ref.external_order_id,
        name=details.name,
        stage=state.stage,
        customer=details.customer.name,
        country=details.customer.country,
        currency=details.currency,
        total_gross=sum((line.gross for line in details.lines), ZERO),
        updated_at=state.last_changed_at,
    )
