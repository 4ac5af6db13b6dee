"""The pollers' pure decisions (engine.polling): schedule, backoff, what to fetch, ids, cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import polling
from engine.config import InvoiceGranularity, Store
from engine.marketplaces import bol, woocommerce
from models.order import Marketplace
from tests import bol_payloads

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def store(marketplace: Marketplace = Marketplace.BOL, interval: float | None = None) -> Store:
    return Store(
        "s1",
        "acme-nl",
        marketplace,
        InvoiceGranularity.PER_ORDER,
        poll_interval_seconds=interval,
    )


def test_the_interval_is_the_store_s_or_the_marketplace_default() -> None:
    assert polling.poll_interval(store(interval=42)) == 42
    assert polling.poll_interval(store()) == 300
    assert polling.poll_interval(store(Marketplace.WOOCOMMERCE)) == 120


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 60), (1, 60), (2, 120), (3, 240), (4, 480), (5, 900), (50, 900)]
)
def test_backoff_doubles_from_the_interval_up_to_a_cap(failures: int, expected: float) -> None:
    assert polling.backoff_seconds(failures, 60) == expected


@given(st.integers(0, 10_000), st.floats(0.1, 3600))
def test_backoff_is_never_shorter_than_the_interval_nor_longer_than_the_cap(
    failures: int, interval: float
) -> None:
    pause = polling.backoff_seconds(failures, interval)
    assert (
        min(interval, polling.MAX_BACKOFF_SECONDS)
        <= pause
        <= max(interval, polling.MAX_BACKOFF_SECONDS)
    )


@pytest.mark.parametrize(
    ("path", "bucket"),
    [
        ("/retailer/orders", "GET /retailer/orders"),
        ("/retailer/orders/1043965710", "GET /retailer/orders/*"),
        ("/retailer/shipments/541757635", "GET /retailer/shipments/*"),
        ("/retailer/returns", "GET /retailer/returns"),
    ],
)
def test_rate_buckets_follow_bol_s_method_and_path_rules(path: str, bucket: str) -> None:
    assert polling.rate_bucket("get", path) == bucket


@pytest.mark.parametrize(
    ("since", "minutes"),
    [
        (None, None),  # first poll: the whole list
        (timedelta(seconds=5), 2),  # bol's minimum covering a 1-minute poll
        (timedelta(minutes=4, seconds=1), 6),
        (timedelta(minutes=59, seconds=30), None),  # too long a gap for the filter: the whole list
    ],
)
def test_the_change_interval_covers_the_time_since_the_last_list(
    since: timedelta | None, minutes: int | None
) -> None:
    last = None if since is None else NOW - since
    assert polling.bol_change_interval(last, NOW) == minutes


@given(st.integers(0, 3500))
def test_the_change_interval_always_reaches_back_past_the_last_list(seconds: int) -> None:
    minutes = polling.bol_change_interval(NOW - timedelta(seconds=seconds), NOW)
    assert minutes is not None
    assert timedelta(minutes=minutes) >= timedelta(seconds=seconds) + timedelta(minutes=1)


def summary(order_id: str, changed: str, *items: str) -> bol.OrderSummaryRef:
    (ref,) = bol.parse_orders_page(
        orjson.dumps(
            {
                "orders": [
                    {
                        "orderId": order_id,
                        "orderPlacedDateTime": "2026-11-02T09:55:00+01:00",
                        "orderItems": [
                            {
                                "orderItemId": item,
                                "ean": "8712345000019",
                                "fulfilmentMethod": "FBR",
                                "fulfilmentStatus": "OPEN",
                                "quantity": 1,
                                "quantityShipped": 0,
                                "quantityCancelled": 0,
                                "cancellationRequest": False,
                                "latestChangedDateTime": changed,
                            }
                            for item in items or ("1",)
                        ],
                    }
                ]
            }
        )
    )
    return ref


def test_an_order_detail_is_fetched_once_per_change() -> None:
    seen_then = polling.SeenOrder(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), 0)
    summaries = [
        summary("1", "2026-11-02T10:00:00+01:00"),  # unchanged since we fetched it
        summary("2", "2026-11-02T10:30:00+01:00"),  # changed since
        summary("3", "2026-11-02T10:00:00+01:00"),  # never seen
    ]
    seen = {"1": seen_then, "2": seen_then, "3": None}
    assert polling.bol_orders_to_fetch(summaries, seen) == ["2", "3"]


def test_fbr_and_fbb_lists_merge_into_one_summary_per_order() -> None:
    fbr = [summary("1", "2026-11-02T10:00:00+01:00", "a"), summary("2", "2026-11-02T09:00:00Z")]
    fbb = [summary("1", "2026-11-02T11:00:00+01:00", "b")]
    merged = polling.merge_summaries([fbr, fbb])
    assert [s.order_id for s in merged] == ["2", "1"]  # oldest change first
    assert [i.order_item_id for i in merged[1].items] == ["a", "b"]
    assert merged[1].latest_changed_at == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_the_seen_state_comes_from_the_detail_and_survives_redis() -> None:
    shipped = bol_payloads.item(
        bol_payloads.MUG, quantityShipped=1, latestChangedDateTime="2026-11-02T15:00:00+01:00"
    )
    detail = orjson.dumps(bol_payloads.order(items=[shipped, bol_payloads.LAMP]))
    state = polling.seen_from_detail(detail)
    assert state == polling.SeenOrder(datetime(2026, 11, 2, 14, 0, tzinfo=UTC), 1)
    assert polling.SeenOrder.decode(state.encode().encode()) == state
    assert polling.SeenOrder.decode(b"garbage|x") is None
    assert polling.SeenOrder.decode(None) is None


def test_shipments_are_fetched_when_more_units_shipped() -> None:
    before = polling.SeenOrder(NOW, 1)
    assert polling.needs_shipments(polling.SeenOrder(NOW, 2), before)
    assert not polling.needs_shipments(polling.SeenOrder(NOW, 1), before)
    assert not polling.needs_shipments(polling.SeenOrder(NOW, 0), None)
    assert polling.needs_shipments(polling.SeenOrder(NOW, 1), None)


def test_shipment_lists_are_read_per_fulfilment_method() -> None:
    fbb = bol_payloads.item(
        bol_payloads.LAMP, fulfilment={**bol_payloads.LAMP["fulfilment"], "method": "FBB"}
    )
    mixed = orjson.dumps(bol_payloads.order(items=[bol_payloads.MUG, fbb]))
    assert polling.fulfilment_methods(mixed) == ["FBB", "FBR"]
    assert polling.fulfilment_methods(orjson.dumps(bol_payloads.order())) == ["FBR"]


def test_delivery_ids_derive_from_marketplace_ids_and_change_times() -> None:
    state = polling.SeenOrder(datetime(2026, 11, 2, 14, 0, tzinfo=UTC), 1)
    assert polling.bol_order_delivery_id("42", state) == "order:42@2026-11-02T14:00:00+00:00"
    assert polling.bol_shipment_delivery_id("7") == "shipment:7"
    assert polling.woocommerce_refunds_delivery_id("9", ["12", "11"]) == "9:refunds:11,12"


def test_a_return_s_fingerprint_changes_with_its_handling_only() -> None:
    ret = bol_payloads.return_("1", "2", "1043965710", "8712345000019")
    same = orjson.loads(orjson.dumps(ret))
    assert polling.return_fingerprint(ret) == polling.return_fingerprint(same)
    handled = orjson.loads(orjson.dumps(ret))
    handled["returnItems"][0]["handled"] = True
    assert polling.return_fingerprint(handled) != polling.return_fingerprint(ret)


def test_pushes_ask_for_orders_and_shipments_only() -> None:
    order_push = bol.parse_notification(bol_payloads.body(bol_payloads.push("ORDER", "1043965710")))
    shipment_push = bol.parse_notification(
        bol_payloads.body(bol_payloads.push("SHIPMENT", "541757635"))
    )
    status_push = bol.parse_notification(
        bol_payloads.body(bol_payloads.push("PROCESS_STATUS", "1234"))
    )
    assert order_push and shipment_push and status_push
    fetch = polling.push_fetch(order_push)
    assert fetch == polling.PushFetch("ORDER", "1043965710")
    assert polling.PushFetch.decode(fetch.encode().encode()) == fetch
    assert polling.push_fetch(shipment_push) == polling.PushFetch("SHIPMENT", "541757635")
    assert polling.push_fetch(status_push) is None
    assert polling.PushFetch.decode("OFFER:1") is None
    refunds = polling.PushFetch(polling.WOOCOMMERCE_REFUNDS_FETCH, "723")
    assert polling.PushFetch.decode(refunds.encode()) == refunds


def test_the_woocommerce_cursor_round_trips_and_starts_a_week_back() -> None:
    cursor = woocommerce.PollCursor(NOW - timedelta(minutes=3), 2)
    encoded = polling.encode_woocommerce_cursor(cursor)
    assert polling.decode_woocommerce_cursor(encoded.encode(), NOW) == cursor
    first = polling.decode_woocommerce_cursor(None, NOW)
    assert first == woocommerce.PollCursor(NOW - polling.INITIAL_LOOKBACK)
    assert polling.decode_woocommerce_cursor(b"nonsense", NOW) == first


def test_shopify_pages_follow_the_link_header() -> None:
    header = (
        "<https://acme.myshopify.com/admin/api/2026-01/orders.json?limit=250&page_info=abc>; "
        'rel="previous", <https://acme.myshopify.com/admin/api/2026-01/orders.json?'
        'limit=250&page_info=def>; rel="next"'
    )
    assert polling.next_link(header) == (
        "https://acme.myshopify.com/admin/api/2026-01/orders.json?limit=250&page_info=def"
    )
    assert polling.next_link(header.split(", ")[0]) is None
    assert polling.next_link(None) is None


def test_the_shopify_cursor_moves_to_the_newest_change_minus_the_overlap_never_back() -> None:
    cursor = NOW - timedelta(hours=1)
    newest = NOW - timedelta(minutes=1)
    moved = polling.shopify_cursor_after(cursor, [cursor, newest])
    assert moved == newest - polling.SHOPIFY_OVERLAP
    assert polling.shopify_cursor_after(cursor, []) == cursor
    assert polling.shopify_cursor_after(cursor, [cursor - timedelta(days=1)]) == cursor


def test_redis_keys_are_per_store() -> None:
    assert polling.poll_key("bol-nl", "lease") == "winkel:poll:bol-nl:lease"
    assert polling.pending_fetches_key("bol-nl") == "winkel:poll:bol-nl:pending"
    assert polling.status_key("bol-nl") == "winkel:poll:bol-nl:status"


def test_a_short_gap_is_one_change_interval_sweep() -> None:
    assert polling.bol_list_queries(NOW - timedelta(minutes=3), NOW) == [
        polling.BolListQuery(change_interval_minute=4)
    ]
    assert polling.bol_list_queries(None, NOW) == [polling.BolListQuery()]


def test_a_long_outage_is_swept_day_by_day_in_dutch_days() -> None:
    # down from 22:30 UTC on 30 Oct (23:30 in Amsterdam) until noon on 2 Nov
    queries = polling.bol_list_queries(datetime(2026, 10, 30, 22, 30, tzinfo=UTC), NOW)
    assert [q.latest_change_date for q in queries] == [
        "2026-10-30",
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
    ]
    assert all(q.change_interval_minute is None for q in queries)
    # ...the day after midnight in Amsterdam, even when it is still the day before in UTC
    late = polling.bol_list_queries(datetime(2026, 10, 31, 23, 30, tzinfo=UTC), NOW)
    assert late[0].latest_change_date == "2026-11-01"


def test_an_outage_longer_than_bol_s_history_reaches_back_three_months() -> None:
    queries = polling.bol_list_queries(NOW - timedelta(days=400), NOW)
    assert len(queries) == polling.BOL_HISTORY_DAYS + 1
    assert queries[-1].latest_change_date == "2026-11-02"
