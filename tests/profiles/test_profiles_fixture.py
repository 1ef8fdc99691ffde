"""Profiles against values computed by hand on small known populations (real store, real job)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.job import rebuild_profiles
from profiles.snapshot import reading
from tests.profiles.events import AS_OF, Events, at


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path)})


def profiles(store: Store, site_id: str, table: str = "visitor_profiles") -> dict[str, dict]:
    key = "visitor_id" if table == "visitor_profiles" else "customer_id"
    result = store.client.query(f"SELECT * FROM {table} FINAL WHERE site_id = {{s:String}}", parameters={"s": site_id})
    return {row[key]: row for row in (dict(zip(result.column_names, r, strict=True)) for r in result.result_rows)}


def rebuild(store: Store, settings: Settings, site_id: str, full: bool = True, as_of: datetime = AS_OF):
    return rebuild_profiles(store, settings, full=full, as_of=as_of, sites=[site_id])


def test_visits_split_after_30_minutes_idle(store: Store, settings: Settings, site_id: str) -> None:
    ev = Events(site_id)
    start = at(days_before=3)
    for minutes, rubrique in [(0, "a"), (10, "a"), (39, "b"), (70, "b"), (101, "c"), (180, "c")]:
        ev.add("v1", start + timedelta(minutes=minutes), rubrique=rubrique)
    ev.add("v1", start + timedelta(minutes=181), "add_to_cart", product_id="p1", rubrique="c")
    ev.insert(store)
    rebuild(store, settings, site_id)
    p = profiles(store, site_id)["v1"]
    # gaps: 10, 29, 31 (new), 31 (new), 79 (new), 1 → four visits
    assert (p["visits"], p["pageviews"], p["returning"]) == (4, 6, 1)
    visits = json.loads(p["last_visits"])
    assert [(v["pages"], v["rubriques"]) for v in visits] == [(1, ["c"]), (1, ["c"]), (1, ["b"]), (3, ["a", "b"])]
    assert p["first_seen"] == start.replace(tzinfo=None) or p["first_seen"].timestamp() == start.timestamp()


def test_interests_weigh_signals_and_fade(store: Store, settings: Settings, site_id: str) -> None:
    ev = Events(site_id)
    last = at(days_before=1)
    ev.add("v1", last - timedelta(days=30), rubrique="old")  # one page view a half-life before the last visit
    ev.add("v1", last - timedelta(minutes=5), "product_view", product_id="p", rubrique="shoes")
    ev.add("v1", last - timedelta(minutes=4), "add_to_cart", product_id="p", rubrique="shoes")
    ev.add("v1", last - timedelta(minutes=3), rubrique="bags")
    ev.purchase("v1", last, "o1", 50.0, items=[("p", "shoes")])
    ev.add("bot", last, rubrique="bots", is_bot=1)
    ev.insert(store)
    rebuild(store, settings, site_id)
    found = profiles(store, site_id)
    interests = json.loads(found["v1"]["interests"])
    scores = {i["rubrique"]: i["score"] for i in interests}
    assert [i["rubrique"] for i in interests] == ["shoes", "bags", "old"]
    assert scores["shoes"] == pytest.approx(2 + 4 + 8, abs=0.01)  # minutes old: no visible decay
    assert scores["bags"] == pytest.approx(1.0, abs=0.001)
    assert scores["old"] == pytest.approx(0.5, abs=0.001)
    assert "bot" not in found  # bots have no profile


def test_rfm_lifecycle_and_attrition_by_hand(store: Store, settings: Settings, site_id: str) -> None:
    ev = Events(site_id)
    # five buyers with distinct recency / frequency / monetary; one prospect
    ev.purchase("a", at(2), "a1", 500.0, items=[("p1", "shoes")])        # recent, big
    ev.purchase("a", at(40), "a2", 300.0, items=[("p2", "shoes")])
    ev.purchase("a", at(90), "a3", 200.0, items=[("p3", "shoes")])
    ev.purchase("b", at(10), "b1", 100.0, items=[("p4", "bags")])
    ev.purchase("b", at(10, minutes=-5), "b2", 20.0, items=[("p5", "bags")])  # same day: one purchase day
    ev.purchase("c", at(30), "c1", 80.0, items=[("p6", "shoes")])
    ev.purchase("c", at(60), "c2", 40.0, items=[("p7", "bags")])  # first day bags, later shoes: beyond
    ev.purchase("d", at(200), "d1", 60.0, items=[("p8", "hats")])            # lost: > 180 days
    ev.purchase("e", at(5), "e1", 10.0, items=[("p9", "hats")])
    ev.add("e", at(4), "survey", satisfaction=5, nps=10)                      # promoter → ambassador
    ev.add("e", at(3), "complaint")
    ev.add("z", at(1), rubrique="shoes")
    ev.insert(store)
    rebuild(store, settings, site_id)
    p = profiles(store, site_id)
    got = {v: (p[v]["recency_days"], p[v]["frequency"], p[v]["monetary"], p[v]["orders"]) for v in "abcde"}
    assert got == {"a": (2, 3, 1000.0, 3), "b": (10, 1, 120.0, 2), "c": (30, 2, 120.0, 2), "d": (200, 1, 60.0, 1),
                   "e": (5, 1, 10.0, 1)}
    # recency ranks (fewest days best): a 2, e 5, b 10, c 30, d 200 → R 5, 4, 3, 2, 1
    assert {v: p[v]["rfm_r"] for v in "abcde"} == {"a": 5, "e": 4, "b": 3, "c": 2, "d": 1}
    # frequency 3 > 2 > 1,1,1 (tied: average rank 2 → score 2)
    assert {v: p[v]["rfm_f"] for v in "abcde"} == {"a": 5, "c": 4, "b": 2, "d": 2, "e": 2}
    # monetary 1000 > 120 = 120 > 60 > 10 (b and c tie at average rank 3.5 → score 4)
    assert {v: p[v]["rfm_m"] for v in "abcde"} == {"a": 5, "b": 4, "c": 4, "d": 2, "e": 1}
    assert p["a"]["rfm_segment"] == "champions"          # r5, fm5
    assert p["d"]["rfm_segment"] == "lost"               # r1, fm2
    assert p["c"]["rfm_segment"] == "at_risk"            # r2, fm4
    assert p["b"]["rfm_segment"] == "need_attention"     # r3, fm (2+4)/2 = 3
    assert p["e"]["rfm_segment"] == "potential_loyalist"  # r4, fm (2+1)/2 rounded up = 2
    stages = {v: p[v]["lifecycle_stage"] for v in "abcdez"}
    assert stages == {"a": "repeat_customer", "b": "buyer", "c": "supporter", "d": "buyer", "e": "ambassador",
                      "z": "prospect"}
    assert {v: p[v]["lost"] for v in "abcde"} == {"a": 0, "b": 0, "c": 0, "d": 1, "e": 0}
    assert p["b"]["avg_basket"] == 60.0
    assert (p["e"]["satisfaction"], p["e"]["nps"], p["e"]["complaints"]) == (5.0, 10, 1)
    assert p["z"]["rfm_r"] is None and p["z"]["recency_days"] is None


def test_identity_merge_gives_one_customer_across_devices(store: Store, settings: Settings, site_id: str) -> None:
    ev = Events(site_id)
    ev.add("phone", at(20), rubrique="shoes")                        # anonymous visit, before identify
    ev.purchase("phone", at(19), "o1", 30.0, items=[("p1", "shoes")])
    ev.add("phone", at(19, minutes=1), "identify", customer_id="K")
    ev.add("laptop", at(5), rubrique="bags")
    ev.add("laptop", at(5, minutes=2), "identify", customer_id="K")
    ev.purchase("laptop", at(5, minutes=3), "o2", 70.0, items=[("p2", "bags")])
    ev.add("other", at(5), rubrique="bags")
    ev.insert(store)
    rebuild(store, settings, site_id)
    visitors = profiles(store, site_id)
    customers = profiles(store, site_id, "customer_profiles")
    assert visitors["phone"]["customer_id"] == visitors["laptop"]["customer_id"] == "K"
    assert visitors["other"]["customer_id"] == ""
    k = customers["K"]
    assert k["visitor_ids"] == ["laptop", "phone"]
    # phone: two visits a day apart; laptop: one
    assert (k["visits"], k["pageviews"], k["orders"], k["frequency"], k["monetary"]) == (3, 2, 2, 2, 100.0)
    assert k["lifecycle_stage"] == "supporter"  # two purchase days, the second in a new rubrique
    # each device's profile carries the customer's loyalty numbers, not only its own purchase
    assert visitors["phone"]["orders"] == visitors["laptop"]["orders"] == 2
    assert {i["rubrique"] for i in json.loads(k["interests"])} == {"shoes", "bags"}
    assert len(customers) == 1


def test_attrition_rate_by_hand() -> None:
    from profiles.lifecycle import attrition_rate

    day = lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)  # noqa: E731
    orders = pl.DataFrame({
        "person": ["a", "b", "c", "d", "e", "e"],
        "ts": [day(0), day(100), day(150), day(-300), day(190), day(10)],
    })
    # window 180 days, period [day 200, day 300):
    # active at start (bought in (day 20, day 200]): b (100), c (150), e (190) → 3; a (0) and d were already lost.
    # no longer active at day 300 (no purchase in (day 120, day 300]): b only.
    result = attrition_rate(orders, day(200), day(300), attrition_days=180)
    assert result == {"customers_at_start": 3, "lost": 1, "attrition_rate": pytest.approx(1 / 3),
                      "retention_rate": pytest.approx(2 / 3)}


def test_snapshot_holds_the_profiles_and_is_swapped_whole(store: Store, settings: Settings, site_id: str) -> None:
    Events(site_id).add("v1", at(1), rubrique="a").add("v2", at(2), rubrique="b").insert(store)
    rebuild(store, settings, site_id)
    path = settings.snapshot_path
    first_inode = path.stat().st_ino
    with reading(path) as con:
        rows = con.execute("SELECT visitor_id, lifecycle_stage FROM visitor_profiles WHERE site_id = ? ORDER BY 1",
                           [site_id]).fetchall()
    assert rows == [("v1", "prospect"), ("v2", "prospect")]
    rebuild(store, settings, site_id)
    assert path.stat().st_ino != first_inode  # a new file renamed into place, not rewritten in place
    assert not list(path.parent.glob(".*.tmp"))


def test_as_of_ignores_later_events(store: Store, settings: Settings, site_id: str) -> None:
    ev = Events(site_id)
    ev.purchase("v1", at(100), "o1", 10.0)
    ev.purchase("v1", at(10), "o2", 10.0)
    ev.insert(store)
    rebuild(store, settings, site_id, as_of=AS_OF - timedelta(days=50))
    p = profiles(store, site_id)["v1"]
    assert (p["orders"], p["recency_days"], p["lifecycle_stage"]) == (1, 50, "buyer")
