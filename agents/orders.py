"""Raw deliveries, order events, operator commands and invoice-service answers -> per-order
state in the changelog-backed table, plus triggers, audit entries and read-model summaries.

A raw delivery is normalised here, where it is read (agents/normalize.py): its key is its
order's UUID, so its partition is the order's, and its events are applied at once. An event
for another order than the record's key (a delivery keyed by its delivery id) goes to
`winkel.orders.events` under its own key, and is applied when this agent reads it there.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from agents._deadletter import guarded
from agents.normalize import NORMALISERS, normalise
from engine.domain import lifecycle, topics, vat
from engine.domain.exceptions import WinkelError
from engine.domain.summary import summarise
from models.codec import (
    decode_command,
    decode_event,
    decode_invoice_issued,
    decode_state,
    encode_audit,
    encode_event,
    encode_state,
    encode_summary,
    encode_trigger,
    encode_vat_draft,
)
from models.events import InvoiceIssued, OperatorStatusChanged, OrderEvent
from models.order import DocumentKind, OrderState

if TYPE_CHECKING:
    from agents.wiring import Wiring

log = logging.getLogger(__name__)


def _event(topic: str, value: bytes, state: OrderState | None) -> OrderEvent:
    """The order event a record carries; commands and answers need the order to exist."""
    if topic == topics.ORDER_EVENTS:
        return decode_event(value)
    if topic == topics.ORDER_COMMANDS:
        command = decode_command(value)
        if state is None:
            raise WinkelError(f"operator command for unknown order {command.order_uuid}")
        return OrderEvent(
            event_id=f"command:{command.command_id}",
            ref=state.ref,
            occurred_at=command.issued_at,
            received_at=command.issued_at,
            source=f"operator:{command.operator_id}",
            payload=OperatorStatusChanged(
                command.command_id, command.operator_id, command.action, command.reason
            ),
        )
    if topic == topics.INVOICES_ISSUED:
        order, issued = decode_invoice_issued(value)
        if state is None:
            raise WinkelError(f"invoice issued for unknown order {order}")
        return OrderEvent(
            event_id=f"invoice-issued:{issued.trigger_id}",
            ref=state.ref,
            occurred_at=issued.invoice_date,
            received_at=issued.invoice_date,
            source="invoice-service",
            payload=InvoiceIssued(issued),
        )
    raise WinkelError(f"no handler for topic {topic}")


def _state(wiring: Wiring, key: bytes) -> OrderState | None:
    stored = wiring.orders.get(key)
    return None if stored is None else decode_state(stored)


def _applied(
    wiring: Wiring, key: bytes, order_event: OrderEvent, state: OrderState | None
) -> lifecycle.Transition:
    if key != order_key(order_event):
        raise WinkelError("record key is not the event's order UUID")
    store = wiring.config.store(order_event.ref.store_id)
    if store is None:
        raise WinkelError(f"unknown store {order_event.ref.store_id!r}")
    return lifecycle.apply(
        state, order_event, store, wiring.config.company_of(store), wiring.config.companies
    )


def order_key(order_event: OrderEvent) -> bytes:
    return str(order_event.ref.uuid).encode()


def transition(wiring: Wiring, topic: str, key: bytes, value: bytes) -> lifecycle.Transition:
    state = _state(wiring, key)
    return _applied(wiring, key, _event(topic, value, state), state)


def trigger_records(wiring: Wiring, result: lifecycle.Transition) -> list[tuple[Any, bytes, bytes]]:
    """(topic, key, value) of each trigger: straight to the trigger topics, or, with the VAT
    step on, as a draft to agent `vat` keyed by company (engine/domain/vat.py)."""
    state = result.state
    key = str(state.ref.uuid).encode()
    records: list[tuple[Any, bytes, bytes]] = []
    for trigger in result.triggers:
        if wiring.config.vat.pipeline:
            document = next(d for d in state.documents if d.trigger_id == trigger.trigger_id)
            company = wiring.config.companies[trigger.company_id]
            draft = vat.draft(state, document, trigger, company, wiring.config.vat.categories)
            records.append((wiring.vat_drafts, company.id.encode(), encode_vat_draft(draft)))
            continue
        target = (
            wiring.invoice_triggers
            if trigger.kind is DocumentKind.INVOICE
            else wiring.credit_note_triggers
        )
        records.append((target, key, encode_trigger(trigger)))
    return records


Decided = tuple[lifecycle.Transition, list[tuple[Any, bytes, bytes]]]


async def _decided(wiring: Wiring, topic: str, key: bytes, value: bytes) -> Decided:
    result = transition(wiring, topic, key, value)
    return result, trigger_records(wiring, result)


async def _decided_event(wiring: Wiring, key: bytes, order_event: OrderEvent) -> Decided:
    result = _applied(wiring, key, order_event, _state(wiring, key))
    return result, trigger_records(wiring, result)


async def _normalised(wiring: Wiring, value: bytes) -> list[OrderEvent]:
    return normalise(wiring.config, value)


async def _send_results(wiring: Wiring, key: bytes, decided: Decided) -> None:
    """Store the order's new state and send what the change produced (nothing if unchanged)."""
    result, outgoing = decided
    if not result.changed:
        return
    wiring.orders[key] = encode_state(result.state)
    for target, record_key, value in outgoing:
        await target.send(key=record_key, value=value)
    for entry in result.audit:
        await wiring.audit.send(key=key, value=encode_audit(entry))
    store = wiring.config.store(result.state.ref.store_id)
    summary = None if store is None else summarise(result.state, store)
    if summary is not None:
        await wiring.analytics.send(key=key, value=encode_summary(summary))


def register(wiring: Wiring) -> None:
    raw_topics = {topics.raw(marketplace) for marketplace in NORMALISERS}

    async def delivery(event: Any) -> None:
        """A raw delivery: normalised, and each of its events applied in order."""
        work = functools.partial(_normalised, wiring, event.value)
        order_events = await guarded(wiring.dead_letter, event, "normaliser", work)
        for order_event in order_events or []:
            key = order_key(order_event)
            if key != event.key:
                await wiring.order_events.send(key=key, value=encode_event(order_event))
                continue
            apply = functools.partial(_decided_event, wiring, key, order_event)
            decided = await guarded(wiring.dead_letter, event, "lifecycle", apply)
            if decided is not None:
                await _send_results(wiring, key, decided)

    @wiring.app.agent(wiring.order_inputs, name="orders")
    async def orders(stream: Any) -> None:
        async for event in stream.events():
            topic = event.message.topic
            if topic in raw_topics:
                await delivery(event)
                continue
            key: bytes = event.key
            work = functools.partial(_decided, wiring, topic, key, event.value)
            decided = await guarded(wiring.dead_letter, event, "lifecycle", work)
            if decided is not None:
                await _send_results(wiring, key, decided)
