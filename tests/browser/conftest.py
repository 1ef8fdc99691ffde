"""Real Chromium (Debian's, through Playwright) against the live app with the demo shop.

The browser is launched once per run. Without chromium or Playwright the browser tests skip
on a workstation and fail in CI (`CI` set), so CI never goes green by skipping them.
Shop pages hard-code `data-site="demo"` and the whole run shares one store, so tests find
their own events by the visitor id the browser was given (its `fid_vid` cookie).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest
from starlette.routing import Route

from fidelia.settings import Settings
from fidelia.store import Store
from tests.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# A desktop Chrome: the collector rightly flags HeadlessChrome as a bot.
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
DEMO_SITE = "demo"


class DemoShopServer(LiveServer):
    """LiveServer with the demo shop mounted (`build_app(..., demo=True)`) and the test's own routes."""

    def __init__(self, settings: Settings, store: Store, routes: Sequence[Route] = ()) -> None:
        super().__init__(settings, store, demo=True)
        self.app.router.routes.extend(routes)


def demo_settings(data_dir: Path) -> Settings:
    # No sites file: the built-in one, whose `demo` site the shop pages post to.
    return Settings.from_env({"FIDELIA_DATA_DIR": str(data_dir), "FIDELIA_FLUSH_INTERVAL": "0.2"})


def visitor_events(store: Store, visitor_id: str, columns: str = "*") -> list[dict[str, Any]]:
    result = store.client.query(
        f"SELECT {columns} FROM events WHERE site_id = {{s:String}} AND visitor_id = {{v:String}} ORDER BY ts",
        parameters={"s": DEMO_SITE, "v": visitor_id})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def wait_for_events(
    server: LiveServer, store: Store, visitor_id: str, done: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 15,
) -> list[dict[str, Any]]:
    """The visitor's events once `done` holds: beacons arrive on their own time, so flush and look again."""
    deadline = time.time() + timeout
    while True:
        server.flush()
        rows = visitor_events(store, visitor_id)
        if done(rows) or time.time() > deadline:
            return rows
        time.sleep(0.2)


def visitor_cookie(context: Any, timeout: float = 10) -> dict[str, Any]:
    """The `fid_vid` cookie once the collector's first answer has set it."""
    deadline = time.time() + timeout
    while True:
        cookies = {c["name"]: c for c in context.cookies()}
        if "fid_vid" in cookies:
            return cookies["fid_vid"]
        if time.time() > deadline:
            raise AssertionError(f"no fid_vid cookie after {timeout} s; cookies: {sorted(cookies)}")
        time.sleep(0.1)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}. Install Debian's chromium "
                    f"(apt-get install chromium) and Playwright (pip install -e '.[dev]').", pytrace=False)
    pytest.skip(f"{reason} (set CI=1 to make this a failure)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"no chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies, empty localStorage) with a desktop Chrome user agent."""
    ctx = browser.new_context(user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def shop(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShopServer]:
    server = DemoShopServer(demo_settings(tmp_path_factory.mktemp("shop")), store).start()
    yield server
    server.stop()
