"""Raw deliveries, order events, operator commands and invoice-service answers -> per-order
state in the changelog-backed table, plus triggers, audit entries and read-model summaries.

A raw delivery is normalised here, where it is read (agents/normalize.py): its key is its
order's UUID, so its partition is the order's, and its events are applied at once. Each event
is also published on `winkel.orders.events` (the log of normalised events; this agent does not
read it back). An event for another order than the record's key (a delivery the web could not
key by its order) goes to the internal `winkel.orders.rekeyed` under its order's key, and is
applied when this agent reads it there, in its order's partition.

Records are taken in batches (`BATCH_SIZE`, `BATCH_SECONDS`): each order's state is decoded
once per batch, every record applied to it in order, and the result summarised once and written
to the table once, after the batch's records have reached the broker (`Batch.flush`); triggers
and audit entries are sent in the order they arose. The batch's offsets are committed only after
that (faust acks a batch once the agent has handled it), so a crash mid-batch replays it, and
the lifecycle's event ids make the replay change nothing twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents import faustfix
from agents._deadletter import guarded
from agents._outputs import send_all
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
    if topic == topics.ORDERS_REKEYED:
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

#: Up to this many records per batch ...
BATCH_SIZE = 200
#: ... gathered for at most this long (what a quiet moment adds to a record's latency).
BATCH_SECONDS = 0.01


StateOf = Callable[[bytes], OrderState | None]


async def _decided(wiring: Wiring, topic: str, key: bytes, value: bytes, of: StateOf) -> Decided:
    state = of(key)
    result = _applied(wiring, key, _event(topic, value, state), state)
    return result, trigger_records(wiring, result)


async def _decided_event(
    wiring: Wiring, key: bytes, order_event: OrderEvent, of: StateOf
) -> Decided:
    result = _applied(wiring, key, order_event, of(key))
    return result, trigger_records(wiring, result)


async def _normalised(wiring: Wiring, value: bytes) -> list[OrderEvent]:
    return normalise(wiring.config, value)


class Batch:
    """What a batch of records did: the orders' decoded states, the records to send."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.states: dict[bytes, OrderState | None] = {}
        #: the orders the batch changed, each with its last record (whose partition is the
        #: order's, where faust writes the table's changelog)
        self.changed: dict[bytes, Any] = {}
        self.sends: list[tuple[Any, bytes, bytes]] = []

    def state(self, key: bytes) -> OrderState | None:
        """The order's state as the batch has left it so far (the table's, decoded once)."""
        if key not in self.states:
            self.states[key] = _state(self.wiring, key)
        return self.states[key]

    def add(self, event: Any, key: bytes, decided: Decided) -> None:
        result, outgoing = decided
        if not result.changed:
            return
        self.states[key] = result.state
        self.changed[key] = event
        self.sends.extend(outgoing)
        self.sends.extend((self.wiring.audit, key, encode_audit(a)) for a in result.audit)

    async def flush(self) -> None:
        """Send every record the batch produced and one summary per changed order, wait until
        the broker has them all, and only then store each changed order's state (one table
        write per order).

        In this order because the table is what a replay trusts: a crash before the states are
        stored replays the batch, which sends the same records again (stable ids, identical
        bytes); a state stored before its records had reached the broker would make the replay
        find nothing to do, and the records would be lost.
        """
        wiring = self.wiring
        summaries, stored = [], []
        for key, event in self.changed.items():
            state = self.states[key]
            assert state is not None  # a changed order has a state
            stored.append((key, event, state))
            store = wiring.config.store(state.ref.store_id)
            summary = None if store is None else summarise(state, store)
            if summary is not None:
                summaries.append((wiring.analytics, key, encode_summary(summary)))
        await send_all(wiring.app, [*self.sends, *summaries])
        for key, event, state in stored:
            with faustfix.as_current(event):
                wiring.orders[key] = encode_state(state)


def register(wiring: Wiring) -> None:
    raw_topics = {topics.raw(marketplace) for marketplace in NORMALISERS}
    dead_letter = wiring.dead_letter

    async def delivery(batch: Batch, event: Any) -> None:
        """A raw delivery: normalised, and each of its events applied in order."""
        work = functools.partial(_normalised, wiring, event.value)
        order_events = await guarded(dead_letter, event, "normaliser", work)
        for order_event in order_events or []:
            key = order_key(order_event)
            encoded = encode_event(order_event)
            batch.sends.append((wiring.order_events, key, encoded))
            if key != event.key:
                batch.sends.append((wiring.orders_rekeyed, key, encoded))
                continue
            apply = functools.partial(_decided_event, wiring, key, order_event, batch.state)
            decided = await guarded(dead_letter, event, "lifecycle", apply)
            if decided is not None:
                batch.add(event, key, decided)

    async def record(batch: Batch, event: Any) -> None:
        topic = event.message.topic
        if topic in raw_topics:
            await delivery(batch, event)
            return
        key: bytes = event.key
        work = functools.partial(_decided, wiring, topic, key, event.value, batch.state)
        decided = await guarded(dead_letter, event, "lifecycle", work)
        if decided is not None:
            batch.add(event, key, decided)

    @wiring.app.agent(wiring.order_inputs, name="orders")
    async def orders(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
            batch = Batch(wiring)
            for event in events:
                # the table reads and writes go to the partition of the record at hand
                with faustfix.as_current(event):
                    await record(batch, event)
            await batch.flush()
