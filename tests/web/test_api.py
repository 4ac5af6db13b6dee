"""The order API on a real Redis and Kafka: lists and filters, detail, operator actions, replay."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.domain import topics
from engine.shell import readmodel as rm
from engine.shell import replay
from models.codec import decode_command
from tests.support import OPERATOR, OPERATOR_TOKEN, VIEWER, read_topic, wait_until
from tests.web.conftest import Web

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
) -> dict[str, Any]:
    moment = updated or datetime.now(UTC)
    return {
        "order_uuid": order_uuid or str(uuid.uuid4()),
        "marketplace": marketplace,
        "store_id": store,
        "company_id": "acme-nl",
        "external_order_id": name.lstrip("#"),
        "name": name,
        "stage": stage,
        "stage_since": iso(stage_since or moment),
        "customer": customer,
        "country": "NL",
        "currency": "EUR",
        "total_gross": "30.25",
        "payment_status": "paid" if stage != "new" else "pending",
        "fulfilment_status": "unfulfilled",
        "invoice_status": "none",
        "return_status": "none",
        "lines": [
            {
                "sku": "MUG-BLUE",
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
