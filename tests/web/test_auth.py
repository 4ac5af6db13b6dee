"""Roles on a real Redis and Kafka: every personal-data route needs a token, viewers only read,
the live socket signs in by header or by a one-time ticket offered as a subprotocol."""

from __future__ import annotations

import tomllib
import uuid

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.domain.config import parse_config
from engine.domain.exceptions import ConfigError
from tests.support import OPERATOR, TEST_CONFIG, VIEWER
from tests.web.conftest import Web
from tests.web.test_api import place, summary_document
from web.app import create_app
from web.auth import Principal, Role, principal_for, principals

ANY_UUID = str(uuid.uuid4())
#: Every route that reads order, audit, trigger, dead-letter, poller, VAT or stats data.
READS = [
    "/api/orders",
    "/api/orders?q=Sanne",
    f"/api/orders/{ANY_UUID}",
    "/api/deadletters",
    "/api/pollers",
    "/api/vat/thresholds",
    "/api/stats",
    "/api/session",
]
ACTIONS = [
    (f"/api/orders/{ANY_UUID}/status", {"action": "cancel", "reason": "customer called"}),
    ("/api/deadletters/winkel.raw.shopify:0:1/replay", {}),
]
OPEN = ["/", "/healthz", "/readyz", "/metrics", "/api/openapi.json", "/static/app.js"]


@pytest.mark.parametrize("path", READS)
async def test_anonymous_reads_are_401_with_a_json_reason(web: Web, path: str) -> None:
    await place(web, summary_document(name="#1", stage="paid", customer="Sanne de Vries"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = await web.client.get(path, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = await response.read()
        assert orjson.loads(body)["error"] == "unauthorized"
        assert b"Sanne" not in body


@pytest.mark.parametrize("path", READS)
async def test_viewers_and_operators_may_read(web: Web, path: str) -> None:
    for headers in (VIEWER, OPERATOR):
        response = await web.client.get(path, headers=headers)
        assert response.status in {200, 404}, await response.text()  # 404: no such order


@pytest.mark.parametrize(("path", "body"), ACTIONS)
async def test_a_viewer_acting_is_403_and_nobody_anonymous_may_act(
    web: Web, path: str, body: dict[str, str]
) -> None:
    viewer = await web.client.post(path, json=body, headers=VIEWER)
    assert viewer.status == 403
    assert (await viewer.json())["error"] == "forbidden"
    assert (await web.client.post(path, json=body)).status == 401


@pytest.mark.parametrize("path", OPEN)
async def test_the_page_health_metrics_and_api_description_are_open(web: Web, path: str) -> None:
    await place(web, summary_document(name="#1", stage="paid", customer="Sanne de Vries"))
    response = await web.client.get(path)
    assert response.status == 200
    assert b"Sanne" not in await response.read()


async def test_unknown_paths_are_404_not_401(web: Web) -> None:
    assert (await web.client.get("/api/nothing-here")).status == 404


async def test_the_socket_needs_a_token(web: Web) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await web.client.ws_connect("/ws")
    assert refused.value.status == 401
    async with web.client.ws_connect("/ws", headers=VIEWER) as socket:
        assert orjson.loads((await socket.receive(timeout=5)).data)["type"] == "snapshot"


async def test_a_one_time_ticket_opens_the_socket_once(web: Web) -> None:
    assert (await web.client.post("/api/ws-ticket")).status == 401
    reply = await web.client.post("/api/ws-ticket", headers=VIEWER)
    assert reply.status == 200
    ticket = (await reply.json())["ticket"]
    offered = ("winkel.v1", f"winkel.ticket.{ticket}")
    async with web.client.ws_connect("/ws", protocols=offered) as socket:
        assert socket.protocol == "winkel.v1"  # a browser drops a socket that echoes no offer
        assert orjson.loads((await socket.receive(timeout=5)).data)["type"] == "snapshot"
    with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
        await web.client.ws_connect("/ws", protocols=offered)
    assert reused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as forged:
        await web.client.ws_connect("/ws", protocols=("winkel.v1", "winkel.ticket.abc123"))
    assert forged.value.status == 401


def test_tokens_sign_in_with_their_role() -> None:
    known = principals({"op-1": "anna"}, {"view-1": "vera", "view-2": "viewer"})
    assert principal_for("op-1", known) == Principal("anna", Role.OPERATOR)
    assert principal_for("view-1", known) == Principal("vera", Role.VIEWER)
    assert principal_for("view-", known) is None
    assert principal_for("\udcff", known) is None  # a surrogate-escaped header: no exception
    with pytest.raises(ValueError, match="operator and a viewer"):
        principals({"same": "anna"}, {"same": "vera"})


def test_a_token_shared_by_an_operator_and_a_viewer_stops_the_start(
    env: dict[str, str],
) -> None:
    config = parse_config(tomllib.loads(TEST_CONFIG.format(partitions=4)), env)
    shared = dict(env, WINKEL_OPERATOR_TOKEN="same", WINKEL_VIEWER_TOKEN="vera=same")
    with pytest.raises(ConfigError, match="WINKEL_VIEWER_TOKEN"):
        create_app(config, shared)


async def test_a_viewer_token_variable_named_in_the_config_is_read(env: dict[str, str]) -> None:
    document = tomllib.loads(
        TEST_CONFIG.format(partitions=4) + '\n[operators]\nviewer_token_env = "AUDITORS"\n'
    )
    config = parse_config(document, env)
    client = TestClient(TestServer(create_app(config, dict(env, AUDITORS="erik=audit-1"))))
    await client.start_server()
    try:
        reply = await client.get("/api/session", headers={"Authorization": "Bearer audit-1"})
        assert await reply.json() == {"operator_id": "erik", "role": "viewer"}
        assert (await client.get("/api/session", headers=VIEWER)).status == 401
    finally:
        await client.close()


async def test_the_api_description_states_each_routes_security(web: Web) -> None:
    described = orjson.loads(await (await web.client.get("/api/openapi.json")).read())
    assert described["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    for path, item in described["paths"].items():
        for method, operation in item.items():
            security = operation["security"]
            if path in {"/healthz", "/readyz", "/metrics", "/api/openapi.json"}:
                assert security == [], path
                continue
            needed = "operator" if method == "post" and path != "/api/ws-ticket" else "viewer"
            assert security == [{"bearerToken": [needed]}], (method, path)
            # ... and the server does what the description says.
            concrete = path.replace("{order_uuid}", ANY_UUID).replace("{dead_letter_id}", "x:0:0")
            anonymous = await web.client.request(method.upper(), concrete, json={})
            assert anonymous.status == 401, (method, path)
            if needed == "operator":
                viewer = await web.client.request(method.upper(), concrete, json={}, headers=VIEWER)
                assert viewer.status == 403, (method, path)
