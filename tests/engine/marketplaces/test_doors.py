"""The webhook doors: one shape for all four marketplaces, and what each asks of the poller."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from engine.domain import polling
from engine.domain.config import InvoiceGranularity, Store
from engine.domain.exceptions import InputError
from engine.domain.marketplaces.doors import DOORS
from models.order import Marketplace
from models.raw import RawDelivery
from tests import amazon_payloads as amazon_p
from tests import bol_payloads as bol_p
from tests import woocommerce_payloads as woo_p

RECEIVED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def delivery(marketplace: Marketplace, topic: str, body: bytes) -> RawDelivery:
    return RawDelivery(marketplace, "store", "d-1", topic, RECEIVED, {}, body)


def store(marketplace: Marketplace) -> Store:
    return Store("store", "acme-nl", marketplace, InvoiceGranularity.PER_ORDER)


def test_every_marketplace_has_one_door() -> None:
    assert set(DOORS) == set(Marketplace)
    assert all(door.marketplace is marketplace for marketplace, door in DOORS.items())


def test_the_bol_door_refuses_what_is_no_push_and_ids_it_could_not_fetch() -> None:
    door = DOORS[Marketplace.BOL]
    with pytest.raises(InputError, match="not a bol push notification"):
        door.check({}, b'{"event": "nope"}')
    with pytest.raises(InputError, match="not a bol id"):
        door.check({}, bol_p.body(bol_p.push(resource_id="../orders")))
    body = bol_p.body(bol_p.push())
    door.check({}, body)
    assert door.delivery_id({}, body) == "ORDER:1043965710:ORDER_CHANGED:2026-11-02T10:00:03+01:00"
    assert door.topic({}, body) == "ORDER:ORDER_CHANGED"
    assert door.external_order_id("ORDER:ORDER_CHANGED", body) == "1043965710"


def test_a_bol_push_asks_for_a_fetch_once() -> None:
    door = DOORS[Marketplace.BOL]
    pushed = delivery(Marketplace.BOL, "ORDER:ORDER_CHANGED", bol_p.body(bol_p.push()))
    prompt = door.after_accept(store(Marketplace.BOL), pushed, first=True)
    assert prompt is not None
    assert prompt.fetch == polling.PushFetch("ORDER", "1043965710")
    assert door.after_accept(store(Marketplace.BOL), pushed, first=False) is None
    offer = bol_p.body(bol_p.push(resource="OFFER", resource_id="8f6183d0", kind="OFFER_CHANGED"))
    assert (
        door.after_accept(store(Marketplace.BOL), delivery(Marketplace.BOL, "x", offer), True)
        is None
    )


def test_an_amazon_relay_asks_for_the_order_once_and_takes_only_order_change() -> None:
    door = DOORS[Marketplace.AMAZON]
    body = amazon_p.notification_body()
    door.check({}, body)
    with pytest.raises(InputError, match="ORDER_CHANGE"):
        door.check({}, b'{"NotificationType": "ANY_OFFER_CHANGED"}')
    topic = door.topic({}, body)
    assert topic == "ORDER_CHANGE"
    assert door.external_order_id(topic, body) == amazon_p.ORDER_ID
    relayed = delivery(Marketplace.AMAZON, topic, body)
    prompt = door.after_accept(store(Marketplace.AMAZON), relayed, first=True)
    assert prompt is not None
    assert prompt.fetch == polling.PushFetch("ORDER", amazon_p.ORDER_ID)
    assert door.after_accept(store(Marketplace.AMAZON), relayed, first=False) is None


def test_a_woocommerce_refund_webhook_asks_for_its_refunds_unless_fetched() -> None:
    door = DOORS[Marketplace.WOOCOMMERCE]
    refunded = woo_p.order(723, refunds=[{"id": 726, "reason": "", "total": "-10.00"}])
    body = woo_p.body(refunded)
    polled = replace(
        store(Marketplace.WOOCOMMERCE), api_base_url="https://shop", consumer_key_env="K"
    )
    updated = delivery(Marketplace.WOOCOMMERCE, "order.updated", body)
    for first in (True, False):  # a duplicate asks too: the first ask may have been lost
        prompt = door.after_accept(polled, updated, first)
        assert prompt is not None
        assert prompt.fetch == polling.PushFetch(polling.WOOCOMMERCE_REFUNDS_FETCH, "723")
        assert prompt.unless_delivered == polling.woocommerce_refunds_delivery_id("723", ("726",))
    assert door.after_accept(store(Marketplace.WOOCOMMERCE), updated, True) is None  # no poller
    plain = delivery(Marketplace.WOOCOMMERCE, "order.updated", woo_p.body(woo_p.order(723)))
    assert door.after_accept(polled, plain, True) is None
