"""`fidelia simulate`: realistic shop traffic with a known truth, over HTTP or bulk-loaded.

Step three of the simulator: it draws the people (`population`), plays their visits
(`traffic`), then delivers the events and writes the ground truth.

- HTTP (`--url`): through the real collector. Each device is a browser: its own cookie jar
  (the server assigns `fid_vid`), its own User-Agent, batches of at most 20 events sent with
  their `ts`. Devices are sent concurrently by a few threads, each device's batches in order.
- Bulk (no `--url`): straight into the store, through the collector's own enrichment
  (`build_rows` with a `VisitState` per device, `rows_to_arrow`), in inserts of ~100k rows.
  Visitor and session ids derive from the seed. Chunks of people are generated in worker
  processes while the main process inserts, so memory stays bounded at a million visitors.

The same seed and the same end of window give the same events (all but `event_id`, and in
HTTP mode `received_at` and the server-assigned visitor and session ids). The truth lands in
`FIDELIA_DATA_DIR/simulations/{site}-seed{seed}/`: `visitors.parquet` (one row per visitor
id) and `products.parquet`.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from argparse import Namespace
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from hashlib import blake2b
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec
import polars as pl
import pyarrow as pa

from collector.cookies import VISITOR_COOKIE, VisitState
from collector.enrich import RequestContext, Row, build_rows, rows_to_arrow
from collector.useragent import parse_user_agent
from collector.validate import BatchIn
from fidelia.demo.catalog import demo_catalog
from fidelia.demo.population import DAY_MS, RUBRIQUE_SLUGS, Person, SimulationSpec, draw_people
from fidelia.demo.traffic import PersonLog, ProductTally, TrafficGenerator
from fidelia.errors import FideliaError
from fidelia.settings import Settings
from fidelia.sites import Site, SiteRegistry

if TYPE_CHECKING:
    import httpx

    from fidelia.store import Store

MAX_VISITORS = 10_000_000
INSERT_ROWS = 100_000
HTTP_BATCH_EVENTS = 20
HTTP_WORKERS = 6
MAX_BULK_WORKERS = 4
EVENTS_TABLE = "events"


class SimulationError(FideliaError):
    """The simulation cannot run as asked: a bad argument, a collector unreachable or refusing."""

    code = "simulation_error"


@dataclass
class SimulationResult:
    """What a run produced: the truth frames and the totals of the one-line summary."""

    visitors: pl.DataFrame
    products: pl.DataFrame
    events: int
    purchases: int
    elapsed: float


# --- the command ---------------------------------------------------------------------------


def simulate_command(args: Namespace, settings: Settings) -> int:
    """`fidelia simulate`: check the arguments, run a mode, write the truth, print a summary."""
    spec = spec_from_args(args, settings)
    progress = ProgressLine(sys.stderr, spec.visitors)
    if args.url:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per request
        if spec.days > settings.max_event_age_days:
            raise SimulationError(
                f"--days {spec.days} is more than the collector accepts: events older than "
                f"FIDELIA_MAX_EVENT_AGE_DAYS={settings.max_event_age_days} days are refused over HTTP. "
                "Bulk-load instead (leave out --url, with the server stopped) or raise that setting on the server.")
        result = simulate_http(args.url, args.site, spec, progress=progress)
        into = args.url
    else:
        from fidelia.store import Store

        site = SiteRegistry.load(settings.sites_file).get(args.site)
        store = Store.from_settings(settings)
        try:
            store.migrate(settings.retention_days)
            result = simulate_bulk(store, site, spec, max_event_age_days=settings.max_event_age_days,
                                   progress=progress)
        finally:
            store.close()
        into = settings.clickhouse_dsn
    folder = settings.data_dir / "simulations" / f"{args.site}-seed{spec.seed}"
    write_truth(result, folder, {"site": args.site, "seed": spec.seed, "visitors": spec.visitors,
                                 "days": spec.days, "end_ms": spec.end_ms, "into": into.split("@")[-1]})
    bots = int(result.visitors["is_bot"].sum())
    print(f"ground truth written to {folder}")
    print(f"simulated {spec.visitors} visitors ({result.visitors.height} visitor ids, {bots} bots), "
          f"{result.events} events, "
          f"{result.purchases} purchases in {result.elapsed:.1f} s → {into.split('@')[-1]}")
    return 0


def spec_from_args(args: Namespace, settings: Settings) -> SimulationSpec:
    if args.visitors <= 0 or args.visitors > MAX_VISITORS:
        raise SimulationError(f"--visitors {args.visitors}: give a whole number from 1 to {MAX_VISITORS}")
    if args.days <= 0:
        raise SimulationError(f"--days {args.days}: give a whole number of days above 0")
    if args.days > settings.retention_days:
        raise SimulationError(f"--days {args.days} is longer than FIDELIA_RETENTION_DAYS={settings.retention_days}: "
                              "the retention TTL would drop the oldest events; simulate fewer days")
    if args.seed < 0:
        raise SimulationError(f"--seed {args.seed}: give a whole number, 0 or above")
    if args.url is not None and not args.url.startswith(("http://", "https://")):
        raise SimulationError(f"--url {args.url!r}: give the collector's base URL, e.g. http://127.0.0.1:8000")
    return SimulationSpec(args.visitors, args.days, args.seed, int(time.time() * 1000),
                          session_timeout_ms=settings.session_timeout_minutes * 60_000)


# --- generation, shared by both modes --------------------------------------------------------


def play_chunk(spec: SimulationSpec, chunk_no: int) -> tuple[list[Person], list[PersonLog], ProductTally]:
    """The people of one chunk and everything they do: pure, deterministic for (seed, chunk)."""
    people = draw_people(spec, chunk_no)
    traffic = TrafficGenerator(spec, demo_catalog(), chunk_no)
    return people, [traffic.person_traffic(person) for person in people], traffic.tally


def seeded_visitor_id(seed: int, person_id: int, device_no: int) -> str:
    return blake2b(f"fidelia-sim:{seed}:{person_id}:{device_no}".encode(), digest_size=16).hexdigest()


@dataclass
class SeededVisitState(VisitState):
    """The collector's visit rule (a new session after an idle gap) with session ids drawn
    from the visitor id instead of os.urandom, so a seed gives the same sessions."""

    sessions: int = 0

    def session_for(self, ts_ms: int, timeout_ms: int) -> str:
        current = self.session_id
        if super().session_for(ts_ms, timeout_ms) != current:
            self.sessions += 1
            self.session_id = blake2b(f"{self.visitor_id}:{self.sessions}".encode(), digest_size=8).hexdigest()
        return self.session_id  # type: ignore[return-value]


# --- bulk mode -----------------------------------------------------------------------------


@dataclass
class BulkChunk:
    table: pa.Table
    truth: pl.DataFrame
    tally: ProductTally
    purchases: int


def bulk_chunk(spec: SimulationSpec, site: Site, chunk_no: int, max_age_ms: int) -> BulkChunk:
    """One chunk as rows of the events table, built by the collector's own enrichment."""
    collecting = gc.isenabled()
    gc.disable()  # a million short-lived objects and no cycles: the cyclic collector would only slow this down
    try:
        people, logs, tally = play_chunk(spec, chunk_no)
        rows: list[Row] = []
        visitor_ids = []
        for person, log in zip(people, logs, strict=True):
            ids = []
            for device_no, (device, device_log) in enumerate(zip(person.devices, log.devices, strict=True)):
                visit = SeededVisitState(seeded_visitor_id(spec.seed, person.person_id, device_no), None, 0)
                ua = parse_user_agent(device.user_agent)
                for events in device_log.visits:
                    batch = BatchIn(site.site_id, events)
                    ctx = RequestContext(events[-1].ts or 0, ua, max_age_ms, spec.session_timeout_ms)
                    rows += build_rows(batch, site, visit, ctx)
                ids.append(visit.visitor_id)
            visitor_ids.append(ids)
        table = rows_to_arrow(rows)
        del rows
        return BulkChunk(table, truth_frame(people, logs, visitor_ids), tally, sum(log.orders for log in logs))
    finally:
        if collecting:
            gc.enable()


def simulate_bulk(store: Store, site: Site, spec: SimulationSpec, max_event_age_days: int = 31,
                  workers: int | None = None, progress: ProgressLine | None = None) -> SimulationResult:
    """Bulk-load a simulation into an open, migrated store for `site`.

    `workers` processes generate chunks while this one inserts; None picks one per core for
    runs of several chunks, 0 generates in this process."""
    started = time.perf_counter()
    if workers is None:
        workers = 0 if spec.chunks == 1 else min(os.cpu_count() or 1, spec.chunks, MAX_BULK_WORKERS)
    max_age_ms = max_event_age_days * DAY_MS
    truths, tally, events, purchases = [], ProductTally.empty(len(demo_catalog().products)), 0, 0
    pending: list[pa.Table] = []
    pending_rows = inserts = 0
    for chunk_no, chunk in enumerate(_bulk_chunks(spec, site, max_age_ms, workers)):
        pending.append(chunk.table)
        pending_rows += chunk.table.num_rows
        if pending_rows >= INSERT_ROWS or chunk_no == spec.chunks - 1:
            token = f"simulate:{site.site_id}:{spec.seed}:{spec.end_ms}:{inserts}"
            store.insert_arrow(EVENTS_TABLE, pa.concat_tables(pending), dedupe_token=token)
            pending, pending_rows, inserts = [], 0, inserts + 1
        truths.append(chunk.truth)
        tally.add(chunk.tally)
        events += chunk.table.num_rows
        purchases += chunk.purchases
        if progress:
            progress.update(min(spec.visitors, (chunk_no + 1) * spec.chunk_people), events)
    if progress:
        progress.done()
    return SimulationResult(pl.concat(truths), products_frame(tally), events, purchases,
                            time.perf_counter() - started)


def _bulk_chunks(spec: SimulationSpec, site: Site, max_age_ms: int, workers: int) -> Iterator[BulkChunk]:
    """The chunks in order; with workers, at most two per worker in flight (bounded memory)."""
    if workers == 0:
        for chunk_no in range(spec.chunks):
            yield bulk_chunk(spec, site, chunk_no, max_age_ms)
        return
    # spawn, not fork: this process may hold an embedded ClickHouse and its threads. Workers
    # ignore Ctrl-C: the main process stops them, without a traceback from each.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)) as pool:
        futures: list[Future[BulkChunk]] = []
        submitted = 0
        try:
            for _ in range(spec.chunks):
                while submitted < spec.chunks and len(futures) < 2 * workers:
                    futures.append(pool.submit(bulk_chunk, spec, site, submitted, max_age_ms))
                    submitted += 1
                yield futures.pop(0).result()
        finally:
            for future in futures:
                future.cancel()


# --- HTTP mode -----------------------------------------------------------------------------


def simulate_http(base_url: str, site_id: str, spec: SimulationSpec, workers: int = HTTP_WORKERS,
                  progress: ProgressLine | None = None) -> SimulationResult:
    """Send a simulation through the collector at `base_url`, each device a browser with its cookies."""
    try:
        import httpx
    except ImportError:
        raise SimulationError("sending over HTTP needs httpx (pip install httpx); "
                              "or bulk-load instead (leave out --url)") from None

    started = time.perf_counter()
    base_url = base_url.rstrip("/")
    client = httpx.Client(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=workers))
    # The shared client keeps no cookies (a jar that refuses every domain; handed over as a bare
    # CookieJar, since httpx copies an httpx.Cookies into a default jar): each device has its own.
    client.cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    truths, tally, events, purchases = [], ProductTally.empty(len(demo_catalog().products)), 0, 0
    try:
        _probe(client, base_url)
        for chunk_no in range(spec.chunks):
            people, logs, chunk_tally = play_chunk(spec, chunk_no)
            visitor_ids = _send_chunk(client, base_url, site_id, people, logs, workers)
            truths.append(truth_frame(people, logs, visitor_ids))
            tally.add(chunk_tally)
            events += sum(device.n_events for log in logs for device in log.devices)
            purchases += sum(log.orders for log in logs)
            if progress:
                progress.update(min(spec.visitors, (chunk_no + 1) * spec.chunk_people), events)
    finally:
        client.close()
        if progress:
            progress.done()
    return SimulationResult(pl.concat(truths), products_frame(tally), events, purchases,
                            time.perf_counter() - started)


def _probe(client: httpx.Client, base_url: str) -> None:
    import httpx

    try:
        client.get("/healthz")
    except httpx.TransportError as exc:
        raise SimulationError(f"cannot reach the collector at {base_url} ({_reason(exc)}): "
                              "start it with `fidelia serve`, or check --url") from None


def _send_chunk(client: httpx.Client, base_url: str, site_id: str, people: list[Person], logs: list[PersonLog],
                workers: int) -> list[list[str]]:
    """Every device of the chunk, oldest first, a few at a time; the visitor ids the server gave them."""
    jobs = [(p, d) for p, log in enumerate(logs) for d, device in enumerate(log.devices) if device.visits]
    jobs.sort(key=lambda job: logs[job[0]].devices[job[1]].visits[0][0].ts or 0)
    ids: list[list[str]] = [[""] * len(person.devices) for person in people]
    stop = threading.Event()
    with ThreadPoolExecutor(workers) as pool:
        futures = {job: pool.submit(_send_device, client, base_url, site_id, people[job[0]].devices[job[1]].user_agent,
                                    logs[job[0]].devices[job[1]].visits, stop) for job in jobs}
        try:
            for (p, d), future in futures.items():
                ids[p][d] = future.result()
        finally:
            stop.set()
    return ids


def _send_device(client: httpx.Client, base_url: str, site_id: str, user_agent: str, visits: list[list[Any]],
                 stop: threading.Event) -> str:
    try:
        return _send_visits(client, base_url, site_id, user_agent, visits, stop)
    except BaseException:
        stop.set()  # the other devices stop at their next batch: one clear error, not a flood
        raise


def _send_visits(client: httpx.Client, base_url: str, site_id: str, user_agent: str, visits: list[list[Any]],
                 stop: threading.Event) -> str:
    """One device's visits in order, batch by batch, with its own cookie jar; its `fid_vid`."""
    import httpx

    jar = httpx.Cookies()
    headers = {"Content-Type": "application/json", "User-Agent": user_agent}
    for events in visits:
        for start in range(0, len(events), HTTP_BATCH_EVENTS):
            if stop.is_set():
                return ""
            batch = [_wire(event) for event in events[start:start + HTTP_BATCH_EVENTS]]
            body = msgspec.json.encode({"site_id": site_id, "events": batch})
            request = client.build_request("POST", "/collect", content=body, headers=headers, cookies=jar)
            try:
                response = client.send(request)
            except httpx.TransportError as exc:
                raise SimulationError(f"the collector at {base_url} stopped answering ({_reason(exc)})") from None
            if response.status_code != 204:
                raise _refusal(response, base_url, site_id)
            jar.extract_cookies(response)
    visitor_id = jar.get(VISITOR_COOKIE)
    if not visitor_id and not stop.is_set():
        raise SimulationError(f"the collector at {base_url} set no {VISITOR_COOKIE} cookie: is it a Fidelia collector?")
    return visitor_id or ""


def _wire(event: Any) -> dict[str, Any]:
    """An event as the snippet sends it: only the fields it has."""
    data = msgspec.to_builtins(event)
    if data.get("items"):
        data["items"] = [{k: v for k, v in item.items() if v is not None} for item in data["items"]]
    return {k: v for k, v in data.items() if v is not None}


def _refusal(response: httpx.Response, base_url: str, site_id: str) -> SimulationError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") or {} if isinstance(body, dict) else {}
    code, field = error.get("code", ""), error.get("field") or ""
    if code == "unknown_site":
        return SimulationError(f"the collector at {base_url} does not know site {site_id!r}: add it to the server's "
                               "sites file (FIDELIA_SITES_FILE) or pass --site with one of its sites")
    if response.status_code == 422 and field.endswith(".ts"):
        return SimulationError(f"the collector at {base_url} refuses events this old ({error.get('message')}): "
                               "simulate fewer --days, raise FIDELIA_MAX_EVENT_AGE_DAYS on the server, "
                               "or bulk-load instead (leave out --url, with the server stopped)")
    message = error.get("message") or response.text[:200]
    return SimulationError(f"the collector at {base_url} answered {response.status_code} {code}: {message}")


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if "refused" in text.lower():
        return "connection refused"
    return text.splitlines()[0][:120] if text else type(exc).__name__


# --- the ground truth ----------------------------------------------------------------------

TASTE_TYPE = pl.Struct({slug: pl.Float64() for slug in RUBRIQUE_SLUGS})
TIME_TYPE = pl.Datetime("ms", "UTC")


def truth_frame(people: list[Person], logs: list[PersonLog], visitor_ids: list[list[str]]) -> pl.DataFrame:
    """One row per visitor id that sent events: the person's latent traits and what happened."""
    rows = []
    for person, log, ids in zip(people, logs, visitor_ids, strict=True):
        stage = None if person.is_bot else true_stage(log)
        taste = dict(zip(RUBRIQUE_SLUGS, person.taste, strict=True)) if person.taste else None
        for device, device_log, visitor_id in zip(person.devices, log.devices, ids, strict=True):
            if not device_log.visits:
                continue
            rows.append((
                visitor_id, person.person_id, device.kind, device.user_agent, person.is_bot, len(person.devices),
                person.customer_id if device_log.identified else None, person.habit, list(person.top_rubriques),
                taste, person.propensity, person.novelty_seeker, device_log.visits[0][0].ts,
                device_log.visits[-1][-1].ts, log.churn_ms, len(device_log.visits), device_log.n_events,
                device_log.n_purchases, round(device_log.revenue, 2), device_log.n_complaints, log.orders,
                log.bad_deliveries, log.satisfaction, log.nps, stage,
            ))
    schema = pl.Schema({
        "visitor_id": pl.String(), "person_id": pl.Int64(), "device": pl.String(), "user_agent": pl.String(),
        "is_bot": pl.Boolean(), "n_devices": pl.UInt8(), "customer_id": pl.String(), "habit": pl.String(),
        "top_rubriques": pl.List(pl.String()), "taste": TASTE_TYPE, "purchase_propensity": pl.Float64(),
        "novelty_seeker": pl.Boolean(), "first_visit": pl.Int64(), "last_visit": pl.Int64(), "churn_date": pl.Int64(),
        "n_visits": pl.UInt32(), "n_events": pl.UInt32(), "n_purchases": pl.UInt32(), "revenue": pl.Float64(),
        "n_complaints": pl.UInt32(), "person_orders": pl.UInt32(), "bad_deliveries": pl.UInt32(),
        "satisfaction": pl.UInt8(), "nps": pl.UInt8(), "stage": pl.String(),
    })
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("first_visit", "last_visit", "churn_date").cast(TIME_TYPE))


def true_stage(log: PersonLog) -> str:
    """The lifecycle stage by the simulator's own rules (what the profiles should find)."""
    if log.orders >= 2 and log.nps is not None and log.nps >= 9:
        return "ambassador"
    if log.orders >= 2 and log.bought_new:
        return "supporter"
    if log.orders >= 2:
        return "repeat_customer"
    return "buyer" if log.orders == 1 else "prospect"


def products_frame(tally: ProductTally) -> pl.DataFrame:
    """Each product's true popularity (appeal) next to its realised human views, carts and sales."""
    products = demo_catalog().products
    return pl.DataFrame({
        "product_id": [p.product_id for p in products], "rubrique": [p.rubrique for p in products],
        "name": [p.name_en for p in products], "price": [p.price for p in products],
        "is_new": [p.is_new for p in products], "appeal": [p.appeal for p in products],
        "views": tally.views, "add_to_carts": tally.add_to_carts, "units_sold": tally.units_sold,
    })


def write_truth(result: SimulationResult, folder: Path, meta: dict[str, Any]) -> None:
    """Write the truth next to a fresh copy, then swap it in: a reader never sees half of it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    fresh = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    result.visitors.write_parquet(fresh / "visitors.parquet")
    result.products.write_parquet(fresh / "products.parquet")
    (fresh / "simulation.json").write_text(json.dumps({**meta, "events": result.events,
                                                       "purchases": result.purchases}, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    fresh.rename(folder)


class ProgressLine:
    """A short progress line on stderr, only when it is a terminal."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total = stream, total
        self.enabled = stream.isatty()
        self.started = self.last = time.monotonic()

    def update(self, visitors: int, events: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.5 or visitors >= self.total):
            self.last = now
            self.stream.write(f"\rsimulate: {visitors}/{self.total} visitors, {events} events, "
                              f"{now - self.started:.0f} s ")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
