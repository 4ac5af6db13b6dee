"""The per-order state machine: apply one normalised event, get the new state and what it caused.

Every fact is merged as a set union keyed by the fact's own id (a shipment by its id, payment and
cancellation once), and an order's details only ever move forward in marketplace time. So any
duplication and any reordering of the same facts ends in the same state and the same triggers;
that is what makes at-least-once delivery safe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from engine import triggers as trigger_builder
from engine.config import Company, InvoiceGranularity, Store
from engine.identity import audit_entry_id
from models.events import (
    DetailsReported,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    ShipmentSent,
)
from models.order import (
    InvoiceRecord,
    LineKind,
    OrderDetails,
    OrderState,
    ShippedLine,
    Stage,
)
from models.trigger import AuditEntry, Trigger, TriggerScope

#: How many event ids an order remembers; older duplicates are still harmless (see module doc).
EVENT_ID_MEMORY = 256
SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class Transition:
    state: OrderState
    triggers: tuple[Trigger, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    changed: bool = False


def apply(
    state: OrderState | None, event: OrderEvent, store: Store, company: Company
) -> Transition:
    """Apply `event` to `state` (None for an order not seen before)."""
    current = state if state is not None else OrderState(ref=event.ref, stage=Stage.NEW)
    if event.event_id in current.applied_event_ids:
        return Transition(current)

    merged, refusal = _merge(current, event)
    merged = replace(
        merged,
        stage=_stage(merged),
        applied_event_ids=(*current.applied_event_ids, event.event_id)[-EVENT_ID_MEMORY:],
        last_changed_at=max(filter(None, (current.last_changed_at, event.occurred_at))),
    )
    audit: list[AuditEntry] = []
    actor = event.ref.marketplace.value
    previous = None if state is None else state.stage
    if refusal is not None:
        audit.append(_entry(event, len(audit), actor, previous, current.stage, refusal))
    if merged.stage != previous:
        audit.append(
            _entry(event, len(audit), actor, previous, merged.stage, f"{event.type} received")
        )

    due = _due_invoices(merged, store, company)
    if due:
        records = (*merged.invoices, *(record for record, _ in due))
        invoiced = replace(
            merged,
            invoices=tuple(sorted(records, key=lambda r: (r.invoiced_at, str(r.trigger_id)))),
        )
        invoiced = replace(invoiced, stage=_stage(invoiced))
        if invoiced.stage != merged.stage:
            ids = ", ".join(str(trigger.trigger_id) for _, trigger in due)
            audit.append(
                _entry(
                    event,
                    len(audit),
                    SYSTEM_ACTOR,
                    merged.stage,
                    invoiced.stage,
                    f"invoice trigger emitted: {ids}",
                )
            )
        merged = invoiced
    return Transition(
        state=merged,
        triggers=tuple(trigger for _, trigger in due),
        audit=tuple(audit),
        changed=True,
    )


def _merge(state: OrderState, event: OrderEvent) -> tuple[OrderState, str | None]:
    """Fold one fact into the state; the second value is a reason when part of it was refused."""
    payload = event.payload
    match payload:
        case DetailsReported(details=details):
            return _merge_details(state, details)
        case PaymentCaptured(paid_at=paid_at):
            first = paid_at if state.paid_at is None else min(state.paid_at, paid_at)
            return replace(state, paid_at=first), None
        case ShipmentSent(shipment=shipment):
            known = {s.shipment_id for s in state.shipments}
            if shipment.shipment_id in known:
                return state, None
            shipments = tuple(
                sorted((*state.shipments, shipment), key=lambda s: (s.shipped_at, s.shipment_id))
            )
            return replace(state, shipments=shipments), None
        case OrderCancelled(cancelled_at=cancelled_at, reason=reason):
            if state.cancelled_at is not None and state.cancelled_at <= cancelled_at:
                return state, None
            return replace(state, cancelled_at=cancelled_at, cancel_reason=reason), None


def _merge_details(state: OrderState, details: OrderDetails) -> tuple[OrderState, str | None]:
    known = state.details
    if known is not None and details.as_of <= known.as_of:
        return state, None  # a stale delivery (e.g. a retry carrying its original payload)
    if known is not None and state.locked and details.lines != known.lines:
        return (
            replace(state, details=replace(known, as_of=details.as_of)),
            "refused: the order is invoiced, its lines are locked; "
            "a change to them needs a credit note",
        )
    return replace(state, details=details), None


def shipped_quantities(state: OrderState) -> Counter[str]:
    shipped: Counter[str] = Counter()
    for shipment in state.shipments:
        for line in shipment.lines:
            shipped[line.line_id] += line.quantity
    return shipped


def invoiced_quantities(state: OrderState) -> Counter[str]:
    invoiced: Counter[str] = Counter()
    for record in state.invoices:
        for line in record.line_quantities:
            invoiced[line.line_id] += line.quantity
    return invoiced


def _product_lines_covered(state: OrderState, quantities: Counter[str]) -> bool:
    assert state.details is not None
    products = [line for line in state.details.lines if line.kind is LineKind.PRODUCT]
    return bool(products) and all(quantities[line.line_id] >= line.quantity for line in products)


def _fully_shipped(state: OrderState) -> bool:
    return _product_lines_covered(state, shipped_quantities(state))


def _stage(state: OrderState) -> Stage:
    if state.cancelled_at is not None and not state.locked:
        return Stage.CANCELLED
    if state.details is not None and _fully_shipped(state):
        if _product_lines_covered(state, invoiced_quantities(state)):
            return Stage.INVOICED
        return Stage.SHIPPED
    if state.shipments:
        return Stage.PARTIALLY_SHIPPED
    if state.paid_at is not None:
        return Stage.PAID
    return Stage.NEW


def _due_invoices(
    state: OrderState, store: Store, company: Company
) -> list[tuple[InvoiceRecord, Trigger]]:
    if state.details is None or state.cancelled_at is not None:
        return []
    if store.invoice_granularity is InvoiceGranularity.PER_SHIPMENT:
        return _due_shipment_invoices(state, store, company)
    if state.locked or not _fully_shipped(state):
        return []
    quantities = {line.line_id: line.quantity for line in state.details.lines}
    invoiced_at = state.shipments[-1].shipped_at
    trigger = trigger_builder.invoice_trigger(
        state,
        store,
        company,
        scope=TriggerScope.ORDER,
        sequence=0,
        quantities=quantities,
        already_invoiced={},
        created_at=invoiced_at,
    )
    return [(_record(trigger, quantities, invoiced_at), trigger)]


def _due_shipment_invoices(
    state: OrderState, store: Store, company: Company
) -> list[tuple[InvoiceRecord, Trigger]]:
    """One invoice per shipment, holding only that shipment's units.

    Charges that ship with nothing (delivery costs) go on the first invoice emitted. Shipments
    reported out of their time order can therefore split lines and charges differently over
    the same invoice ids; the ids and the totals are the same whatever the order.
    """
    assert state.details is not None
    ordered = {line.line_id: line.quantity for line in state.details.lines}
    charges = {
        line.line_id: line.quantity
        for line in state.details.lines
        if line.kind is not LineKind.PRODUCT
    }
    invoiced = invoiced_quantities(state)
    done = {record.trigger_id for record in state.invoices}
    due: list[tuple[InvoiceRecord, Trigger]] = []
    for shipment in state.shipments:
        in_box: Counter[str] = Counter()
        for shipped in shipment.lines:
            in_box[shipped.line_id] += shipped.quantity
        quantities = {
            line_id: min(units, ordered.get(line_id, 0) - invoiced[line_id])
            for line_id, units in in_box.items()
        }
        if not state.invoices and not due:
            quantities.update({k: v - invoiced[k] for k, v in charges.items()})
        trigger = trigger_builder.invoice_trigger(
            state,
            store,
            company,
            scope=TriggerScope.SHIPMENT,
            sequence=shipment.shipment_id,
            quantities=quantities,
            already_invoiced=invoiced,
            created_at=shipment.shipped_at,
            shipment_id=shipment.shipment_id,
        )
        if trigger.trigger_id in done or not trigger.lines:
            continue
        due.append((_record(trigger, quantities, shipment.shipped_at), trigger))
        invoiced.update(quantities)
    return due


def _record(trigger: Trigger, quantities: Mapping[str, int], at: datetime) -> InvoiceRecord:
    return InvoiceRecord(
        trigger_id=trigger.trigger_id,
        invoiced_at=at,
        line_quantities=tuple(
            ShippedLine(line_id, quantity)
            for line_id, quantity in sorted(quantities.items())
            if quantity > 0
        ),
    )


def _entry(
    event: OrderEvent,
    sequence: int,
    actor: str,
    from_stage: Stage | None,
    to_stage: Stage,
    reason: str,
) -> AuditEntry:
    return AuditEntry(
        entry_id=audit_entry_id(event.ref.uuid, event.event_id, sequence),
        order_uuid=event.ref.uuid,
        at=event.occurred_at,
        actor=actor,
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        source_event_id=event.event_id,
    )
