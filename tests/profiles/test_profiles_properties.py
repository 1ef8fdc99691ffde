"""Properties of the profiles job on generated event histories (Hypothesis, real store):
incremental == full, rebuilding twice changes nothing, no leaks between sites, interests sane."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.extract import Scope
from profiles.job import EPOCH, compute_site, rebuild_profiles
from profiles.snapshot import naive_utc, reading
from tests.profiles.events import AS_OF, Events

VISITORS = ["v0", "v1", "v2", "v3", "v4"]
RUBRIQUES = ["shoes", "bags", "hats"]
VOLATILE = ["as_of", "updated_at", "is_deleted"]

event = st.fixed_dictionaries({
    "visitor": st.sampled_from(VISITORS),
    "days": st.integers(0, 200),
    "minutes": st.integers(0, 600),
    "kind": st.sampled_from(["pageview", "pageview", "product_view", "add_to_cart", "purchase", "identify", "survey"]),
    "rubrique": st.sampled_from(RUBRIQUES),
    "customer": st.sampled_from(["K1", "K2"]),
    "amount": st.integers(1, 300),
    "nps": st.integers(0, 10),
})
histories = st.lists(event, min_size=1, max_size=25)
PROPERTY = hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                     phases=[Phase.explicit, Phase.reuse, Phase.generate])


def insert(store: Store, site_id: str, history: list[dict], shift_days: int = 0) -> None:
    ev = Events(site_id)
    for n, e in enumerate(history):
        # at or before the run that follows: the collector bounds ts by its clock
        when = AS_OF - timedelta(days=e["days"] - shift_days, minutes=e["minutes"])
        if e["kind"] == "purchase":
            ev.purchase(e["visitor"], when, f"o{shift_days}-{n}", float(e["amount"]), items=[(f"p{n}", e["rubrique"])])
        elif e["kind"] == "identify":
            ev.add(e["visitor"], when, "identify", customer_id=e["customer"])
        elif e["kind"] == "survey":
            ev.add(e["visitor"], when, "survey", nps=e["nps"], satisfaction=1 + e["nps"] // 3)
        else:
            ev.add(e["visitor"], when, e["kind"], rubrique=e["rubrique"], product_id="p")
    ev.insert(store)


def stored(store: Store, site_id: str, table: str, key: str) -> pl.DataFrame:
    data = pl.from_arrow(store.client.query_arrow(f"SELECT * FROM {table} FINAL WHERE site_id = {{s:String}}",
                                                  parameters={"s": site_id}))
    return data.with_columns(pl.col(pl.Categorical).cast(pl.String)).drop(VOLATILE).sort(key)


def in_snapshot(config: Settings, site_id: str, table: str, key: str) -> pl.DataFrame:
    with reading(config.snapshot_path) as con:  # the base and the delta incremental runs write
        data = pl.from_arrow(con.sql(f"SELECT * FROM {table} WHERE site_id = $s", params={"s": site_id})
                             .to_arrow_table())
    assert isinstance(data, pl.DataFrame)
    return normal(data, key)


def normal(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    return frame.drop(VOLATILE, strict=False).sort(key)


def settings_for(tmp: Path) -> Settings:
    return Settings.from_env({"FIDELIA_DATA_DIR": str(tmp)})


@PROPERTY
@given(first=histories, later=histories)
def test_incremental_equals_full(store: Store, tmp_path: Path, first: list[dict], later: list[dict]) -> None:
    site_id, config = "p" + secrets.token_hex(6), settings_for(tmp_path)
    insert(store, site_id, first)
    rebuild_profiles(store, config, full=True, sites=[site_id], now=AS_OF)
    insert(store, site_id, later, shift_days=3)
    later_now = AS_OF + timedelta(days=3)
    [result] = rebuild_profiles(store, config, sites=[site_id], now=later_now)
    assert result.mode == "incremental"
    assert_holds_a_full_run(store, config, site_id, later_now)


def assert_holds_a_full_run(store: Store, config: Settings, site_id: str, now: datetime) -> None:
    """ClickHouse and the serving snapshot (which an incremental run only patches) hold the rows
    a full rebuild as of `now` computes."""
    visitors, customers = compute_site(store, config, Scope(site_id, now, full=True, watermark=EPOCH))
    for table, key, rows in (("visitor_profiles", "visitor_id", visitors), ("customer_profiles", "customer_id",
                                                                          customers)):
        assert_frame_equal(stored(store, site_id, table, key), normal(rows, key), check_dtypes=False)
        assert_frame_equal(in_snapshot(config, site_id, table, key), normal(naive_utc(rows), key), check_dtypes=False)


@PROPERTY
@given(history=histories)
def test_rebuilding_twice_changes_nothing(store: Store, tmp_path: Path, history: list[dict]) -> None:
    site_id, config = "p" + secrets.token_hex(6), settings_for(tmp_path)
    insert(store, site_id, history)
    rebuild_profiles(store, config, full=True, sites=[site_id], now=AS_OF)
    once = stored(store, site_id, "visitor_profiles", "visitor_id")
    rebuild_profiles(store, config, full=True, sites=[site_id], now=AS_OF)
    assert_frame_equal(stored(store, site_id, "visitor_profiles", "visitor_id"), once)
    rebuild_profiles(store, config, sites=[site_id], now=AS_OF)
    assert_frame_equal(stored(store, site_id, "visitor_profiles", "visitor_id"), once)


@PROPERTY
@given(mine=histories, theirs=histories)
def test_no_data_leaks_between_sites(store: Store, tmp_path: Path, mine: list[dict], theirs: list[dict]) -> None:
    config = settings_for(tmp_path)
    alone, shared, other = ("p" + secrets.token_hex(6) for _ in range(3))
    insert(store, alone, mine)
    insert(store, shared, mine)
    insert(store, other, theirs)  # same visitor and customer ids, another site
    rebuild_profiles(store, config, full=True, sites=[alone, shared, other], now=AS_OF)
    assert_frame_equal(stored(store, shared, "visitor_profiles", "visitor_id").drop("site_id"),
                       stored(store, alone, "visitor_profiles", "visitor_id").drop("site_id"))
    assert_frame_equal(stored(store, shared, "customer_profiles", "customer_id").drop("site_id"),
                       stored(store, alone, "customer_profiles", "customer_id").drop("site_id"))


@PROPERTY
@given(history=histories)
def test_interest_scores_are_non_negative_and_sorted(store: Store, tmp_path: Path, history: list[dict]) -> None:
    site_id = "p" + secrets.token_hex(6)
    insert(store, site_id, history)
    rebuild_profiles(store, settings_for(tmp_path), full=True, sites=[site_id], now=AS_OF)
    for table, key in (("visitor_profiles", "visitor_id"), ("customer_profiles", "customer_id")):
        for raw in stored(store, site_id, table, key)["interests"]:
            scores = [i["score"] for i in json.loads(raw)]
            assert all(s >= 0 for s in scores)
            assert scores == sorted(scores, reverse=True)
