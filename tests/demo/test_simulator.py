"""`fidelia simulate`: deterministic for a seed, the same events over HTTP and in bulk, a ground
truth that the stored events bear out, and clear refusals of bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from collector.validate import BatchIn, check_batch
from fidelia.demo.catalog import demo_catalog
from fidelia.demo.population import SimulationSpec
from fidelia.demo.simulator import (
    SimulationError,
    SimulationResult,
    play_chunk,
    simulate_bulk,
    simulate_http,
    truth_frame,
)
from fidelia.sites import Site, SiteRegistry
from fidelia.store import Store
from tests.conftest import LiveServer, events_of, free_port, make_settings, read_store_in_subprocess, write_sites

FIDELIA = [sys.executable, "-m", "fidelia.cli"]
SLUGS = {r.slug for r in demo_catalog().rubriques}
# Compared between runs: everything but the ids drawn at random (event_id) or by the server clock.
CONTENT = ("ts, visitor_id, session_id, customer_id, event_type, url, path, referrer, utm_source, utm_medium, "
           "utm_campaign, rubrique, product_id, price, quantity, order_id, revenue, items, search_query, "
           "satisfaction, nps, browser, os, device_type, is_bot, consent, props")


def spec(visitors: int, days: int, seed: int = 5, **extra: Any) -> SimulationSpec:
    return SimulationSpec(visitors, days, seed, end_ms=int(time.time() * 1000), **extra)


def site_for(folder: Path, site_id: str) -> Site:
    return SiteRegistry.load(str(write_sites(folder, [site_id]))).get(site_id)


def bulk(store: Store, folder: Path, site_id: str, simulation: SimulationSpec, **kwargs: Any) -> SimulationResult:
    folder.mkdir(exist_ok=True)
    return simulate_bulk(store, site_for(folder, site_id), simulation, **kwargs)


def content(store: Store, site_id: str) -> list[dict[str, Any]]:
    rows = events_of(store, site_id, CONTENT)
    return sorted(rows, key=lambda r: (r["visitor_id"], r["ts"], r["event_type"], r["url"]))


def test_same_seed_gives_the_same_events_and_truth(store: Store, tmp_path: Path) -> None:
    simulation = spec(150, 10)
    sites = ["ta" + os.urandom(5).hex(), "tb" + os.urandom(5).hex(), "tc" + os.urandom(5).hex()]
    first = bulk(store, tmp_path / "a", sites[0], simulation)
    second = bulk(store, tmp_path / "b", sites[1], simulation)
    other_seed = bulk(store, tmp_path / "c", sites[2], spec(150, 10, seed=6))
    events = [content(store, site) for site in sites]
    assert first.events == len(events[0]) > 500
    assert events[0] == events[1]  # visitor ids and session ids derive from the seed too
    assert events[0] != events[2]
    assert_frame_equal(first.visitors, second.visitors)
    assert_frame_equal(first.products, second.products)
    assert not first.visitors.equals(other_seed.visitors)


def test_worker_processes_generate_what_one_process_does(store: Store, tmp_path: Path) -> None:
    simulation = spec(90, 6, chunk_people=30)  # three chunks
    serial_site, parallel_site = "ts" + os.urandom(5).hex(), "tp" + os.urandom(5).hex()
    serial = bulk(store, tmp_path / "s", serial_site, simulation, workers=0)
    parallel = bulk(store, tmp_path / "p", parallel_site, simulation, workers=2)
    assert content(store, serial_site) == content(store, parallel_site)
    assert_frame_equal(serial.visitors, parallel.visitors)


def test_generated_events_pass_the_collectors_checks() -> None:
    _, logs, _ = play_chunk(spec(300, 20), 0)
    visits = [visit for log in logs for device in log.devices for visit in device.visits]
    assert len(visits) > 300
    for visit in visits:
        check_batch(BatchIn("demo", visit), len(visit))  # raises on any event the collector would refuse


def test_experience_drives_satisfaction_complaints_and_churn() -> None:
    people, logs, _ = play_chunk(spec(10_000, 60, seed=4), 0)
    truth = truth_frame(people, logs, [[f"v{p.person_id}-{d}" for d in range(len(p.devices))] for p in people])
    humans = truth.filter(~pl.col("is_bot"))
    by_delivery = humans.group_by(pl.col("bad_deliveries") > 0).agg(
        pl.col("satisfaction").mean(), pl.col("nps").mean(), pl.col("n_complaints").sum(),
        pl.col("churn_date").is_not_null().mean().alias("churned")).sort("bad_deliveries")
    good, bad = by_delivery.rows(named=True)
    assert bad["satisfaction"] < good["satisfaction"] - 1 and bad["nps"] < good["nps"] - 2
    assert good["n_complaints"] == 0 < bad["n_complaints"]  # complaints follow bad deliveries only
    assert bad["churned"] > 2 * good["churned"]
    promoters = humans.filter((pl.col("person_orders") >= 2) & (pl.col("bad_deliveries") == 0) & (pl.col("nps") >= 9))
    assert promoters.height >= 10 and set(promoters["stage"]) == {"ambassador"}
    assert set(humans["stage"]) == {"prospect", "buyer", "repeat_customer", "supporter", "ambassador"}
    conversion = humans["n_purchases"].sum() / humans["n_visits"].sum()
    assert 0.02 < conversion < 0.06  # orders per visit, as in fashion e-commerce


def test_http_and_bulk_send_the_same_events(store: Store, site_id: str, tmp_path: Path) -> None:
    simulation = spec(60, 5)
    live = LiveServer(make_settings(tmp_path, [site_id]), store).start()
    try:
        over_http = simulate_http(live.base_url, site_id, simulation, workers=4)
        live.flush()
    finally:
        live.stop()
    bulk_site = "tb" + os.urandom(5).hex()
    in_bulk = bulk(store, tmp_path / "bulk", bulk_site, simulation)
    assert over_http.events == in_bulk.events

    http_rows, bulk_rows = events_of(store, site_id, CONTENT), events_of(store, bulk_site, CONTENT)
    for rows in (http_rows, bulk_rows):
        assert all(len(r["visitor_id"]) == 32 and len(r["session_id"]) == 16 for r in rows)
        assert {r["rubrique"] for r in rows} <= SLUGS | {""}
    assert filled_columns(http_rows) == filled_columns(bulk_rows)
    # Same people, same visits: only the server-assigned visitor and session ids differ.
    assert as_person_events(http_rows, over_http) == as_person_events(bulk_rows, in_bulk)
    assert sessions_per_person(http_rows, over_http) == sessions_per_person(bulk_rows, in_bulk)


def filled_columns(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per event type, the columns that hold a value."""
    filled: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        filled[row["event_type"]] |= {k for k, v in row.items() if v not in (None, "")}
    return dict(filled)


def person_device(result: SimulationResult) -> dict[str, tuple[int, str]]:
    return {v: (p, d) for v, p, d in result.visitors.select("visitor_id", "person_id", "device").iter_rows()}


def as_person_events(rows: list[dict[str, Any]], result: SimulationResult) -> list[tuple[Any, ...]]:
    who = person_device(result)
    return sorted((who[r["visitor_id"]], *(v for k, v in r.items() if k not in ("visitor_id", "session_id")))
                  for r in rows)


def sessions_per_person(rows: list[dict[str, Any]], result: SimulationResult) -> Counter[tuple[int, str]]:
    who = person_device(result)
    return Counter(who[visitor] for visitor, _ in {(r["visitor_id"], r["session_id"]) for r in rows})


def test_http_mode_explains_events_too_old_for_the_collector(store: Store, site_id: str, tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, [site_id], max_event_age_days=2), store).start()
    try:
        with pytest.raises(SimulationError, match="bulk-load instead"):
            simulate_http(live.base_url, site_id, spec(40, 6))
    finally:
        live.stop()


def test_ground_truth_matches_the_stored_events(store: Store, site_id: str, tmp_path: Path) -> None:
    result = bulk(store, tmp_path, site_id, spec(300, 30, seed=11))
    truth = result.visitors
    rows = events_of(store, site_id, "visitor_id, session_id, customer_id, event_type, rubrique, product_id, ts, "
                                     "is_bot, revenue")
    by_visitor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_visitor[row["visitor_id"]].append(row)
    assert set(by_visitor) == set(truth["visitor_id"])

    for t in truth.iter_rows(named=True):
        events = by_visitor[t["visitor_id"]]
        assert len(events) == t["n_events"]
        assert len({e["session_id"] for e in events}) == t["n_visits"]  # one simulated visit, one session
        assert sum(e["event_type"] == "purchase" for e in events) == t["n_purchases"]
        assert {e["is_bot"] for e in events} == {int(t["is_bot"])}
        if t["churn_date"] is not None:  # a churned visitor never comes back after the date
            assert max(e["ts"] for e in events) < t["churn_date"].replace(tzinfo=None)
        identified = {e["customer_id"] for e in events if e["event_type"] == "identify"}
        assert identified == ({t["customer_id"]} if t["customer_id"] else set())
    assert truth["churn_date"].is_not_null().sum() >= 10

    # Taste shows in behaviour: the most viewed rubrique is one of the true top ones for most people.
    hits = total = 0
    for t in truth.filter(~pl.col("is_bot")).iter_rows(named=True):
        viewed = Counter(e["rubrique"] for e in by_visitor[t["visitor_id"]] if e["rubrique"])
        if sum(viewed.values()) >= 5:
            total += 1
            hits += viewed.most_common(1)[0][0] in t["top_rubriques"]
    assert total >= 100 and hits / total >= 0.8, (hits, total)

    # Identity merging has something to merge: people with two visitor ids under one customer id.
    two_devices = truth.filter(pl.col("customer_id").is_not_null()).group_by("customer_id").len()
    assert two_devices.filter(pl.col("len") == 2).height >= 1

    people = truth.group_by("person_id").agg(pl.col("n_purchases").sum(), pl.col("person_orders").first())
    assert people.filter(pl.col("n_purchases") != pl.col("person_orders")).is_empty()

    views = Counter(r["product_id"] for r in rows if r["event_type"] == "product_view" and not r["is_bot"])
    assert dict(zip(*result.products.select("product_id", "views"), strict=True)) == {
        p.product_id: views.get(p.product_id, 0) for p in demo_catalog().products}


# --- the command line --------------------------------------------------------------------------


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{tmp_path}/clickhouse"}
    return subprocess.run([*FIDELIA, "simulate", *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


def assert_refused(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fidelia: "), out.stderr
    for word in words:
        assert word in lines[0]


def test_cli_refuses_bad_arguments(tmp_path: Path) -> None:
    assert_refused(run_cli(tmp_path, "--visitors", "-5", "--days", "3"), "--visitors -5")
    assert_refused(run_cli(tmp_path, "--visitors", "10", "--days", "0"), "--days 0")
    assert_refused(run_cli(tmp_path, "--visitors", "10", "--days", "3", "--site", "nope"), "'nope'", "demo")
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert_refused(run_cli(tmp_path, "--visitors", "10", "--days", "3", "--url", unreachable),
                   "cannot reach", unreachable)
    assert_refused(run_cli(tmp_path, "--visitors", "10", "--days", "45", "--url", unreachable),
                   "FIDELIA_MAX_EVENT_AGE_DAYS")


def test_cli_names_a_site_the_collector_does_not_know(store: Store, live: LiveServer, tmp_path: Path) -> None:
    out = run_cli(tmp_path, "--visitors", "10", "--days", "3", "--url", live.base_url, "--site", "nope")
    assert_refused(out, "does not know site 'nope'")


def test_cli_bulk_loads_and_writes_the_truth(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "--visitors", "120", "--days", "10", "--seed", "3")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "simulations" / "demo-seed3"
    assert str(folder) in out.stdout and "120 visitors" in out.stdout
    truth = pl.read_parquet(folder / "visitors.parquet")
    assert pl.read_parquet(folder / "products.parquet").height == len(demo_catalog().products)
    [[stored, visitors]] = read_store_in_subprocess(
        tmp_path / "clickhouse", "SELECT count(), uniqExact(visitor_id) FROM events WHERE site_id = 'demo'")
    assert stored == truth["n_events"].sum() and visitors == truth.height
