"""VIES on real processes: the `vat` agent asks the (fake) VIES before a reverse charge, keeps
the consultation number on the trigger, caches per number per day in Redis, and goes on with
the checksum when a member state's register is down.

Company `vies-nl` and store `shop-vies`, this module's own (other modules' OSS threshold states
live on in the session's Kafka), in a stack with `[vat] vies = true`; order ids 880000-889999.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from engine.dev.fakes.vies import FakeVies, create_app
from tests import shopify_payloads as shop
from tests.support import Stack, Stacks, ThreadedServer, read_topic, send_webhook, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")  # the contract namespace
STORE = "shop-vies"
REGISTERED = {"DE136695976": "Weber GmbH", "DE811115368": "Schmidt KG"}
VIES = """
[[companies]]
id = "vies-nl"
name = "Controle Webwinkel B.V."
country = "NL"
vat_id = "NL004495445B01"
oss_registered = false

[[stores]]
id = "shop-vies"
company_id = "vies-nl"
marketplace = "shopify"
invoice_granularity = "per_order"
shop_domain = "shop-vies.myshopify.com"
webhook_secret_env = "TEST_SHOPIFY_SECRET"

[vat]
vies = true
vies_url = "{url}"
vies_timeout_seconds = 3
"""


@pytest.fixture(scope="module")
def vies() -> Iterator[tuple[FakeVies, ThreadedServer]]:
    fake = FakeVies(registered=dict(REGISTERED))
    server = ThreadedServer(create_app(fake))
    yield fake, server
    server.stop()


@pytest.fixture(scope="module")
def stack(stacks: Stacks, vies: tuple[FakeVies, ThreadedServer]) -> Stack:
    return stacks.start("vies-stack", VIES.format(url=vies[1].url))


async def invoiced(stack: Stack, order_id: int, vat_id: str) -> dict[str, Any]:
    """A German business's order, fulfilled in full; its invoice trigger."""
    document = shop.order(order_id, company="Weber GmbH", country="DE")
    lines = [(item["id"], item["quantity"]) for item in document["line_items"]]
    document = dict(
        document,
        note_attributes=[{"name": "vat_number", "value": vat_id}],
        fulfillments=[shop.fulfillment(order_id, 1, lines)],
    )
    body = orjson.dumps(document)
    url = f"{stack.url}/webhooks/shopify/{STORE}"
    response = await send_webhook(url, body, shop.headers("orders/fulfilled", body, store=STORE))
    assert response.status == 200, await response.text()
    key = str(uuid.uuid5(NAMESPACE, f"{STORE}:shopify:{order_id}")).encode()

    async def invoice() -> dict[str, Any] | None:
        records = await read_topic(stack.bootstrap, "winkel.triggers.invoice")
        found = [orjson.loads(r.value) for r in records if r.key == key]
        return found[0] if found else None

    found: dict[str, Any] = await wait_until(invoice, 90, what=f"invoice of {order_id}")
    return found


async def test_vies_decides_the_reverse_charge_and_its_evidence_travels_on_the_trigger(
    stack: Stack, vies: tuple[FakeVies, ThreadedServer]
) -> None:
    fake, server = vies
    first = await invoiced(stack, 880001, "DE136695976")
    assert first["vat"]["scheme"] == "reverse_charge"
    evidence = first["vat"]["vies"]
    assert (evidence["result"], evidence["vat_id"]) == ("vies_confirmed", "DE136695976")
    assert evidence["consultation_id"].startswith("WAPI")
    asked = [r for r in fake.requests if r["vatNumber"] == "136695976"]
    assert asked == [
        {
            "countryCode": "DE",
            "vatNumber": "136695976",
            "requesterMemberStateCode": "NL",
            "requesterNumber": "004495445B01",
        }
    ]
    # The same number again today: answered from the cache, the same consultation number.
    second = await invoiced(stack, 880002, "DE 136 695 976")
    assert second["vat"]["vies"]["consultation_id"] == evidence["consultation_id"]
    assert len([r for r in fake.requests if r["vatNumber"] == "136695976"]) == 1

    # A well-formed number VIES does not know: the buyer is a consumer (Dutch VAT, origin rate).
    refused = await invoiced(stack, 880003, "DE123456788")
    assert (refused["vat"]["scheme"], refused["vat"]["vies"]["result"]) == (
        "domestic",
        "vies_rejected",
    )
    assert refused["vat"]["reason"].startswith("distance sale, origin rate")

    # Germany's register down: the checksum decides, and the trigger says so.
    server.call(lambda: fake.unavailable.add("DE"))
    down = await invoiced(stack, 880004, "DE811115368")
    assert down["vat"]["scheme"] == "reverse_charge"
    assert down["vat"]["vies"]["result"] == "format_valid"
    assert down["vat"]["vies"]["error"] == "MS_UNAVAILABLE"
    assert all(worker.alive() for worker in stack.workers)
