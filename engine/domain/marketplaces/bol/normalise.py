"""The events of one record on `winkel.raw.bol`."""

from __future__ import annotations

import orjson

from engine.domain.config import Store
from engine.domain.exceptions import NormalisationError
from engine.domain.marketplaces.bol.door import parse_notification
from engine.domain.marketplaces.bol.orders import normalise_order, parse_shipments
from engine.domain.marketplaces.bol.returns import OrderItemRef, order_items, parse_returns
from engine.domain.marketplaces.bol.wire import (
    ORDER_DOCUMENT_TOPIC,
    RETURN_DOCUMENT_TOPIC,
    SHIPMENT_DOCUMENT_TOPIC,
    _Doc,
)
from models.events import (
    OrderEvent,
)
from models.raw import RawDelivery


def normalise(delivery: RawDelivery, store: Store) -> list[OrderEvent]:
    """The order events of one record on `winkel.raw.bol`.

    A push (`<resource>:<type>`) carries no order data and yields nothing here: it is the
    fetcher's job (`notification_fetches`). Documents the poller fetched are normalised.
    """
    source = f"poll:{delivery.delivery_id}"
    if delivery.topic == ORDER_DOCUMENT_TOPIC:
        return normalise_order(delivery.body, store, delivery.received_at, source)
    if delivery.topic == SHIPMENT_DOCUMENT_TOPIC:
        return parse_shipments(delivery.body, store, delivery.received_at, source)
    if delivery.topic == RETURN_DOCUMENT_TOPIC:
        envelope = _Doc.parse(delivery.body)
        ret = envelope.get("return")
        if not isinstance(ret, dict):
            raise NormalisationError("$.return is missing")
        known: dict[str, list[OrderItemRef]] = {}
        for order in envelope.children("orders"):
            for ref in order_items(orjson.dumps(order.data)):
                known.setdefault(ref.order_id, []).append(ref)
        parsed = parse_returns(orjson.dumps(ret), store, delivery.received_at, known, source)
        if parsed.unplaced:
            missing = ", ".join(f"rma {u.rma_id} ({u.reason})" for u in parsed.unplaced)
            raise NormalisationError(f"return items without an order line: {missing}")
        return list(parsed.events)
    if parse_notification(delivery.body) is not None:
        return []
    raise NormalisationError(f"bol topic {delivery.topic!r} is not handled")
