"""Security headers and escaping on every HTML page: the demo shop and the dashboard."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from fidelia.store import Store
from tests.browser.conftest import DemoShopServer, demo_settings
from tests.demo.test_shop import PAGES

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>")
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def shop(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShopServer]:
    server = DemoShopServer(demo_settings(tmp_path_factory.mktemp("headers")), store).start()
    yield server
    server.stop()


@pytest.mark.parametrize("path", [*PAGES, "/shop/r/nope", "/shop/search?q=x"])
def test_shop_pages_send_security_headers_and_run_only_their_own_scripts(shop: DemoShopServer, path: str) -> None:
    with shop.client() as client:
        response = client.get(path)
        again = client.get(path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "'unsafe-inline'" not in csp.split(
        "style-src")[0]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", csp)
    assert nonce is not None
    assert nonce.group(1) not in again.headers["content-security-policy"]  # one nonce per response
    inline = INLINE_SCRIPT.findall(response.text)
    assert inline and all(f'nonce="{nonce.group(1)}"' in attrs for attrs in inline)


def test_user_input_is_escaped_in_shop_pages(shop: DemoShopServer) -> None:
    with shop.client() as client:
        page = client.get("/shop/search", params={"q": XSS}).text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)" in page or "\\u003cscript\\u003e" in page


def test_dashboard_pages_send_security_headers(shop: DemoShopServer) -> None:
    with shop.client() as client:
        login = client.get("/dashboard", follow_redirects=True)
    assert login.status_code == 200
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-content-type-options"] == "nosniff"


def test_api_errors_leak_no_detail(shop: DemoShopServer) -> None:
    with httpx.Client(base_url=shop.base_url) as client:
        missing = client.get("/v1/reports/top-rubriques")
        wrong = client.get("/v1/reports/top-rubriques", headers={"X-API-Key": "fk_wrong"})
    assert missing.status_code == 401 and wrong.status_code in (401, 403)
    for response in (missing, wrong):
        text = response.text.lower()
        assert "fk_" not in text and "sha256" not in text and "traceback" not in text
