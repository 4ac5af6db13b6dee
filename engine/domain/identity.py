"""Deterministic identities, so every component and every replay agrees without coordination."""

from __future__ import annotations

from uuid import UUID, uuid5

from models.order import Marketplace
from models.trigger import TriggerKind, TriggerScope

#: Contract namespace of order UUIDs (docs/design.md "Order identity"). Never change it.
ORDER_NAMESPACE = UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")


def order_uuid(store_id: str, marketplace: Marketplace, external_order_id: str) -> UUID:
    return uuid5(ORDER_NAMESPACE, f"{store_id}:{marketplace.value}:{external_order_id}")


def trigger_id(order: UUID, kind: TriggerKind, scope: TriggerScope, sequence: int | str) -> UUID:
    """`sequence` counts order-scope triggers; shipment-scope ones use the shipment id."""
    return uuid5(order, f"trigger:{kind.value}:{scope.value}:{sequence}")


def audit_entry_id(order: UUID, source_event_id: str, sequence: int) -> UUID:
    return uuid5(order, f"audit:{source_event_id}:{sequence}")
