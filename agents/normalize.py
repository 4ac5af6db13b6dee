"""Raw marketplace deliveries -> normalised order events keyed by order UUID.

Called by agent `orders` where it reads the raw record (agents/orders.py): no topic and no
agent between a delivery and the order state it changes.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.domain.config import Config, Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces import amazon, bol, shopify, woocommerce
from engine.domain.polling import ORDER_ID_HEADER, WOOCOMMERCE_REFUNDS_TOPIC
from models.codec import decode_raw
from models.events import OrderEvent
from models.order import Marketplace
from models.raw import RawDelivery


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


def normalise(config: Config, value: bytes) -> list[OrderEvent]:
    """The order events a raw delivery's bytes report (NormalisationError when none can be)."""
    delivery = decode_raw(value)
    store = config.store(delivery.store_id)
    if store is None:
        raise NormalisationError(f"unknown store {delivery.store_id!r}")
    normaliser = NORMALISERS.get(delivery.marketplace)
    if normaliser is None or store.marketplace is not delivery.marketplace:
        raise NormalisationError(f"no normaliser for {delivery.marketplace} store {store.id!r}")
    return normaliser(delivery, store)
