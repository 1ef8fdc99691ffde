"""The demo shop's pages over real HTTP, without a browser: languages, links, catalog reach,
404 pages, search, escaping, and the snippet embed every page must carry."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest
from markupsafe import escape

from fidelia.demo.catalog import demo_catalog
from fidelia.store import Store
from tests.browser.conftest import DemoShopServer, demo_settings

# The inline stub carries the page's CSP nonce (see test_shop_pages_send_security_headers).
STUB = ">window.fidelia=window.fidelia||function(){(fidelia.q=fidelia.q||[]).push(arguments)}</script>"
LOADER = '<script async src="/t.js" data-site="demo"></script>'
PAGES = ["/shop", "/shop/r/chaussures", "/shop/p/p0000", "/shop/search?q=noir", "/shop/cart", "/shop/checkout",
         "/shop/account", "/shop/complaint"]
# A label only each language's pages show (the header's cart link).
CART_LABEL = {"fr": "Panier", "en": "Cart"}
HREF = re.compile(r'href="([^"]*)"')


@pytest.fixture(scope="module")
def shop(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShopServer]:
    server = DemoShopServer(demo_settings(tmp_path_factory.mktemp("shop")), store).start()
    yield server
    server.stop()


@pytest.fixture
def client(shop: DemoShopServer) -> Iterator[httpx.Client]:
    with shop.client() as http:
        yield http


def hrefs(html: str) -> list[str]:
    return HREF.findall(html)


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_in_both_languages(client: httpx.Client, path: str, lang: str) -> None:
    response = client.get(path, params={"lang": lang})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<html lang="{lang}">' in response.text
    assert CART_LABEL[lang] in response.text
    assert 'hreflang="fr"' in response.text and 'hreflang="en"' in response.text  # the FR/EN switch


def test_language_is_remembered_in_a_cookie(client: httpx.Client) -> None:
    assert '<html lang="fr">' in client.get("/shop").text  # French by default
    switched = client.get("/shop/cart", params={"lang": "en"})
    assert "lang=en" in switched.headers["set-cookie"]
    assert '<html lang="en">' in client.get("/shop/r/sacs").text
    assert ">Bags</h1>" in client.get("/shop/r/sacs").text


def test_language_switch_keeps_the_other_parameters(client: httpx.Client) -> None:
    html = client.get("/shop/search", params={"q": "noir"}).text
    assert 'href="?q=noir&amp;lang=en"' in html


def test_home_links_every_rubrique(client: httpx.Client) -> None:
    links = set(hrefs(client.get("/shop").text))
    rubrique_links = {link for link in links if link.startswith("/shop/r/")}
    assert len(rubrique_links) >= 8
    assert rubrique_links == {f"/shop/r/{r.slug}" for r in demo_catalog().rubriques}


def test_first_shop_links_on_the_home_page_are_rubriques(client: httpx.Client) -> None:
    # What a crawler (and the shop-in-browser acceptance check) meets first: the header's rubriques.
    # Links to the shop's other pages are absolute (url_for), so no bare `/shop/x` link comes first.
    links = [link for link in hrefs(client.get("/shop").text) if link.startswith("/shop/")]
    assert links[:10] == [f"/shop/r/{r.slug}" for r in demo_catalog().rubriques]
    assert not [link for link in links if link.count("/") == 2]


def test_every_product_is_reachable_from_the_home_page(client: httpx.Client) -> None:
    home = client.get("/shop").text
    product_links: set[str] = set()
    for rubrique_link in {link for link in hrefs(home) if link.startswith("/shop/r/")}:
        listing = client.get(rubrique_link)
        assert listing.status_code == 200
        product_links |= {link for link in hrefs(listing.text) if link.startswith("/shop/p/")}
    assert len(product_links) >= 300
    by_id = demo_catalog().by_id
    for link in sorted(product_links):
        page = client.get(link)
        product = by_id[link.removeprefix("/shop/p/")]
        assert page.status_code == 200
        assert f"<h1>{escape(product.name_fr)}</h1>" in page.text
        assert f'<body data-rubrique="{product.rubrique}">' in page.text


@pytest.mark.parametrize("path", ["/shop/r/nope", "/shop/p/nope", "/shop/nowhere", "/shop/static/nope.js"])
def test_unknown_pages_are_shop_404_pages(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page introuvable" in response.text and STUB in response.text
    # Declared empty, so the site's URL rule does not count /shop/r/nope as a rubrique "nope".
    assert '<body data-rubrique="">' in response.text


def test_trailing_slashes_redirect(client: httpx.Client, shop: DemoShopServer) -> None:
    for path, target in (("/shop/", "/shop"), ("/shop/cart/?lang=en", "/shop/cart?lang=en")):
        response = client.get(path)
        assert response.status_code == 307 and response.headers["location"] == shop.base_url + target


@pytest.mark.parametrize("lang, query, word", [("fr", "robe noir", "Robe"), ("en", "sneakers", "sneakers")])
def test_search_finds_products(client: httpx.Client, lang: str, query: str, word: str) -> None:
    html = client.get("/shop/search", params={"q": query, "lang": lang}).text
    expected = demo_catalog().search(query, lang)
    assert expected
    assert f'data-results="{len(expected)}"' in html
    for product in expected:
        assert f'href="{product.url_path}"' in html and word in product.name(lang)
    assert 'fidelia("track", "search", {query: ' in html


def test_search_shows_user_input_as_text(client: httpx.Client) -> None:
    html = client.get("/shop/search", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # In the tracking call too: JSON with <, > and & escaped, so the tag cannot close the script.
    assert '{query: "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"' in html


@pytest.mark.parametrize("path", [*PAGES, "/shop/r/nope"])
def test_every_page_embeds_the_snippet(client: httpx.Client, path: str) -> None:
    html = client.get(path).text
    assert STUB in html and LOADER in html
    assert html.index(STUB) < html.index(LOADER) < html.index("<body")


def test_pages_declare_their_rubrique(client: httpx.Client) -> None:
    assert '<body data-rubrique="montres">' in client.get("/shop/r/montres").text
    product = demo_catalog().in_rubrique("bijoux")[3]
    html = client.get(product.url_path).text
    assert '<body data-rubrique="bijoux">' in html
    assert (f'fidelia("track", "product_view", {{product_id: "{product.product_id}", price: {product.price}, '
            f'rubrique: "bijoux"}});') in html
    for path in ("/shop", "/shop/cart", "/shop/search?q=noir"):
        assert "data-rubrique=" not in client.get(path).text  # only the body may carry it


def test_home_slot_serves_best_sellers_until_recommendations_answer(client: httpx.Client) -> None:
    html = client.get("/shop").text
    slot = html[html.index('data-slot="home"'):html.index("</section>", html.index('data-slot="home"'))]
    assert 'data-source="best_sellers"' in slot
    assert hrefs(slot) == [p.url_path for p in demo_catalog().best_sellers(8)]


def test_sign_in_sends_a_customer_id_never_the_email(client: httpx.Client) -> None:
    email = "Jo.Durand@Example.com"
    response = client.post("/shop/account", data={"email": email})
    assert response.status_code == 303 and response.headers["location"].endswith("/shop/account?signed_in=1")
    page = client.get(response.headers["location"])
    customer_id = "c-" + hashlib.sha256(email.lower().encode()).hexdigest()[:12]
    assert f'fidelia("identify", "{customer_id}");' in page.text
    assert "example.com" not in page.text.lower()
    again = client.get("/shop/account")  # signed in still, but identify was sent once
    assert customer_id in again.text and "identify" not in again.text
    signed_out = client.post("/shop/account", data={"action": "sign_out"}, follow_redirects=True)
    assert customer_id not in signed_out.text


def test_sign_in_refuses_a_bad_email(client: httpx.Client) -> None:
    response = client.post("/shop/account", data={"email": "not-an-email"})
    assert response.status_code == 400
    assert "pas valide" in response.text and "identify" not in response.text


def test_stylesheet_and_script_are_served_with_an_etag(client: httpx.Client) -> None:
    for name, media_type in (("shop.css", "text/css"), ("shop.js", "text/javascript")):
        response = client.get(f"/shop/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
        again = client.get(f"/shop/static/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304


def test_pages_fetch_nothing_from_elsewhere(client: httpx.Client, shop: DemoShopServer) -> None:
    for path in PAGES:
        html = client.get(path).text
        sources = re.findall(r'(?:src|href)="(https?://[^"]*)"', html)
        assert all(src.startswith(shop.base_url + "/") for src in sources), sources

