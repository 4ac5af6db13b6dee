"""The live dashboard in headless Chromium against real worker and web processes.

Debian's `chromium` is driven by playwright through `executable_path`; playwright's own browser
downloads are never used (there is no network for them here).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests import shopify_payloads as shop
from tests.support import OPERATOR_TOKEN, VIEWER, VIEWER_TOKEN, Stack, read_topic, wait_until

# One browser and one stack (module scope) serve every test here, on one event loop.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The contract namespace (docs/design.md "Order identity"), written out as in
# test_shopify_flow.
NAMESPACE = uuid.UUID("abc8a081-dbf6-5c53-9aa7-a6a4c25fdd01")
STORE = "shop-order"

if not CHROMIUM.exists():  # pragma: no cover - the machine kind ships it
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


def order_uuid(external_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{STORE}:shopify:{external_id}"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_dashboard(
    browser: Browser,
    stack: Stack,
    token: str = OPERATOR_TOKEN,
    path: str = "/",
    width: int = 1440,
    locale: str = "en-GB",
) -> tuple[Page, list[str]]:
    """The page at `path`, signed in with `token` and live; and the console errors and
    uncaught exceptions it has had. Times show in Amsterdam's zone, whatever the machine's."""
    context = await browser.new_context(
        viewport={"width": width, "height": 900},
        locale=locale,
        timezone_id="Europe/Amsterdam",
        accept_downloads=True,
    )
    page = await context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    await page.goto(stack.url + path)
    await page.wait_for_selector("#signin[open]")
    await page.fill("#token", token)
    await page.click("#signin-submit")
    await page.wait_for_selector('#live[data-state="live"]', timeout=15_000)
    return page, problems


async def test_nothing_is_read_or_shown_before_sign_in(browser: Browser, stack: Stack) -> None:
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(stack.url)
    await page.wait_for_selector("#signin[open]")
    assert await page.locator("#page").is_hidden()
    await page.fill("#token", "not-a-token")
    await page.click("#signin-submit")
    await page.wait_for_selector("#signin-error:not([hidden])")
    await page.wait_for_timeout(1_000)
    assert await page.locator("#page").is_hidden()
    data = [url for url in requested if "/api/" in url or "/ws" in url]
    assert data == [f"{stack.url}/api/session"]  # the rejected sign-in, nothing else
    await page.fill("#token", VIEWER_TOKEN)
    await page.click("#signin-submit")
    await page.wait_for_selector('#live[data-state="live"]', timeout=15_000)
    assert await page.locator("#page").is_visible()
    assert "viewer" in await page.inner_text("#operator-name")


async def post(stack: Stack, topic: str, document: dict[str, object] | bytes) -> int:
    """A signed Shopify delivery of `document` (a dict as JSON, bytes as they are)."""
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.url}/webhooks/shopify/{STORE}", data=body, headers=shop.headers(topic, body)
        ) as response,
    ):
        return response.status


async def show_order(page: Page, external_id: int, stage: str, within: float = 90) -> str:
    """Search the list for the order until its row shows `stage`; return its uuid.

    New orders are not jammed into a list on screen: they raise the "new or changed" pill,
    which reads the view again."""
    uuid_text = order_uuid(external_id)
    await page.fill("#q", str(external_id))
    await page.wait_for_function(f"location.search.includes('q={external_id}')")
    row = f'tr[data-uuid="{uuid_text}"] .stage-pill.s-{stage}'
    deadline = time.monotonic() + within
    while not await page.locator(row).count():
        assert time.monotonic() < deadline, f"order {external_id} never listed as {stage}"
        # The pill may go as it is clicked (the view is read again): no waiting for it.
        await page.evaluate("document.querySelector('#fresh:not([hidden])')?.click()")
        await page.wait_for_timeout(250)
    return uuid_text


async def place_paid_order(stack: Stack, page: Page, external_id: int) -> str:
    """Post an order and its payment; return its uuid once the page lists it as paid."""
    paid = shop.order(external_id, financial_status="paid", updated_at="2026-11-02T10:05:00+01:00")
    assert await post(stack, "orders/create", shop.order(external_id)) == 200
    assert await post(stack, "orders/paid", paid) == 200
    # The first order of a fresh worker waits for its consumer group to form.
    return await show_order(page, external_id, "paid")


async def test_the_page_loads_without_console_errors(browser: Browser, stack: Stack) -> None:
    page, problems = await open_dashboard(browser, stack)
    await place_paid_order(stack, page, 840001)
    await page.wait_for_function(
        "document.getElementById('kpi-orders').textContent !== '\\u2013'", timeout=10_000
    )
    # Open and close an order's detail: the drawer's requests must not fail either.
    await page.click(f'tr[data-uuid="{order_uuid(840001)}"]')
    await page.wait_for_selector("#detail:not([hidden]) #status-form")
    await page.click("#detail-close")
    await page.wait_for_selector("#detail", state="hidden")
    await page.wait_for_timeout(2_500)  # a stats frame or two
    assert problems == []
    assert await page.locator(".stage.s-paid .count").inner_text() != "0"


async def test_a_webhook_reaches_the_open_page_within_two_seconds(
    browser: Browser, stack: Stack
) -> None:
    page, problems = await open_dashboard(browser, stack)
    await place_paid_order(stack, page, 840002)  # the pipeline is warm from here on
    await page.evaluate("window.__sameDocument = true")

    external_id = 840003
    await page.fill("#q", str(external_id))
    await page.wait_for_selector("#orders tr.empty")
    started = time.monotonic()
    assert await post(stack, "orders/create", shop.order(external_id)) == 200
    # The order fits the view on screen: the pill says so, the rows stay as they are ...
    await page.wait_for_selector("#fresh:not([hidden])", timeout=2_000)
    elapsed = time.monotonic() - started
    assert "1" in await page.inner_text("#fresh")
    # ... and shows it when asked.
    await page.click("#fresh")
    await page.wait_for_selector(f'tr[data-uuid="{order_uuid(external_id)}"]', timeout=5_000)

    assert elapsed < 2.0
    assert await page.evaluate("window.__sameDocument === true")  # no reload happened
    row = page.locator(f'tr[data-uuid="{order_uuid(external_id)}"]')
    assert f"#{external_id}" in await row.inner_text()
    assert problems == []


async def test_an_operator_status_change_appears_in_the_audit_timeline(
    browser: Browser, stack: Stack
) -> None:
    page, _ = await open_dashboard(browser, stack)
    target = await place_paid_order(stack, page, 840004)
    assert "operator" in await page.inner_text("#operator-name")

    await page.click(f'tr[data-uuid="{target}"]')
    await page.wait_for_selector("#status-form")
    await page.select_option("#action", "mark_shipped")
    reason = f"shipped by hand from the showroom, ticket {uuid.uuid4().hex[:6]}"
    await page.fill("#reason", reason)
    await page.click("#status-submit")
    await page.wait_for_selector("#action-message.ok")

    entry = page.locator("#timeline li[data-actor='operator']", has_text=reason)
    await entry.wait_for(timeout=30_000)
    assert page.url == f"{stack.url}/orders/{target}"
    # The audit entry in words: its event code and the action from the catalogue.
    assert await entry.get_attribute("data-event") == "status_changed_by_operator"
    words = await entry.inner_text()
    assert "Status changed by an operator" in words
    assert f"Mark as shipped: \N{LEFT DOUBLE QUOTATION MARK}{reason}" in words


async def test_a_viewers_action_and_an_anonymous_one_are_refused(
    browser: Browser, stack: Stack
) -> None:
    page, _ = await open_dashboard(browser, stack, VIEWER_TOKEN)
    target = await place_paid_order(stack, page, 840005)

    await page.click(f'tr[data-uuid="{target}"]')
    await page.wait_for_selector("#status-form")
    await page.select_option("#action", "cancel")
    await page.fill("#reason", "trying as a viewer")
    await page.click("#status-submit")
    await page.wait_for_selector("#action-message.error")
    assert "403" in await page.inner_text("#action-message")

    status = await page.evaluate(
        """async (uuid) => (await fetch(`/api/orders/${uuid}/status`, {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({action: "cancel", reason: "no token"})})).status""",
        target,
    )
    assert status == 401
    replay = await page.evaluate(
        "async () => (await fetch('/api/deadletters/x:0:0/replay', {method: 'POST'})).status"
    )
    assert replay == 401
    commands = await read_topic(stack.bootstrap, "winkel.orders.commands")
    assert not [record for record in commands if record.key == target.encode()]
    # ... and the order stays as it was.
    await page.click("#detail-close")
    await wait_until(
        lambda: page.locator(f'tr[data-uuid="{target}"] .stage-pill.s-paid').count(),
        5,
        what="the order still paid",
    )


# --- the operator's workbench (issue #16): one seeded set of orders for all of it ---------------

WORKBENCH_ORDERS = 56  # one page of 50 and a second of 6
WIDTHS = (1440, 1024, 390)


@dataclass(frozen=True)
class Seeded:
    """Orders posted through the real pipeline, ordered in June 2025 (no other test's month)."""

    ids: list[int]
    query = "from=2025-06-01&to=2025-06-30"

    def uuid(self, index: int) -> str:
        return order_uuid(self.ids[index])

    @staticmethod
    def total(index: int) -> Decimal:
        return Decimal("12.10") * (index + 1) + Decimal("4.95")

    @staticmethod
    def country(index: int) -> str:
        return "BE" if index % 7 == 0 else "NL"

    @staticmethod
    def day(index: int) -> int:
        return 1 + index % 20

    @staticmethod
    def paid(index: int) -> bool:
        return index % 4 == 0


FIRST_NAMES: tuple[str, ...] = ("Sanne", "Daan", "Emma", "Lucas", "Julia", "Noah", "Tess", "Sem")
LAST_NAMES: tuple[str, ...] = (
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
)


def seeded_order(external_id: int, index: int) -> dict[str, Any]:
    """Order `index`: its quantity, ship-to country and day vary with it (see `Seeded`)."""
    mug = dict(
        shop.MUG,
        quantity=index + 1,
        tax_lines=[{"title": "BTW", "price": f"{Decimal('2.10') * (index + 1)}", "rate": 0.21}],
    )
    document = shop.order(
        external_id, line_items=[mug], country=Seeded.country(index), updated_at=ordered(index)
    )
    document["created_at"] = ordered(index)
    for address in ("billing_address", "shipping_address"):
        document[address] = dict(
            document[address],
            first_name=FIRST_NAMES[index % len(FIRST_NAMES)],
            last_name=LAST_NAMES[index % len(LAST_NAMES)],
        )
    return document


def ordered(index: int) -> str:
    return f"2025-06-{Seeded.day(index):02d}T09:55:00+02:00"


async def api_json(stack: Stack, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{stack.url}{path}", headers=VIEWER) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def seeded(stack: Stack) -> Seeded:
    """WORKBENCH_ORDERS Shopify orders through webhooks, Kafka, the worker and the projection;
    every fourth one paid (on its order day, so long past its stage limit)."""
    base = 846000 + secrets.randbelow(30) * 100  # this module's id range, fresh on a kept Redis
    ids = [base + index for index in range(WORKBENCH_ORDERS)]
    for index, external_id in enumerate(ids):
        document = seeded_order(external_id, index)
        assert await post(stack, "orders/create", document) == 200
        if Seeded.paid(index):
            paid = dict(document, financial_status="paid")
            paid["updated_at"] = ordered(index).replace("09:55", "10:05")
            assert await post(stack, "orders/paid", paid) == 200
    expected_paid = sum(Seeded.paid(i) for i in range(WORKBENCH_ORDERS))

    async def all_there() -> bool:
        listed = await api_json(stack, f"/api/orders?{Seeded.query}&limit=1")
        paid = await api_json(stack, f"/api/orders?{Seeded.query}&stage=paid&limit=1")
        return bool(listed["total"] == WORKBENCH_ORDERS and paid["total"] == expected_paid)

    await wait_until(all_there, 120, what="the seeded orders in the read model")
    return Seeded(ids)


async def rows(page: Page) -> list[str]:
    return list(
        await page.eval_on_selector_all(
            "#orders tr[data-uuid]", "rows => rows.map(row => row.dataset.uuid)"
        )
    )


async def wait_rows(page: Page, count: int) -> list[str]:
    await page.wait_for_function(
        f"document.querySelectorAll('#orders tr[data-uuid]').length === {count}"
    )
    return await rows(page)


async def wait_shown(page: Page, expected: list[str]) -> None:
    """Until the list shows exactly these orders (in any order): a count alone could match the
    view before."""
    await page.wait_for_function(
        "uuids => [...document.querySelectorAll('#orders tr[data-uuid]')]"
        ".map(row => row.dataset.uuid).sort().join() === uuids",
        arg=",".join(sorted(expected)),
    )


async def test_the_list_pages_through_every_order_and_its_count_agrees(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(browser, stack, path=f"/?{seeded.query}")
    first = await wait_rows(page, 50)
    assert await page.inner_text("#orders-count") == f"{WORKBENCH_ORDERS} orders"
    assert await page.inner_text("#page-info") == f"1\N{EN DASH}50 of {WORKBENCH_ORDERS}"
    assert await page.is_disabled("#page-prev")

    await page.click("#page-next")
    second = await wait_rows(page, WORKBENCH_ORDERS - 50)
    assert "after=" in page.url
    assert (
        await page.inner_text("#page-info")
        == f"51\N{EN DASH}{WORKBENCH_ORDERS} of {WORKBENCH_ORDERS}"
    )
    assert await page.is_disabled("#page-next")
    # Every order exactly once over the two pages.
    assert sorted(first + second) == sorted(seeded.uuid(i) for i in range(WORKBENCH_ORDERS))

    await page.go_back()  # the browser's back button: the first page again
    assert await wait_rows(page, 50) == first
    assert "after=" not in page.url
    await page.go_forward()
    assert await wait_rows(page, WORKBENCH_ORDERS - 50) == second
    await page.click("#page-prev")
    assert await wait_rows(page, 50) == first
    assert problems == []


async def test_a_column_header_sorts_the_list_on_the_server(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(browser, stack, path=f"/?{seeded.query}")
    await wait_rows(page, 50)
    by_total = [seeded.uuid(i) for i in range(WORKBENCH_ORDERS)]
    # A first click sorts descending, the next one ascending.
    for direction, order, aria in (
        ("desc", by_total[::-1], "descending"),
        ("asc", by_total, "ascending"),
    ):
        await page.click('th[data-sort="total_gross"] button')
        await page.wait_for_function(
            f"location.search.includes('sort=total_gross&dir={direction}')"
        )
        await page.wait_for_function(
            f"document.querySelector('#orders tr[data-uuid]')?.dataset.uuid === '{order[0]}'"
        )
        assert await rows(page) == order[:50]
        assert await page.get_attribute('th[data-sort="total_gross"]', "aria-sort") == aria
    first_total = await page.inner_text(f'tr[data-uuid="{seeded.uuid(0)}"] td:nth-child(6)')
    assert first_total == "€17.05"  # 12.10 + 4.95 shipping, en-GB
    assert problems == []


async def test_filters_narrow_the_list_and_live_in_the_url(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(browser, stack, path=f"/?{seeded.query}")
    await wait_rows(page, 50)
    assert await page.is_visible("#more-filters")  # the view's date range is one of them
    await page.fill("#f-country", "be")
    belgian = [seeded.uuid(i) for i in range(WORKBENCH_ORDERS) if Seeded.country(i) == "BE"]
    await page.wait_for_function("location.search.includes('country=BE')")
    await wait_shown(page, belgian)
    assert await page.inner_text("#orders-count") == f"{len(belgian)} orders"

    await page.fill("#f-country", "")
    await page.fill("#f-from", "2025-06-05")
    await page.fill("#f-to", "2025-06-09")
    await page.dispatch_event("#f-to", "change")
    in_range = [seeded.uuid(i) for i in range(WORKBENCH_ORDERS) if 5 <= Seeded.day(i) <= 9]
    await page.wait_for_function("location.search.includes('to=2025-06-09')")
    await wait_shown(page, in_range)

    await page.select_option("#f-stage", "paid")
    paid_in_range = [
        seeded.uuid(i)
        for i in range(WORKBENCH_ORDERS)
        if 5 <= Seeded.day(i) <= 9 and Seeded.paid(i)
    ]
    await wait_shown(page, paid_in_range)
    for stage in await page.eval_on_selector_all(
        "#orders .stage-pill", "pills => pills.map(p => p.dataset.stage)"
    ):
        assert stage == "paid"

    # The view is the URL: a reload shows the same rows and the same form.
    await page.reload()
    await page.wait_for_selector('#live[data-state="live"]')
    await wait_shown(page, paid_in_range)
    assert await page.input_value("#f-from") == "2025-06-05"
    assert await page.input_value("#f-stage") == "paid"
    assert await page.is_visible("#more-filters")

    # Free text: every word starts a word of the customer's name (or number, SKU ...).
    await page.select_option("#f-stage", "")
    await page.fill("#f-from", "2025-06-01")
    await page.fill("#f-to", "2025-06-30")
    await page.dispatch_event("#f-to", "change")
    await page.fill("#q", "tess viss")
    await page.wait_for_function("location.search.includes('q=tess')")
    await wait_shown(page, [seeded.uuid(30)])  # Tess Visser, the only one
    await page.fill("#q", f"{seeded.ids[7]}")
    await wait_shown(page, [seeded.uuid(7)])

    await page.click("#f-clear")
    await page.wait_for_function("location.search === ''")
    everything = await api_json(stack, "/api/orders?limit=1")
    await page.wait_for_function(
        f"document.getElementById('orders-count').textContent === '{everything['total']} orders'"
    )
    # A bad value in a hand-edited URL: the API's reason, not an empty list.
    await page.goto(f"{stack.url}/?{seeded.query}&stage=lost")
    await page.wait_for_selector("#orders tr.empty.error")
    assert "stage" in await page.inner_text("#orders tr.empty.error")
    assert [p for p in problems if "400" not in p] == []


async def test_every_order_has_a_url_that_reloads_and_the_back_button_leaves(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(browser, stack, path=f"/?{seeded.query}")
    await wait_rows(page, 50)
    target = seeded.uuid(3)
    await page.click(f'tr[data-uuid="{target}"] td:nth-child(4)')
    await page.wait_for_function(f"location.pathname === '/orders/{target}'")
    await page.wait_for_selector("#detail:not([hidden]) #timeline")
    assert f"#{seeded.ids[3]}" in await page.inner_text("#detail-title")
    detail = await api_json(stack, f"/api/orders/{target}")
    offered = await page.eval_on_selector_all("#action option", "o => o.map(x => x.value)")
    assert offered == [action["action"] for action in detail["actions"]]
    assert "Order received" in await page.inner_text("#timeline")  # the code, in words

    await page.reload()  # the URL alone brings the order back
    await page.wait_for_selector("#detail:not([hidden]) #timeline")
    assert f"#{seeded.ids[3]}" in await page.inner_text("#detail-title")

    await page.go_back()
    await page.wait_for_selector("#detail", state="hidden")
    assert page.url.endswith(f"/?{seeded.query}")
    await wait_rows(page, 50)

    # Shared: a fresh browser opens the same URL.
    other, _ = await open_dashboard(browser, stack, path=f"/orders/{target}")
    await other.wait_for_selector("#detail:not([hidden]) #timeline")
    assert f"#{seeded.ids[3]}" in await other.inner_text("#detail-title")
    assert problems == []


async def test_the_csv_export_downloads_the_view(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(browser, stack, path=f"/?{seeded.query}&country=BE")
    belgian = {seeded.uuid(i) for i in range(WORKBENCH_ORDERS) if Seeded.country(i) == "BE"}
    await wait_rows(page, len(belgian))
    async with page.expect_download() as waiting:
        await page.click("#export")
    download = await waiting.value
    assert download.suggested_filename.startswith("orders-")
    assert download.suggested_filename.endswith(".csv")
    text = (await download.path()).read_bytes().decode()
    records = list(csv.DictReader(io.StringIO(text)))
    assert {record["order_uuid"] for record in records} == belgian
    for record in records:
        index = seeded.ids.index(int(record["external_order_id"]))
        assert record["country"] == "BE"
        assert record["currency"] == "EUR"
        assert Decimal(record["total_gross"]) == Seeded.total(index)
    assert problems == []


async def test_the_worklist_says_what_each_stuck_order_waits_for(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(browser, stack, path="/stuck")
    await page.wait_for_selector("#worklist tr[data-uuid]")
    stuck = await api_json(stack, "/api/stuck?limit=50")
    shown = await page.eval_on_selector_all(
        "#worklist tr[data-uuid]", "r => r.map(x => x.dataset.uuid)"
    )
    assert shown == [o["order_uuid"] for o in stuck["orders"]]  # oldest first, as the API says
    ages = [o["stuck"]["age_seconds"] for o in stuck["orders"]]
    assert ages == sorted(ages, reverse=True)
    assert str(stuck["total"]) in await page.inner_text("#stuck-count")
    # The badge in the top bar (from the stats frame) agrees with the worklist.
    await page.wait_for_function(
        f"document.getElementById('nav-stuck').textContent === '{stuck['total']}'"
    )

    paid = next(o for o in stuck["orders"] if o["stuck"]["reason"] == "awaiting_shipment")
    row = page.locator(f'#worklist tr[data-uuid="{paid["order_uuid"]}"]')
    reason = await row.locator("td.reason").inner_text()
    assert reason.startswith("paid ")
    assert "ago, no shipment reported by Shopify" in reason
    # The order's own URL from the worklist, and back.
    await row.locator("a.order-link").click()
    await page.wait_for_function(f"location.pathname === '/orders/{paid['order_uuid']}'")
    await page.wait_for_selector("#detail-stuck")
    assert "no shipment reported by Shopify" in await page.inner_text("#detail-stuck")
    await page.go_back()
    await page.wait_for_function("location.pathname === '/stuck'")
    await page.wait_for_selector("#detail", state="hidden")
    assert await page.is_visible("#worklist-card")
    assert problems == []


async def test_dutch_or_english_with_one_format_for_numbers_money_and_times(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    # A Dutch browser gets Dutch without asking.
    page, problems = await open_dashboard(
        browser, stack, path=f"/?{seeded.query}&sort=total_gross&dir=asc", locale="nl-NL"
    )
    await wait_rows(page, 50)
    assert await page.get_attribute("html", "lang") == "nl"
    assert await page.inner_text('#nav a[data-route="stuck"] [data-i18n]') == "Werklijst"
    assert await page.inner_text('th[data-col="ordered"]') == "Besteld"
    assert await page.inner_text("#orders-count") == f"{WORKBENCH_ORDERS} orders"
    first = page.locator(f'tr[data-uuid="{seeded.uuid(0)}"]')
    assert await first.locator("td:nth-child(6)").inner_text() == "€\N{NO-BREAK SPACE}17,05"
    assert await first.locator(".badge").first.inner_text() == "Betaald"
    assert await page.inner_text("#zone") == "Europe/Amsterdam"
    # Detail: percentages, money and times in the same Dutch format.
    await first.locator("a.order-link").click()
    await page.wait_for_selector("#detail:not([hidden]) .lines")
    lines = await page.inner_text("#detail .lines")
    assert "21%" in lines
    assert "€\N{NO-BREAK SPACE}12,10" in lines
    # Times say their zone: summer time in June.
    assert "CEST" in await page.inner_text("#detail .facts")
    await page.go_back()

    # The switch: English at once, and remembered over a reload.
    await page.click("#lang-en")
    assert await page.inner_text('#nav a[data-route="stuck"] [data-i18n]') == "Worklist"
    assert await first.locator("td:nth-child(6)").inner_text() == "€17.05"
    assert await first.locator(".badge").first.inner_text() == "Paid"
    await page.reload()
    await page.wait_for_selector('#live[data-state="live"]')
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.inner_text('th[data-col="ordered"]') == "Ordered"
    await page.click("#lang-nl")
    assert await page.inner_text('th[data-col="ordered"]') == "Besteld"
    assert problems == []


LAYOUT = """() => {
    const wrap = document.getElementById('table-wrap');
    wrap.scrollLeft = wrap.scrollWidth;
    const heads = [...document.querySelectorAll('#orders-head th')];
    const last = heads[heads.length - 1].getBoundingClientRect();
    const box = wrap.getBoundingClientRect();
    return {
        page: document.documentElement.scrollWidth,
        viewport: window.innerWidth,
        tableFits: wrap.scrollWidth <= wrap.clientWidth,
        lastInside: last.left >= box.left - 1 && last.right <= box.right + 1,
        clipped: heads.filter(th => th.scrollWidth > th.clientWidth).map(th => th.innerText),
        card: document.getElementById('orders-card').getBoundingClientRect().right,
    };
}"""


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_page_fits_the_screen(
    browser: Browser, stack: Stack, seeded: Seeded, width: int
) -> None:
    page, problems = await open_dashboard(browser, stack, path=f"/?{seeded.query}", width=width)
    await wait_rows(page, 50)
    await page.wait_for_function("document.getElementById('kpi-orders').textContent !== '\\u2013'")
    for language in ("en", "nl"):  # Dutch words are longer
        await page.click(f"#lang-{language}")
        layout = await page.evaluate(LAYOUT)
        assert layout["page"] <= layout["viewport"], language
        assert layout["card"] <= layout["viewport"], language
        assert layout["lastInside"], language
        assert layout["clipped"] == [], language
        if width == 1440:
            assert layout["tableFits"], language  # no scrolling needed on a desktop
    target = os.environ.get("WINKEL_SCREENSHOT")
    if width == 1440 and target:  # the README's picture: WINKEL_SCREENSHOT=docs/dashboard.png
        await page.click("#lang-en")
        await page.set_viewport_size({"width": width, "height": 1180})
        await page.wait_for_timeout(4_000)  # the charts redrawn, the sign-in toast gone
        await page.screenshot(path=target, full_page=False)
    assert problems == []


async def test_live_updates_patch_the_row_in_place(
    browser: Browser, stack: Stack, seeded: Seeded
) -> None:
    page, problems = await open_dashboard(
        browser, stack, path=f"/?{seeded.query}&sort=total_gross&dir=asc"
    )
    await wait_rows(page, 50)
    index = 5  # not paid yet
    target = seeded.uuid(index)
    await page.evaluate(
        """(uuid) => {
            const wrap = document.getElementById('table-wrap');
            wrap.scrollTop = 120;
            window.__row = document.querySelector(`tr[data-uuid="${uuid}"]`);
            window.__row.__marked = true;
            window.__others = [...document.querySelectorAll('#orders tr')];
            window.__structural = 0;
            new MutationObserver(m => { window.__structural += m.length; })
                .observe(document.getElementById('orders'), { childList: true });
        }""",
        target,
    )
    scroll_before = await page.evaluate("document.getElementById('table-wrap').scrollTop")
    assert scroll_before > 0
    document = seeded_order(seeded.ids[index], index)
    assert await post(stack, "orders/paid", dict(document, financial_status="paid")) == 200

    await page.wait_for_selector(f'tr[data-uuid="{target}"] .stage-pill.s-paid', timeout=30_000)
    same = await page.evaluate(
        """(uuid) => {
            const row = document.querySelector(`tr[data-uuid="${uuid}"]`);
            const now = [...document.querySelectorAll('#orders tr')];
            return {
                sameNode: row === window.__row && row.__marked === true,
                sameRows: now.length === window.__others.length
                    && now.every((r, i) => r === window.__others[i]),
                structural: window.__structural,
                scroll: document.getElementById('table-wrap').scrollTop,
            };
        }""",
        target,
    )
    assert same == {"sameNode": True, "sameRows": True, "structural": 0, "scroll": scroll_before}
    assert problems == []


async def test_a_dead_letter_says_whose_it_is(browser: Browser, stack: Stack) -> None:
    page, _ = await open_dashboard(browser, stack, path="/dead-letters")
    assert await post(stack, "orders/create", b'{"id": 849990, "line_items": [ not json') == 200
    # other modules' dead letters (the fuzz campaign's) may be listed too: ours is the one whose
    # owner cell names this store; if the owner were not shown, it would never appear
    whose_cell = page.locator("td.whose", has_text=STORE)
    row = page.locator("#dead-letters tr[data-dead-letter]", has_text="not JSON").filter(
        has=whose_cell
    )
    await row.first.wait_for(timeout=60_000)
    whose = await row.first.locator("td.whose").inner_text()
    assert "Shopify" in whose
    assert "order not known" in whose  # a body that is not JSON names no order
    assert await page.is_visible("#dead-letters-card")
    assert await page.is_hidden("#orders-card")
    assert await page.inner_text("#nav-dead") != ""
