"""Who visits the simulated shop: people with latent tastes, habits and devices, and bots.

Step one of the simulator. Traits are drawn per chunk of people with numpy (one generator
per (seed, chunk), so a person's traits depend only on the seed and their number) and are
the ground truth the profiles and the recommender are later checked against:

- taste: a Dirichlet over the catalog's 10 rubriques, concentrated on 1–3 "core" rubriques
  (alpha CORE_ALPHA there, BACKGROUND_ALPHA elsewhere); `top_rubriques` are the core ones,
  strongest first;
- habit: how often they come back (`once`, `monthly`, `weekly`, `frequent`; bots `crawler`
  or `scan`), and a latent lifetime after which habitual visitors stop coming (churn);
- purchase propensity (chance that a visit ends in an order), basket size, a taste for new
  products (the future "supporters"), whether they hold an account;
- one device (a realistic browser user agent), two for a few account holders, so the same
  customer id shows up under two visitor ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fidelia.demo.catalog import RUBRIQUES

DAY_MS = 86_400_000
START_MARGIN_MS = 3_600_000
CHUNK_PEOPLE = 10_000  # people generated together, with one random stream
RUBRIQUE_SLUGS = tuple(r.slug for r in RUBRIQUES)
# How often a rubrique is someone's core interest (the shop sells more shoes than watches).
RUBRIQUE_POPULARITY = {
    "chaussures": 1.4, "sacs": 1.0, "robes": 1.2, "homme": 1.0, "montres": 0.6,
    "bijoux": 0.8, "maison": 0.9, "beaute": 1.1, "sport": 0.9, "enfants": 0.7,
}
CORE_COUNT_P = (0.45, 0.40, 0.15)  # 1, 2 or 3 core rubriques
CORE_ALPHA = 2.0
BACKGROUND_ALPHA = 0.05
BOT_SHARE = 0.05
BOT_SCAN_P = 0.5  # of bots: a one-off scan (HTTP libraries, AI crawlers); the rest crawl every few days
HABITS = ("once", "monthly", "weekly", "frequent")
HABIT_P = (0.55, 0.25, 0.15, 0.05)
HABIT_GAP_DAYS = {"once": 0.0, "monthly": 30.0, "weekly": 7.0, "frequent": 2.5, "crawler": 5.0, "scan": 0.0}
PROPENSITY_BETA = (1.1, 22.0)  # chance a visit ends in an order: mean 4.8%, before the habit's factor
HABIT_BUY_FACTOR = {"once": 0.4, "monthly": 1.0, "weekly": 1.1, "frequent": 0.8}
EXTRA_ITEMS_GAMMA = (2.0, 0.3)  # mean items beyond the first in a basket: 0.6 on average
HABITUAL_FIRST_VISIT_BETA = (1.0, 1.8)  # regulars mostly show up early in the window; one-off visitors anytime
ACCOUNT_P = {"once": 0.03, "monthly": 0.35, "weekly": 0.5, "frequent": 0.6}
MEAN_LIFETIME_DAYS = 120.0  # habitual visitors stop coming after an exponential lifetime
TWO_DEVICES_P = 0.04  # of habitual people; they log in on both
NOVELTY_P = 0.15

# (device kind, share, user agents). Shares follow a European fashion e-shop's audience.
HUMAN_DEVICES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("desktop", 0.27, (  # Chrome
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
        "Safari/537.36",
    )),
    ("desktop", 0.05, (  # Firefox
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )),
    ("desktop", 0.06, (  # Safari
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
        "Safari/605.1.15",
    )),
    ("desktop", 0.06, (  # Edge
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36 Edg/131.0.0.0",
    )),
    ("mobile", 0.27, (  # iPhone Safari
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
    )),
    ("mobile", 0.22, (  # Android Chrome
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 "
        "Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 "
        "Mobile Safari/537.36",
    )),
    ("tablet", 0.07, (  # iPad
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Mobile/15E148 Safari/604.1",
    )),
)
# Crawlers that run the page's scripts (so they reach the collector) and HTTP libraries.
BOT_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "python-requests/2.32.3",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
SECOND_DEVICE = {"desktop": 4, "mobile": 0, "tablet": 0}  # index in HUMAN_DEVICES: a desktop user's phone


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate: how many people over which window, from which seed."""

    visitors: int
    days: int
    seed: int
    end_ms: int
    session_timeout_ms: int = 30 * 60_000
    chunk_people: int = CHUNK_PEOPLE  # part of the seed's definition: another size, other people

    @property
    def start_ms(self) -> int:
        # The first hour of the window is left out: over HTTP, the oldest events must still be
        # younger than the collector's FIDELIA_MAX_EVENT_AGE_DAYS when they arrive.
        return self.end_ms - self.days * DAY_MS + START_MARGIN_MS

    @property
    def chunks(self) -> int:
        return -(-self.visitors // self.chunk_people)

    def chunk_bounds(self, chunk_no: int) -> tuple[int, int]:
        first = chunk_no * self.chunk_people
        return first, min(self.chunk_people, self.visitors - first)


@dataclass(frozen=True)
class Device:
    kind: str  # desktop, mobile, tablet or bot
    user_agent: str


@dataclass(frozen=True)
class Person:
    """One simulated person (or bot) and their latent traits: the truth behind their events."""

    person_id: int
    is_bot: bool
    habit: str
    taste: tuple[float, ...]  # in RUBRIQUE_SLUGS order, sums to 1
    top_rubriques: tuple[str, ...]
    propensity: float  # chance a visit ends with an order
    extra_items: float  # mean number of items beyond the first in a basket
    novelty_seeker: bool
    has_account: bool
    first_visit_ms: int
    lifetime_end_ms: int | None  # the latent churn date, when inside the window
    devices: tuple[Device, ...]
    customer_id: str  # used once they log in or buy; stable for the seed


def draw_people(spec: SimulationSpec, chunk_no: int) -> list[Person]:
    """The people of one chunk, identical for a given (seed, chunk) whatever else runs."""
    first, count = spec.chunk_bounds(chunk_no)
    rng = np.random.default_rng([spec.seed, chunk_no])
    is_bot = rng.random(count) < BOT_SHARE
    taste, core = _draw_tastes(rng, count)
    habit_no = rng.choice(len(HABITS), p=HABIT_P, size=count)
    bot_scan = rng.random(count) < BOT_SCAN_P
    propensity = rng.beta(*PROPENSITY_BETA, size=count)
    extra_items = rng.gamma(*EXTRA_ITEMS_GAMMA, size=count)
    novelty = rng.random(count) < NOVELTY_P
    account_u = rng.random(count)
    window = spec.end_ms - spec.start_ms
    first_u = np.where(habit_no == 0, rng.random(count), rng.beta(*HABITUAL_FIRST_VISIT_BETA, size=count))
    lifetime_ms = rng.exponential(MEAN_LIFETIME_DAYS * DAY_MS, size=count)
    two_devices = rng.random(count) < TWO_DEVICES_P
    device_cum = np.cumsum([share for _, share, _ in HUMAN_DEVICES])
    device_nos = np.minimum(np.searchsorted(device_cum / device_cum[-1], rng.random(count), side="right"),
                            len(HUMAN_DEVICES) - 1)
    agent_u = rng.random(count)

    people = []
    for i in range(count):
        person_id = first + i
        customer_id = f"cust-{spec.seed}-{person_id:07d}"
        first_ms = spec.start_ms + int(first_u[i] * window)
        if is_bot[i]:
            devices: tuple[Device, ...] = (Device("bot", BOT_AGENTS[int(agent_u[i] * len(BOT_AGENTS))]),)
            people.append(Person(person_id, True, "scan" if bot_scan[i] else "crawler", (), (), 0.0, 0.0, False,
                                 False, first_ms, None, devices, customer_id))
            continue
        habit = HABITS[habit_no[i]]
        habitual = habit != "once"
        devices = (_device(int(device_nos[i]), agent_u[i]),)
        if habitual and two_devices[i]:
            devices += (_device(SECOND_DEVICE[devices[0].kind], agent_u[i]),)
        end_of_life = first_ms + int(lifetime_ms[i])
        people.append(Person(
            person_id=person_id, is_bot=False, habit=habit, taste=tuple(taste[i].tolist()), top_rubriques=core[i],
            propensity=float(propensity[i]) * HABIT_BUY_FACTOR[habit], extra_items=float(extra_items[i]),
            novelty_seeker=bool(novelty[i]), has_account=bool(account_u[i] < ACCOUNT_P[habit]) or len(devices) > 1,
            first_visit_ms=first_ms,
            lifetime_end_ms=end_of_life if habitual and end_of_life < spec.end_ms else None,
            devices=devices, customer_id=customer_id,
        ))
    return people


def _draw_tastes(rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Dirichlet tastes with 1–3 core rubriques picked in proportion to RUBRIQUE_POPULARITY."""
    n = len(RUBRIQUE_SLUGS)
    popularity = np.array([RUBRIQUE_POPULARITY[slug] for slug in RUBRIQUE_SLUGS])
    core_count = rng.choice(len(CORE_COUNT_P), p=CORE_COUNT_P, size=count) + 1
    # Weighted sampling without replacement (Efraimidis–Spirakis): the k largest u^(1/w).
    keys = rng.random((count, n)) ** (1.0 / popularity)
    order = np.argsort(-keys, axis=1)
    rank = np.argsort(order, axis=1)
    is_core = rank < core_count[:, None]
    alpha = np.where(is_core, CORE_ALPHA, BACKGROUND_ALPHA)
    gammas = rng.gamma(alpha)
    taste = np.round(gammas / gammas.sum(axis=1, keepdims=True), 6)
    core = []
    for i in range(count):
        members = [j for j in range(n) if is_core[i, j]]
        members.sort(key=lambda j: -taste[i, j])
        core.append(tuple(RUBRIQUE_SLUGS[j] for j in members))
    return taste, core


def _device(device_no: int, agent_u: float) -> Device:
    kind, _, agents = HUMAN_DEVICES[device_no]
    return Device(kind, agents[int(agent_u * len(agents))])
