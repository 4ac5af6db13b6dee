"""The per-order state machine: apply one event, get the new state and the documents it causes.

An order is a set of facts (details, payment, shipments, cancellations, returns, refunds) and a
list of the invoices and credit notes already asked for. Every fact is merged by its own id, and
an order's details only move forward in marketplace time, so duplicates change nothing and a
stale retry never rolls an order back. After each merge the engine compares what the facts
require to be documented with what is documented, and emits the difference:

- an invoice once everything not cancelled has shipped (`per_order`), or per shipment
  (`per_shipment`); an order called off before that point is never invoiced;
- a credit note, against one invoice, for every later change that touches invoiced units or
  money: a cancellation after invoicing, a return received, a refund, a price correction.

Shipped units belong to the company of the location they shipped from (`Store.locations`; the
store's own company where the location is absent or not mapped), so one order may be invoiced
by several companies: `per_order`, one invoice per company; `per_shipment`, each shipment's
invoice by its location's company. A credit note is issued by the company of the invoice it
corrects. An order that involves only the store's own company is documented exactly as before.
Likewise a `per_order` invoice never mixes ship-from countries: shipments that name different
origins are invoiced apart, because the VAT scheme depends on where goods leave from
(docs/vat.md §7); each document records its origin for the VAT step.

docs/lifecycle.md states the rules in words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from engine import triggers as trigger_builder
from engine.config import Company, InvoiceGranularity, Store
from engine.exceptions import ConfigError
from engine.identity import audit_entry_id, trigger_id
from engine.money import ZERO, to_cents
from models.commands import OperatorAction
from models.events import (
    CancellationWithdrawn,
    DetailsReported,
    InvoiceIssued,
    OperatorStatusChanged,
    OrderCancelled,
    OrderEvent,
    PaymentCaptured,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
    ShipmentSent,
)
from models.order import (
    Cancellation,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentScope,
    LineKind,
    LineQuantity,
    OrderDetails,
    OrderLine,
    OrderState,
    Shipment,
    Stage,
    Withdrawal,
)
from models.trigger import AuditEntry, Trigger

#: How many event ids an order remembers; older duplicates are still harmless (see module doc).
EVENT_ID_MEMORY = 256
SYSTEM_ACTOR = "system"
INVOICE_SERVICE_ACTOR = "invoice-service"
#: Reason of the audit entry written when an order the marketplace invoices is fully shipped.
NOT_INVOICED_PREFIX = "no seller invoice: "
#: Shipments an operator marked (`mark_shipped`) have ids with this prefix; the marketplace's
#: later report of the same parcel confirms them instead of shipping the units again.
OPERATOR_SHIPMENT_PREFIX = "operator:"


@dataclass(frozen=True, slots=True)
class Transition:
    state: OrderState
    triggers: tuple[Trigger, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    changed: bool = False


def apply(
    state: OrderState | None,
    event: OrderEvent,
    store: Store,
    company: Company,
    companies: Mapping[str, Company] | None = None,
) -> Transition:
    """Apply `event` to `state` (None for an order not seen before).

    `company` is the store's own company; `companies` (by id) are the others its `locations`
    may route shipped units to (a split order's documents are built with their own company).
    """
    current = state if state is not None else OrderState(ref=event.ref, stage=Stage.NEW)
    if event.event_id in current.applied_event_ids:
        return Transition(current)
    # Even a fact that changes nothing (a stale retry) is remembered as seen: the id memory is
    # what the no-loss checks read back from the changelog.
    merged, refusal = _merge(current, event)

    before_documents = _stage(merged)
    documents = _due_documents(merged, store)
    merged = replace(
        merged,
        documents=(*merged.documents, *documents),
        applied_event_ids=(*current.applied_event_ids, event.event_id)[-EVENT_ID_MEMORY:],
        last_changed_at=max(filter(None, (current.last_changed_at, event.occurred_at))),
    )
    stage = _stage(merged)
    previous = None if state is None else state.stage
    if stage != previous:
        merged = replace(merged, stage=stage, stage_since=event.occurred_at)

    actor = _actor(event)
    audit: list[AuditEntry] = []

    def note(who: str, frm: Stage | None, to: Stage, reason: str) -> None:
        audit.append(_entry(event, len(audit), who, frm, to, reason))

    if refusal is not None:
        note(actor, previous, previous or Stage.NEW, refusal)
    # An operator's accepted action is audited even where the stage stays the same.
    operator_acted = refusal is None and isinstance(event.payload, OperatorStatusChanged)
    if before_documents != previous or operator_acted:
        note(actor, previous, before_documents, _reason(event))
    if stage != before_documents:
        kinds = ", ".join(f"{d.kind.value} {d.trigger_id}" for d in documents)
        note(SYSTEM_ACTOR, before_documents, stage, f"emitted {kinds}")
    matched = _reconciliation(merged, event)
    if matched:
        note(actor, stage, stage, matched)
    for defaulted in _newly_defaulted(current, merged, event):
        note(actor, stage, stage, f"defaulted {defaulted}")
    waived = merged.details.invoiced_by_marketplace if merged.details is not None else None
    if waived is not None and stage is Stage.SHIPPED and previous is not Stage.SHIPPED:
        # Where an invoice would now be due, say why there is none (marketplace invoices).
        note(SYSTEM_ACTOR, stage, stage, f"{NOT_INVOICED_PREFIX}{waived}")
    built = tuple(
        trigger_builder.build(merged, document, store, _issuer(document, company, companies))
        for document in documents
    )
    return Transition(state=merged, triggers=built, audit=tuple(audit), changed=True)


def _newly_defaulted(before: OrderState, after: OrderState, event: OrderEvent) -> list[str]:
    """The fields this event's details filled in that the order's audit does not name yet."""
    if not isinstance(event.payload, DetailsReported) or after.details is before.details:
        return []
    known = set(before.details.defaulted) if before.details is not None else set()
    return [field for field in event.payload.details.defaulted if field not in known]


def _issuer(
    document: Document, company: Company, companies: Mapping[str, Company] | None
) -> Company:
    """The company a document is built for: its own, else the store's (`company`)."""
    if document.company_id is None or document.company_id == company.id:
        return company
    found = (companies or {}).get(document.company_id)
    if found is None:
        raise ConfigError(
            f"document {document.trigger_id} is issued by company {document.company_id!r}, "
            "which is not configured"
        )
    return found


# --- companies -----------------------------------------------------------------------------


def company_of(store: Store, shipment: Shipment) -> str:
    """The company a shipment's units belong to: its location's, else the store's own."""
    if shipment.location_id is None:
        return store.company_id
    return store.locations.get(shipment.location_id, store.company_id)


def document_company(store: Store, document: Document) -> str:
    """The company that issues `document` (None on the document: the store's own)."""
    return document.company_id or store.company_id


def _groups(state: OrderState, store: Store) -> list[tuple[str, str | None]]:
    """The (company, ship-from country) pairs of the order in the order they first shipped:
    a per-order invoice is issued per company and per origin, because the VAT scheme of a
    distance sale depends on where the goods leave from (docs/vat.md §7). A shipment that
    names no country counts as leaving from the order's origin (None)."""
    return list(
        dict.fromkeys(
            (company_of(store, shipment), shipment.ship_from_country)
            for shipment in state.shipments
            if _counts(shipment)
        )
    )


def _companies(state: OrderState, store: Store) -> list[str]:
    """The order's companies in the order they first shipped (shipments are kept in (time, id)
    order): split orders list, slice, credit and charge in this order (docs/lifecycle.md)."""
    return list(
        dict.fromkeys(
            company_of(store, shipment) for shipment in state.shipments if _counts(shipment)
        )
    )


def order_companies(state: OrderState, store: Store) -> tuple[str, ...]:
    """The companies that ship (and so invoice) the order; the store's own before it ships."""
    return tuple(_companies(state, store)) or (store.company_id,)


def _own(store: Store, company_id: str) -> str | None:
    """What a document records as its company: None for the store's own."""
    return None if company_id == store.company_id else company_id


def _invoice_sequence(count: int, company_id: str, store: Store) -> str:
    """The store's own company numbers its order invoices 0, 1, ... as ever; another company's
    carry its id: `0@winkel-be`, so no arrival order can give two companies the same id."""
    return str(count) if company_id == store.company_id else f"{count}@{company_id}"


# --- merging facts -------------------------------------------------------------------------


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
            if any(known.shipment_id == shipment.shipment_id for known in state.shipments):
                return _track(state, shipment), None
            return replace(
                state, shipments=_add(state.shipments, _reconcile(state, shipment))
            ), None
        case OrderCancelled(cancellation=cancellation):
            if _withdrawn_since(state, cancellation.cancellation_id, cancellation.cancelled_at):
                return state, None  # the marketplace has taken it back since
            merged = _add(state.cancellations, cancellation)
            return replace(state, cancellations=merged), None
        case CancellationWithdrawn(withdrawal=withdrawal):
            return _withdraw(state, withdrawal)
        case ReturnRequested(request=request):
            return replace(state, return_requests=_add(state.return_requests, request)), None
        case ReturnReceived(received=received):
            return replace(state, returns=_add(state.returns, received)), None
        case RefundIssued(refund=refund):
            return replace(state, refunds=_add(state.refunds, refund)), None
        case InvoiceIssued(issued=issued):
            known = {i.trigger_id for i in state.issued}
            if issued.trigger_id in known:
                return state, None
            if issued.trigger_id not in {d.trigger_id for d in state.documents}:
                return state, f"refused: {issued.trigger_id} is no trigger of this order"
            return replace(state, issued=(*state.issued, issued)), None
        case OperatorStatusChanged():
            return _operator(state, event, payload)


def is_operator_shipment(shipment: Shipment) -> bool:
    return shipment.shipment_id.startswith(OPERATOR_SHIPMENT_PREFIX)


def _reconcile(state: OrderState, shipment: Shipment) -> Shipment:
    """A marketplace shipment with the units it confirms of those an operator marked shipped.

    The operator's mark stood for the parcel the marketplace now reports: the units it covers
    are matched (counted once, on the invoice already issued for them), and only units beyond
    the operator's marks ship anew. Operator shipments, and marketplace shipments of an order
    without them, are kept as they are.
    """
    if is_operator_shipment(shipment) or any(
        known.shipment_id == shipment.shipment_id for known in state.shipments
    ):
        return shipment
    unconfirmed = unconfirmed_operator_units(state)
    if not unconfirmed:
        return replace(shipment, confirms=())
    reported = _sum([shipment.lines])
    confirms = tuple(
        LineQuantity(line_id, matched)
        for line_id, units in reported.items()
        if (matched := min(units, unconfirmed[line_id])) > 0
    )
    return replace(shipment, confirms=confirms)


def _track(state: OrderState, report: Shipment) -> OrderState:
    """A known shipment reported again keeps its units, time and origin (its invoice may be
    out) but gains the tracking it lacked: marketplaces often add the tracking number after
    the parcel was first reported. Numbers are merged in the order first seen, and the first
    carrier named stays: a stale report never takes tracking away."""
    shipments = []
    for known in state.shipments:
        if known.shipment_id == report.shipment_id:
            numbers = tuple(dict.fromkeys((*known.tracking_numbers, *report.tracking_numbers)))
            known = replace(
                known, carrier=known.carrier or report.carrier, tracking_numbers=numbers
            )
        shipments.append(known)
    return replace(state, shipments=tuple(shipments))


def tracking_text(shipment: Shipment) -> str:
    """The carrier and tracking numbers in words ("" when the marketplace gave none)."""
    parts = [part for part in (shipment.carrier, ", ".join(shipment.tracking_numbers)) if part]
    return " ".join(parts)


def unconfirmed_operator_units(state: OrderState) -> Counter[str]:
    """Units operators marked shipped that no marketplace shipment has reported yet."""
    marked = _sum(s.lines for s in state.shipments if is_operator_shipment(s))
    return marked - _sum(s.confirms for s in state.shipments)


def _reconciliation(state: OrderState, event: OrderEvent) -> str | None:
    """The audit line for a marketplace shipment matched with an operator's, if it was."""
    if not isinstance(event.payload, ShipmentSent):
        return None
    shipment_id = event.payload.shipment.shipment_id
    kept = next((s for s in state.shipments if s.shipment_id == shipment_id), None)
    if kept is None or not kept.confirms:
        return None
    operators = ", ".join(s.shipment_id for s in state.shipments if is_operator_shipment(s))
    facts = [
        fact
        for fact in (
            tracking_text(kept),
            f"from {kept.ship_from_country}" if kept.ship_from_country else "",
        )
        if fact
    ]
    named = f"{shipment_id} ({', '.join(facts)})" if facts else shipment_id
    parts = [
        f"shipment {named} matched with {operators}: "
        f"{_units_text(_sum([kept.confirms]))} counted once"
    ]
    beyond = _counted(kept)
    if beyond:
        parts.append(f"shipped beyond the operator's marks: {_units_text(beyond)}")
    waiting = unconfirmed_operator_units(state)
    if waiting:
        parts.append(
            f"marked by an operator, not reported by the marketplace: {_units_text(waiting)}"
        )
    return "; ".join(parts)


def _units_text(units: Counter[str]) -> str:
    return ", ".join(f"{line_id} x{count}" for line_id, count in sorted(units.items()) if count)


def _withdrawn_since(state: OrderState, cancellation_id: str, at: datetime) -> bool:
    return any(
        w.cancellation_id == cancellation_id and w.withdrawn_at > at for w in state.withdrawals
    )


def _withdraw(state: OrderState, withdrawal: Withdrawal) -> tuple[OrderState, str | None]:
    """Void the older cancellation with the withdrawal's id, unless it was credited already.

    Only the newest withdrawal per id is kept, so facts arriving in any order end the same:
    a cancellation is void exactly when a newer withdrawal of its id is known.
    """
    cancellation_id = withdrawal.cancellation_id
    if any(
        w.cancellation_id == cancellation_id and w.withdrawn_at >= withdrawal.withdrawn_at
        for w in state.withdrawals
    ):
        return state, None  # this withdrawal or a newer one is known
    voided = [
        c
        for c in state.cancellations
        if c.cancellation_id == cancellation_id and c.cancelled_at < withdrawal.withdrawn_at
    ]
    cause = f"cancellation:{cancellation_id}"
    credited = [d for d in state.documents if d.cause == cause]
    if voided and credited:
        return state, (
            f"refused: cancellation {cancellation_id} was withdrawn, but credit note "
            f"{credited[0].trigger_id} has credited it; invoice the order again by hand"
        )
    kept = tuple(w for w in state.withdrawals if w.cancellation_id != cancellation_id)
    return (
        replace(
            state,
            cancellations=tuple(c for c in state.cancellations if c not in voided),
            withdrawals=tuple(sorted((*kept, withdrawal), key=lambda w: w.cancellation_id)),
        ),
        None,
    )


class _Fact(Protocol):
    @property
    def key(self) -> tuple[datetime, str]: ...


FactT = TypeVar("FactT", bound=_Fact)


def _add(facts: tuple[FactT, ...], fact: FactT) -> tuple[FactT, ...]:
    """Add a fact unless one with its id is known; kept in (time, id) order."""
    if any(known.key[1] == fact.key[1] for known in facts):
        return facts
    return tuple(sorted((*facts, fact), key=lambda known: known.key))


def _merge_details(state: OrderState, details: OrderDetails) -> tuple[OrderState, str | None]:
    known = state.details
    if known is not None and details.as_of <= known.as_of:
        return state, None  # a stale delivery (e.g. a retry carrying its original payload)
    if known is None or not state.locked:
        return replace(state, details=details), None
    # Invoiced: what is on an invoice stays as invoiced. A lower price becomes a credit note
    # (see _price_corrections); anything else that would rewrite invoiced data is refused.
    invoiced = _units(state, DocumentKind.INVOICE)
    old_lines = {line.line_id: line for line in known.lines}
    refused: list[str] = []
    lines: list[OrderLine] = []
    for line in details.lines:
        old = old_lines.get(line.line_id)
        if old is None or not invoiced[line.line_id] or _at_most_cheaper(old, line):
            lines.append(line)
        else:
            lines.append(old)
            refused.append(f"line {line.line_id}")
    kept_ids = {line.line_id for line in details.lines}
    lines.extend(
        old for old in known.lines if old.line_id not in kept_ids and invoiced[old.line_id]
    )
    customer, currency = details.customer, details.currency
    if (customer, currency) != (known.customer, known.currency):
        customer, currency = known.customer, known.currency
        refused.append("customer and currency")
    merged = replace(details, lines=tuple(lines), customer=customer, currency=currency)
    reason = None
    if refused:
        reason = (
            f"refused: {', '.join(refused)} of an invoiced order cannot change; "
            "only credit notes correct an invoice"
        )
    return replace(state, details=merged), reason


def _at_most_cheaper(invoiced: OrderLine, new: OrderLine) -> bool:
    """The same line, or the same units at a lower price (credited by a correction)."""
    return new == invoiced or (new.quantity == invoiced.quantity and new.gross < invoiced.gross)


def _operator(
    state: OrderState, event: OrderEvent, command: OperatorStatusChanged
) -> tuple[OrderState, str | None]:
    """An operator's correction becomes the fact the marketplace did not report."""
    at, fact_id = event.occurred_at, f"operator:{command.command_id}"
    match command.action:
        case OperatorAction.MARK_PAID:
            if state.paid_at is not None:
                return state, "refused: the order is already paid"
            return replace(state, paid_at=at), None
        case OperatorAction.MARK_SHIPPED:
            if state.details is None:
                return state, "refused: the order's lines are not known yet"
            open_units = _open_units(state)
            if not open_units:
                return state, "refused: nothing is left to ship"
            shipment = Shipment(fact_id, at, tuple(LineQuantity(k, v) for k, v in open_units))
            return replace(state, shipments=_add(state.shipments, shipment)), None
        case OperatorAction.CANCEL:
            cancellation = Cancellation(fact_id, at, command.reason)
            merged = _add(state.cancellations, cancellation)
            return replace(state, cancellations=merged), None


def _actor(event: OrderEvent) -> str:
    match event.payload:
        case OperatorStatusChanged(operator_id=operator_id):
            return operator_id
        case InvoiceIssued():
            return INVOICE_SERVICE_ACTOR
        case _:
            return event.ref.marketplace.value


def _reason(event: OrderEvent) -> str:
    match event.payload:
        case OperatorStatusChanged(action=action, reason=reason):
            return f"{action.value}: {reason}"
        case OrderCancelled(cancellation=Cancellation(reason=reason)) if reason:
            return f"order_cancelled: {reason}"
        case CancellationWithdrawn(withdrawal=Withdrawal(reason=reason)) if reason:
            return f"cancellation_withdrawn: {reason}"
        case _:
            return f"{event.type} received"


# --- quantities ----------------------------------------------------------------------------


def _sum(parts: Iterable[Iterable[LineQuantity]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for lines in parts:
        for line in lines:
            total[line.line_id] += line.quantity
    return total


def _counted(shipment: Shipment) -> Counter[str]:
    """The units a shipment ships: all of them, less those confirming an operator's marks."""
    return _sum([shipment.lines]) - _sum([shipment.confirms])


def _counts(shipment: Shipment) -> bool:
    """False only for a marketplace shipment that merely confirms an operator's marks."""
    return not shipment.confirms or bool(_counted(shipment))


def shipped_units(state: OrderState) -> Counter[str]:
    """Units shipped per line, each counted once (see `_reconcile`)."""
    return _sum(s.lines for s in state.shipments) - _sum(s.confirms for s in state.shipments)


def _units(state: OrderState, kind: DocumentKind) -> Counter[str]:
    """Units per line on the documents of `kind`."""
    total: Counter[str] = Counter()
    for document in state.documents:
        if document.kind is kind:
            for line in document.lines:
                total[line.line_id] += line.quantity
    return total


def _products(details: OrderDetails) -> list[OrderLine]:
    return [line for line in details.lines if line.kind is LineKind.PRODUCT]


def _called_off_at(state: OrderState) -> datetime | None:
    whole = [c.cancelled_at for c in state.cancellations if c.whole_order]
    return min(whole) if whole else None


def _unshipped_cancelled(state: OrderState) -> Counter[str]:
    """Units cancelled line by line out of those not shipped (shipped ones come back instead)."""
    assert state.details is not None
    asked = _sum(c.lines for c in state.cancellations if not c.whole_order)
    shipped = shipped_units(state)
    return Counter(
        {
            line.line_id: min(asked[line.line_id], max(0, line.quantity - shipped[line.line_id]))
            for line in state.details.lines
        }
    )


def _open_units(state: OrderState) -> list[tuple[str, int]]:
    assert state.details is not None
    shipped, cancelled = shipped_units(state), _unshipped_cancelled(state)
    return [
        (line.line_id, left)
        for line in _products(state.details)
        if (left := line.quantity - shipped[line.line_id] - cancelled[line.line_id]) > 0
    ]


def _covered_at(state: OrderState) -> datetime | None:
    """When every unit not cancelled had shipped; None while some are still to ship."""
    if state.details is None or not state.shipments or _open_units(state):
        return None
    return [s for s in state.shipments if _counts(s)][-1].shipped_at


# --- stages --------------------------------------------------------------------------------


def _stage(state: OrderState) -> Stage:
    kinds = {d.kind for d in state.documents}
    if _called_off_at(state) is not None and DocumentKind.INVOICE not in kinds:
        return Stage.CANCELLED
    if _sum(r.lines for r in state.return_requests) - _sum(r.lines for r in state.returns):
        return Stage.RETURN_REQUESTED
    if state.returns:
        return Stage.RETURNED
    if DocumentKind.CREDIT_NOTE in kinds:
        return Stage.CREDITED
    covered = _covered_at(state) is not None
    if covered and DocumentKind.INVOICE in kinds and not _uninvoiced(state):
        return Stage.INVOICED
    if covered:
        return Stage.SHIPPED
    if state.shipments:
        return Stage.PARTIALLY_SHIPPED
    if state.paid_at is not None:
        return Stage.PAID
    return Stage.NEW


def _uninvoiced(state: OrderState) -> Counter[str]:
    return shipped_units(state) - _units(state, DocumentKind.INVOICE)


# --- documents -----------------------------------------------------------------------------


def _due_documents(state: OrderState, store: Store) -> list[Document]:
    if state.details is None:
        return []
    invoices = (
        []  # the marketplace invoices the buyer itself (OrderDetails.invoiced_by_marketplace)
        if state.details.invoiced_by_marketplace is not None
        else _due_shipment_invoices(state, store)
        if store.invoice_granularity is InvoiceGranularity.PER_SHIPMENT
        else _due_order_invoice(state, store)
    )
    with_invoices = replace(state, documents=(*state.documents, *invoices))
    return [*invoices, *_due_credit_notes(with_invoices, store)]


def _invoice_lines(
    details: OrderDetails, quantities: Counter[str], already: Counter[str]
) -> tuple[DocumentLine, ...]:
    lines = []
    for line in details.lines:
        units = min(quantities[line.line_id], line.quantity - already[line.line_id])
        if units > 0:
            lines.append(_slice(line, already[line.line_id], units))
    return tuple(lines)


def _slice(line: OrderLine, already: int, units: int) -> DocumentLine:
    """Units `already .. already+units` of a line; the slices of a line add up to it exactly."""

    def part(total: Decimal) -> Decimal:
        return _share(total, already + units, line.quantity) - _share(total, already, line.quantity)

    net, vat = part(line.net), part(line.vat)
    return DocumentLine(line.line_id, units, net, vat, net + vat)


def _share(total: Decimal, units: int, of: int) -> Decimal:
    return total if units == of else to_cents(total * units / of)


def _due_order_invoice(state: OrderState, store: Store) -> list[Document]:
    """One invoice per company, once everything not cancelled has shipped.

    Each holds the units its company shipped and not yet invoiced; the companies come in the
    order they first shipped, each slicing its units of a line after the previous one's, and
    the delivery charges go on the first company's invoice (with one company: the invoice).
    """
    assert state.details is not None
    covered_at = _covered_at(state)
    called_off = _called_off_at(state)
    if covered_at is None or (called_off is not None and called_off <= covered_at):
        return []  # not yet fully shipped, or called off before it was
    invoiced = _units(state, DocumentKind.INVOICE)
    groups = _groups(state, store)
    due: list[Document] = []
    for company_id, origin in groups:
        shipped = sum(
            (
                _counted(s)
                for s in state.shipments
                if (company_of(store, s), s.ship_from_country) == (company_id, origin)
            ),
            Counter(),
        )
        wanted = shipped - _group_invoiced(state, store, company_id, origin)
        if not state.locked and (company_id, origin) == groups[0]:
            for line in state.details.lines:  # delivery charges travel with the first invoice
                if line.kind is not LineKind.PRODUCT:
                    wanted[line.line_id] = line.quantity
        lines = _invoice_lines(state.details, wanted, invoiced)
        if not lines:
            continue
        count = sum(
            1
            for d in (*state.documents, *due)
            if d.kind is DocumentKind.INVOICE and document_company(store, d) == company_id
        )
        sequence = _invoice_sequence(count, company_id, store)
        due.append(
            Document(
                trigger_id=trigger_id(
                    state.ref.uuid, DocumentKind.INVOICE, DocumentScope.ORDER, sequence
                ),
                kind=DocumentKind.INVOICE,
                scope=DocumentScope.ORDER,
                cause=f"order:{sequence}",
                created_at=covered_at,
                lines=lines,
                company_id=_own(store, company_id),
                ship_from_country=origin,
            )
        )
        invoiced.update(_sum([[LineQuantity(x.line_id, x.quantity) for x in lines]]))
    return due


def _group_invoiced(
    state: OrderState, store: Store, company_id: str, origin: str | None
) -> Counter[str]:
    """Units on the invoices `company_id` issued for goods leaving from `origin`."""
    return _sum(
        [LineQuantity(line.line_id, line.quantity) for line in document.lines]
        for document in state.documents
        if document.kind is DocumentKind.INVOICE
        and document_company(store, document) == company_id
        and document.ship_from_country == origin
    )


def _due_shipment_invoices(state: OrderState, store: Store) -> list[Document]:
    """One invoice per shipment, holding only that shipment's units, issued by the company of
    the location it shipped from.

    Charges that ship with nothing (delivery costs) go on the first invoice emitted. Shipments
    reported out of their time order can therefore split lines and charges differently over
    the same invoice ids; the ids and the totals are the same whatever the order.
    """
    assert state.details is not None
    called_off = _called_off_at(state)
    invoiced = _units(state, DocumentKind.INVOICE)
    done = {d.shipment_id for d in state.documents if d.kind is DocumentKind.INVOICE}
    due: list[Document] = []
    for shipment in state.shipments:
        if shipment.shipment_id in done:
            continue
        if called_off is not None and called_off <= shipment.shipped_at:
            continue  # shipped after the order was called off: nothing to sell
        wanted = _counted(shipment)
        if not invoiced:
            for line in state.details.lines:
                if line.kind is not LineKind.PRODUCT:
                    wanted[line.line_id] = line.quantity
        lines = _invoice_lines(state.details, wanted, invoiced)
        if not lines:
            continue
        due.append(
            Document(
                trigger_id=trigger_id(
                    state.ref.uuid,
                    DocumentKind.INVOICE,
                    DocumentScope.SHIPMENT,
                    shipment.shipment_id,
                ),
                kind=DocumentKind.INVOICE,
                scope=DocumentScope.SHIPMENT,
                cause=f"shipment:{shipment.shipment_id}",
                created_at=shipment.shipped_at,
                lines=lines,
                shipment_id=shipment.shipment_id,
                company_id=_own(store, company_of(store, shipment)),
                ship_from_country=shipment.ship_from_country,
            )
        )
        invoiced.update(_sum([[LineQuantity(x.line_id, x.quantity) for x in lines]]))
    return due


@dataclass(frozen=True, slots=True)
class _Claim:
    """What one fact asks to credit: units per line, whole remainder, and/or money."""

    cause: str
    at: datetime
    units: Counter[str]
    everything: bool = False
    amount: Decimal = ZERO


def _claims(state: OrderState) -> Iterator[_Claim]:
    assert state.details is not None
    beyond_unshipped = _sum(c.lines for c in state.cancellations if not c.whole_order) - (
        _unshipped_cancelled(state)
    )
    for cancellation in state.cancellations:
        if cancellation.whole_order:
            yield _Claim(
                f"cancellation:{cancellation.cancellation_id}",
                cancellation.cancelled_at,
                Counter(),
                everything=True,
            )
            continue
        units: Counter[str] = Counter()
        for line in cancellation.lines:
            take = min(line.quantity, beyond_unshipped[line.line_id])
            beyond_unshipped[line.line_id] -= take
            units[line.line_id] += take
        if +units:
            yield _Claim(
                f"cancellation:{cancellation.cancellation_id}", cancellation.cancelled_at, units
            )
    for received in state.returns:
        yield _Claim(f"return:{received.return_id}", received.at, _sum([received.lines]))
    for refund in state.refunds:
        yield _Claim(
            f"refund:{refund.refund_id}",
            refund.refunded_at,
            _sum([refund.lines]),
            amount=refund.amount,
        )
    yield from _price_corrections(state)


def _price_corrections(state: OrderState) -> Iterator[_Claim]:
    """A price lowered on invoiced units: the difference is credited."""
    assert state.details is not None
    for line in state.details.lines:
        invoiced = [
            (document, item)
            for document in state.documents
            if document.kind is DocumentKind.INVOICE
            for item in document.lines
            if item.line_id == line.line_id
        ]
        units = sum(item.quantity for _, item in invoiced)
        if not units:
            continue
        billed = sum((item.gross for _, item in invoiced), ZERO) - sum(
            (
                item.gross
                for document in state.documents
                if document.cause.startswith(f"correction:{line.line_id}@")
                for item in document.lines
            ),
            ZERO,
        )
        due = _share(line.net, units, line.quantity) + _share(line.vat, units, line.quantity)
        if due < billed:
            yield _Claim(
                f"correction:{line.line_id}@{state.details.as_of.isoformat()}",
                state.details.as_of,
                Counter(),
                amount=billed - due,
            )


@dataclass
class _InvoiceLine:
    """An invoiced line and what credit notes already took back from it."""

    invoice: Document
    line: DocumentLine
    rate: Decimal
    units: int = 0
    net: Decimal = ZERO
    vat: Decimal = ZERO

    @property
    def units_left(self) -> int:
        return self.line.quantity - self.units

    @property
    def gross_left(self) -> Decimal:
        return self.line.gross - self.net - self.vat

    def take_units(self, units: int) -> DocumentLine:
        if units == self.units_left:  # the last units take exactly what is left
            net, vat = self.line.net - self.net, self.line.vat - self.vat
        else:
            net = min(
                _share(self.line.net, self.units + units, self.line.quantity)
                - _share(self.line.net, self.units, self.line.quantity),
                self.line.net - self.net,
            )
            vat = min(
                _share(self.line.vat, self.units + units, self.line.quantity)
                - _share(self.line.vat, self.units, self.line.quantity),
                self.line.vat - self.vat,
            )
        return self._take(units, net, vat)

    def take_amount(self, gross: Decimal) -> DocumentLine:
        gross = min(gross, self.gross_left)
        vat = min(to_cents(gross * self.rate / (1 + self.rate)), self.line.vat - self.vat)
        return self._take(0, gross - vat, vat)

    def record(self, credited: DocumentLine) -> None:
        """Count a credit note line emitted earlier."""
        self._take(credited.quantity, credited.net, credited.vat)

    def _take(self, units: int, net: Decimal, vat: Decimal) -> DocumentLine:
        self.units += units
        self.net += net
        self.vat += vat
        return DocumentLine(self.line.line_id, units, net, vat, net + vat)


def _due_credit_notes(state: OrderState, store: Store) -> list[Document]:
    """Credit what the facts take back from the invoices, one note per fact and invoice.

    Invoices give back units earliest first; invoices of the same moment (a split order's
    `per_order` invoices) in the order their companies first shipped, then by trigger id.
    """
    assert state.details is not None
    rates = {line.line_id: line.vat_rate for line in state.details.lines}
    companies = _companies(state, store)

    def rank(document: Document) -> int:
        company_id = document_company(store, document)
        return companies.index(company_id) if company_id in companies else len(companies)

    ledger = [
        _InvoiceLine(document, line, rates.get(line.line_id, ZERO))
        for document in sorted(
            (d for d in state.documents if d.kind is DocumentKind.INVOICE),
            key=lambda d: (d.created_at, rank(d), str(d.trigger_id)),
        )
        for line in document.lines
    ]
    by_invoice_line = {(e.invoice.trigger_id, e.line.line_id): e for e in ledger}
    for document in state.documents:
        if document.kind is DocumentKind.CREDIT_NOTE:
            for line in document.lines:
                assert document.corrects is not None
                entry = by_invoice_line[(document.corrects, line.line_id)]
                entry.record(line)
    due: list[Document] = []
    for claim in sorted(_claims(state), key=lambda c: (c.at, c.cause)):
        done = {d.corrects for d in (*state.documents, *due) if d.cause == claim.cause}
        earlier = [line for d in state.documents if d.cause == claim.cause for line in d.lines]
        wanted = claim.units - _sum([[LineQuantity(x.line_id, x.quantity) for x in earlier]])
        money = claim.amount - sum((x.gross for x in earlier if not x.quantity), ZERO)
        parts: dict[Document, list[DocumentLine]] = {}
        for entry in ledger:
            if entry.invoice.trigger_id in done:
                continue
            line_id = entry.line.line_id
            units = entry.units_left if claim.everything else min(wanted[line_id], entry.units_left)
            if units > 0:
                parts.setdefault(entry.invoice, []).append(entry.take_units(units))
                wanted[line_id] -= units
            elif claim.everything and entry.gross_left > 0:
                parts.setdefault(entry.invoice, []).append(entry.take_amount(entry.gross_left))
        for entry in ledger:
            if money <= 0:
                break
            if entry.invoice.trigger_id in done or entry.gross_left <= 0:
                continue
            taken = entry.take_amount(money)
            money -= taken.gross
            parts.setdefault(entry.invoice, []).append(taken)
        for invoice, lines in parts.items():
            part = sum(1 for d in (*state.documents, *due) if d.cause == claim.cause)
            due.append(_credit_note(state, claim, part, invoice, lines))
    return due


def _credit_note(
    state: OrderState, claim: _Claim, part: int, invoice: Document, lines: list[DocumentLine]
) -> Document:
    """Part `part` of what `claim` credits, against one invoice.

    The id names the fact and the part, not the invoice: with shipment invoices, a return
    reported before the invoice holding its units is credited against the invoice there is.
    """
    merged: dict[str, DocumentLine] = {}
    for line in lines:
        known = merged.get(line.line_id)
        merged[line.line_id] = (
            line
            if known is None
            else DocumentLine(
                line.line_id,
                known.quantity + line.quantity,
                known.net + line.net,
                known.vat + line.vat,
                known.gross + line.gross,
            )
        )
    return Document(
        trigger_id=trigger_id(
            state.ref.uuid,
            DocumentKind.CREDIT_NOTE,
            invoice.scope,
            f"{claim.cause}/{part}",
        ),
        kind=DocumentKind.CREDIT_NOTE,
        scope=invoice.scope,
        cause=claim.cause,
        created_at=max(claim.at, invoice.created_at),
        lines=tuple(merged.values()),
        corrects=invoice.trigger_id,
        shipment_id=invoice.shipment_id,
        company_id=invoice.company_id,  # the company whose invoice it corrects
        ship_from_country=invoice.ship_from_country,
    )


# --- audit ---------------------------------------------------------------------------------


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
        received_at=event.received_at,
        actor=actor,
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        source_event_id=event.event_id,
    )
