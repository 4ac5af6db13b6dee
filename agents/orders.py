"""Order events -> per-order state in the changelog-backed table, plus triggers and audit."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agents._deadletter import send_dead_letter
from engine import lifecycle
from engine.exceptions import WinkelError
from engine.summary import summarise
from models.codec import (
    DecodeError,
    decode_event,
    decode_state,
    encode_audit,
    encode_state,
    encode_summary,
    encode_trigger,
)

if TYPE_CHECKING:
    from engine.app import Wiring

log = logging.getLogger(__name__)


def transition(wiring: Wiring, key: bytes, value: bytes) -> lifecycle.Transition:
    order_event = decode_event(value)
    store = wiring.config.store(order_event.ref.store_id)
    if store is None:
        raise WinkelError(f"unknown store {order_event.ref.store_id!r}")
    if key != str(order_event.ref.uuid).encode():
        raise WinkelError("record key is not the event's order UUID")
    stored = wiring.orders.get(key)
    state = None if stored is None else decode_state(stored)
    return lifecycle.apply(state, order_event, store, wiring.config.company_of(store))


def register(wiring: Wiring) -> None:
    @wiring.app.agent(wiring.order_events, name="orders")
    async def orders(stream: Any) -> None:
        async for event in stream.events():
            key: bytes = event.key
            try:
                result = transition(wiring, key, event.value)
            except (WinkelError, DecodeError) as exc:
                await send_dead_letter(wiring.dead_letter, event, str(exc))
                continue
            except Exception as exc:  # a bug must not stop the stream; the input is kept
                log.exception("lifecycle failed")
                await send_dead_letter(wiring.dead_letter, event, f"internal error: {exc!r}")
                continue
            if not result.changed:
                continue
            wiring.orders[key] = encode_state(result.state)
            for trigger in result.triggers:
                await wiring.invoice_triggers.send(key=key, value=encode_trigger(trigger))
            for entry in result.audit:
                await wiring.audit.send(key=key, value=encode_audit(entry))
            summary = summarise(result.state)
            if summary is not None:
                await wiring.analytics.send(key=key, value=encode_summary(summary))
