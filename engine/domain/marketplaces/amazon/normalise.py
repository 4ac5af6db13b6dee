"""The events of one record on `winkel.raw.amazon`, whichever Orders API version wrote it."""

from __future__ import annotations

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces.amazon import v2026
from engine.domain.marketplaces.amazon.door import parse_notification
from engine.domain.marketplaces.amazon.orders import normalise_order
from engine.domain.marketplaces.amazon.wire import NOTIFICATION_TYPE, ORDER_DOCUMENT_TOPIC
from models.events import OrderEvent
from models.raw import RawDelivery


def normalise(delivery: RawDelivery, store: Store) -> list[OrderEvent]:
    """The order events of one record on `winkel.raw.amazon`.

    A notification carries no order data and yields nothing: the fetcher reads the order.
    """
    if delivery.topic == ORDER_DOCUMENT_TOPIC:
        source = f"poll:{delivery.delivery_id}"
        return normalise_order(delivery.body, store, delivery.received_at, source)
    if delivery.topic == v2026.ORDER_DOCUMENT_TOPIC:
        source = f"poll:{delivery.delivery_id}"
        return v2026.normalise_order(delivery.body, store, delivery.received_at, source)
    if delivery.topic == NOTIFICATION_TYPE and parse_notification(delivery.body) is not None:
        return []
    raise NormalisationError(f"Amazon topic {delivery.topic!r} is not handled")
