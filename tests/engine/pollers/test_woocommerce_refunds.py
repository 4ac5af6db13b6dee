"""The WooCommerce poller's refund fetch against the fake REST API over HTTP: every page of an
order's refunds (WooCommerce serves at most 100 a page) in one record, once per set of ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from engine import polling
from engine.config import InvoiceGranularity, Store
from engine.fakes.woocommerce import FakeShop, fake_api
from engine.marketplaces import woocommerce
from engine.pollers.sink import Sink
from engine.pollers.woocommerce import WooCommercePoller
from models.events import RefundIssued
from models.order import Marketplace
from models.raw import RawDelivery
from tests import woocommerce_payloads as woo

STORE = Store("woo-nl", "acme-nl", Marketplace.WOOCOMMERCE, InvoiceGranularity.PER_ORDER)
KEY, SECRET = "ck_test", "cs_test"
REFUNDS = 150  # more than one page of the API's maximum 100


class RecordingSink:
    """Stands in for Kafka and Redis (not under test): keeps what the poller writes, once per
    delivery id, as the real sink does."""

    def __init__(self) -> None:
        self.written: dict[str, RawDelivery] = {}

    async def done(self, delivery: RawDelivery) -> bool:
        return delivery.delivery_id in self.written

    async def produce(self, delivery: RawDelivery, order: UUID | None) -> bool:
        if delivery.delivery_id in self.written:
            return False
        self.written[delivery.delivery_id] = delivery
        return True


def refund(number: int) -> dict[str, Any]:
    """A money-only refund of one cent, as `GET /orders/{id}/refunds` lists it."""
    return {
        "id": 90_000 + number,
        "date_created": f"2026-11-03T10:{number // 60:02d}:{number % 60:02d}",
        "date_created_gmt": f"2026-11-03T09:{number // 60:02d}:{number % 60:02d}",
        "amount": "0.01",
        "reason": "",
        "refunded_by": 1,
        "refunded_payment": False,
        "meta_data": [],
        "line_items": [],
        "shipping_lines": [],
        "tax_lines": [],
        "fee_lines": [],
    }


@pytest.fixture
async def poller() -> AsyncIterator[tuple[WooCommercePoller, RecordingSink]]:
    shop = FakeShop()
    shop.put(woo.order(723))
    for number in range(REFUNDS):
        shop.add_refund(723, refund(number))
    server = TestServer(fake_api(shop, consumer_key=KEY, consumer_secret=SECRET))
    await server.start_server()
    sink = RecordingSink()
    async with aiohttp.ClientSession() as session:
        yield (
            WooCommercePoller(
                STORE,
                session,
                cast(Any, None),  # Redis: the refund fetch does not use it
                cast(Sink, sink),
                woocommerce.basic_auth(KEY, SECRET),
                str(server.make_url("")).rstrip("/"),
            ),
            sink,
        )
    await server.close()


async def test_more_than_a_hundred_refunds_are_fetched_page_by_page_into_one_record(
    poller: tuple[WooCommercePoller, RecordingSink],
) -> None:
    fetcher, sink = poller
    assert await fetcher.handle_push(polling.PushFetch(polling.WOOCOMMERCE_REFUNDS_FETCH, "723"))
    (delivery,) = sink.written.values()
    ids = [str(90_000 + n) for n in range(REFUNDS)]
    assert delivery.delivery_id == polling.woocommerce_refunds_delivery_id("723", ids)
    assert delivery.topic == polling.WOOCOMMERCE_REFUNDS_TOPIC
    events = woocommerce.refund_events("723", delivery.body, STORE, received_at=datetime.now(UTC))
    assert len(events) == REFUNDS
    assert {e.payload.refund.refund_id for e in events if isinstance(e.payload, RefundIssued)} == (
        set(ids)
    )
    # Asked again (a second webhook, a poll): the same set of ids is not written again.
    assert not await fetcher.handle_push(
        polling.PushFetch(polling.WOOCOMMERCE_REFUNDS_FETCH, "723")
    )
    await fetcher.sync_refunds("723", tuple(ids))
    assert len(sink.written) == 1


async def test_other_push_fetches_ask_the_woocommerce_poller_for_nothing(
    poller: tuple[WooCommercePoller, RecordingSink],
) -> None:
    fetcher, sink = poller
    assert await fetcher.handle_push(polling.PushFetch("ORDER", "723")) == 0
    assert sink.written == {}
