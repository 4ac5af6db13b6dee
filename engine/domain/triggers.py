"""Turn a recorded document (invoice or credit note) into the trigger the invoice service reads."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.config import Company, Store
from engine.domain.money import to_cents
from engine.domain.tax import EU_MEMBER_STATES
from models.order import (
    Customer,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentScope,
    OrderLine,
    OrderState,
)
from models.trigger import Correction, Trigger, TriggerLine, VatScheme, VatTreatment, totals

_UNIT_PRICE = Decimal("0.0001")
_AMOUNT_ONLY = {
    "correction": "Price correction",
    "refund": "Refund",
    "cancellation": "Cancellation",
}


def interim_treatment(
    company: Company, customer: Customer, lines: tuple[OrderLine, ...]
) -> VatTreatment:
    """The scheme name before the VAT step (engine/domain/vat.py) decides: the interim rule, with
    the marketplace's own tax lines as amounts. The `vat` agent replaces it; with `[vat] pipeline =
    false` it is what the trigger carries."""
    destination = (customer.country or company.country).upper()
    if destination not in EU_MEMBER_STATES:
        return VatTreatment(VatScheme.EXPORT, destination)
    charged_no_vat = all(line.vat == 0 for line in lines)
    if destination != company.country:
        if customer.is_business and customer.vat_id and charged_no_vat:
            return VatTreatment(VatScheme.REVERSE_CHARGE, destination)
        if company.oss_registered:
            return VatTreatment(VatScheme.OSS, destination)
    return VatTreatment(VatScheme.DOMESTIC, company.country)


def unit_price(net: Decimal, quantity: int) -> Decimal:
    """Net per unit: to the cent where it divides evenly, else to 1/100 cent."""
    unit = net / quantity
    cents = to_cents(unit)
    return cents if cents == unit else unit.quantize(_UNIT_PRICE)


def trigger_line(line: OrderLine, part: DocumentLine, cause: str) -> TriggerLine:
    """A document line as the invoice shows it; money-only lines count as one unit."""
    quantity, description = part.quantity, line.description
    if quantity == 0:
        label = _AMOUNT_ONLY.get(cause.split(":", 1)[0], "Adjustment")
        quantity, description = 1, f"{label}: {line.description}"
    return TriggerLine(
        sku=line.sku,
        description=description,
        quantity=quantity,
        unit_price_net=unit_price(part.net, quantity),
        vat_rate=line.vat_rate,
        net=part.net,
        vat=part.vat,
        gross=part.gross,
    )


def _reason(state: OrderState, document: Document) -> str:
    kind, _, fact = document.cause.partition(":")
    if document.kind is DocumentKind.INVOICE:
        return "order fully shipped" if document.scope is DocumentScope.ORDER else "shipment sent"
    if kind == "cancellation":
        why = next(
            (c.reason for c in state.cancellations if c.cancellation_id == fact and c.reason), None
        )
        return f"order cancelled after invoicing: {why}" if why else "cancelled after invoicing"
    if kind == "return":
        return "return received"
    if kind == "refund":
        why = next((r.reason for r in state.refunds if r.refund_id == fact and r.reason), None)
        return f"refund: {why}" if why else "refund"
    return "price lowered after invoicing"


def _correction(state: OrderState, document: Document) -> Correction | None:
    if document.corrects is None:
        return None
    issued = next((i for i in state.issued if i.trigger_id == document.corrects), None)
    return Correction(
        invoice_trigger_id=document.corrects,
        invoice_number=None if issued is None else issued.invoice_number,
        invoice_date=None if issued is None else issued.invoice_date,
    )


def _costs(state: OrderState, document: Document) -> tuple[tuple[str, Decimal], ...]:
    """Marketplace fees travel with the order's first invoice, once (a split `per_order` order:
    the invoice of the company that shipped first, emitted first; docs/lifecycle.md)."""
    details = state.details
    if details is None or document.kind is not DocumentKind.INVOICE:
        return ()
    first = next((d for d in state.documents if d.kind is DocumentKind.INVOICE), None)
    return details.costs if first is None or first.trigger_id == document.trigger_id else ()


def build(state: OrderState, document: Document, store: Store, company: Company) -> Trigger:
    details = state.details
    assert details is not None, "documents need the order's details"
    by_id = {line.line_id: line for line in details.lines}
    lines = tuple(
        trigger_line(by_id[part.line_id], part, document.cause) for part in document.lines
    )
    return Trigger(
        trigger_id=document.trigger_id,
        kind=document.kind,
        order_uuid=state.ref.uuid,
        store_id=store.id,
        company_id=company.id,
        marketplace=state.ref.marketplace,
        external_order_id=state.ref.external_order_id,
        order_name=details.name,
        scope=document.scope,
        shipment_id=document.shipment_id,
        currency=details.currency,
        lines=lines,
        vat=interim_treatment(company, details.customer, details.lines),
        totals=totals(lines),
        customer=details.customer,
        costs=_costs(state, document),
        corrects=_correction(state, document),
        reason=_reason(state, document),
        created_at=document.created_at,
    )
