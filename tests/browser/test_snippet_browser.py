"""The `/t.js` snippet in real Chromium, on bare test pages served by the live app: calls queued
before the script loads, one pageview per SPA route change, identify across a reload."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from fidelia.store import Store
from tests.browser.conftest import DEMO_SITE, DemoShopServer, demo_settings, visitor_cookie, wait_for_events

pytestmark = pytest.mark.browser
STUB = "<script>window.fidelia=window.fidelia||function(){(fidelia.q=fidelia.q||[]).push(arguments)}</script>"
LOADER = f'<script async src="/t.js" data-site="{DEMO_SITE}"></script>'
# The call sits between the stub and the loader: it can only have been queued.
QUEUE_PAGE = f"""<!doctype html><html><head><title>queue</title>{STUB}
<script>
fidelia("track", "product_view", {{product_id: "q1", price: 12.5, rubrique: "tests"}});
window.queuedBeforeLoad = !fidelia.v && fidelia.q.length === 1;
</script>
{LOADER}</head><body>queue</body></html>"""
# Three route changes 200 ms apart, then the back button; body[data-done] marks the end.
SPA_PAGE = f"""<!doctype html><html><head><title>spa</title>{STUB}{LOADER}</head><body><main>spa</main>
<script>
const routes = ["/test/spa/one", "/test/spa/two", "/test/spa/three"];
function step(i) {{
  if (i < routes.length) {{
    history.pushState({{i: i}}, "", routes[i]);
    setTimeout(() => step(i + 1), 200);
    return;
  }}
  addEventListener("popstate", () => setTimeout(() => {{ document.body.dataset.done = "1"; }}, 200), {{once: true}});
  history.back();
}}
addEventListener("load", () => setTimeout(() => step(0), 300));  // load waits for the async snippet
</script></body></html>"""
PLAIN_PAGE = f"<!doctype html><html><head><title>plain</title>{STUB}{LOADER}</head><body>plain</body></html>"


def page_route(path: str, html: str) -> Route:
    async def endpoint(request: Request) -> HTMLResponse:
        return HTMLResponse(html)

    return Route(path, endpoint)


@pytest.fixture(scope="module")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShopServer]:
    routes = [page_route("/test/queue", QUEUE_PAGE), page_route("/test/spa", SPA_PAGE),
              page_route("/test/plain", PLAIN_PAGE)]
    live = DemoShopServer(demo_settings(tmp_path_factory.mktemp("snippet")), store, routes).start()
    yield live
    live.stop()


def open_page(context: Any, url: str, errors: list[str]) -> Any:
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="networkidle")
    return page


def test_calls_queued_before_the_script_loads_are_sent(server: DemoShopServer, store: Store, context: Any) -> None:
    errors: list[str] = []
    page = open_page(context, server.base_url + "/test/queue", errors)
    assert page.evaluate("window.queuedBeforeLoad") is True
    assert page.evaluate("window.fidelia.v") == "1"
    visitor_id = visitor_cookie(context)["value"]

    rows = wait_for_events(server, store, visitor_id, lambda rows: len(rows) >= 2)
    assert errors == []
    assert sorted(r["event_type"] for r in rows) == ["pageview", "product_view"]
    [view] = [r for r in rows if r["event_type"] == "product_view"]
    assert (view["product_id"], view["price"], view["rubrique"]) == ("q1", 12.5, "tests")
    assert view["url"] == server.base_url + "/test/queue"


def test_one_pageview_per_spa_route_change(server: DemoShopServer, store: Store, context: Any) -> None:
    errors: list[str] = []
    page = open_page(context, server.base_url + "/test/spa", errors)
    visitor_id = visitor_cookie(context)["value"]
    page.wait_for_selector("body[data-done]", timeout=10_000)
    assert page.url == server.base_url + "/test/spa/two"

    wait_for_events(server, store, visitor_id, lambda rows: len(rows) >= 5)
    time.sleep(0.5)  # room for a duplicate to show up, if the snippet sent one
    rows = wait_for_events(server, store, visitor_id, lambda rows: True)
    assert errors == []
    assert [r["event_type"] for r in rows] == ["pageview"] * 5
    paths = ["/test/spa", "/test/spa/one", "/test/spa/two", "/test/spa/three", "/test/spa/two"]
    assert [r["url"] for r in rows] == [server.base_url + p for p in paths]
    assert [r["referrer"] for r in rows] == ["", *(server.base_url + p for p in paths[:-1])]


def test_identify_then_reload_keeps_visitor_and_links_customer(
    server: DemoShopServer, store: Store, context: Any
) -> None:
    errors: list[str] = []
    customer_id = "cust-" + secrets.token_hex(4)
    page = open_page(context, server.base_url + "/test/plain", errors)
    visitor_id = visitor_cookie(context)["value"]
    with page.expect_response("**/collect"):
        page.evaluate("id => fidelia('identify', id)", customer_id)
    page.reload(wait_until="networkidle")
    assert visitor_cookie(context)["value"] == visitor_id

    rows = wait_for_events(server, store, visitor_id, lambda rows: len(rows) >= 3)
    assert errors == []
    assert [r["event_type"] for r in rows] == ["pageview", "identify", "pageview"]
    assert rows[1]["customer_id"] == customer_id
    linked = store.client.query(
        "SELECT customer_id, count() FROM events_identified WHERE site_id = {s:String} AND visitor_id = {v:String} "
        "GROUP BY customer_id", parameters={"s": DEMO_SITE, "v": visitor_id}).result_rows
    assert linked == [(customer_id, 3)]  # the earlier anonymous pageview is the customer's too


def test_refusal_through_the_snippet_deletes_the_cookies_then_grant_restores_them(
    server: DemoShopServer, store: Store, context: Any
) -> None:
    errors: list[str] = []
    page = open_page(context, server.base_url + "/test/plain", errors)
    old_id = visitor_cookie(context)["value"]
    with page.expect_response("**/consent"):
        page.evaluate("fidelia('consent', 'refuse')")
    names = {c["name"]: c for c in context.cookies()}
    assert "fid_vid" not in names and "fid_sid" not in names and names["fid_consent"]["value"] == "refused"
    assert names["fid_consent"]["httpOnly"] is True  # no script reads or forges the choice
    page.reload(wait_until="networkidle")  # a pageview with no identifier
    assert "fid_vid" not in {c["name"] for c in context.cookies()}
    with page.expect_response("**/consent"):
        page.evaluate("fidelia('consent', 'grant')")
    page.reload(wait_until="networkidle")
    new_id = visitor_cookie(context)["value"]
    assert new_id != old_id
    rows = wait_for_events(server, store, new_id, lambda rows: len(rows) >= 1)
    assert errors == [] and rows[0]["consent"] == "granted"
    refused = store.client.query(
        "SELECT count() FROM events WHERE site_id = {s:String} AND consent = 'refused' AND url = {u:String} "
        "AND visitor_id NOT IN ({a:String}, {b:String})",
        parameters={"s": DEMO_SITE, "u": server.base_url + "/test/plain", "a": old_id, "b": new_id}).result_rows
    assert refused[0][0] >= 1
