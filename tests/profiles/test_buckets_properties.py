"""Bucketed profile rebuild (FIDELIA_PROFILES_BUCKETS > 1 or auto) equals the single pass, on
generated histories in the real embedded store: same visitor and customer profiles in ClickHouse
and in the serving snapshot, full and incremental, with customers whose devices and imported
orders span buckets (the buckets are ranges of the visitor id), customers with no device at all
(imported orders, referrals) written in chunks, and RFM scores ranked against the whole site."""

from __future__ import annotations

import secrets
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import polars as pl
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.buckets import plan_buckets
from profiles.job import rebuild_profiles
from profiles.snapshot import reading
from tests.profiles.events import AS_OF, Events
from tests.profiles.test_profiles_properties import PROPERTY, VISITORS, VOLATILE, histories, insert, stored

INCREMENTAL = hsettings(PROPERTY, max_examples=8)
imported = st.lists(st.tuples(st.sampled_from(["K1", "K2", "K3"]), st.integers(0, 300), st.integers(1, 500)),
                    max_size=3)


def import_orders(store: Store, site_id: str, orders: list[tuple[str, int, int]]) -> None:
    """Past orders, some of a customer (K3) no visitor is ever linked to."""
    if orders:
        frame = pl.DataFrame({
            "site_id": site_id, "order_id": [f"imp{n}" for n in range(len(orders))],
            "customer_id": [c for c, _, _ in orders],
            "ordered_at": [AS_OF - timedelta(days=d) for _, d, _ in orders],
            "amount": [float(a) for _, _, a in orders], "items": "[]",
        }).with_columns(pl.col("ordered_at").dt.cast_time_unit("ms"))
        store.insert_arrow("imported_orders", frame.to_arrow())


def settings_for(tmp: Path, buckets: int | str, per_bucket: int = 100_000) -> Settings:
    return Settings.from_env({"FIDELIA_DATA_DIR": str(tmp), "FIDELIA_PROFILES_BUCKETS": str(buckets),
                              "FIDELIA_PROFILES_BUCKET_VISITORS": str(per_bucket)})


def both_sites(store: Store, history: list[dict], orders: list[tuple[str, int, int]]) -> tuple[str, str]:
    single, bucketed = "p" + secrets.token_hex(6), "p" + secrets.token_hex(6)
    for site_id in (single, bucketed):
        insert(store, site_id, history)
        import_orders(store, site_id, orders)
    return single, bucketed


def snapshot_rows(path: Path, site_id: str, table: str, key: str) -> pl.DataFrame:
    with reading(path) as con:
        data = pl.from_arrow(con.sql(f"SELECT * FROM {table} WHERE site_id = ?", params=[site_id]).to_arrow_table())
    assert isinstance(data, pl.DataFrame)
    return data.drop([*VOLATILE, "site_id"], strict=False).sort(key)


def assert_same_profiles(store: Store, single: str, bucketed: str, one: Settings, many: Settings) -> None:
    for table, key in (("visitor_profiles", "visitor_id"), ("customer_profiles", "customer_id")):
        assert_frame_equal(stored(store, bucketed, table, key).drop("site_id"),
                           stored(store, single, table, key).drop("site_id"))
        assert_frame_equal(snapshot_rows(many.snapshot_path, bucketed, table, key),
                           snapshot_rows(one.snapshot_path, single, table, key))


@PROPERTY
@given(history=histories, orders=imported, buckets=st.integers(2, 5))
def test_bucketed_full_rebuild_equals_single_pass(store: Store, tmp_path: Path, history: list[dict],
                                                  orders: list[tuple[str, int, int]], buckets: int) -> None:
    single, bucketed = both_sites(store, history, orders)
    one, many = settings_for(tmp_path / "one", 1), settings_for(tmp_path / "many", buckets)
    [a] = rebuild_profiles(store, one, full=True, sites=[single], now=AS_OF)
    [b] = rebuild_profiles(store, many, full=True, sites=[bucketed], now=AS_OF)
    assert (b.visitors, b.customers) == (a.visitors, a.customers)
    assert_same_profiles(store, single, bucketed, one, many)


@INCREMENTAL  # four rebuilds per example
@given(first=histories, later=histories, buckets=st.integers(2, 4))
def test_bucketed_incremental_rebuild_equals_single_pass(store: Store, tmp_path: Path, first: list[dict],
                                                         later: list[dict], buckets: int) -> None:
    single, bucketed = both_sites(store, first, [])
    one, many = settings_for(tmp_path / "one", 1), settings_for(tmp_path / "many", buckets)
    rebuild_profiles(store, one, full=True, sites=[single], now=AS_OF)
    rebuild_profiles(store, many, full=True, sites=[bucketed], now=AS_OF)
    for site_id in (single, bucketed):
        insert(store, site_id, later, shift_days=3)
    later_now = AS_OF + timedelta(days=3)
    [a] = rebuild_profiles(store, one, sites=[single], now=later_now)
    [b] = rebuild_profiles(store, many, sites=[bucketed], now=later_now)
    assert a.mode == b.mode == "incremental"
    assert_same_profiles(store, single, bucketed, one, many)


def test_buckets_split_the_visitors_without_overlap(store: Store, tmp_path: Path) -> None:
    """Each visitor is written by exactly one bucket: the buckets' visitor counts add up to
    the visitors, none twice (a visitor in two buckets would count twice)."""
    site_id = "p" + secrets.token_hex(6)
    history = [{"visitor": f"v{n}", "days": n, "minutes": 0, "kind": "pageview", "rubrique": "shoes",
                "customer": "K1", "amount": 1, "nps": 0} for n in range(40)]
    history += [{**history[0], "visitor": "v1", "kind": "identify"}, {**history[0], "visitor": "v2",
                                                                        "kind": "identify"}]
    insert(store, site_id, history)
    [result] = rebuild_profiles(store, settings_for(tmp_path, 7), full=True, sites=[site_id], now=AS_OF)
    assert result.visitors == 40
    assert result.customers == 1


def pageviews(visitors: list[str]) -> list[dict]:
    return [{"visitor": v, "days": 1 + n % 20, "minutes": 0, "kind": "pageview", "rubrique": "shoes",
             "customer": "", "amount": 1, "nps": 0} for n, v in enumerate(visitors)]


def test_auto_buckets_follow_the_visitors_per_bucket_10(store: Store, tmp_path: Path) -> None:
    """`auto`: one bucket per FIDELIA_PROFILES_BUCKET_VISITORS visitors, consecutive ranges of the
    visitor id that cover every id once; a site under the size runs in one pass."""
    site_id = "p" + secrets.token_hex(6)
    visitors = [secrets.token_hex(16) for _ in range(40)]
    insert(store, site_id, pageviews(visitors))
    plan = plan_buckets(store, settings_for(tmp_path, "auto", per_bucket=10), site_id, AS_OF)
    assert len(plan) == 4
    assert plan[0].lo == plan[-1].hi == ""
    assert all(a.hi == b.lo for a, b in pairwise(plan))
    sizes = [sum(1 for v in visitors if b.lo <= v and (b.hi == "" or v < b.hi)) for b in plan]
    assert sizes == [10, 10, 10, 10]
    assert len(plan_buckets(store, settings_for(tmp_path, "auto", per_bucket=40), site_id, AS_OF)) == 1
    [result] = rebuild_profiles(store, settings_for(tmp_path, "auto", per_bucket=10), full=True, sites=[site_id],
                                now=AS_OF)
    assert result.visitors == 40


def test_a_customer_with_devices_in_far_apart_buckets_10(store: Store, tmp_path: Path) -> None:
    """The devices of one customer at both ends of the visitor ids and in the middle, with
    buckets between them that hold none: one customer profile with all three, as in one pass."""
    devices = ["0" * 32, "8" * 32, "f" * 32]
    history = pageviews([f"{n:x}" * 32 for n in range(16)] + devices)
    # each event at its own minute: events at the same instant have no order to agree on
    history = [{**e, "minutes": n} for n, e in enumerate(history)]
    history += [{**history[0], "visitor": v, "kind": "identify", "customer": "K1", "minutes": 100 + n}
                for n, v in enumerate(devices)]
    history += [{**history[0], "visitor": devices[1], "kind": "purchase", "amount": 30, "days": 2, "minutes": 200}]
    single, bucketed = both_sites(store, history, [])
    one, many = settings_for(tmp_path / "one", 1), settings_for(tmp_path / "many", 6)
    assert len(plan_buckets(store, many, bucketed, AS_OF)) == 6
    rebuild_profiles(store, one, full=True, sites=[single], now=AS_OF)
    [b] = rebuild_profiles(store, many, full=True, sites=[bucketed], now=AS_OF)
    assert b.customers == 1
    assert_same_profiles(store, single, bucketed, one, many)
    assert stored(store, bucketed, "customer_profiles", "customer_id")["visitor_ids"].to_list() == [devices]


deviceless = st.lists(st.tuples(st.sampled_from([f"K{n}" for n in range(1, 9)]), st.integers(0, 300),
                                st.integers(1, 500)), max_size=12)
referrals = st.lists(st.tuples(st.sampled_from(VISITORS), st.sampled_from(["K1", "K4", "K9"])), max_size=3)


def refer(store: Store, site_id: str, links: list[tuple[str, str]]) -> None:
    """Page views that land with ?ref=<customer>: a referral credited to a customer who may have
    no device (K9 never identifies, nor buys)."""
    if links:
        ev = Events(site_id)
        for n, (visitor, customer) in enumerate(links):
            ev.add(visitor, AS_OF - timedelta(days=n + 1), rubrique="shoes", url=f"https://shop.example/?ref={customer}")
        ev.insert(store)


@PROPERTY
@given(history=histories, orders=deviceless, links=referrals)
def test_customers_without_a_device_are_written_in_chunks_as_in_one_pass(
        store: Store, tmp_path: Path, history: list[dict], orders: list[tuple[str, int, int]],
        links: list[tuple[str, str]]) -> None:
    """Two visitors per bucket and two customers per chunk of those with imported orders or
    referrals but no device: several buckets and several chunks, the single pass's profiles."""
    single, bucketed = both_sites(store, history, orders)
    for site_id in (single, bucketed):
        refer(store, site_id, links)
    one, many = settings_for(tmp_path / "one", 1), settings_for(tmp_path / "many", "auto", per_bucket=2)
    [a] = rebuild_profiles(store, one, full=True, sites=[single], now=AS_OF)
    [b] = rebuild_profiles(store, many, full=True, sites=[bucketed], now=AS_OF)
    assert (b.visitors, b.customers) == (a.visitors, a.customers)
    assert_same_profiles(store, single, bucketed, one, many)


def rank_score(values: pl.Expr) -> pl.Expr:
    """The RFM score by its definition (profiles/rfm.py): the rank among all buyers, ties averaged."""
    return (1 + ((values.rank(method="average") - 0.5) * 5 / pl.len()).floor()).clip(1, 5).cast(pl.UInt8)


buyers = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3), st.sampled_from([10, 20, 20, 35])),
                  min_size=1, max_size=30)


@PROPERTY
@given(purchases=buyers, buckets=st.integers(1, 4))
def test_rfm_scores_are_ranks_among_every_buyer_of_the_site(store: Store, tmp_path: Path,
                                                            purchases: list[tuple[int, int, int]],
                                                            buckets: int) -> None:
    """Few distinct values, so ties at the cut points: each buyer's scores, bucketed or not, are
    their rank among all the site's buyers (fewest days best), as if ranked in one frame."""
    site_id = "p" + secrets.token_hex(6)
    ev = Events(site_id)
    for n, (visitor, days, amount) in enumerate(purchases):
        ev.purchase(f"b{visitor}{n % 3}", AS_OF - timedelta(days=days * 7, minutes=n), f"o{n}", float(amount))
    ev.insert(store)
    rebuild_profiles(store, settings_for(tmp_path, buckets), full=True, sites=[site_id], now=AS_OF)
    got = stored(store, site_id, "visitor_profiles", "visitor_id").filter(pl.col("orders") > 0)
    expected = got.with_columns(rank_score(-pl.col("recency_days")).alias("rfm_r"),
                                rank_score(pl.col("frequency")).alias("rfm_f"),
                                rank_score(pl.col("monetary")).alias("rfm_m"))
    assert_frame_equal(got.select("rfm_r", "rfm_f", "rfm_m"), expected.select("rfm_r", "rfm_f", "rfm_m"))
