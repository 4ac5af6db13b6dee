"""The webhook doors on a real Redis and Kafka: topics only the engine writes are refused, and
refusals are JSON with a reason."""

from __future__ import annotations

import pytest

from engine.shell.readmodel import delivery_key
from tests import woocommerce_payloads as woo
from tests.web.conftest import Web


@pytest.mark.parametrize("topic", ["order.polled", "order.refunds.polled"])
async def test_a_webhook_naming_an_engine_topic_is_refused(web: Web, topic: str) -> None:
    body = woo.body(woo.order(899101))
    headers = woo.headers("order.updated", body)
    headers["X-WC-Webhook-Topic"] = topic
    reply = await web.client.post("/webhooks/woocommerce/shop-woo", data=body, headers=headers)
    assert reply.status == 400
    assert "engine's own" in (await reply.json())["reason"]
    assert await web.redis.keys(delivery_key("woocommerce", "shop-woo", "*")) == []


async def test_unknown_stores_and_bad_signatures_answer_json(web: Web) -> None:
    body = woo.body(woo.order(899102))
    unknown = await web.client.post("/webhooks/woocommerce/nope", data=body, headers={})
    assert unknown.status == 404
    assert (await unknown.json())["error"] == "not_found"
    forged = woo.headers("order.updated", body, secret="forged")
    refused = await web.client.post("/webhooks/woocommerce/shop-woo", data=body, headers=forged)
    assert refused.status == 401
    assert (await refused.json())["error"] == "unauthorized"
