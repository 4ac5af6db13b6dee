"""The Shopify simulator: signed, realistic order stories, repeatable by seed."""

from __future__ import annotations

import orjson

from engine.dev.simulator import ShopifyStore
from engine.domain.marketplaces import shopify

SECRET = b"simulated-secret"


def store(**options: object) -> ShopifyStore:
    return ShopifyStore("shop", "shop.myshopify.com", SECRET, seed=7, **options)  # type: ignore[arg-type]


def fulfilment_locations(shop: ShopifyStore, orders: range) -> set[tuple[int, ...]]:
    found = set()
    for number in orders:
        story = shop.order_story(number)
        fulfilments = [
            orjson.loads(d.body)
            for d in story
            if d.headers[shopify.TOPIC_HEADER] == "fulfillments/create"
        ]
        found.add(tuple(f["location_id"] for f in fulfilments))
    return found


def test_every_delivery_is_signed_with_the_store_secret() -> None:
    for delivery in store().order_story(1001):
        shopify.verify(delivery.body, delivery.headers, (SECRET,))


def test_the_same_seed_gives_the_same_stories() -> None:
    assert [d.body for d in store().order_story(1001)] == [
        d.body for d in store().order_story(1001)
    ]


def test_split_orders_ship_their_second_part_from_the_second_location() -> None:
    orders = range(1001, 1101)
    assert fulfilment_locations(store(), orders) <= {(), (70001,), (70001, 70001)}  # (): cancelled
    split = fulfilment_locations(store(location_ids=(70001, 70002)), orders)
    assert (70001, 70002) in split  # some orders are split ...
    assert (70001,) in split  # ... and others ship in one go
    # the locations change nothing else: the same stories, byte for byte, but the location
    plain = [d.body for n in orders for d in store().order_story(n)]
    moved = [
        d.body.replace(b'"location_id":70002', b'"location_id":70001')
        for n in orders
        for d in store(location_ids=(70001, 70002)).order_story(n)
    ]
    assert [orjson.loads(b) for b in plain] == [orjson.loads(b) for b in moved]
