"""The live dashboard in headless Chromium against real worker and web processes.

Debian's `chromium` is driven by playwright through `executable_path`; playwright's own browser
downloads are never used (there is no network for them here).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests import shopify_payloads as shop
from tests.support import OPERATOR_TOKEN, VIEWER_TOKEN, Stack, read_topic, wait_until

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


async def post(stack: Stack, topic: str, document: dict[str, object]) -> int:
    body = orjson.dumps(document)
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
