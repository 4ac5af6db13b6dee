"""Raw marketplace deliveries -> normalised order events keyed by order UUID."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents._deadletter import guarded
from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces import amazon, bol, shopify, woocommerce
from engine.domain.polling import ORDER_ID_HEADER, WOOCOMMERCE_REFUNDS_TOPIC
from models.codec import decode_raw, encode_event
from models.events import OrderEvent
from models.order import Marketplace
from models.raw import RawDelivery

if TYPE_CHECKING:
    from agents.wiring import Wiring


def _woocommerce(delivery: RawDelivery, store: Store) -> list[OrderEvent]:
    """WooCommerce webhooks and polled orders, and the refunds the poller fetched."""
    if delivery.topic == WOOCOMMERCE_REFUNDS_TOPIC:
        order_id = delivery.headers.get(ORDER_ID_HEADER)
        if not order_id:
            raise NormalisationError(f"polled refunds without {ORDER_ID_HEADER}")
        return woocommerce.refund_events(
            order_id,
            delivery.body,
            store,
            received_at=delivery.received_at,
            source=f"poll:{delivery.delivery_id}",
        )
    return woocommerce.normalise(delivery, store)


#: The marketplaces whose deliveries arrive on a raw topic, each with its module's normaliser.
NORMALISERS: dict[Marketplace, Callable[[RawDelivery, Store], list[OrderEvent]]] = {
    Marketplace.SHOPIFY: shopify.normalise,
    Marketplace.WOOCOMMERCE: _woocommerce,
    Marketplace.BOL: bol.normalise,
    Marketplace.AMAZON: amazon.normalise,
}


def normalise(wiring: Wiring, value: bytes) -> list[OrderEvent]:
    delivery = decode_raw(value)
    store = wiring.config.store(delivery.store_id)
    if store is None:
        raise NormalisationError(f"unknown store {delivery.store_id!r}")
    normaliser = NORMALISERS.get(delivery.marketplace)
    if normaliser is None or store.marketplace is not delivery.marketplace:
        raise NormalisationError(f"no normaliser for {delivery.marketplace} store {store.id!r}")
    return normaliser(delivery, store)


async def _normalised(wiring: Wiring, value: bytes) -> list[OrderEvent]:
    return normalise(wiring, value)


def register(wiring: Wiring) -> None:
    @wiring.app.agent(wiring.raw_deliveries, name="normalize")
    async def normalize(stream: Any) -> None:
        async for event in stream.events():
            work = functools.partial(_normalised, wiring, event.value)
            order_events = await guarded(wiring.dead_letter, event, "normaliser", work)
            if order_events is None:
                continue
            for order_event in order_events:
                await wiring.order_events.send(
                    key=str(order_event.ref.uuid).encode(), value=encode_event(order_event)
                )
