"""The demo shop in real Chromium: a visitor browses, buys and answers the survey; every step
lands in ClickHouse under the one visitor id the collector gave the browser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fidelia.demo.catalog import demo_catalog
from fidelia.store import Store
from tests.browser.conftest import DemoShopServer, visitor_cookie, wait_for_events
from tests.conftest import TEST_OUTPUT

pytestmark = pytest.mark.browser
FIRST, SECOND = "chaussures", "sacs"


def types_of(rows: list[dict[str, Any]]) -> list[str]:
    return [r["event_type"] for r in rows]


def test_visitor_browses_buys_and_keeps_its_id(shop: DemoShopServer, store: Store, context: Any) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(shop.base_url + "/shop", wait_until="networkidle")
    TEST_OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(TEST_OUTPUT / "shop-home.png"), full_page=True)
    # No snapshot yet: the recommender answers with an empty offer and the best sellers stay.
    assert page.get_attribute("[data-slot=home]", "data-source") == "best_sellers"
    cookie = visitor_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    visitor_id = cookie["value"]

    # Two rubriques through the header's links, then the first product of the second one.
    page.click(f"header a[href='/shop/r/{FIRST}']")
    page.wait_for_load_state("networkidle")
    page.click(f"header a[href='/shop/r/{SECOND}']")
    page.wait_for_load_state("networkidle")
    product_id = page.get_attribute("main .card [data-add-to-cart]", "data-product-id")
    assert product_id is not None
    product = demo_catalog().by_id[product_id]
    page.click(f"main .card a[href='/shop/p/{product_id}']")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1") == product.name_fr  # French by default

    page.click("main article [data-add-to-cart]")
    assert page.inner_text("[data-cart-count]") == "1"
    page.click("header a:has-text('Panier')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("[data-cart-lines] tbody").startswith(product.name_fr)
    page.click("[data-checkout-link]")
    page.wait_for_load_state("networkidle")
    page.click("[data-checkout-form] button")
    page.wait_for_selector("[data-thanks]:not([hidden])")
    order_id = page.inner_text("[data-order-id]")
    assert order_id.startswith("D-")
    assert float(page.get_attribute("[data-order-revenue]", "data-value") or "nan") == product.price

    page.check("input[name=satisfaction][value='4']")
    page.check("input[name=nps][value='9']")
    with page.expect_response("**/collect"):  # the survey's beacon leaves on the next tick
        page.click("[data-survey] button")
    assert page.is_visible("[data-survey-thanks]")
    page.close()

    # A later page load in the same browser: same visitor.
    later = context.new_page()
    later.on("pageerror", lambda error: errors.append(str(error)))
    later.goto(shop.base_url + "/shop/r/robes", wait_until="networkidle")
    assert visitor_cookie(context)["value"] == visitor_id

    rows = wait_for_events(shop, store, visitor_id, lambda rows: {"survey", "purchase"} <= set(types_of(rows))
                           and any(r["path"] == "/shop/r/robes" for r in rows))
    assert errors == []
    assert all(r["is_bot"] == 0 and r["browser"] == "Chrome" for r in rows)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_type.setdefault(row["event_type"], []).append(row)

    pageviews = by_type["pageview"]
    assert [p["path"] for p in pageviews] == ["/shop", f"/shop/r/{FIRST}", f"/shop/r/{SECOND}",
                                              f"/shop/p/{product_id}", "/shop/cart", "/shop/checkout",
                                              "/shop/r/robes"]
    assert [p["rubrique"] for p in pageviews] == ["", FIRST, SECOND, SECOND, "", "", "robes"]
    assert len({r["session_id"] for r in rows}) == 1

    [view] = by_type["product_view"]
    assert (view["product_id"], view["price"], view["rubrique"]) == (product_id, product.price, SECOND)
    [added] = by_type["add_to_cart"]
    assert (added["product_id"], added["price"], added["quantity"], added["rubrique"]) == (
        product_id, product.price, 1, SECOND)
    [purchase] = by_type["purchase"]
    assert (purchase["order_id"], purchase["revenue"]) == (order_id, product.price)
    [item] = json.loads(purchase["items"])
    assert {k: item[k] for k in ("product_id", "price", "quantity", "rubrique")} == {
        "product_id": product_id, "price": product.price, "quantity": 1, "rubrique": SECOND}
    [survey] = by_type["survey"]
    assert (survey["satisfaction"], survey["nps"]) == (4, 9)


def test_cart_lines_can_be_removed(shop: DemoShopServer, store: Store, context: Any) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    catalog = demo_catalog()
    first, second = catalog.in_rubrique("montres")[:2]
    for product in (first, second, second):
        page.goto(shop.base_url + product.url_path, wait_until="networkidle")
        with page.expect_response("**/collect"):
            page.click("main article [data-add-to-cart]")
    visitor_id = visitor_cookie(context)["value"]
    page.goto(shop.base_url + "/shop/cart", wait_until="networkidle")
    assert page.locator("[data-cart-lines] tbody tr").count() == 2
    page.click(f"[data-remove='{second.product_id}']")
    assert page.locator("[data-cart-lines] tbody tr").count() == 1
    assert page.inner_text("[data-cart-count]") == "1"
    page.click(f"[data-remove='{first.product_id}']")
    assert page.is_visible("[data-cart-empty]") and page.is_hidden("[data-cart-lines]")

    rows = wait_for_events(shop, store, visitor_id, lambda rows: types_of(rows).count("remove_from_cart") == 2)
    assert errors == []
    removed = [(r["product_id"], r["quantity"], r["price"]) for r in rows if r["event_type"] == "remove_from_cart"]
    assert sorted(removed) == sorted([(second.product_id, 2, second.price), (first.product_id, 1, first.price)])
    assert types_of(rows).count("add_to_cart") == 3


def test_sign_in_and_complaint_send_ids_and_topics_only(shop: DemoShopServer, store: Store, context: Any) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    email = "Camille.Martin@example.org"
    page.goto(shop.base_url + "/shop/account?lang=en", wait_until="networkidle")
    page.fill("input[name=email]", email)
    page.click("[data-sign-in] button")
    page.wait_for_load_state("networkidle")
    customer_id = page.inner_text("[data-customer-id]")
    page.goto(shop.base_url + "/shop/complaint", wait_until="networkidle")
    assert page.inner_text("h1") == "Make a complaint"  # the language stayed English (lang cookie)
    page.select_option("select[name=topic]", "delivery")
    page.fill("textarea", "My parcel never came, call me at 06 12 34 56 78")
    page.click("[data-complaint] button")
    page.wait_for_selector("[data-complaint-thanks]:not([hidden])")
    visitor_id = visitor_cookie(context)["value"]

    rows = wait_for_events(shop, store, visitor_id, lambda rows: "complaint" in types_of(rows))
    assert errors == []
    [identify] = [r for r in rows if r["event_type"] == "identify"]
    assert identify["customer_id"] == customer_id and customer_id.startswith("c-") and len(customer_id) == 14
    [complaint] = [r for r in rows if r["event_type"] == "complaint"]
    assert json.loads(complaint["props"]) == {"topic": "delivery"}
    stored = json.dumps(rows, default=str).lower()
    assert email.lower() not in stored and "camille" not in stored and "parcel" not in stored


def test_home_slot_shows_the_recommenders_offer(shop: DemoShopServer, context: Any) -> None:
    catalog = demo_catalog()
    picks = catalog.in_rubrique("maison")[:3]
    items = [{"product_id": p.product_id, "name": p.name_fr, "rubrique": p.rubrique, "price": p.price,
              "url": p.url_path, "score": 0.9, "reason": "Parce que vous aimez Maison"} for p in picks]
    # Hostile values from upstream must stay text and same-site links.
    items[1].update(name="<img src=x onerror=alert(1)>", url="javascript:alert(1)")
    offer = {"visitor_id": "v", "slot": "home", "strategy": "test", "holdout": False, "items": items, "profile": {}}
    requested: list[str] = []

    def answer(route: Any) -> None:
        requested.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(offer))

    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/v1/me/recommendations*", answer)
    page.goto(shop.base_url + "/shop", wait_until="networkidle")
    page.wait_for_selector("[data-slot=home][data-source=recommendations]")

    assert requested == [shop.base_url + "/v1/me/recommendations?slot=home&n=8"]
    cards = page.locator("[data-for-you] .card")
    assert cards.count() == 3
    assert page.eval_on_selector_all("[data-for-you] .card > a", "els => els.map(e => e.getAttribute('href'))") == [
        picks[0].url_path, f"/shop/p/{picks[1].product_id}", picks[2].url_path]
    assert cards.nth(1).locator(".name").inner_text() == "<img src=x onerror=alert(1)>"
    assert page.locator("[data-for-you] img").count() == 0
    assert cards.nth(0).locator(".reason").inner_text() == "Parce que vous aimez Maison"
    assert page.is_hidden("[data-for-you-note]")
    cards.nth(2).locator("[data-add-to-cart]").click()
    assert page.inner_text("[data-cart-count]") == "1"
    assert errors == []
