"""Build invoice triggers from an order's state: which lines, how much of each, at what amounts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from engine import vat
from engine.config import Company, Store
from engine.identity import trigger_id
from engine.money import ZERO, to_cents
from models.order import OrderLine, OrderState
from models.trigger import Totals, Trigger, TriggerKind, TriggerLine, TriggerScope

_UNIT_PRICE = Decimal("0.0001")


def _share(total: Decimal, quantity: int, of: int) -> Decimal:
    """The part of a line amount that `quantity` of its `of` units carry, rounded to the cent."""
    if quantity == of:
        return total
    return to_cents(total * quantity / of)


def _unit_price(net: Decimal, quantity: int) -> Decimal:
    unit = net / quantity
    cents = to_cents(unit)
    return cents if cents == unit else unit.quantize(_UNIT_PRICE)


def trigger_line(line: OrderLine, already: int, quantity: int) -> TriggerLine:
    """The slice `already .. already+quantity` of a line; slices of a whole line add up exactly."""
    net = _share(line.net, already + quantity, line.quantity) - _share(
        line.net, already, line.quantity
    )
    tax = _share(line.vat, already + quantity, line.quantity) - _share(
        line.vat, already, line.quantity
    )
    return TriggerLine(
        sku=line.sku,
        description=line.description,
        quantity=quantity,
        unit_price_net=_unit_price(net, quantity),
        vat_rate=line.vat_rate,
        net=net,
        vat=tax,
        gross=net + tax,
    )


def totals(lines: Iterable[TriggerLine]) -> Totals:
    net = vat_total = ZERO
    for line in lines:
        net += line.net
        vat_total += line.vat
    return Totals(net=net, vat=vat_total, gross=net + vat_total)


def invoice_trigger(
    state: OrderState,
    store: Store,
    company: Company,
    *,
    scope: TriggerScope,
    sequence: int | str,
    quantities: Mapping[str, int],
    already_invoiced: Mapping[str, int],
    created_at: datetime,
    shipment_id: str | None = None,
) -> Trigger:
    """An invoice for `quantities` (line id -> units), given what is invoiced already."""
    details = state.details
    assert details is not None, "an invoice needs the order's details"
    lines = tuple(
        trigger_line(line, already_invoiced.get(line.line_id, 0), quantities[line.line_id])
        for line in details.lines
        if quantities.get(line.line_id, 0) > 0
    )
    return Trigger(
        trigger_id=trigger_id(state.ref.uuid, TriggerKind.INVOICE, scope, sequence),
        kind=TriggerKind.INVOICE,
        order_uuid=state.ref.uuid,
        store_id=store.id,
        company_id=company.id,
        marketplace=state.ref.marketplace,
        external_order_id=state.ref.external_order_id,
        order_name=details.name,
        scope=scope,
        shipment_id=shipment_id,
        currency=details.currency,
        lines=lines,
        vat=vat.treatment(company, details.customer, details.lines),
        totals=totals(lines),
        customer=details.customer,
        costs=(),
        corrects=None,
        reason="order fully shipped" if scope is TriggerScope.ORDER else "shipment sent",
        created_at=created_at,
    )
