"""Order events of one order, shared by the marketplace modules.

An event's id is `<marketplace>:<store>:<order>:<fact>`, where the module names the fact from
the marketplace's own ids and change times: the same fact reported twice (a retried webhook,
a webhook and a poll) gets the same id, and changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime

from engine.domain.config import Store
from engine.domain.identity import order_uuid
from engine.domain.marketplaces import _sanity
from models.events import EventPayload, OrderEvent
from models.order import Marketplace, OrderRef


class OrderEvents:
    def __init__(
        self,
        marketplace: Marketplace,
        store: Store,
        external_order_id: str,
        received_at: datetime,
        source: str,
    ) -> None:
        self.ref = OrderRef(
            uuid=order_uuid(store.id, marketplace, external_order_id),
            marketplace=marketplace,
            store_id=store.id,
            external_order_id=external_order_id,
        )
        self.prefix = f"{marketplace.value}:{store.id}:{external_order_id}"
        self.received_at = received_at
        self.source = source

    def make(self, fact: str, occurred_at: datetime, payload: EventPayload) -> OrderEvent:
        _sanity.check(payload)  # what cannot be right never reaches the VAT step
        return OrderEvent(
            event_id=f"{self.prefix}:{fact}",
            ref=self.ref,
            occurred_at=occurred_at,
            received_at=self.received_at,
            source=self.source,
            payload=payload,
        )
