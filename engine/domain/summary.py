"""The read-model row of an order: what the dashboard lists and shows in detail."""

from __future__ import annotations

from engine.domain.config import Store
from engine.domain.lifecycle import company_of, order_companies, shipped_units
from engine.domain.money import ZERO
from models.order import DocumentKind, LineKind, OrderState, Shipment
from models.trigger import OrderSummary, SummaryFee, SummaryLine, SummaryShipment


def _fulfilment(state: OrderState) -> str:
    assert state.details is not None
    if any(c.whole_order for c in state.cancellations) and not state.shipments:
        return "cancelled"
    shipped = shipped_units(state)
    products = [line for line in state.details.lines if line.kind is LineKind.PRODUCT]
    if products and all(shipped[line.line_id] >= line.quantity for line in products):
        return "fulfilled"
    return "partial" if state.shipments else "unfulfilled"


def _invoice(state: OrderState) -> str:
    invoiced = sum(
        line.quantity
        for document in state.documents
        if document.kind is DocumentKind.INVOICE
        for line in document.lines
    )
    if not invoiced:
        return "none"
    shipped = sum(shipped_units(state).values())
    return "invoiced" if invoiced >= shipped else "partial"


def _shipment(shipment: Shipment, store: Store) -> SummaryShipment:
    return SummaryShipment(
        shipment_id=shipment.shipment_id,
        shipped_at=shipment.shipped_at,
        lines=shipment.lines,
        company_id=company_of(store, shipment),
        location_id=shipment.location_id,
        ship_from_country=shipment.ship_from_country,
        carrier=shipment.carrier,
        tracking_numbers=shipment.tracking_numbers,
        confirms=shipment.confirms,
    )


def fee_kind(description: str) -> str:
    """The stable class of a marketplace fee type (Amazon's `FeeType` names, bol's fee names)."""
    folded = description.casefold()
    if "commission" in folded or "referral" in folded:
        return "commission"
    if "fba" in folded or "fulfil" in folded:
        return "fba_fee"
    if "shipping" in folded or "postage" in folded:
        return "shipping_fee"
    return "other"


def summarise(state: OrderState, store: Store) -> OrderSummary | None:
    """None until the order's details are known (a shipment can arrive before its order)."""
    details = state.details
    if details is None or state.last_changed_at is None:
        return None
    return OrderSummary(
        order_uuid=state.ref.uuid,
        marketplace=state.ref.marketplace,
        store_id=state.ref.store_id,
        company_id=store.company_id,
        external_order_id=state.ref.external_order_id,
        name=details.name,
        stage=state.stage,
        stage_since=state.stage_since,
        customer=details.customer.name,
        country=details.customer.country,
        currency=details.currency,
        total_gross=sum((line.gross for line in details.lines), ZERO),
        payment_status="refunded" if state.refunds else "paid" if state.paid_at else "pending",
        fulfilment_status=_fulfilment(state),
        invoice_status=_invoice(state),
        return_status="returned"
        if state.returns
        else "requested"
        if state.return_requests
        else "none",
        lines=tuple(
            SummaryLine(
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                net=line.net,
                vat=line.vat,
                gross=line.gross,
                vat_rate=line.vat_rate,
            )
            for line in details.lines
        ),
        updated_at=state.last_changed_at,
        companies=order_companies(state, store),
        shipments=tuple(_shipment(shipment, store) for shipment in state.shipments),
        ordered_at=details.placed_at,
        fees=tuple(
            SummaryFee(kind=fee_kind(name), description=name, amount=amount)
            for name, amount in details.costs
        ),
        unconfirmed_invoices=_unconfirmed_invoices(state),
        invoiced_by_marketplace=details.invoiced_by_marketplace,
    )


def _unconfirmed_invoices(state: OrderState) -> int:
    issued = {invoice.trigger_id for invoice in state.issued}
    return sum(
        1
        for document in state.documents
        if document.kind is DocumentKind.INVOICE and document.trigger_id not in issued
    )
