"""Locust users that behave like the real traffic of a shop running Fidelia.

- `BrowsingVisitor`: a browser. Fetches `/t.js` once (then it is cached), browses a few pages
  of rubriques and products, sometimes adds to the cart and buys, with a user agent drawn from
  a realistic mix (a few bots too). Its cookie jar keeps `fid_vid`/`fid_sid` like a browser;
  between visits it drops the session cookie (as the browser does when it expires) and comes
  back as the same visitor. Events go in `text/plain` batches, as `sendBeacon` sends them.
- `ShopFront`: the shop's pages asking `/v1/me/recommendations` for visitors seen so far.
- `Merchandiser`: opens the reports through the API (needs `--reports-key`).

Every event of a 2xx batch is counted; at the end the count is written to `--sent-file`, so
the runner (loadtests/run_loadtest.py) can check that all of them reached the store.

    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 30s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

SHOP = "https://shop.example"
RUBRIQUES = ["robes", "chaussures", "sacs", "bijoux", "montres", "lingerie", "manteaux", "accessoires"]
PRODUCTS = {r: [f"p{i:04d}" for i in range(k * 40, k * 40 + 40)] for k, r in enumerate(RUBRIQUES)}
REPORTS = ["top-rubriques", "visitors", "attrition", "basket", "rfm", "lifecycle", "top-products", "sources"]
REFERRERS = ["https://www.google.com/", "https://www.bing.com/", "", "", "https://www.instagram.com/"]
# (weight, user agent): mostly phones and desktops, a few tablets and bots, as in shop logs.
USER_AGENTS = [
    (30, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1"),
    (25, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
         "Mobile Safari/537.36"),
    (25, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
         "Safari/537.36"),
    (8, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Safari/605.1.15"),
    (5, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (4, "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Mobile/15E148 Safari/604.1"),
    (3, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
]
SENT_LOCK = threading.Lock()
SENT = {"events": 0, "batches": 0}
VISITORS: list[str] = []  # visitor ids handed out so far, for the shop's front end to ask about


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--site", default="demo", help="site_id of the events")
    parser.add_argument("--reports-key", default="", help="API key with the reports scope (Merchandiser)")
    parser.add_argument("--sent-file", default="", help="where to write the count of events acknowledged")


@events.quitting.add_listener
def _write_sent(environment: Any, **_: Any) -> None:
    path = environment.parsed_options.sent_file if environment.parsed_options else ""
    if path:
        Path(path).write_text(json.dumps(SENT))


class BrowsingVisitor(HttpUser):
    """A shopper's browser: visits of a few pages, cookies kept, back later as the same visitor."""

    weight = 8
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        agents = [ua for _, ua in USER_AGENTS]
        self.client.headers["User-Agent"] = random.choices(agents, weights=[w for w, _ in USER_AGENTS])[0]
        self.client.get("/t.js", name="/t.js")
        self.rubrique = random.choice(RUBRIQUES)
        self.cart: list[dict[str, Any]] = []
        self.pages = 0
        self.referrer = random.choice(REFERRERS)

    @task(6)
    def browse_rubrique(self) -> None:
        if random.random() < 0.2:
            self.rubrique = random.choice(RUBRIQUES)
        self.send({"type": "pageview", "url": f"{SHOP}/fr/{self.rubrique}/", "referrer": self.take_referrer()})

    @task(5)
    def view_product(self) -> None:
        product = random.choice(PRODUCTS[self.rubrique])
        url = f"{SHOP}/fr/{self.rubrique}/{product}"
        self.send({"type": "pageview", "url": url, "referrer": self.take_referrer()},
                  {"type": "product_view", "url": url, "rubrique": self.rubrique, "product_id": product,
                   "price": round(random.uniform(15, 300), 2)})

    @task(2)
    def add_to_cart(self) -> None:
        product = random.choice(PRODUCTS[self.rubrique])
        line = {"product_id": product, "price": round(random.uniform(15, 300), 2), "quantity": 1,
                "rubrique": self.rubrique}
        self.cart.append(line)
        self.send({"type": "add_to_cart", "url": f"{SHOP}/fr/{self.rubrique}/{product}", **line})

    @task(1)
    def purchase(self) -> None:
        if not self.cart:
            return
        revenue = round(sum(line["price"] * line["quantity"] for line in self.cart), 2)
        self.send({"type": "purchase", "url": f"{SHOP}/checkout/done", "order_id": f"o-{random.getrandbits(48):x}",
                   "revenue": revenue, "items": self.cart})
        self.cart = []

    @task(1)
    def leave_and_return_later(self) -> None:
        """The visit ends; the session cookie expires, the visitor cookie stays (a returning visitor)."""
        if self.pages < 3:
            return
        self.client.cookies.pop("fid_sid", None)
        self.pages, self.cart, self.referrer = 0, [], random.choice(REFERRERS)

    def take_referrer(self) -> str:
        referrer, self.referrer = self.referrer, ""
        return referrer

    def send(self, *batch: dict[str, Any]) -> None:
        now = int(time.time() * 1000)
        body = json.dumps({"site_id": self.environment.parsed_options.site,
                           "events": [{**event, "ts": now} for event in batch]})
        with self.client.post("/collect", data=body, headers={"Content-Type": "text/plain"}, name="/collect",
                              catch_response=True) as response:
            if response.status_code != 204:
                response.failure(f"/collect answered {response.status_code}: {response.text[:200]}")
                return
            with SENT_LOCK:
                SENT["events"] += len(batch)
                SENT["batches"] += 1
        self.pages += 1
        visitor = self.client.cookies.get("fid_vid")
        if visitor and (len(VISITORS) < 10_000 and visitor not in VISITORS[-50:]):
            VISITORS.append(visitor)


class ShopFront(HttpUser):
    """The shop's home page asking for the offer of a visitor it has seen (by the visitor's cookie)."""

    weight = 3
    wait_time = between(0.2, 1.0)

    @task
    def home_offer(self) -> None:
        if not VISITORS:
            return
        self.client.cookies.set("fid_vid", random.choice(VISITORS))
        slot = random.choice(["home", "home", "product", "cart"])
        self.client.get(f"/v1/me/recommendations?slot={slot}&n=8", name="/v1/me/recommendations")


class Merchandiser(HttpUser):
    """Someone in the shop's office opening the reports, a few a minute."""

    weight = 1
    # Under uvicorn's 5 s keep-alive timeout: a longer pause races the server closing the idle
    # connection, which `requests` reports as a failure (a browser would resend).
    wait_time = between(1.0, 4.0)

    @task
    def open_report(self) -> None:
        key = self.environment.parsed_options.reports_key
        if not key:
            return
        name = random.choice(REPORTS)
        self.client.get(f"/v1/reports/{name}", headers={"X-API-Key": key}, name="/v1/reports/[name]")
