"""The order API on a real Redis and Kafka: lists and filters, detail, operator actions, replay."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.domain import topics
from engine.shell import readmodel as rm
from engine.shell import replay
from models.codec import decode_command
from tests.support import OPERATOR, OPERATOR_TOKEN, VIEWER, read_topic, wait_until
from tests.web.conftest import Web
from web.app import create_app

AUTH = OPERATOR


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary_document(
    *,
    name: str,
    stage: str,
    customer: str = "Sanne de Vries",
    store: str = "shop-order",
    marketplace: str = "shopify",
    updated: datetime | None = None,
    stage_since: datetime | None = None,
    order_uuid: str | None = None,
    ordered_at: datetime | None = None,
    total: str = "30.25",
    country: str = "NL",
    sku: str = "MUG-BLUE",
    payment_status: str | None = None,
) -> dict[str, Any]:
    moment = updated or datetime.now(UTC)
    return {
        "ordered_at": iso(ordered_at or moment),
        "order_uuid": order_uuid or str(uuid.uuid4()),
        "marketplace": marketplace,
        "store_id": store,
        "company_id": "acme-nl",
        "external_order_id": name.lstrip("#"),
        "name": name,
        "stage": stage,
        "stage_since": iso(stage_since or moment),
        "customer": customer,
        "country": country,
        "currency": "EUR",
        "total_gross": total,
        "payment_status": payment_status or ("paid" if stage != "new" else "pending"),
        "fulfilment_status": "unfulfilled",
        "invoice_status": "none",
        "return_status": "none",
        "lines": [
            {
                "sku": sku,
                "description": "Stoneware mug, blue",
                "quantity": 2,
                "net": "20.00",
                "vat": "4.20",
                "gross": "24.20",
                "vat_rate": "0.21",
            },
            {
                "sku": "SHIPPING",
                "description": "PostNL Standard",
                "quantity": 1,
                "net": "5.00",
                "vat": "1.05",
                "gross": "6.05",
                "vat_rate": "0.21",
            },
        ],
        "updated_at": iso(moment),
    }


async def place(web: Web, *documents: dict[str, Any]) -> None:
    rows = []
    for document in documents:
        value = orjson.dumps({"type": "order.summary", "order": document})
        row = rm.summary_row(value)
        assert row is not None
        rows.append(row)
    await web.writer.summaries(rows)


async def get_json(web: Web, path: str, status: int = 200) -> Any:
    """A read, as a viewer (who may read everything an operator may)."""
    response = await web.client.get(path, headers=VIEWER)
    assert response.status == status, await response.text()
    return await response.json()


async def names(web: Web, query: str) -> list[str]:
    listed = await get_json(web, f"/api/orders?{query}")
    return [order["name"] for order in listed["orders"]]


async def test_the_list_is_newest_first_and_filters_by_every_criterion(web: Web) -> None:
    now = datetime.now(UTC)
    await place(
        web,
        summary_document(name="#1", stage="paid", updated=now - timedelta(minutes=3)),
        summary_document(
            name="#2",
            stage="invoiced",
            customer="Lukas Peeters",
            updated=now - timedelta(minutes=2),
        ),
        summary_document(
            name="#3", stage="paid", store="shop-shipment", updated=now - timedelta(minutes=1)
        ),
        summary_document(name="B-4", stage="new", marketplace="bol", store="bol-nl", updated=now),
    )
    assert await names(web, "") == ["B-4", "#3", "#2", "#1"]
    assert await names(web, "limit=2") == ["B-4", "#3"]
    assert await names(web, "stage=paid") == ["#3", "#1"]
    assert await names(web, "status=paid") == ["#3", "#1"]  # docs/design.md "HTTP"
    assert await names(web, "store=shop-order") == ["#2", "#1"]
    assert await names(web, "marketplace=shopify&stage=paid&store=shop-shipment") == ["#3"]
    assert await names(web, "marketplace=bol") == ["B-4"]
    assert await names(web, "payment_status=pending") == ["B-4"]
    assert await names(web, "q=peeters") == ["#2"]
    assert await names(web, "q=%233") == ["#3"]  # the order name
    assert await names(web, "stage=cancelled") == []
    await get_json(web, "/api/orders?limit=many", status=400)


async def test_the_detail_has_lines_triggers_and_the_timeline_in_order(web: Web) -> None:
    order = summary_document(name="#10", stage="invoiced")
    order_uuid = order["order_uuid"]
    await place(web, order)
    entries = [
        ("e-3", "2026-11-02T15:00:00Z", "shipped", "invoiced", "system"),
        ("e-1", "2026-11-02T10:00:00Z", None, "new", "shopify"),
        ("e-2", "2026-11-02T15:00:00Z", "new", "shipped", "shopify"),
    ]
    await web.writer.audit(
        [
            (
                rm.audit_item(
                    orjson.dumps(
                        {
                            "entry_id": entry_id,
                            "order_uuid": order_uuid,
                            "at": at,
                            "actor": actor,
                            "from_stage": before,
                            "to_stage": after,
                            "reason": "…",
                            "source_event_id": "…",
                        }
                    )
                ),
                time.time(),
            )
            for entry_id, at, before, after, actor in entries
        ]
    )
    trigger = {"trigger_id": "t-1", "kind": "invoice", "order_uuid": order_uuid, "lines": []}
    await web.writer.triggers([rm.trigger_item(orjson.dumps(trigger))])

    detail = await get_json(web, f"/api/orders/{order_uuid}")
    assert detail["order"]["name"] == "#10"
    assert [line["vat"] for line in detail["order"]["lines"]] == ["4.20", "1.05"]
    assert [t["trigger_id"] for t in detail["triggers"]] == ["t-1"]
    # Same instant: shipped before invoiced, as the lifecycle goes.
    assert [e["entry_id"] for e in detail["timeline"]] == ["e-1", "e-2", "e-3"]


async def test_an_unknown_order_is_not_found(web: Web) -> None:
    await get_json(web, f"/api/orders/{uuid.uuid4()}", status=404)
    await get_json(web, "/api/orders/not-a-uuid", status=404)


async def test_a_status_change_needs_an_operator_token(web: Web) -> None:
    order = summary_document(name="#20", stage="paid")
    await place(web, order)
    path = f"/api/orders/{order['order_uuid']}/status"
    body = {"action": "mark_shipped", "reason": "sent by courier, tracking in the ticket"}
    without = await web.client.post(path, json=body)
    assert without.status == 401
    assert without.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await web.client.post(
        path, json=body, headers={"Authorization": "Bearer not-the-token"}
    )
    assert wrong.status == 401
    not_bearer = await web.client.post(
        path, json=body, headers={"Authorization": f"Basic {OPERATOR_TOKEN}"}
    )
    assert not_bearer.status == 401


@pytest.mark.parametrize(
    "body",
    [
        {"action": "mark_shipped", "reason": ""},
        {"action": "mark_shipped", "reason": "   "},
        {"action": "mark_shipped"},
        {"action": "refund_everything", "reason": "because"},
        {"reason": "no action"},
    ],
)
async def test_a_status_change_without_reason_or_known_action_is_a_bad_request(
    web: Web, body: dict[str, str]
) -> None:
    order = summary_document(name="#21", stage="paid")
    await place(web, order)
    response = await web.client.post(
        f"/api/orders/{order['order_uuid']}/status", json=body, headers=AUTH
    )
    assert response.status == 400
    assert (await response.json())["error"]


async def test_a_status_change_for_an_unknown_order_is_not_found(web: Web) -> None:
    response = await web.client.post(
        f"/api/orders/{uuid.uuid4()}/status",
        json={"action": "cancel", "reason": "customer called"},
        headers=AUTH,
    )
    assert response.status == 404


async def test_a_status_change_becomes_a_command_keyed_by_the_order(web: Web) -> None:
    order = summary_document(name="#22", stage="paid")
    await place(web, order)
    order_uuid = order["order_uuid"]
    response = await web.client.post(
        f"/api/orders/{order_uuid}/status",
        json={"action": "mark_shipped", "reason": "  handed to DHL at the counter "},
        headers=AUTH,
    )
    assert response.status == 202
    answer = await response.json()
    assert answer["operator_id"] == "operator"

    async def sent() -> list[Any]:
        records = await read_topic(web.config.kafka.bootstrap, topics.ORDER_COMMANDS)
        return [r for r in records if r.key == order_uuid.encode()]

    (record,) = await wait_until(sent, 10, what="the command on Kafka")
    command = decode_command(record.value)
    assert command.command_id == answer["command_id"]
    assert uuid.UUID(command.command_id).version == 4
    assert str(command.order_uuid) == order_uuid
    assert command.operator_id == "operator"
    assert command.action.value == "mark_shipped"
    assert command.reason == "handed to DHL at the counter"
    assert abs(command.issued_at - datetime.now(UTC)) < timedelta(seconds=30)


async def test_the_session_says_who_a_token_signs_in_as(web: Web) -> None:
    assert (await web.client.get("/api/session")).status == 401
    assert await get_json_with(web, "/api/session", AUTH) == {
        "operator_id": "operator",
        "role": "operator",
    }
    assert await get_json_with(web, "/api/session", VIEWER) == {
        "operator_id": "viewer",
        "role": "viewer",
    }


async def get_json_with(web: Web, path: str, headers: dict[str, str]) -> Any:
    response = await web.client.get(path, headers=headers)
    assert response.status == 200
    return await response.json()


async def test_a_dead_letter_is_replayed_to_its_source_topic(web: Web) -> None:
    bootstrap = web.config.kafka.bootstrap
    source = f"winkel.test.replay-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(source, 1, 1)])
    finally:
        await admin.close()
    dead_letter_id = f"{source}:0:7"
    letter = orjson.dumps(
        {
            "schema": "winkel.deadletter/1",
            "dead_letter_id": dead_letter_id,
            "source_topic": source,
            "partition": 0,
            "offset": 7,
            "key": {"encoding": "utf-8", "data": "delivery-7"},
            "reason": "body is not JSON: unexpected character",
            "failed_at": "2026-11-02T10:00:00Z",
            "original": {"encoding": "utf-8", "data": '{"the": "original"}'},
        }
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        stored = await producer.send_and_wait(topics.DEAD_LETTER, letter, key=b"delivery-7")
    finally:
        await producer.stop()
    await web.writer.dead_letters([rm.dead_letter_row(letter, stored.partition, stored.offset)])
    path = f"/api/deadletters/{dead_letter_id}/replay"

    assert (await web.client.post(path)).status == 401
    assert (await web.client.post("/api/deadletters/nope:0:0/replay", headers=AUTH)).status == 404
    response = await web.client.post(path, headers=AUTH)
    assert response.status == 202, await response.text()

    (replayed,) = await wait_until(
        lambda: read_topic(bootstrap, source), 10, what="the replayed record"
    )
    assert (replayed.key, replayed.value) == (b"delivery-7", b'{"the": "original"}')
    listed = await get_json(web, "/api/deadletters")
    assert listed["count"] == 1
    (shown,) = listed["dead_letters"]
    assert shown["reason"].startswith("body is not JSON")
    assert shown["replayed"]["operator_id"] == "operator"


async def test_the_cli_replay_sends_the_chosen_dead_letters_back(web: Web) -> None:
    settings = web.config.kafka
    source = f"winkel.test.cli-replay-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all")
    await producer.start()
    try:
        for offset in (1, 2):
            letter = {
                "schema": "winkel.deadletter/1",
                "dead_letter_id": f"{source}:0:{offset}",
                "source_topic": source,
                "partition": 0,
                "offset": offset,
                "key": None,
                "reason": "unknown store",
                "failed_at": "2026-11-02T10:00:00Z",
                "original": {"encoding": "base64", "data": "AAEC"},
            }
            await producer.send_and_wait(topics.DEAD_LETTER, orjson.dumps(letter))
        assert await replay.replay_all(producer, settings, {f"{source}:0:2"}) == 1
    finally:
        await producer.stop()
    (replayed,) = await wait_until(
        lambda: read_topic(settings.bootstrap, source), 10, what="the replayed record"
    )
    assert (replayed.key, replayed.value) == (None, b"\x00\x01\x02")


async def test_health_and_the_openapi_description(web: Web) -> None:
    assert await get_json(web, "/healthz") == {"status": "alive"}
    assert await get_json(web, "/readyz") == {
        "ready": True,
        "dependencies": {"kafka": "ok", "redis": "ok"},
    }
    described = await get_json(web, "/api/openapi.json")
    assert described["openapi"].startswith("3.")
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in web.client.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and route.resource.canonical.startswith(("/api/", "/healthz", "/readyz", "/metrics"))
    }
    documented = {(method, path) for path, item in described["paths"].items() for method in item}
    assert ("get", "/api/pollers") in served  # the routes are really read
    assert served == documented


async def test_the_dashboard_page_and_its_files_are_served(web: Web) -> None:
    page = await web.client.get("/")
    assert page.status == 200
    html = await page.text()
    for asset in ["/static/app.js", "/static/app.css", "/static/vendor/uPlot.iife.min.js"]:
        assert asset in html
        assert (await web.client.get(asset)).status == 200


# --- the workbench: list at scale, CSV, stuck worklist, detail ---------------------------------


async def walk(web: Web, query: str, limit: int = 3) -> tuple[list[str], int]:
    """Every page of a list view, following `next`: the uuids in order, and the total."""
    uuids: list[str] = []
    after = ""
    while True:
        page = await get_json(web, f"/api/orders?{query}&limit={limit}{after}")
        uuids += [order["order_uuid"] for order in page["orders"]]
        if page["next"] is None:
            return uuids, page["total"]
        after = f"&after={page['next']}"


def ranked(orders: list[dict[str, Any]], key: Any, descending: bool) -> list[str]:
    return [o["order_uuid"] for o in sorted(orders, key=key, reverse=descending)]


async def test_pages_walk_every_order_once_in_each_sort(web: Web) -> None:
    now = datetime.now(UTC)
    orders = [
        summary_document(
            name=f"#{1000 + i}",
            stage="paid",
            customer=customer,
            total=total,
            ordered_at=now - timedelta(hours=i),
            updated=now - timedelta(minutes=i),
        )
        for i, (customer, total) in enumerate(
            [
                ("Zoë Jansen", "12.00"),
                ("anna Bakker", "130.50"),
                ("Bram de Wit", "9.99"),
                ("Émile Dubois", "45.00"),
                ("Carla Smit", "45.00"),
                ("dirk Mulder", "1000.00"),
                ("Anna Visser", "0.50"),
            ]
        )
    ]
    await place(web, *orders)
    newest_first = ranked(orders, lambda o: o["ordered_at"], True)
    assert await walk(web, "") == (newest_first, 7)
    assert await walk(web, "sort=ordered_at&dir=asc") == (newest_first[::-1], 7)
    by_total, _ = await walk(web, "sort=total_gross&dir=asc", limit=2)
    amounts = [next(o["total_gross"] for o in orders if o["order_uuid"] == u) for u in by_total]
    assert amounts == ["0.50", "9.99", "12.00", "45.00", "45.00", "130.50", "1000.00"]
    customers, _ = await walk(web, "sort=customer&dir=asc")
    shown = [next(o["customer"] for o in orders if o["order_uuid"] == u) for u in customers]
    # Case- and accent-insensitive on the first eight characters; equal prefixes by uuid.
    assert [name.split()[0].casefold() for name in shown] == [
        "anna",
        "anna",
        "bram",
        "carla",
        "dirk",
        "émile",
        "zoë",
    ]


async def test_a_walk_neither_repeats_nor_skips_rows_that_change_meanwhile(web: Web) -> None:
    now = datetime.now(UTC)
    orders = [
        summary_document(name=f"#{2000 + i}", stage="paid", updated=now - timedelta(minutes=i))
        for i in range(6)
    ]
    await place(web, *orders)
    first = await get_json(web, "/api/orders?sort=updated&limit=3")
    seen = [o["order_uuid"] for o in first["orders"]]
    assert seen == [o["order_uuid"] for o in orders[:3]]
    # The cursor row itself moves to the top, and a row of the next page changes stage.
    moved = dict(orders[2], updated_at=iso(now + timedelta(minutes=1)))
    changed = dict(orders[4], stage="shipped", updated_at=iso(now - timedelta(minutes=4)))
    await place(web, moved, changed)
    rest = await get_json(web, f"/api/orders?sort=updated&limit=3&after={first['next']}")
    assert [o["order_uuid"] for o in rest["orders"]] == [o["order_uuid"] for o in orders[3:]]
    assert rest["next"] is None
    assert rest["orders"][1]["stage"] == "shipped"


async def test_filters_dates_and_search_narrow_the_list_and_follow_changes(web: Web) -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    belgian = summary_document(
        name="#3001",
        stage="paid",
        customer="Lukas Peeters",
        country="BE",
        sku="LAMP-OAK",
        ordered_at=now - timedelta(days=3),
        updated=now,
    )
    dutch = summary_document(
        name="#3002",
        stage="new",
        customer="Sanne de Vries",
        sku="MUG-BLUE",
        ordered_at=now - timedelta(days=1),
        updated=now,
    )
    bol = summary_document(
        name="B-3003",
        stage="paid",
        marketplace="bol",
        store="shop-woo",
        customer="Jan Peeters",
        ordered_at=now,
        updated=now,
    )
    await place(web, belgian, dutch, bol)
    assert await names(web, "country=be") == ["#3001"]
    assert await names(web, "company=acme-nl&stage=paid") == ["B-3003", "#3001"]
    assert await names(web, "q=peeters") == ["B-3003", "#3001"]
    assert await names(web, "q=peet%20luk") == ["#3001"]
    assert await names(web, "q=lamp") == ["#3001"]
    assert await names(web, "q=3002") == ["#3002"]
    assert await names(web, f"q={dutch['order_uuid'][:8]}") == ["#3002"]
    assert await names(web, "q=nobody") == []
    assert await names(web, "from=2026-12-04&to=2026-12-04") == ["#3002"]
    assert await names(web, "from=2026-12-02T12:00:00Z&sort=name&dir=asc") == [
        "#3001",
        "#3002",
        "B-3003",
    ]
    assert await names(web, "to=2026-12-04&stage=new") == ["#3002"]
    # The order changes: it leaves its old stage, status and search words, and joins the new.
    renamed = dict(
        dutch,
        stage="paid",
        payment_status="paid",
        customer="Sanne Jansen",
        updated_at=iso(now + timedelta(minutes=1)),
    )
    await place(web, renamed)
    assert await names(web, "q=vries") == []
    assert await names(web, "q=jansen") == ["#3002"]
    assert await names(web, "stage=new") == []
    assert await names(web, "payment_status=pending") == []
    listed = await get_json(web, "/api/orders?payment_status=paid")
    assert listed["total"] == 3


async def test_an_unknown_parameter_or_value_is_a_400_that_names_it(web: Web) -> None:
    for query, named in [
        ("offset=200", "offset"),
        ("since=2026-12-01", "since"),
        ("stage=shipping", "stage must be one of"),
        ("store=nowhere", "store must be one of"),
        ("sort=price", "sort must be one of"),
        ("limit=1000", "limit must be"),
        ("after=xyz", "after is not a cursor"),
    ]:
        answer = await get_json(web, f"/api/orders?{query}", status=400)
        assert named in answer["reason"], (query, answer)
    await get_json(web, "/api/orders.csv?limit=5", status=400)
    await get_json(web, "/api/stuck?stage=paid", status=400)


async def test_the_csv_export_streams_the_current_view(web: Web) -> None:
    now = datetime.now(UTC)
    orders = [
        summary_document(
            name=f"#{4000 + i}",
            stage="paid" if i % 2 else "new",
            updated=now - timedelta(minutes=i),
        )
        for i in range(5)
    ]
    orders[1]["fees"] = [{"kind": "commission", "description": "Commission", "amount": "1.10"}]
    orders[1]["fees"].append({"kind": "fba_fee", "description": "FBA", "amount": "2.05"})
    orders[3]["customer"] = '=HYPERLINK("http://evil.example")'  # no formula in a spreadsheet
    await place(web, *orders)
    response = await web.client.get("/api/orders.csv?stage=paid&sort=name&dir=asc", headers=VIEWER)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="orders-\d{8}T\d{6}Z\.csv"', response.headers["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [row["name"] for row in rows] == ["#4001", "#4003"]
    assert rows[0]["total_gross"] == "30.25"
    assert rows[0]["currency"] == "EUR"
    assert rows[0]["fees"] == "3.15"
    assert rows[0]["updated_at"] == orders[1]["updated_at"]
    assert rows[1]["customer"] == "'" + orders[3]["customer"]
    assert (await web.client.get("/api/orders.csv")).status == 401


async def test_the_detail_says_what_fits_what_is_charged_and_what_the_order_waits_for(
    web: Web,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=5)
    order = summary_document(
        name="#5001", stage="paid", updated=long_ago, stage_since=long_ago, store="shop-order"
    )
    order["fees"] = [{"kind": "commission", "description": "Commission", "amount": "4.54"}]
    order["shipments"] = [
        {
            "shipment_id": "operator:aa9c0000",
            "shipped_at": iso(long_ago),
            "lines": [],
            "carrier": None,
            "tracking_numbers": [],
        }
    ]
    await place(web, order)
    detail = await get_json(web, f"/api/orders/{order['order_uuid']}")
    assert detail["actions"] == [{"action": "mark_shipped"}, {"action": "cancel"}]
    assert detail["fees"] == order["fees"]
    assert detail["order"]["fees"] == order["fees"]
    assert detail["stuck"]["reason"] == "awaiting_shipment"
    assert detail["stuck"]["params"] == {"marketplace": "shopify"}
    assert detail["stuck"]["age_seconds"] >= 5 * 86400 - 60
    assert detail["stuck"]["limit_seconds"] == 48 * 3600
    path = f"/api/orders/{order['order_uuid']}/status"
    refused = await web.client.post(
        path, json={"action": "mark_paid", "reason": "bank transfer"}, headers=AUTH
    )
    assert refused.status == 409
    assert (await refused.json()) == {
        "error": "conflict",
        "reason": "mark_paid: the order is already paid",
    }


async def test_the_stuck_worklist_lists_orders_over_their_limit_oldest_first(web: Web) -> None:
    now = datetime.now(UTC)

    def waiting(name: str, stage: str, days: float, **extra: Any) -> dict[str, Any]:
        since = now - timedelta(days=days)
        return summary_document(name=name, stage=stage, updated=since, stage_since=since, **extra)

    orders = [
        waiting("#6001", "paid", 3),  # over 48 h
        waiting("#6002", "paid", 1),  # under
        waiting("#6003", "new", 4, payment_status="pending"),  # over 24 h
        waiting("#6004", "return_requested", 20),  # over 14 d
        waiting("#6005", "cancelled", 30),  # done: never stuck
        waiting("#6006", "partially_shipped", 2.5, store="shop-woo"),
    ]
    await place(web, *orders)
    listed = await get_json(web, "/api/stuck?limit=2")
    assert listed["total"] == 4
    assert (await get_json(web, "/api/stats"))["stuck_total"] == 4  # the dashboard's count
    assert [o["name"] for o in listed["orders"]] == ["#6004", "#6003"]
    assert listed["orders"][0]["stuck"]["reason"] == "awaiting_return"
    rest = await get_json(web, f"/api/stuck?limit=2&after={listed['next']}")
    assert [(o["name"], o["stuck"]["reason"]) for o in rest["orders"]] == [
        ("#6001", "awaiting_shipment"),
        ("#6006", "partly_shipped"),
    ]
    assert rest["next"] is None
    only = await get_json(web, "/api/stuck?store=shop-woo")
    assert [o["name"] for o in only["orders"]] == ["#6006"]
    # Shipped: the order leaves the worklist.
    await place(web, dict(orders[0], stage="invoiced", unconfirmed_invoices=0, updated_at=iso(now)))
    assert (await get_json(web, "/api/stuck"))["total"] == 3


async def test_dead_letters_say_whose_they_are_and_the_page_serves_its_own_urls(web: Web) -> None:
    letter = orjson.dumps(
        {
            "dead_letter_id": "winkel.orders.events:0:9",
            "source_topic": "winkel.orders.events",
            "reason": "cannot apply",
            "failed_at": "2026-11-02T10:00:00Z",
            "original": {
                "encoding": "utf-8",
                "data": orjson.dumps(
                    {
                        "ref": {
                            "uuid": "3f2a9c1e-0000-4000-8000-000000000001",
                            "marketplace": "bol",
                            "store_id": "bol-nl",
                            "external_order_id": "B-1",
                        }
                    }
                ).decode(),
            },
        }
    )
    await web.writer.dead_letters([rm.dead_letter_row(letter, 0, 9)])
    (shown,) = (await get_json(web, "/api/dead-letters"))["dead_letters"]
    assert (shown["store_id"], shown["marketplace"], shown["external_order_id"]) == (
        "bol-nl",
        "bol",
        "B-1",
    )
    assert shown["order_uuid"] == "3f2a9c1e-0000-4000-8000-000000000001"
    for path in [f"/orders/{uuid.uuid4()}", "/stuck", "/dead-letters"]:
        page = await web.client.get(path)
        assert page.status == 200
        assert "/static/app.js" in await page.text()
    stats = await get_json(web, "/api/stats")
    assert stats["thresholds"] == []
    assert stats["pollers"] == []


async def test_narrow_and_wide_views_page_alike(web: Web) -> None:
    # Under 1/20 of all orders the list intersects into a small set; above, it walks the sort.
    now = datetime.now(UTC)
    orders = [
        summary_document(
            name=f"#{7000 + i}",
            stage="paid",
            country="BE" if i in (5, 30) else "NL",
            total=f"{(i * 37) % 100}.00",
            ordered_at=now - timedelta(minutes=i),
            updated=now - timedelta(minutes=i),
        )
        for i in range(45)
    ]
    await place(web, *orders)
    narrow, total = await walk(web, "country=BE", limit=1)
    assert (narrow, total) == ([orders[5]["order_uuid"], orders[30]["order_uuid"]], 2)
    wide, total = await walk(web, "country=NL&sort=total_gross&dir=asc", limit=10)
    dutch = [o for i, o in enumerate(orders) if i not in (5, 30)]
    by_total = ranked(dutch, lambda o: (float(o["total_gross"]), o["order_uuid"]), False)
    assert (wide, total) == (by_total, 43)


async def test_each_store_s_own_limit_decides_whether_its_order_is_stuck(
    web: Web, env: dict[str, str]
) -> None:
    stores = dict(web.config.stores)
    stores["shop-woo"] = replace(
        stores["shop-woo"], stuck_after={**stores["shop-woo"].stuck_after, "paid": 24 * 3600.0}
    )
    config = replace(web.config, stores=stores)
    since = datetime.now(UTC) - timedelta(hours=30)
    strict = summary_document(name="#8001", stage="paid", store="shop-woo", updated=since)
    lenient = summary_document(name="#8002", stage="paid", store="shop-order", updated=since)
    await place(web, strict, lenient)
    client = TestClient(TestServer(create_app(config, env)))
    await client.start_server()
    try:
        response = await client.get("/api/stuck", headers=VIEWER)
        listed = await response.json()
        stats = await (await client.get("/api/stats", headers=VIEWER)).json()
    finally:
        await client.close()
    assert [o["name"] for o in listed["orders"]] == ["#8001"]
    assert listed["orders"][0]["stuck"]["limit_seconds"] == 24 * 3600
    assert listed["total"] == stats["stuck_total"] == 1
