"""Every report against numbers worked out by hand on one small shop (real store, real SQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.job import rebuild_profiles
from profiles.reports import InvalidReportParameter, UnknownReport, parse_params, run_report, wilson
from tests.profiles.events import Events

JUNE = ("2026-06-01", "2026-06-30")


def t(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00+00:00")


@pytest.fixture(scope="module")
def shop(store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    site = "reports-fixture"
    ev = Events(site)
    url = "https://shop.example"
    # v1: arrives from the June newsletter, buys p1 (shoes, 50), identifies as K1, clicks a recommendation
    ev.add("v1", t("2026-06-10"), rubrique="shoes", url=f"{url}/r/shoes?utm_source=newsletter&utm_campaign=june",
           utm_source="newsletter", utm_campaign="june")
    ev.add("v1", t("2026-06-10", 10, 1), "reco_impression", props='{"holdout": false, "strategy": "discovery"}')
    ev.add("v1", t("2026-06-10", 10, 2), "reco_click", product_id="p1", props='{"holdout": false}')
    ev.add("v1", t("2026-06-10", 10, 5), "product_view", product_id="p1", rubrique="shoes", price=50.0)
    ev.add("v1", t("2026-06-10", 10, 6), "add_to_cart", product_id="p1", rubrique="shoes")
    ev.add("v1", t("2026-06-10", 10, 10), "purchase", order_id="o1", revenue=50.0,
           items=[{"product_id": "p1", "rubrique": "shoes", "price": 50.0, "quantity": 1}])
    ev.add("v1", t("2026-06-10", 10, 11), "identify", customer_id="K1")
    # v2: from Google, looks at shoes and bags, sees the holdout offer, buys nothing
    ev.add("v2", t("2026-06-12"), rubrique="shoes", referrer="https://www.google.com/search?q=x")
    ev.add("v2", t("2026-06-12", 10, 2), "reco_impression", props='{"holdout": true, "strategy": "popular"}')
    ev.add("v2", t("2026-06-12", 10, 3), rubrique="bags")
    # v3: a May visit, then in June buys two p2 (bags, 30 each), answers 4 / NPS 9, complains
    ev.add("v3", t("2026-05-20"), rubrique="shoes")
    ev.add("v3", t("2026-06-20"), rubrique="bags")
    ev.add("v3", t("2026-06-20", 10, 1), "product_view", product_id="p2", rubrique="bags", price=30.0)
    ev.add("v3", t("2026-06-20", 10, 2), "purchase", order_id="o2", revenue=60.0,
           items=[{"product_id": "p2", "rubrique": "bags", "price": 30.0, "quantity": 2}])
    ev.add("v3", t("2026-06-21"), "survey", satisfaction=4, nps=9)
    ev.add("v3", t("2026-06-22"), "complaint")
    # v4: a detractor who never bought; v5: bought in December, lost by the end of May
    ev.add("v4", t("2026-06-25"), "survey", nps=3)
    ev.add("v5", t("2025-12-01"), "purchase", order_id="o3", revenue=100.0,
           items=[{"product_id": "p3", "rubrique": "hats", "price": 100.0, "quantity": 1}])
    ev.add("bot", t("2026-06-15"), rubrique="shoes", is_bot=1)
    ev.insert(store)
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path_factory.mktemp("reports"))})
    rebuild_profiles(store, settings, full=True, as_of=t("2026-06-30", 23, 59), sites=[site])
    return site


def report(store: Store, site: str, name: str, start: str = JUNE[0], end: str = JUNE[1], by: str | None = None):
    return run_report(store, name, parse_params(site, start, end, by, date(2026, 7, 1)))


def test_top_rubriques(store: Store, shop: str) -> None:
    rows = {r["rubrique"]: r for r in report(store, shop, "top-rubriques").rows}
    assert set(rows) == {"shoes", "bags"}  # the bot's shoes view and the May-only rubriques do not count
    shoes, bags = rows["shoes"], rows["bags"]
    assert (shoes["pageviews"], shoes["unique_visitors"], shoes["product_views"], shoes["add_to_cart"]) == (2, 2, 1, 1)
    assert (shoes["purchases"], shoes["revenue"], shoes["conversion"]) == (1, 50.0, 0.5)
    assert (shoes["pageviews_previous"], shoes["pageviews_change"]) == (1, 1.0)  # v3's May 20 visit
    assert (bags["pageviews"], bags["unique_visitors"], bags["purchases"], bags["revenue"]) == (2, 2, 1, 60.0)
    assert bags["conversion"] == 0.5 and bags["pageviews_change"] is None  # nothing the month before


def test_a_fall_shows_as_a_negative_change(store: Store, shop: str) -> None:
    # Regression: unsigned counts wrapped around when a rubrique had fewer views than before.
    rows = {r["rubrique"]: r for r in report(store, shop, "top-rubriques", "2026-05-02", "2026-05-31").rows}
    assert rows["shoes"]["pageviews"] == 1 and rows["shoes"]["pageviews_previous"] == 0
    june_then_july = report(store, shop, "top-rubriques", "2026-07-01", "2026-07-30").rows
    assert {r["rubrique"]: r["pageviews_change"] for r in june_then_july} == {"shoes": -1.0, "bags": -1.0}


def test_visitors(store: Store, shop: str) -> None:
    [june] = report(store, shop, "visitors", by="month").rows
    assert june == {"period": "2026-06-01", "visitors": 4, "new_visitors": 3, "returning_visitors": 1, "visits": 4,
                    "identified_share": 0.25}


def test_satisfaction(store: Store, shop: str) -> None:
    [june] = report(store, shop, "satisfaction", by="month").rows
    # NPS: one promoter (9), one detractor (3) out of two answers → 50% − 50% = 0
    assert june == {"period": "2026-06-01", "surveys": 2, "mean_satisfaction": 4.0, "nps_answers": 2, "nps": 0.0,
                    "complaints": 1, "customers": 2, "complaint_rate": 0.5}


def test_basket_and_frequency(store: Store, shop: str) -> None:
    result = report(store, shop, "basket", by="month")
    assert result.rows == [{"period": "2026-06-01", "orders": 2, "revenue": 110.0, "customers": 2,
                            "average_basket": 55.0, "purchase_frequency": 1.0}]
    by_rubrique = {r["rubrique"]: r for r in result.sections["by_rubrique"]}
    assert by_rubrique["bags"] == {"rubrique": "bags", "orders": 1, "revenue": 60.0, "average_basket": 60.0}
    assert by_rubrique["shoes"]["revenue"] == 50.0


def test_top_products(store: Store, shop: str) -> None:
    rows = {r["product_id"]: r for r in report(store, shop, "top-products").rows}
    assert rows["p2"] | {"name": None} == {"product_id": "p2", "name": None, "rubrique": "bags", "views": 1,
                                           "add_to_cart": 0, "purchases": 1, "units": 2, "revenue": 60.0,
                                           "conversion": 1.0}
    assert (rows["p1"]["views"], rows["p1"]["add_to_cart"], rows["p1"]["revenue"]) == (1, 1, 50.0)


def test_sources(store: Store, shop: str) -> None:
    rows = {(r["source"], r["campaign"]): r for r in report(store, shop, "sources").rows}
    assert (rows[("newsletter", "june")]["visits"], rows[("newsletter", "june")]["conversions"]) == (1, 1)
    assert (rows[("www.google.com", "")]["visits"], rows[("www.google.com", "")]["conversions"]) == (1, 0)
    direct = rows[("direct", "")]
    assert (direct["visits"], direct["conversions"], direct["revenue"], direct["conversion"]) == (2, 1, 60.0, 0.5)


def test_attrition(store: Store, shop: str) -> None:
    result = report(store, shop, "attrition", "2026-01-01", "2026-06-30", by="month")
    by_month = {r["period"]: (r["customers_at_start"], r["lost"], r["attrition_rate"]) for r in result.rows}
    # v5 bought on 2025-12-01: active until 180 days later (2026-05-30), so lost during May
    assert by_month["2026-01-01"] == (1, 0, 0.0)
    assert by_month["2026-05-01"] == (1, 1, 1.0)
    assert by_month["2026-06-01"] == (0, 0, None)  # nobody active on June 1: no rate
    assert [(r["customer"], r["monetary"]) for r in result.sections["recently_lost"]] == [("v5", 100.0)]


def test_rfm(store: Store, shop: str) -> None:
    rows = {r["segment"]: r for r in report(store, shop, "rfm").rows}
    # recency 20 (K1), 10 (v3), 211 (v5) → R 3, 5, 1; F all tied → 3; M 50, 60, 100 → 1, 3, 5
    assert (rows["need_attention"]["customers"], rows["need_attention"]["revenue"]) == (1, 50.0)
    assert (rows["potential_loyalist"]["customers"], rows["potential_loyalist"]["revenue"]) == (1, 60.0)
    assert (rows["at_risk"]["customers"], rows["at_risk"]["revenue_share"]) == (1, round(100 / 210, 4))
    assert sum(r["customers"] for r in rows.values()) == 3


def test_lifecycle(store: Store, shop: str) -> None:
    result = report(store, shop, "lifecycle")
    counts = {r["stage"]: r["count"] for r in result.rows}
    assert counts == {"prospect": 2, "buyer": 2, "repeat_customer": 0, "supporter": 0, "ambassador": 1}
    moves = {(m["from_stage"], m["to_stage"]): m["people"] for m in result.sections["transitions"]}
    assert moves == {("prospect", "buyer"): 1, ("prospect", "ambassador"): 1}  # v5 stayed a buyer


def test_recommendations_against_holdout(store: Store, shop: str) -> None:
    rows = {r["group_name"]: r for r in report(store, shop, "recommendations").rows}
    mine, held = rows["personalised"], rows["holdout"]
    assert (mine["impressions"], mine["clicks"], mine["ctr"], mine["conversion"]) == (1, 1, 1.0, 1.0)
    assert (held["impressions"], held["clicks"], held["ctr"], held["conversion"]) == (1, 0, 0.0, 0.0)
    assert 0 < mine["ctr_low"] < 1 and mine["ctr_high"] == 1.0


def test_wilson_interval_by_hand() -> None:
    # 8 of 10: p = 0.8, z = 1.96 → centre 0.7220, half-width 0.2119 (worked on paper)
    assert wilson(8, 10) == (0.4902, 0.9433)
    assert wilson(0, 0) == (None, None)


@pytest.mark.parametrize("start, end, by, field", [("2026-13-01", None, None, "from"), (None, "x", None, "to"),
                                                   ("2026-06-30", "2026-06-01", None, "from"),
                                                   (None, None, "year", "by")])
def test_bad_parameters_name_themselves(start, end, by, field) -> None:
    with pytest.raises(InvalidReportParameter) as caught:
        parse_params("s", start, end, by, date(2026, 7, 1))
    assert caught.value.field == field


def test_unknown_report(store: Store) -> None:
    with pytest.raises(UnknownReport, match="top-rubriques"):
        run_report(store, "top-everything", parse_params("s", None, None, None, date(2026, 7, 1)))


def test_default_period_is_the_last_30_days() -> None:
    params = parse_params("s", None, None, None, date(2026, 7, 1))
    assert (params.start, params.end, params.by) == (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC),
                                                     "day")


def test_csv_and_table_output(store: Store, shop: str, tmp_path: Path) -> None:
    from profiles.report_format import render

    result = report(store, shop, "top-rubriques")
    csv_text = render(result, "csv")
    assert csv_text.splitlines()[0].startswith("rubrique,pageviews,unique_visitors")
    assert "shoes" in render(result, "table") and '"rubrique": "shoes"' in render(result, "json")


def test_reports_over_http_need_the_reports_key(store: Store, shop: str, tmp_path: Path) -> None:
    from fidelia.auth import new_key
    from tests.conftest import LiveServer, write_sites

    reports_key, reports_entry = new_key(["reports"])
    profiles_key, profiles_entry = new_key(["profiles"])
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_SITES_FILE": str(
        write_sites(tmp_path, [shop])), "FIDELIA_API_KEYS": f"{reports_entry},{profiles_entry}"})
    server = LiveServer(settings, store).start()
    try:
        with server.client() as client:
            path = "/v1/reports/top-rubriques"
            june = {"from": JUNE[0], "to": JUNE[1]}
            assert client.get(path, params=june).status_code == 401
            assert client.get(path, params=june, headers={"X-API-Key": profiles_key}).status_code == 403
            ok = client.get(path, params=june, headers={"X-API-Key": reports_key})
            assert ok.status_code == 200 and {r["rubrique"] for r in ok.json()["rows"]} == {"shoes", "bags"}
            as_csv = client.get(path, params={**june, "format": "csv"}, headers={"X-API-Key": reports_key})
            assert as_csv.headers["content-type"].startswith("text/csv") and as_csv.text.startswith("rubrique,")
            bad = client.get(path, params={"from": "June"}, headers={"X-API-Key": reports_key})
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "from"
            unknown = client.get("/v1/reports/nope", headers={"X-API-Key": reports_key})
            assert unknown.status_code == 404
    finally:
        server.stop()


def test_a_visit_across_midnight_counts_once_whatever_the_bucket(store: Store) -> None:
    # Regression: visits were counted per day bucket, so a visit spanning midnight counted twice.
    site = "reports-midnight"
    Events(site).add("v", t("2026-06-10", 23, 50), session_id="night").add(
        "v", datetime.fromisoformat("2026-06-11T00:10:00+00:00"), session_id="night").insert(store)
    by_day = report(store, site, "visitors", "2026-06-10", "2026-06-11", by="day").rows
    by_week = report(store, site, "visitors", "2026-06-10", "2026-06-11", by="week").rows
    assert [r["visits"] for r in by_day] == [1, 0]
    assert sum(r["visits"] for r in by_week) == 1


def test_lifecycle_moves_of_people_who_bought_before_and_during_the_period_6(store: Store) -> None:
    # The start summary is reused from the end one for people whose purchases all came before the
    # period, and summed again for those who bought on both sides of its start.
    site = "reports-lifecycle-both-sides"
    Events(site).purchase("w1", t("2026-05-10"), "o1", 10.0, [("p1", "shoes")]).purchase(
        "w1", t("2026-06-15"), "o2", 10.0, [("p1", "shoes")]).purchase(  # buyer → repeat customer
        "w2", t("2026-05-20"), "o3", 10.0, [("p2", "shoes")]).purchase(  # buyer at both ends
        "w3", t("2026-05-05"), "o4", 10.0, [("p3", "shoes")]).purchase(
        "w3", t("2026-06-20"), "o5", 10.0, [("p4", "bags")]).insert(store)  # a new rubrique: supporter
    result = report(store, site, "lifecycle")
    assert {r["stage"]: r["count"] for r in result.rows} == {
        "prospect": 0, "buyer": 1, "repeat_customer": 1, "supporter": 1, "ambassador": 0}
    moves = {(m["from_stage"], m["to_stage"]): m["people"] for m in result.sections["transitions"]}
    assert moves == {("buyer", "repeat_customer"): 1, ("buyer", "supporter"): 1}


def test_visit_days_answer_what_the_events_say_across_inserts_and_midnight_6(store: Store) -> None:
    # visitors and sources read visit_days, summed up per visit and day at insert time. One
    # insert per event leaves partial rows in separate parts, and a visit crossing the period's
    # first midnight is credited to its first event inside the period, as the events say.
    site = "reports-visit-days"
    night = "https://shop.example/r/shoes?utm_source=mail&utm_medium=email&utm_campaign=night"
    for visitor, when, fields in [
        ("v", t("2026-06-09", 23, 50), {"session_id": "a", "utm_source": "before", "url": night}),
        ("v", t("2026-06-10", 0, 10), {"session_id": "a", "referrer": "https://www.bing.com/x"}),
        ("v", t("2026-06-10", 0, 20), {"session_id": "a", "event_type": "purchase", "order_id": "o",
                                       "revenue": 7.5}),
        ("w", t("2026-06-10", 9), {"session_id": "b", "utm_source": "mail", "utm_medium": "email",
                                    "utm_campaign": "night"}),
        ("w", t("2026-06-10", 8), {"session_id": "b", "referrer": "https://late.example/"}),  # arrives late
        ("w", t("2026-06-11", 9), {"session_id": "c"}),
    ]:
        Events(site).add(visitor, when, **fields).insert(store)
    rows = {(r["source"], r["medium"], r["campaign"]): r for r in report(store, site, "sources", "2026-06-10",
                                                                           "2026-06-11").rows}
    assert set(rows) == {("www.bing.com", "", ""), ("late.example", "", ""), ("direct", "", "")}
    bing = rows[("www.bing.com", "", "")]
    assert (bing["visits"], bing["visitors"], bing["conversions"], bing["revenue"]) == (1, 1, 1, 7.5)
    assert (rows[("late.example", "", "")]["visits"], rows[("direct", "", "")]["visits"]) == (1, 1)
    days = report(store, site, "visitors", "2026-06-10", "2026-06-11", by="day").rows
    assert [(r["visitors"], r["new_visitors"], r["visits"]) for r in days] == [(2, 1, 2), (1, 0, 1)]
