"""Raw marketplace deliveries -> normalised order events keyed by order UUID."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agents._deadletter import send_dead_letter
from engine.exceptions import NormalisationError
from engine.marketplaces import shopify
from models.codec import DecodeError, decode_raw, encode_event
from models.events import OrderEvent
from models.order import Marketplace

if TYPE_CHECKING:
    from engine.app import Wiring

log = logging.getLogger(__name__)


def normalise(wiring: Wiring, value: bytes) -> list[OrderEvent]:
    delivery = decode_raw(value)
    store = wiring.config.store(delivery.store_id)
    if store is None:
        raise NormalisationError(f"unknown store {delivery.store_id!r}")
    if (
        delivery.marketplace is not Marketplace.SHOPIFY
        or store.marketplace is not Marketplace.SHOPIFY
    ):
        raise NormalisationError(f"no normaliser for {delivery.marketplace} store {store.id!r}")
    return shopify.normalise(delivery, store)


def register(wiring: Wiring) -> None:
    @wiring.app.agent(wiring.raw_shopify, name="normalize-shopify")
    async def normalize_shopify(stream: Any) -> None:
        async for event in stream.events():
            try:
                order_events = normalise(wiring, event.value)
            except (NormalisationError, DecodeError) as exc:
                await send_dead_letter(wiring.dead_letter, event, str(exc))
                continue
            except Exception as exc:  # a bug must not stop the stream; the input is kept
                log.exception("normaliser failed")
                await send_dead_letter(wiring.dead_letter, event, f"internal error: {exc!r}")
                continue
            for order_event in order_events:
                await wiring.order_events.send(
                    key=str(order_event.ref.uuid).encode(), value=encode_event(order_event)
                )
