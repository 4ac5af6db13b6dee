"""Order UUIDs follow the contract: uuid5(namespace, "store:marketplace:external id")."""

from __future__ import annotations

import uuid

from engine.domain.identity import audit_entry_id, order_uuid, trigger_id
from models.order import Marketplace
from models.trigger import TriggerKind, TriggerScope

CONTRACT_NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")


def test_order_uuid_is_the_contract_uuid5() -> None:
    assert order_uuid("demo-shopify", Marketplace.SHOPIFY, "450789469") == uuid.uuid5(
        CONTRACT_NAMESPACE, "demo-shopify:shopify:450789469"
    )


def test_order_uuid_separates_stores_and_marketplaces() -> None:
    ids = {
        order_uuid("a", Marketplace.SHOPIFY, "1"),
        order_uuid("b", Marketplace.SHOPIFY, "1"),
        order_uuid("a", Marketplace.BOL, "1"),
    }
    assert len(ids) == 3


def test_trigger_ids_are_stable_and_distinct_per_kind_scope_and_sequence() -> None:
    order = order_uuid("a", Marketplace.SHOPIFY, "1")
    first = trigger_id(order, TriggerKind.INVOICE, TriggerScope.ORDER, 0)
    assert first == trigger_id(order, TriggerKind.INVOICE, TriggerScope.ORDER, 0)
    others = {
        trigger_id(order, TriggerKind.CREDIT_NOTE, TriggerScope.ORDER, 0),
        trigger_id(order, TriggerKind.INVOICE, TriggerScope.SHIPMENT, 0),
        trigger_id(order, TriggerKind.INVOICE, TriggerScope.ORDER, 1),
    }
    assert first not in others and len(others) == 3
    assert audit_entry_id(order, "e", 0) != audit_entry_id(order, "e", 1)
