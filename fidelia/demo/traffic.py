"""What the simulated people do on the shop: visits made of the events the snippet would send.

Step two of the simulator. `TrafficGenerator.person_traffic` plays one person's life over
the window, visit after visit, with one `random.Random` per chunk of people (so it is
deterministic for a seed) and returns the events each of their devices sends, as the
collector's own `EventIn`, plus what really happened (orders, bad deliveries, survey
answers, the date they stopped coming) for the ground truth.

A visit is what the demo shop's pages send through the snippet (docs/demo-shop.md): a
`pageview` on each page load (its referrer is the previous page, or the external referrer on
landing, whose URL carries the UTM campaign), `product_view` on product pages, `add_to_cart`,
`remove_from_cart` on the cart page, `search` with the query, `identify` on the page right
after signing in (account holders now and then, everyone before an order), `purchase` with its
items on the checkout page. Listing and product pages declare their rubrique, as the shop's
`data-rubrique` does. After an order, the delivery goes well or badly; a bad one lowers the
satisfaction and NPS given in the post-delivery survey (an e-mailed link to `/shop/survey`, a
page the demo shop itself does not have: it asks on its thank-you page), may bring the customer
to the complaint form, and may make them stop coming (churn). Visits of one device are at least
the session timeout apart, so each one is one collector session.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, TypeVar
from urllib.parse import quote_plus

from collector.validate import EventIn, Item
from fidelia.demo.catalog import Catalog, Product
from fidelia.demo.population import DAY_MS, HABIT_GAP_DAYS, RUBRIQUE_SLUGS, Person, SimulationSpec

SHOP_URL = "https://shop.example/shop"
MINUTE_MS = 60_000
# Share of visits by hour of day (UTC, a shop in Western Europe): lunch and evening peaks.
HOUR_WEIGHTS = (0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.2, 1.4, 1.5, 1.8, 1.9, 1.6, 1.4, 1.4, 1.5, 1.8, 2.3,
                2.6, 2.5, 1.9, 1.2, 0.7)
HOUR_CUM = tuple(accumulate(HOUR_WEIGHTS))
# (source, share of human visits): where a visit comes from.
SOURCES = (("direct", 0.33), ("organic", 0.30), ("cpc", 0.07), ("social", 0.18), ("newsletter", 0.12))
SOURCE_NAMES = tuple(name for name, _ in SOURCES)
SOURCE_CUM = tuple(accumulate(share for _, share in SOURCES))
SOCIAL = (("instagram", "https://www.instagram.com/"), ("facebook", "https://www.facebook.com/"),
          ("pinterest", "https://www.pinterest.fr/"), ("tiktok", "https://www.tiktok.com/"))
CPC_CAMPAIGNS = ("marque", "soldes", "nouveautes")
SEARCH_ENGINES = ("https://www.google.com/", "https://www.google.fr/", "https://www.bing.com/")
LOGIN_P = 0.25  # an account holder logs in at the start of a visit
CART_P_BUYING, CART_P_BROWSING = 0.35, 0.06
SEARCH_P, LISTING_P = 0.08, 0.28
MAX_PAGES = 24
MAX_BASKET = 6
BAD_DELIVERY_P = 0.12
COMPLAINT_AFTER_BAD_P = 0.55
CHURN_AFTER_COMPLAINT_P = 0.35
CHURN_AFTER_SILENT_BAD_P = 0.5
SURVEY_P = 0.3
# The demo shop's complaint topics, as a bad delivery brings them (late or lost, damaged, refund).
COMPLAINT_TOPICS = ("delivery", "product", "refund")
COMPLAINT_TOPIC_CUM = (0.7, 0.9, 1.0)
NEVER = 2**62
T = TypeVar("T")


@dataclass
class DeviceLog:
    """The visits one device (one visitor id) made, and what they add up to."""

    visits: list[list[EventIn]] = field(default_factory=list)
    n_events: int = 0
    n_purchases: int = 0
    revenue: float = 0.0
    n_complaints: int = 0
    identified: bool = False


@dataclass
class PersonLog:
    """One person's realised traffic and experience: the truth besides their latent traits."""

    devices: list[DeviceLog]
    churn_ms: int | None = None
    orders: int = 0
    bad_deliveries: int = 0
    bought_new: bool = False
    satisfaction: int | None = None
    nps: int | None = None


@dataclass
class ProductTally:
    """Realised human views, carts and sales per product, in catalog order."""

    views: list[int]
    add_to_carts: list[int]
    units_sold: list[int]

    @classmethod
    def empty(cls, n: int) -> ProductTally:
        return cls([0] * n, [0] * n, [0] * n)

    def add(self, other: ProductTally) -> None:
        for mine, theirs in ((self.views, other.views), (self.add_to_carts, other.add_to_carts),
                             (self.units_sold, other.units_sold)):
            for i, value in enumerate(theirs):
                mine[i] += value


@dataclass
class Order:
    """An order placed in a visit, and how its delivery went (drawn at checkout)."""

    order_id: str
    bad: bool
    nth: int
    has_new: bool


class VisitRecorder:
    """The events of one visit in the order the snippet sends them; `t` is the page clock (ms)."""

    __slots__ = ("events", "rubrique", "t", "url")

    def __init__(self, t: int) -> None:
        self.t = t
        self.events: list[EventIn] = []
        self.url = ""
        self.rubrique: str | None = None

    def page(self, url: str, rubrique: str | None, dwell_ms: int, referrer: str | None = None) -> None:
        """A page load: the snippet's pageview, referred by the previous page unless given."""
        self.t += dwell_ms
        previous, self.url, self.rubrique = self.url, url, rubrique
        self.events.append(EventIn(type="pageview", url=url, referrer=previous if referrer is None else referrer,
                                   rubrique=rubrique, ts=self.t))

    def track(self, event_type: str, delay_ms: int, **fields: Any) -> None:
        """An event sent from the current page, with the page's rubrique unless it names one."""
        self.t += delay_ms
        fields.setdefault("rubrique", self.rubrique)
        self.events.append(EventIn(type=event_type, url=self.url, ts=self.t, **fields))


class TrafficGenerator:
    """Plays the people of one chunk; holds the catalog indexes and the chunk's random stream."""

    def __init__(self, spec: SimulationSpec, catalog: Catalog, chunk_no: int) -> None:
        self.spec = spec
        self.rnd = random.Random(f"fidelia-traffic:{spec.seed}:{chunk_no}")
        self.products = catalog.products
        self.index = {p.product_id: i for i, p in enumerate(catalog.products)}
        self.tally = ProductTally.empty(len(catalog.products))
        self.by_rubrique: list[list[Product]] = [catalog.in_rubrique(slug) for slug in RUBRIQUE_SLUGS]
        self.appeal_cum = [list(accumulate(p.appeal for p in ps)) for ps in self.by_rubrique]
        self.novelty_cum = [list(accumulate(p.appeal * (4 if p.is_new else 1) for p in ps))
                            for ps in self.by_rubrique]
        self.searches = _search_index(catalog)
        self.min_gap_ms = spec.session_timeout_ms + 5 * MINUTE_MS

    # --- a life -------------------------------------------------------------------------

    def person_traffic(self, person: Person) -> PersonLog:
        """Every visit of a person over the window, in time order, device by device."""
        rnd, spec = self.rnd, self.spec
        log = PersonLog([DeviceLog() for _ in person.devices], churn_ms=person.lifetime_end_ms)
        taste_cum = list(accumulate(person.taste)) if person.taste else []
        gap_ms = HABIT_GAP_DAYS[person.habit] * DAY_MS
        regular = self.at_shop_hours(person.first_visit_ms)
        extras: list[tuple[int, str, Order | None]] = []  # survey and complaint visits to come, by time
        prev_end = -NEVER
        while extras or regular < NEVER:
            if extras and extras[0][0] <= regular:
                t, purpose, order = extras.pop(0)
            else:
                t, purpose, order = regular, "browse", None
            t = max(t, prev_end + self.min_gap_ms)
            churn = NEVER if log.churn_ms is None else log.churn_ms
            if t >= min(spec.end_ms, churn):
                break
            device = log.devices[0 if len(person.devices) == 1 or rnd.random() < 0.6 else 1]
            recorder = VisitRecorder(t)
            placed, answers = self.play_visit(recorder, person, log, device, purpose, order, taste_cum)
            if recorder.t >= min(spec.end_ms, churn):
                break  # the visit would run past now or past the day they stopped: it does not happen
            # The visit happened: only now does it change the person's story.
            self.record(device, recorder.events, person.is_bot)
            prev_end = recorder.t
            if purpose == "browse":
                regular = self.at_shop_hours(t + int(rnd.expovariate(1 / gap_ms))) if gap_ms else NEVER
            elif purpose == "complaint" and rnd.random() < CHURN_AFTER_COMPLAINT_P:
                log.churn_ms = prev_end + 1
            if answers is not None:
                log.satisfaction = answers[0]
                log.nps = log.nps if answers[1] is None else answers[1]
            if placed is not None:
                log.orders += 1
                log.bought_new = log.bought_new or placed.has_new
                self.after_order(placed, prev_end, log, extras)
        return log

    def play_visit(self, rec: VisitRecorder, person: Person, log: PersonLog, device: DeviceLog, purpose: str,
                   order: Order | None, taste_cum: list[float]) -> tuple[Order | None, tuple[int, int | None] | None]:
        """One visit by its purpose: the order it placed and the survey answers it gave, if any."""
        if person.is_bot:
            self.bot_visit(rec, person)
        elif purpose == "browse":
            has_account = person.has_account or log.orders > 0  # buying opens an account
            login = has_account and (self.rnd.random() < LOGIN_P or (len(person.devices) > 1 and not device.identified))
            return self.browse_visit(rec, person, log, taste_cum, login, has_account), None
        elif purpose == "survey" and order is not None:
            return None, self.survey_visit(rec, log, order)
        elif purpose == "complaint":
            self.complaint_visit(rec)
        return None, None

    def after_order(self, order: Order, t: int, log: PersonLog, extras: list[tuple[int, str, Order | None]]) -> None:
        """The delivery, then maybe a survey answer, a complaint, or a customer lost in silence."""
        rnd = self.rnd
        if rnd.random() < SURVEY_P:
            extras.append((t + int(rnd.uniform(1, 4) * DAY_MS), "survey", order))
        if order.bad:
            log.bad_deliveries += 1
            if rnd.random() < COMPLAINT_AFTER_BAD_P:
                extras.append((t + int(rnd.uniform(2, 6) * DAY_MS), "complaint", order))
            elif rnd.random() < CHURN_AFTER_SILENT_BAD_P:
                log.churn_ms = t + 1
        extras.sort(key=lambda extra: extra[0])

    def record(self, device: DeviceLog, events: list[EventIn], is_bot: bool) -> None:
        device.visits.append(events)
        device.n_events += len(events)
        tally, index = self.tally, self.index
        for event in events:
            kind = event.type
            if kind == "identify":
                device.identified = True
            elif kind == "complaint":
                device.n_complaints += 1
            elif is_bot:
                continue
            elif kind == "product_view":
                tally.views[index[event.product_id]] += 1  # type: ignore[index]
            elif kind == "add_to_cart":
                tally.add_to_carts[index[event.product_id]] += 1  # type: ignore[index]
            elif kind == "purchase":
                device.n_purchases += 1
                device.revenue += event.revenue or 0.0
                for item in event.items or ():
                    tally.units_sold[index[item.product_id]] += item.quantity

    def at_shop_hours(self, t: int) -> int:
        """The same day at an hour drawn from HOUR_WEIGHTS (people shop at lunch and at night),
        never before the window starts."""
        rnd = self.rnd
        hour = bisect.bisect_left(HOUR_CUM, rnd.random() * HOUR_CUM[-1])
        shifted = t - t % DAY_MS + hour * 3_600_000 + int(rnd.random() * 3_600_000)
        return shifted + DAY_MS if shifted < self.spec.start_ms else shifted

    # --- visits -------------------------------------------------------------------------

    def browse_visit(self, rec: VisitRecorder, person: Person, log: PersonLog, taste_cum: list[float],
                     login: bool, has_account: bool) -> Order | None:
        """A shopping visit: landing, listings, searches, product pages, maybe a cart and an order."""
        rnd = self.rnd
        buys = rnd.random() < person.propensity
        self.land(rec, person, taste_cum, has_account)
        if login:
            self.sign_in(rec, person)
        cart: dict[Product, int] = {}  # product → quantity, in the order added
        pages = min(MAX_PAGES, int(rnd.expovariate(1 / (5.0 if buys else 3.0))))
        for _ in range(pages):
            product = self.browse_page(rec, person, taste_cum)
            if product is not None and product not in cart and rnd.random() < (CART_P_BUYING if buys else
                                                                                 CART_P_BROWSING):
                self.add_to_cart(rec, product, cart)
        if buys:
            basket = min(MAX_BASKET, 1 + _poisson(rnd, person.extra_items))
            while len(cart) < basket:
                product = self.pick_product(self.pick_rubrique_no(taste_cum), person.novelty_seeker)
                if product in cart:
                    break
                self.product_page(rec, product)
                self.add_to_cart(rec, product, cart)
        if cart and (buys or rnd.random() < 0.15):
            rec.page(f"{SHOP_URL}/cart", None, self.dwell())
            if len(cart) > 1 and rnd.random() < 0.2:
                dropped = list(cart)[int(rnd.random() * len(cart))]
                rec.track("remove_from_cart", self.pause(3_000, 40_000), product_id=dropped.product_id,
                          price=dropped.price, quantity=cart.pop(dropped), rubrique=dropped.rubrique)
        if not buys or not cart:
            return None
        if not login:
            self.sign_in(rec, person)  # an order needs an account: sign in (or up) first
        return self.checkout(rec, person, log, cart)

    def browse_page(self, rec: VisitRecorder, person: Person, taste_cum: list[float]) -> Product | None:
        """The next page: a listing, a search, or a product page (the product, to maybe add to the cart)."""
        rnd = self.rnd
        r = rnd.random()
        if r < LISTING_P:
            slug = self.pick_rubrique(taste_cum)
            rec.page(f"{SHOP_URL}/r/{slug}", slug, self.dwell())
            return None
        if r < LISTING_P + SEARCH_P:
            product = self.search(rec, taste_cum)
            if product is None:
                return None
        elif rec.rubrique is not None and rnd.random() < 0.7:  # from a listing or product page: same rubrique
            product = self.pick_product(RUBRIQUE_SLUGS.index(rec.rubrique), person.novelty_seeker)
        else:
            product = self.pick_product(self.pick_rubrique_no(taste_cum), person.novelty_seeker)
        self.product_page(rec, product)
        return product

    def add_to_cart(self, rec: VisitRecorder, product: Product, cart: dict[Product, int]) -> None:
        """The shop's "add to cart" button; clicked twice now and then (a line of two)."""
        for _ in range(2 if self.rnd.random() < 0.1 else 1):
            rec.track("add_to_cart", self.pause(3_000, 60_000), product_id=product.product_id, price=product.price,
                      quantity=1)
            cart[product] = cart.get(product, 0) + 1

    def sign_in(self, rec: VisitRecorder, person: Person) -> None:
        """The account page, then the page right after signing in, which sends `identify`."""
        rec.page(f"{SHOP_URL}/account", None, self.dwell())
        rec.page(f"{SHOP_URL}/account?signed_in=1", None, self.pause(5_000, 40_000))
        rec.track("identify", self.pause(100, 800), customer_id=person.customer_id)

    def checkout(self, rec: VisitRecorder, person: Person, log: PersonLog, cart: dict[Product, int]) -> Order:
        """The checkout page and its purchase; the delivery's fate is drawn now, revealed later."""
        nth = log.orders + 1
        order = Order(f"ord-{self.spec.seed}-{person.person_id}-{nth}", self.rnd.random() < BAD_DELIVERY_P, nth,
                      any(p.is_new for p in cart))
        items = [Item(product_id=p.product_id, price=p.price, quantity=n, rubrique=p.rubrique) for p, n in cart.items()]
        revenue = round(sum(p.price * n for p, n in cart.items()), 2)
        rec.page(f"{SHOP_URL}/checkout", None, self.dwell())
        rec.track("purchase", self.pause(30_000, 180_000), order_id=order.order_id, revenue=revenue, items=items)
        return order

    def land(self, rec: VisitRecorder, person: Person, taste_cum: list[float], has_account: bool) -> None:
        """The first page of a visit, with its external referrer and the campaign in its URL."""
        rnd = self.rnd
        source = SOURCE_NAMES[bisect.bisect_left(SOURCE_CUM, rnd.random() * SOURCE_CUM[-1])]
        referrer, utm = "", ""
        if source == "newsletter" and not has_account:
            source = "direct"
        if source == "organic":
            referrer = self.pick(SEARCH_ENGINES)
        elif source == "cpc":
            referrer = SEARCH_ENGINES[0]
            utm = f"utm_source=google&utm_medium=cpc&utm_campaign={self.pick(CPC_CAMPAIGNS)}"
        elif source == "social":
            network, referrer = self.pick(SOCIAL)
            if rnd.random() < 0.5:
                utm = f"utm_source={network}&utm_medium=social&utm_campaign=collection-{_season(rec.t)}"
        elif source == "newsletter":
            year, week, _ = datetime.fromtimestamp(rec.t / 1000, UTC).isocalendar()
            utm = f"utm_source=newsletter&utm_medium=email&utm_campaign=nl-{year}-w{week:02d}"
        query = "?" + utm if utm else ""
        r = rnd.random()
        if source in ("organic", "cpc") and r < 0.4:
            product = self.pick_product(self.pick_rubrique_no(taste_cum), person.novelty_seeker)
            rec.page(f"{SHOP_URL}/p/{product.product_id}{query}", product.rubrique, 0, referrer)
            self.view(rec, product)
        elif source == "direct" and r < 0.4:
            rec.page(f"{SHOP_URL}{query}", None, 0, referrer)
        else:
            slug = self.pick_rubrique(taste_cum)
            rec.page(f"{SHOP_URL}/r/{slug}{query}", slug, 0, referrer)

    def bot_visit(self, rec: VisitRecorder, person: Person) -> None:
        """A crawl: pages in quick succession, no referrer, no cart, no login."""
        rnd = self.rnd
        pages = self.pause(1, 6) if person.habit == "scan" else self.pause(2, 10)
        for n in range(pages):
            rubrique_no = int(rnd.random() * len(RUBRIQUE_SLUGS))
            dwell = 0 if n == 0 else self.pause(1_000, 8_000)
            if rnd.random() < 0.4:
                slug = RUBRIQUE_SLUGS[rubrique_no]
                rec.page(f"{SHOP_URL}/r/{slug}", slug, dwell, "" if n == 0 else None)
            else:
                product = self.pick(self.by_rubrique[rubrique_no])
                rec.page(f"{SHOP_URL}/p/{product.product_id}", product.rubrique, dwell, "" if n == 0 else None)
                rec.track("product_view", self.pause(100, 600), product_id=product.product_id, price=product.price)

    def survey_visit(self, rec: VisitRecorder, log: PersonLog, order: Order) -> tuple[int, int | None]:
        """Back through the post-purchase e-mail: satisfaction 1–5 and, mostly, the NPS question."""
        rnd = self.rnd
        url = f"{SHOP_URL}/survey?order={order.order_id}&utm_source=survey&utm_medium=email&utm_campaign=post-purchase"
        rec.page(url, None, 0, "")
        satisfaction, nps = self.survey_answers(order, log)
        answered_nps = nps if rnd.random() < 0.8 else None  # some skip the recommendation question
        rec.track("survey", self.pause(20_000, 120_000), satisfaction=satisfaction, nps=answered_nps,
                  props={"order_id": order.order_id})
        return satisfaction, answered_nps

    def survey_answers(self, order: Order, log: PersonLog) -> tuple[int, int]:
        """Bad deliveries make detractors; happy repeat buyers are the promoters (NPS 9–10)."""
        rnd = self.rnd
        if order.bad:
            return rnd.choices((1, 2, 3), (0.3, 0.4, 0.3))[0], rnd.randint(0, 6)
        happy_repeat = order.nth >= 2 and log.bad_deliveries == 0
        satisfaction = rnd.choices((3, 4, 5), (0.05, 0.25, 0.7) if happy_repeat else (0.1, 0.35, 0.55))[0]
        if satisfaction == 5:
            nps = rnd.randint(9, 10) if rnd.random() < (0.85 if happy_repeat else 0.5) else rnd.randint(7, 8)
        elif satisfaction == 4:
            nps = rnd.choices((5, 6, 7, 8, 9), (0.1, 0.1, 0.35, 0.35, 0.1))[0]
        else:
            nps = rnd.randint(4, 7)
        return satisfaction, nps

    def complaint_visit(self, rec: VisitRecorder) -> None:
        """Customer service after a bad delivery: the shop's complaint form sends the topic only."""
        rnd = self.rnd
        rec.page(f"{SHOP_URL}/complaint", None, 0, "")
        topic = COMPLAINT_TOPICS[bisect.bisect_left(COMPLAINT_TOPIC_CUM, rnd.random() * COMPLAINT_TOPIC_CUM[-1])]
        rec.track("complaint", self.pause(60_000, 300_000), props={"topic": topic})

    # --- pages and choices --------------------------------------------------------------

    def product_page(self, rec: VisitRecorder, product: Product) -> None:
        rec.page(f"{SHOP_URL}/p/{product.product_id}", product.rubrique, self.dwell())
        self.view(rec, product)

    def view(self, rec: VisitRecorder, product: Product) -> None:
        rec.track("product_view", self.pause(200, 1_500), product_id=product.product_id, price=product.price)

    def search(self, rec: VisitRecorder, taste_cum: list[float]) -> Product | None:
        """A search for a kind of product of a liked rubrique; often a click on a result."""
        rnd = self.rnd
        options = self.searches[self.pick_rubrique_no(taste_cum)]
        query, results, cum = self.pick(options)
        rec.page(f"{SHOP_URL}/search?q={quote_plus(query)}", None, self.dwell())
        rec.track("search", self.pause(100, 800), query=query, props={"results": len(results)})
        if not results or rnd.random() < 0.3:
            return None
        return results[bisect.bisect_left(cum, rnd.random() * cum[-1])]

    def pick_rubrique_no(self, taste_cum: list[float]) -> int:
        if not taste_cum:
            return int(self.rnd.random() * len(RUBRIQUE_SLUGS))
        return min(bisect.bisect_left(taste_cum, self.rnd.random() * taste_cum[-1]), len(taste_cum) - 1)

    def pick_rubrique(self, taste_cum: list[float]) -> str:
        return RUBRIQUE_SLUGS[self.pick_rubrique_no(taste_cum)]

    def pick_product(self, rubrique_no: int, novelty_seeker: bool) -> Product:
        """A product of the rubrique, by true appeal (new products weigh more for novelty seekers)."""
        cum = (self.novelty_cum if novelty_seeker else self.appeal_cum)[rubrique_no]
        return self.by_rubrique[rubrique_no][bisect.bisect_left(cum, self.rnd.random() * cum[-1])]

    def dwell(self) -> int:
        """Time on a page before the next one: seconds to minutes (log-normal, capped at 4 min)."""
        return min(240_000, max(2_000, int(math.exp(self.rnd.gauss(10.4, 0.8)))))

    def pause(self, low: int, high: int) -> int:
        """A whole number from low to high (randint's own checks cost more than the draw here)."""
        return low + int(self.rnd.random() * (high - low + 1))

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.rnd.random() * len(options))]


def _search_index(catalog: Catalog) -> list[list[tuple[str, list[Product], list[float]]]]:
    """Per rubrique, the queries people type (kinds of product, in French or English) and their results."""
    index = []
    for rubrique in catalog.rubriques:
        options = []
        for noun_fr, noun_en in rubrique.nouns:
            for query, lang in ((noun_fr.lower(), "fr"), (noun_en.lower(), "en")):
                results = catalog.search(query, lang)
                options.append((query, results, list(accumulate(p.appeal for p in results))))
        index.append(options)
    return index


def _poisson(rnd: random.Random, mean: float) -> int:
    """Knuth's Poisson draw (small means only)."""
    limit, k, product = math.exp(-mean), 0, rnd.random()
    while product > limit:
        k += 1
        product *= rnd.random()
    return k


def _season(t_ms: int) -> str:
    month = datetime.fromtimestamp(t_ms / 1000, UTC).month
    return ("hiver", "printemps", "ete", "automne")[(month % 12) // 3]
