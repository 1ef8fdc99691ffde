"""Customer value through the real job: imported and tracked orders in, p_alive / predicted_clv in
the profiles, the fitted model in the customer-value report, the at-risk view in rfm and attrition."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fidelia.settings import Settings
from fidelia.store import Store
from loadtests.value_sim import simulate_orders
from profiles.job import rebuild_profiles, value_settings
from profiles.orders_import import import_orders
from profiles.reports import AT_RISK_P_ALIVE, TOP_LOST, parse_params, run_report
from profiles.value import BGNBD, GammaGamma, customer_value, stored_model
from tests.profiles.events import Events

AS_OF = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
CUSTOMERS = 400


@dataclass(frozen=True)
class ValueShop:
    site_id: str
    orders: pl.DataFrame  # every order the job sees: person, ts, amount
    settings: Settings


def write_orders_csv(orders: pl.DataFrame, path: Path) -> Path:
    orders.with_row_index("n").select(
        pl.col("person").str.slice(2).alias("customer_id"), pl.format("o{}", "n").alias("order_id"),
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%z").alias("ordered_at"), "amount",
    ).write_csv(path)
    return path


def tracked_purchase(ev: Events, visitor: str, when: datetime, order_id: str, revenue: float) -> None:
    ev.add(visitor, when, "purchase", order_id=order_id, revenue=revenue,
           items=[{"product_id": "p1", "rubrique": "shoes", "price": revenue, "quantity": 1}])


@pytest.fixture(scope="module")
def shop(store: Store, tmp_path_factory: pytest.TempPathFactory) -> ValueShop:
    folder = tmp_path_factory.mktemp("value")
    site_id = "value" + secrets.token_hex(4)
    simulated = simulate_orders(CUSTOMERS, BGNBD(0.7, 15.0, 1.4, 3.0), GammaGamma(5.0, 4.0, 20.0), as_of=AS_OF,
                                max_age_days=300, seed=5).history
    import_orders(store, write_orders_csv(simulated, folder / "orders.csv"), site_id)
    ev = Events(site_id)
    # A device of customer 0 (linked by identify), a buyer who never identifies, a prospect.
    ev.add("v-linked", AS_OF - timedelta(days=3), "identify", customer_id="0")
    tracked_purchase(ev, "v-anon", AS_OF - timedelta(days=40), "t1", 30.0)
    tracked_purchase(ev, "v-anon", AS_OF - timedelta(days=10), "t2", 45.0)
    ev.add("v-prospect", AS_OF - timedelta(days=2), rubrique="shoes")
    ev.insert(store)
    anon = pl.DataFrame({"person": ["v:v-anon"] * 2, "ts": [AS_OF - timedelta(days=40), AS_OF - timedelta(days=10)],
                         "amount": [30.0, 45.0]}).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(folder)})
    rebuild_profiles(store, settings, sites=[site_id], now=AS_OF)
    return ValueShop(site_id, pl.concat([simulated, anon]), settings)


def profiles_of(store: Store, table: str, site_id: str) -> pl.DataFrame:
    key = "customer_id" if table == "customer_profiles" else "visitor_id"
    rows = store.client.query(f"SELECT {key} AS id, p_alive, predicted_clv, monetary FROM {table} FINAL "
                              "WHERE site_id = {site:String}", parameters={"site": site_id}).result_rows
    return pl.DataFrame(rows, schema=["id", "p_alive", "predicted_clv", "monetary"], orient="row")


def report(store: Store, name: str, site_id: str) -> dict[str, Any]:
    return run_report(store, name, parse_params(site_id, None, None, None, AS_OF.date())).to_json()


def test_profiles_carry_the_value_the_model_gives_from_tracked_and_imported_orders(store: Store,
                                                                                    shop: ValueShop) -> None:
    expected = customer_value(shop.orders.lazy(), AS_OF, value_settings(shop.settings)).scores
    assert expected.height == CUSTOMERS + 1
    customers = profiles_of(store, "customer_profiles", shop.site_id)
    assert customers.height == CUSTOMERS
    joined = customers.join(expected.with_columns(pl.col("person").str.slice(2).alias("id")), on="id")
    assert joined.height == CUSTOMERS
    assert (joined["p_alive"] == joined["p_alive_right"]).all()
    assert (joined["predicted_clv"] == joined["predicted_clv_right"]).all()
    assert customers["p_alive"].is_between(0, 1).all() and (customers["predicted_clv"] >= 0).all()
    visitors = {row["id"]: row for row in profiles_of(store, "visitor_profiles", shop.site_id).to_dicts()}
    customer_0 = customers.filter(pl.col("id") == "0").to_dicts()[0]
    assert visitors["v-linked"]["p_alive"] == customer_0["p_alive"]
    assert visitors["v-linked"]["predicted_clv"] == customer_0["predicted_clv"]
    anon = expected.filter(pl.col("person") == "v:v-anon").to_dicts()[0]
    assert visitors["v-anon"]["p_alive"] == anon["p_alive"] and visitors["v-anon"]["predicted_clv"] > 0
    assert visitors["v-prospect"]["p_alive"] is None and visitors["v-prospect"]["predicted_clv"] is None


def test_an_incremental_rebuild_with_nothing_new_writes_the_same_values(store: Store, shop: ValueShop) -> None:
    before = profiles_of(store, "customer_profiles", shop.site_id).sort("id")
    [result] = rebuild_profiles(store, shop.settings, sites=[shop.site_id], now=AS_OF)
    assert result.mode == "incremental"
    assert profiles_of(store, "customer_profiles", shop.site_id).sort("id").equals(before)


def test_incremental_runs_score_with_the_last_fit_until_a_refit_is_due(store: Store, tmp_path: Path) -> None:
    site_id = "value" + secrets.token_hex(4)
    history = simulate_orders(200, BGNBD(0.7, 15.0, 1.4, 3.0), GammaGamma(5.0, 4.0, 20.0), as_of=AS_OF,
                              max_age_days=300, seed=7).history
    import_orders(store, write_orders_csv(history, tmp_path / "orders.csv"), site_id)
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path)})  # FIDELIA_VALUE_REFIT_HOURS: 24
    rebuild_profiles(store, settings, sites=[site_id], now=AS_OF)
    fitted = stored_model(store, site_id)
    assert fitted is not None and fitted.status == "fitted"
    ev = Events(site_id)
    tracked_purchase(ev, "v-new", AS_OF + timedelta(minutes=10), "n1", 80.0)
    tracked_purchase(ev, "v-new", AS_OF + timedelta(hours=1), "n2", 20.0)
    ev.insert(store)
    later = AS_OF + timedelta(hours=2)
    [result] = rebuild_profiles(store, settings, sites=[site_id], now=later)
    assert result.mode == "incremental"
    assert stored_model(store, site_id) == fitted  # not refitted: the new buyer is scored with its parameters
    new = pl.DataFrame({"person": ["v:v-new"] * 2, "ts": [AS_OF + timedelta(minutes=10), AS_OF + timedelta(hours=1)],
                        "amount": [80.0, 20.0]}).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    orders = pl.concat([history, new])
    expected = customer_value(orders.lazy(), later, value_settings(settings), prior=fitted).scores
    visitors = {r["id"]: r for r in profiles_of(store, "visitor_profiles", site_id).to_dicts()}
    assert visitors["v-new"]["p_alive"] == expected.filter(pl.col("person") == "v:v-new")["p_alive"][0]
    refitted_at = AS_OF + timedelta(hours=25)
    rebuild_profiles(store, settings, sites=[site_id], now=refitted_at)
    refitted = stored_model(store, site_id)
    assert refitted is not None and refitted.as_of == refitted_at.isoformat()
    assert refitted.customers == fitted.customers + 1


def test_customer_value_report_shows_the_distribution_the_top_and_the_parameters(store: Store,
                                                                                 shop: ValueShop) -> None:
    data = report(store, "customer-value", shop.site_id)
    model = data["model"]
    assert model["status"] == "fitted" and model["customers"] == CUSTOMERS + 1
    assert set(model["bgnbd"]) == {"r", "alpha", "a", "b"} and set(model["gamma_gamma"]) == {"p", "q", "v"}
    assert model["as_of"].startswith("2026-06-30") and model["horizon_months"] == 12
    profiles = pl.concat([profiles_of(store, "customer_profiles", shop.site_id),
                          profiles_of(store, "visitor_profiles", shop.site_id).filter(pl.col("id") == "v-anon")])
    assert sum(row["customers"] for row in data["rows"]) == profiles.height
    for row in data["rows"]:
        inside = profiles.filter((pl.col("predicted_clv") >= row["clv_from"])
                                 & ((pl.col("predicted_clv") < row["clv_to"]) if row["clv_to"] else True))
        assert row["customers"] == inside.height
    top = data["top_customers"]
    assert [r["predicted_clv"] for r in top] == sorted(profiles["predicted_clv"].to_list(), reverse=True)[:len(top)]
    parameters = {row["parameter"]: row["value"] for row in data["parameters"]}
    assert parameters["bgnbd.r"] == model["bgnbd"]["r"] and parameters["status"] == "fitted"
    assert parameters["total_predicted_clv"] == pytest.approx(float(profiles["predicted_clv"].sum()), abs=0.05)


@pytest.mark.parametrize("name", ["rfm", "attrition"])
def test_rfm_and_attrition_show_valuable_customers_at_risk(store: Store, shop: ValueShop, name: str) -> None:
    rows = report(store, name, shop.site_id)["at_risk"]
    scores = store.client.query(
        "SELECT customer_id, rfm_m, p_alive, monetary FROM customer_profiles FINAL WHERE site_id = {s:String}",
        parameters={"s": shop.site_id}).result_rows
    risky = sorted(((-m, c) for c, rfm_m, p, m in scores if rfm_m >= 4 and p < AT_RISK_P_ALIVE))[:TOP_LOST]
    assert rows and [r["customer"] for r in rows] == [c for _, c in risky]
    assert all(r["p_alive"] < AT_RISK_P_ALIVE for r in rows)


def test_a_shop_with_too_little_history_keeps_empty_numbers_and_says_why(
        store: Store, site_id: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ev = Events(site_id)
    tracked_purchase(ev, "v1", AS_OF - timedelta(days=30), "a1", 20.0)
    tracked_purchase(ev, "v1", AS_OF - timedelta(days=5), "a2", 25.0)
    tracked_purchase(ev, "v2", AS_OF - timedelta(days=9), "b1", 60.0)
    ev.insert(store)
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path)})
    with caplog.at_level(logging.INFO, logger="profiles.value"):
        [result] = rebuild_profiles(store, settings, sites=[site_id], now=AS_OF)
    assert result.visitors == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "profiles.value"]
    assert len(lines) == 1 and site_id in lines[0] and "too_little_data" in lines[0]
    visitors = profiles_of(store, "visitor_profiles", site_id)
    assert visitors["p_alive"].is_null().all() and visitors["predicted_clv"].is_null().all()
    data = report(store, "customer-value", site_id)
    assert data["model"]["status"] == "too_little_data" and data["model"]["bgnbd"] is None
    assert "1 customers bought on two days or more" in data["model"]["message"]
    assert data["rows"] == [] and data["top_customers"] == []
    assert report(store, "rfm", site_id)["at_risk"] == []


def test_a_site_never_rebuilt_says_so(store: Store, site_id: str) -> None:
    model = report(store, "customer-value", site_id)["model"]
    assert model["status"] == "not_fitted" and "fidelia profiles rebuild" in model["message"]


def test_a_back_dated_rebuild_fits_as_of_that_date(store: Store, shop: ValueShop, tmp_path: Path) -> None:
    site_id = shop.site_id + "b"
    earlier = AS_OF - timedelta(days=90)
    import_orders(store, write_orders_csv(shop.orders.filter(pl.col("person") != "v:v-anon"), tmp_path / "o.csv"),
                  site_id)
    rebuild_profiles(store, shop.settings, sites=[site_id], as_of=earlier)
    model = report(store, "customer-value", site_id)["model"]
    expected = customer_value(shop.orders.filter((pl.col("ts") <= earlier) & (pl.col("person") != "v:v-anon"))
                              .lazy(), earlier, value_settings(shop.settings)).model
    assert model["as_of"] == earlier.isoformat() and model["customers"] == expected.customers < CUSTOMERS
    assert model["bgnbd"] == expected.bgnbd


def test_basket_counts_imported_orders_without_items_9(store: Store, shop: ValueShop) -> None:
    # Imported orders may have no items column: the basket report must still count them.
    rows = run_report(store, "basket", parse_params(shop.site_id, "2026-06-01", "2026-06-30", "month",
                                                    AS_OF.date())).rows
    june = shop.orders.filter(pl.col("ts") >= datetime(2026, 6, 1, tzinfo=UTC))
    assert rows[0]["orders"] == june.height > 0
    assert rows[0]["revenue"] == pytest.approx(float(june["amount"].sum()), abs=0.01)
