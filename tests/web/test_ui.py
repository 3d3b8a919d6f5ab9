"""The web UI in a real headless Chromium (Debian's), driven by Playwright.

One ``probo serve`` process (embedded mode, a fresh data directory, the test
on-ramp on) serves the API, the WebSocket feed and the UI.  Two users trade in
two browser contexts, one cancels and amends, a bad order shows the server's
error and changes nothing, and the admin resolves the market in a third
context; both portfolios then show the settled cash.  Each page's screenshot
is written to ``docs/screenshots/`` (the README shows them).

Needs ``/usr/bin/chromium`` (``.ci/run`` installs Debian's ``chromium``); on a
developer machine without it the tests skip, in CI they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_server import ServeProcess

YES_BOOK = 'section[aria-label="YES book"]'
NO_BOOK = 'section[aria-label="NO book"]'
PHONE = {"width": 390, "height": 844}
REQUIRE_SERVICES = os.environ.get("PROBO_REQUIRE_SERVICES") == "1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> Any:
    if not os.path.exists(CHROMIUM):
        msg = "no Chromium at /usr/bin/chromium: apt-get install chromium"
        if REQUIRE_SERVICES:
            pytest.fail(msg)
        pytest.skip(msg)
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("serve")) as srv:
        srv.admin.post("/v1/markets", {"symbol": "RAIN", "payout": 1000, "tick": 50})
        for name in ("asha", "bilal"):
            srv.admin.post("/v1/users", {"name": name, "password": f"{name}-password"})
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    pw_api = _need_browser()
    with pw_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def login(
    browser: Any, serve: ServeProcess, name: str, password: str, **kw: Any
) -> Any:
    ctx = browser.new_context(**kw)
    page = ctx.new_page()
    page.goto(serve.url + "/ui/")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Markets").wait_for()
    return page


def deposit(page: Any, amount: int) -> None:
    page.get_by_role("link", name="Portfolio").click()
    page.get_by_label("Amount (paise)").fill(str(amount))
    page.get_by_role("button", name="Deposit").click()
    page.get_by_text("Deposited").wait_for()


def open_market(page: Any, symbol: str) -> None:
    page.get_by_role("link", name="Markets").click()
    page.get_by_role("link", name=symbol).click()
    page.get_by_role("heading", name="Place an order").wait_for()
    page.locator("#conn[data-state=live]").wait_for()


def place(page: Any, side: str, outcome: str, price: int, qty: int) -> None:
    form = page.locator("form.order-form")
    form.get_by_label("Buy" if side == "buy" else "Sell", exact=True).check()
    form.get_by_label(outcome.upper(), exact=True).check()
    form.get_by_label("Type").select_option("limit")
    form.get_by_label("Price", exact=False).fill(str(price))
    form.get_by_label("Quantity (shares)").fill(str(qty))
    form.locator("button[type=submit]").click()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.slow  # drives Chromium
def test_trade_cancel_amend_errors_and_resolution(
    serve: ServeProcess, browser: Any
) -> None:
    from playwright.sync_api import expect

    asha = login(browser, serve, "asha", "asha-password")
    bilal = login(browser, serve, "bilal", "bilal-password")
    deposit(asha, 20_000)
    deposit(bilal, 20_000)
    shot(asha, "portfolio-before")
    open_market(asha, "RAIN")
    open_market(bilal, "RAIN")

    # asha's bid rests; both see it in the YES ladder (and as a NO ask).
    place(asha, "buy", "yes", 600, 10)
    expect(asha.get_by_role("status").filter(has_text="resting 10")).to_be_visible()
    for page in (asha, bilal):
        expect(page.locator(f"{YES_BOOK} tr.bid[data-price='600']")).to_be_visible()
        expect(page.locator(f"{NO_BOOK} tr.ask[data-price='400']")).to_be_visible()

    # bilal buys NO at 400: it crosses (a mint); both see the trade within 1 s.
    place(bilal, "buy", "no", 400, 10)
    for page in (bilal, asha):
        expect(page.locator("tr.trade")).to_have_count(1, timeout=1000)
        expect(page.locator("tr.trade td").nth(1)).to_have_text("600")
    expect(asha.locator(f"{YES_BOOK} tr.bid")).to_have_count(0)
    # bilal quotes two NO bids: asks at 650 and 700 on the YES ladder.
    place(bilal, "buy", "no", 350, 5)
    place(bilal, "buy", "no", 300, 3)
    expect(asha.locator(f"{YES_BOOK} tr.ask")).to_have_count(2)
    expect(asha.locator(f"{NO_BOOK} tr.bid[data-price='350']")).to_be_visible()
    shot(asha, "market")

    # A bad order shows the server's message and changes nothing.
    before = serve.user("asha").get("/v1/balance")
    place(asha, "buy", "yes", 625, 1)  # off the 50-paise grid
    expect(asha.locator("form.order-form .msg.error")).to_contain_text("price")
    place(asha, "buy", "yes", 600, 1_000_000)  # more than the cash covers
    expect(asha.locator("form.order-form .msg.error")).to_contain_text("insufficient")
    after = serve.user("asha").get("/v1/balance")
    assert (after["available"], after["locked"]) == (
        before["available"],
        before["locked"],
    )
    assert not serve.user("asha").get("/v1/orders")["orders"]

    # Cancel and amend from the open-orders table.
    place(asha, "buy", "yes", 500, 4)
    row = asha.locator("#my-orders tr[data-oid]")
    expect(row).to_have_count(1)
    row.get_by_label("new quantity", exact=False).fill("2")
    row.get_by_role("button", name="Amend").click()
    expect(row.locator("td").nth(4)).to_have_text("2")
    level = bilal.locator(f"{YES_BOOK} tr.bid[data-price='500'] td")
    expect(level.nth(1)).to_contain_text("2")
    row.get_by_role("button", name="Cancel").click()
    expect(asha.locator("#my-orders tr[data-oid]")).to_have_count(0)
    expect(bilal.locator(f"{YES_BOOK} tr.bid")).to_have_count(0)

    # Portfolio: 10 YES bought at 600, marked at the last trade (600).
    asha.get_by_role("link", name="Portfolio").click()
    cells = asha.locator('tr[data-market="RAIN"] td')
    expect(cells.nth(0)).to_have_text("10 / 0")
    expect(cells.nth(2)).to_have_text("₹60.00")
    expect(cells.nth(3)).to_have_text("₹0.00")

    # The admin resolves YES: asha's 10 YES pay 1000 each, bilal's NO nothing.
    admin = login(browser, serve, "admin", serve.admin_password)
    admin.get_by_role("link", name="Admin").click()
    admin.get_by_label("Symbol").fill("SNOW")
    admin.get_by_role("button", name="Create").click()
    expect(admin.locator('tr[data-market="SNOW"] td').first).to_have_text("open")
    admin.locator('tr[data-market="SNOW"]').get_by_role("button", name="Halt").click()
    expect(admin.locator('tr[data-market="SNOW"] td').first).to_have_text("halted")
    shot(admin, "admin")
    rain = admin.locator('tr[data-market="RAIN"]')
    rain.get_by_role("button", name="Resolve YES").click()
    expect(admin.locator('tr[data-market="RAIN"] td').first).to_have_text("resolved")
    for page, cash in ((asha, 20_000 - 6_000 + 10_000), (bilal, 20_000 - 4_000)):
        page.get_by_role("link", name="Portfolio").click()
        expect(page.locator("#cash-available")).to_contain_text(f"₹{cash // 100:,}")
    shot(asha, "portfolio")
    asha.get_by_role("link", name="Markets").click()
    asha.get_by_role("link", name="RAIN").wait_for()
    shot(asha, "markets")


@pytest.mark.slow  # drives Chromium
def test_phone_width_keyboard_and_connection_loss(
    serve: ServeProcess, browser: Any
) -> None:
    from playwright.sync_api import expect

    page = login(browser, serve, "bilal", "bilal-password", viewport=PHONE)
    page.get_by_role("link", name="RAIN").click()
    page.locator("#conn[data-state=live]").wait_for()
    form = page.locator("form.order-form")
    box = form.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, "market-phone")

    # Keyboard only: type a quantity, Enter submits; the market is resolved
    # (by the test before), so the server's refusal is what the page shows.
    form.get_by_label("Quantity (shares)").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(form.locator(".msg.error")).to_contain_text("market_not_open")

    # The server dies (SIGKILL) and comes back: the page says it lost the feed,
    # then reconnects on its own, and the data survived the crash.
    serve.proc.kill()  # type: ignore[union-attr]
    expect(page.locator("#conn")).to_have_attribute(
        "data-state", "reconnecting", timeout=30_000
    )
    serve.proc.wait()  # type: ignore[union-attr]
    serve.start()
    conn = page.locator("#conn")
    expect(conn).to_have_attribute("data-state", "live", timeout=30_000)
    page.get_by_role("link", name="Portfolio").click()
    expect(page.locator("#cash-available")).to_contain_text("₹160")
