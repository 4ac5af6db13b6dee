"""The Shopify simulator: signed, realistic order stories, repeatable by seed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from engine.dev.fakes.woocommerce import WooCommerceStore
from engine.dev.simulator import Delivery, DueBy, ShopifyStore, delivery_time
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


# --- the demo's schedule: past and present, never the future ---------------------------------

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def demo_store(**options: object) -> ShopifyStore:
    return store(clock=lambda: NOW, refund_share=0.15, stall_share=0.08, **options)


def topics_of(story: list[Delivery]) -> list[str]:
    return [d.topic for d in story]


def test_demo_stories_are_never_dated_after_now() -> None:
    shop = demo_store()
    times = [delivery_time(d) for n in range(1001, 1401) for d in shop.order_story(n)]
    assert max(times) <= NOW
    assert min(times) >= NOW - timedelta(days=5, hours=1)
    # Recent orders fill the last hours: the dashboard shows the present, not only the past.
    assert any(NOW - t < timedelta(minutes=10) for t in times)


def test_demo_stories_show_every_step_of_the_lifecycle() -> None:
    shop = demo_store()
    stories = [shop.order_story(n) for n in range(1001, 1401)]
    last_steps = {story[-1].topic for story in stories if story}
    assert {
        "orders/create",  # not paid yet
        "orders/paid",  # waiting for its shipment
        "orders/partially_fulfilled",
        "orders/fulfilled",
        "orders/cancelled",
        "refunds/create",  # a credit note follows
    } <= last_steps
    refund = next(
        orjson.loads(d.body) for story in stories for d in story if d.topic == "refunds/create"
    )
    assert refund["refund_line_items"][0]["quantity"] == 1


def test_stalled_demo_orders_wait_days_in_a_stage_the_worklist_names() -> None:
    shop = demo_store()
    stalled = [
        story
        for story in (shop.order_story(n) for n in range(1001, 1401))
        if story and NOW - delivery_time(story[0]) > timedelta(days=2)
    ]
    assert len(stalled) >= 10
    assert {story[-1].topic for story in stalled} == {
        "orders/create",
        "orders/paid",
        "orders/partially_fulfilled",
    }


def test_without_a_clock_the_stories_are_the_same_as_before() -> None:
    # Tests and the throughput bench replay the same traffic: the demo's options default off.
    assert [d.body for d in store().order_story(1001)] == [
        d.body for d in store(refund_share=0.0, stall_share=0.0).order_story(1001)
    ]
    assert "refunds/create" not in {
        d.topic for n in range(1001, 1101) for d in store().order_story(n)
    }


def test_woocommerce_stories_cut_at_now_are_never_in_the_future() -> None:
    # The cause of the demo's "hours in the future": a story placed up to a day after `start`
    # runs on for 20 hours (completion) and 3 days (refund) after its creation.
    woo = WooCommerceStore("demo-woocommerce", SECRET, seed=3, start=NOW - timedelta(days=1))
    told = [delivery_time(d) for n in range(1001, 1001 + 86_400, 433) for d in woo.order_story(n)]
    assert max(told) > NOW + timedelta(hours=10)
    cut = DueBy(
        WooCommerceStore("demo-woocommerce", SECRET, seed=3, start=NOW - timedelta(days=1)),
        lambda: NOW,
    )
    stories = [cut.order_story(n) for n in range(1001, 1001 + 86_400, 433)]
    assert max(delivery_time(d) for story in stories for d in story) <= NOW
    statuses = {orjson.loads(story[-1].body).get("status") for story in stories if story}
    assert {"processing", "completed"} <= statuses


def test_the_bench_repeats_no_webhook_id_and_measures_the_same_orders_after_any_warm_up() -> None:
    from engine.dev.bench import bench_stories, preloaded_stories

    warm_up, measured = bench_stories(b"secret", 1, 50, warm_up=30)
    _, measured_after_another_warm_up = bench_stories(b"secret", 1, 50, warm_up=3)
    assert measured == measured_after_another_warm_up
    stories = [*warm_up, *measured, *preloaded_stories(b"secret", 1, 50)]
    ids = [d.headers[shopify.DELIVERY_HEADER] for story in stories for d in story]
    assert len(ids) == len(set(ids)) > 3 * 50
