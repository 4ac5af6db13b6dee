"""Dashboard stats, live frames, metrics and operator tokens on a real Redis and Kafka."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from engine.shell import readmodel as rm
from engine.shell.ledger import Outcome
from tests import shopify_payloads as shop
from tests.support import VIEWER
from tests.web.conftest import Web
from tests.web.test_api import get_json, place, summary_document
from web import api
from web.app import create_app
from web.auth import operator_for, operators_from
from web.dashboard import parse_stuck_after
from web.health import WebMetrics


async def test_stats_count_orders_and_name_the_ones_waiting_too_long(web: Web) -> None:
    now = datetime.now(UTC)
    stuck = summary_document(name="#1", stage="paid", stage_since=now - timedelta(hours=50))
    await place(
        web,
        stuck,
        summary_document(name="#2", stage="paid", stage_since=now - timedelta(hours=2)),
        summary_document(name="#3", stage="invoiced"),
        summary_document(name="B-1", stage="new", marketplace="bol", store="bol-nl"),
    )
    stats = await get_json(web, "/api/stats")
    assert stats["counts"] == {"shopify": {"paid": 2, "invoiced": 1}, "bol": {"new": 1}}
    assert stats["stages"]["paid"] == 2
    assert stats["marketplaces"] == {"shopify": 3, "bol": 1}
    paid = next(b for b in stats["bottlenecks"] if b["stage"] == "paid")
    assert paid["limit_seconds"] == 48 * 3600  # the default limit for paid, unshipped orders
    assert paid["oldest"]["name"] == "#1"
    assert 50 * 3600 - 60 < paid["oldest"]["age_seconds"] < 50 * 3600 + 60
    assert paid["stuck_count"] == 1
    assert [o["order_uuid"] for o in paid["stuck"]] == [stuck["order_uuid"]]
    assert stats["dead_letters"] == {"count": 0, "recent": []}


async def test_webhook_outcomes_feed_metrics_and_the_ingest_chart(web: Web) -> None:
    body = orjson.dumps(shop.order(930001))
    signed = shop.headers("orders/create", body)
    assert (await web.client.post("/webhooks/shopify/shop-order", data=body)).status == 401
    forged = shop.headers("orders/create", body, secret="wrong")
    assert (
        await web.client.post("/webhooks/shopify/shop-order", data=body, headers=forged)
    ).status == 401
    for _ in range(2):
        response = await web.client.post("/webhooks/shopify/shop-order", data=body, headers=signed)
        assert response.status == 200
    await place(web, summary_document(name="#9", stage="paid"))
    await api.flush_webhook_counts(web.client.app)  # what the web does once a second

    metrics = await web.client.get("/metrics")
    assert metrics.status == 200
    assert metrics.content_type == "text/plain"
    text = await metrics.text()
    assert "# TYPE winkel_webhooks_total counter" in text
    assert 'winkel_webhooks_total{marketplace="shopify",outcome="accepted"} 1.0' in text
    assert 'winkel_webhooks_total{marketplace="shopify",outcome="duplicate"} 1.0' in text
    assert 'winkel_webhooks_total{marketplace="shopify",outcome="rejected"} 2.0' in text
    assert 'winkel_orders{marketplace="shopify",stage="paid"} 1.0' in text
    assert "winkel_dead_letters 0.0" in text
    assert 'winkel_web_ready{dependency="kafka"} 1.0' in text
    assert 'winkel_web_ready{dependency="redis"} 1.0' in text
    assert 'winkel_kafka_writable{producer="web"} 1.0' in text

    stats = await get_json(web, "/api/stats")
    assert stats["webhooks"] == {"shopify": {"accepted": 1, "duplicate": 1, "rejected": 2}}
    # The newest point is the current step, averaged over its elapsed seconds.
    newest_step_start, newest_rate = stats["ingest"][-1]
    assert newest_rate * min(10, int(stats["at"]) - newest_step_start + 1) == pytest.approx(1)


async def test_the_socket_sends_a_snapshot_then_coalesced_changes(web: Web) -> None:
    first = summary_document(name="#40", stage="paid")
    await place(web, first)
    async with web.client.ws_connect("/ws", headers=VIEWER) as socket:
        snapshot = orjson.loads((await socket.receive(timeout=5)).data)
        assert snapshot["type"] == "snapshot"
        assert [o["name"] for o in snapshot["orders"]] == ["#40"]
        assert snapshot["stats"]["stages"]["paid"] == 1

        later = summary_document(name="#40", stage="shipped", order_uuid=first["order_uuid"])
        later["updated_at"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        await place(web, later)
        entry = {
            "entry_id": "e-40",
            "order_uuid": first["order_uuid"],
            "at": later["updated_at"],
            "actor": "shopify",
            "from_stage": "paid",
            "to_stage": "shipped",
            "reason": "shipment_sent received",
        }
        await web.writer.audit([(rm.audit_item(orjson.dumps(entry)), time.time())])

        orders: list[str] = []
        touched: set[str] = set()
        deadline = time.monotonic() + 5
        while (not orders or not touched) and time.monotonic() < deadline:
            message = await socket.receive(timeout=5)
            assert message.type is WSMsgType.BINARY
            frame = orjson.loads(message.data)
            if frame["type"] == "orders":
                orders += [o["stage"] for o in frame["orders"]]
                touched |= set(frame["touched"])
        assert orders == ["shipped"]
        assert touched == {first["order_uuid"]}


def test_one_token_signs_in_as_operator_and_pairs_name_each_person() -> None:
    assert operators_from(" s3cret ") == {"s3cret": "operator"}
    assert operators_from("anna=tok-a, bram=tok-b") == {"tok-a": "anna", "tok-b": "bram"}
    with pytest.raises(ValueError, match="name=token"):
        operators_from("anna=tok-a,tok-b")
    with pytest.raises(ValueError, match="name=token"):
        operators_from("an na=tok-a,bram=tok-b")
    operators = {"tok-a": "anna"}
    assert operator_for("tok-a", operators) == "anna"
    assert operator_for("tok-", operators) is None
    assert operator_for(None, operators) is None


def test_stuck_limits_read_as_durations_per_stage() -> None:
    assert parse_stuck_after("paid=48h, new=30m,returned=2d,x=15s") == {
        "paid": 172800,
        "new": 1800,
        "returned": 172800,
        "x": 15,
    }
    for wrong in ["paid", "paid=48", "paid=-1h", "=4h", "paid=soonh"]:
        with pytest.raises(ValueError, match="stage="):
            parse_stuck_after(wrong)


def test_metrics_escape_label_values_and_count_outcomes() -> None:
    stats = {
        "counts": {'we"ird\\': {"paid": 2}},
        "bottlenecks": [],
        "dead_letters": {"count": 3},
        "lag": {"by_topic": {"winkel.raw.shopify": 7}},
    }
    families = WebMetrics()
    families.read_model(stats)
    families.webhooks.labels("shopify", "accepted").inc(5)
    text = families.exposition().decode()
    assert 'winkel_orders{marketplace="we\\"ird\\\\",stage="paid"} 2.0' in text
    assert 'winkel_consumer_lag{topic="winkel.raw.shopify"} 7.0' in text
    assert "winkel_dead_letters 3.0" in text
    assert 'winkel_webhooks_total{marketplace="shopify",outcome="accepted"} 5.0' in text
    assert text.endswith("\n")
    assert api.webhook_outcome(200, Outcome.DUPLICATE) == "duplicate"
    assert api.webhook_outcome(200, Outcome.ACCEPTED) == "accepted"
    assert api.webhook_outcome(200, None) == "accepted"  # WooCommerce's ping
    assert api.webhook_outcome(413, None) == "rejected"
    assert api.webhook_outcome(409, None) == "failed"
    assert api.webhook_outcome(503, None) == "failed"


def test_series_average_per_step_over_the_window() -> None:
    now = 1_000_000
    counts = {now: 3, now - 5: 10, now - 15: 20, now - 700: 99}
    series = rm.rate_series(counts, now, 60, 10)
    assert len(series) == 7
    assert series[-1] == [now, 3.0]  # the current step, one second old
    assert series[-2] == [now - 10, 1.0]
    assert series[-3] == [now - 20, 2.0]
    latency = rm.latency_series({now - 5: (2, 300)}, now, 60, 10)
    assert latency[-2] == [now - 10, 150.0]
    assert latency[0][1] is None


def test_the_consumer_group_is_the_workers() -> None:
    from agents.app import APP_ID

    assert api.CONSUMER_GROUP == APP_ID


async def test_two_web_processes_serve_the_same_live_view(web: Web, env: dict[str, str]) -> None:
    second = TestClient(TestServer(create_app(web.config, env)))
    await second.start_server()
    try:
        async with (
            web.client.ws_connect("/ws", headers=VIEWER) as first_socket,
            second.ws_connect("/ws", headers=VIEWER) as second_socket,
        ):
            for socket in (first_socket, second_socket):
                assert orjson.loads((await socket.receive(timeout=5)).data)["type"] == "snapshot"
            order = summary_document(name="#50", stage="new")
            await place(web, order)  # the projection writes once, to Redis
            for socket in (first_socket, second_socket):
                frame = await _next_orders_frame(socket)
                assert [o["order_uuid"] for o in frame["orders"]] == [order["order_uuid"]]
    finally:
        await second.close()


async def _next_orders_frame(socket: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = orjson.loads((await socket.receive(timeout=5)).data)
        if frame["type"] == "orders":
            return frame
