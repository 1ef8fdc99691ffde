"""The `fidelia` command line. Each verb is a thin shell over the packages."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from fidelia.errors import FideliaError
from fidelia.settings import Settings

if TYPE_CHECKING:
    from fidelia.store import Store

log = logging.getLogger("fidelia")
PR_SET_PDEATHSIG = 1
REPORT_NAMES = ("top-rubriques", "visitors", "attrition", "basket", "frequency", "rfm", "lifecycle", "satisfaction",
                "top-products", "sources", "recommendations", "customer-value")


def stop_with_parent() -> None:
    """Ask Linux to send us SIGTERM when the process that started us dies.

    An orphaned `fidelia serve` would go on holding the embedded store, and every later
    command would find it locked; with this, a dead launcher (a killed shell, a wrapper
    script) ends in the same graceful, flushing shutdown as a plain SIGTERM.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the launcher died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fidelia.app import build_app
    from fidelia.cpus import CpuPlacement
    from fidelia.server import uvicorn_config

    app = build_app(settings, demo=args.demo)
    if settings.stop_with_parent:
        stop_with_parent()
    placement = CpuPlacement.plan(settings.loop_cpu, app.state.services.store.embedded)
    if placement is not None:  # uvicorn runs the event loop in this thread
        placement.keep()
    uvicorn.Server(uvicorn_config(app, args.host, args.port, settings.log_level)).run()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.cluster import check_cluster_name
    from fidelia.store import Store, cluster_ddl

    cluster = check_cluster_name(args.cluster) if args.cluster else settings.clickhouse_cluster
    if args.dry_run:
        if not cluster:
            print("fidelia: --dry-run prints the cluster DDL: give --cluster NAME (or FIDELIA_CLICKHOUSE_CLUSTER)",
                  file=sys.stderr)
            return 2
        print(f"-- fidelia migrate on cluster {cluster}: not run (--dry-run); "
              f"retention_days = {settings.retention_days} binds the TTL parameter")
        print(";\n\n".join(cluster_ddl(cluster)) + ";")
        return 0
    store = Store.from_settings(settings.replace(clickhouse_cluster=cluster))
    try:
        applied = store.migrate(settings.retention_days)
    finally:
        store.close()
    print("applied: " + ", ".join(applied) if applied else "store is up to date")
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.demo.simulator import simulate_command

    return simulate_command(args, settings)


def cmd_profiles_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.sites import SiteRegistry
    from fidelia.store import Store
    from profiles.job import Progress, rebuild_profiles

    site_ids = [site.site_id for site in SiteRegistry.load(settings.sites_file)]
    store = Store.from_settings(settings)
    try:
        store.migrate(settings.retention_days)
        results = rebuild_profiles(store, settings, full=args.full, as_of=args.as_of, sites=site_ids,
                                   progress=Progress())
    finally:
        store.close()
    for result in results:
        print(f"{result.site_id}: {result.mode} rebuild, {result.visitors} visitor and {result.customers} "
              f"customer profiles written in {result.seconds:.1f} s")
    if not results:
        print("no events yet: nothing to rebuild")
    return 0


def cmd_import_orders(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from profiles.orders_import import import_orders

    with _store(settings, args.site) as store:
        report = import_orders(store, Path(args.file), args.site, skip_bad_rows=args.skip_bad_rows)
    for line in report.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"{report.loaded} orders loaded into site {args.site}" +
          (f", {len(report.skipped)} bad rows skipped" if report.skipped else ""))
    return 0


def cmd_import_catalog(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from recommender.catalog_import import import_catalog

    with _store(settings, args.site) as store:
        loaded = import_catalog(store, Path(args.file), args.site)
    print(f"{loaded} products loaded into the catalog of site {args.site}")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.sites import SiteRegistry
    from fidelia.store import Store
    from profiles.report_format import render
    from profiles.reports import DEFAULT_BUCKET, REPORTS, UnknownReport, parse_params, run_report

    if args.name not in REPORTS:
        raise UnknownReport(f"no report named {args.name!r}; reports: {', '.join(REPORTS)}")
    SiteRegistry.load(settings.sites_file).get(args.site)
    today = args.as_of or datetime.now(UTC).date()
    if args.to and args.as_of and args.to > args.as_of.isoformat():
        print("fidelia: --to is after --as-of", file=sys.stderr)
        return 2
    params = parse_params(args.site, args.start, args.to or today.isoformat(), args.by, today,
                          settings.attrition_days, DEFAULT_BUCKET.get(args.name))
    store = Store.from_settings(settings)
    try:
        store.migrate(settings.retention_days)
        report = run_report(store, args.name, params)
    finally:
        store.close()
    print(render(report, args.format))
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.privacy import erase_person, find_person

    with _store(settings, args.site) as store:
        person = find_person(store, args.site, args.id)
        removed = erase_person(store, person, settings.snapshot_path, settings.data_dir)
    kind = "customer" if person.customer else "visitor"
    print(f"erased {kind} with {len(person.visitors)} visitor id(s): {removed} events, profiles and links removed")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from fidelia.privacy import export_person, find_person

    with _store(settings, args.site) as store:
        exported = export_person(store, find_person(store, args.site, args.id))
    print(json.dumps(exported, ensure_ascii=False, indent=2, default=str))
    return 0


@contextlib.contextmanager
def _store(settings: Settings, site_id: str) -> Iterator[Store]:
    """The migrated store for a command on one configured site; closed afterwards."""
    from fidelia.sites import SiteRegistry
    from fidelia.store import Store

    SiteRegistry.load(settings.sites_file).get(site_id)
    store = Store.from_settings(settings)
    try:
        store.migrate(settings.retention_days)
        yield store
    finally:
        store.close()


def cmd_keys_new(args: argparse.Namespace, settings: Settings) -> int:
    from fidelia.auth import SCOPES, new_key

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        print(f"fidelia: --scopes takes a comma-separated list of {', '.join(SCOPES)}", file=sys.stderr)
        return 2
    key, entry = new_key(scopes)
    print(f"key (give it to the client; it is shown once and not stored): {key}")
    print(f"add to FIDELIA_API_KEYS (comma-separated with the others):    {entry}")
    return 0


def as_of_date(text: str) -> datetime:
    """`--as-of 2026-03-31`: the profiles as they stood at the end of that day (UTC)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None
    return datetime.combine(day, time(23, 59, 59, 999000), tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fidelia", description="Tracking and customer profiles for e-shops.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    serve = verbs.add_parser("serve", help="run the collector and APIs (migrates the store first)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--demo", action="store_true", help="also serve the demo shop under /shop")
    serve.set_defaults(run=cmd_serve)

    migrate = verbs.add_parser("migrate", help="apply the sql/ migrations (idempotent)")
    migrate.add_argument("--cluster", metavar="NAME",
                         help="create the tables ON CLUSTER NAME: Replicated local tables, Distributed fronts "
                              "(default FIDELIA_CLICKHOUSE_CLUSTER)")
    migrate.add_argument("--dry-run", action="store_true", help="print the cluster DDL, run nothing")
    migrate.set_defaults(run=cmd_migrate)

    profiles = verbs.add_parser("profiles", help="visitor and customer profiles")
    profile_verbs = profiles.add_subparsers(dest="profiles_verb", required=True, metavar="COMMAND")
    rebuild = profile_verbs.add_parser("rebuild", help="rebuild profiles (incremental unless --full or --as-of)")
    rebuild.add_argument("--full", action="store_true", help="recompute every visitor from all events")
    rebuild.add_argument("--as-of", type=as_of_date, metavar="DATE",
                         help="rebuild as if today were DATE (YYYY-MM-DD, end of day UTC); implies --full")
    rebuild.set_defaults(run=cmd_profiles_rebuild)

    report = verbs.add_parser("report", help="a merchandiser report: " + ", ".join(REPORT_NAMES))
    report.add_argument("name", metavar="NAME", help="one of: " + ", ".join(REPORT_NAMES))
    report.add_argument("--from", dest="start", metavar="DATE", help="first day (YYYY-MM-DD; default: 30 days)")
    report.add_argument("--to", metavar="DATE", help="last day, included (YYYY-MM-DD; default: today)")
    report.add_argument("--as-of", type=lambda t: as_of_date(t).date(), metavar="DATE",
                        help="report as if today were DATE")
    report.add_argument("--by", choices=["day", "week", "month"], help="bucket of the per-period reports")
    report.add_argument("--site", default="demo", help="site id (default demo)")
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.set_defaults(run=cmd_report)

    forget = verbs.add_parser("forget", help="erase a visitor's (or a customer's, with all their visitors') data")
    forget.add_argument("id", help="a visitor id (fid_vid) or a customer id")
    forget.add_argument("--site", default="demo", help="site id (default demo)")
    forget.set_defaults(run=cmd_forget)

    export = verbs.add_parser("export", help="everything held about a visitor or a customer, as JSON")
    export.add_argument("id", help="a visitor id (fid_vid) or a customer id")
    export.add_argument("--site", default="demo", help="site id (default demo)")
    export.set_defaults(run=cmd_export)

    keys = verbs.add_parser("keys", help="API keys for the server routes")
    key_verbs = keys.add_subparsers(dest="keys_verb", required=True, metavar="COMMAND")
    new = key_verbs.add_parser("new", help="make a key; prints it once, and the FIDELIA_API_KEYS entry for it")
    new.add_argument("--scopes", default="profiles", help="comma-separated: profiles, reports, admin")
    new.set_defaults(run=cmd_keys_new)

    orders = verbs.add_parser("import-orders", help="load past orders (CSV or Parquet) so history counts")
    orders.add_argument("file", help="customer_id, order_id, ordered_at, amount (+ optional items) per row")
    orders.add_argument("--site", default="demo", help="site the orders belong to (default demo)")
    orders.add_argument("--skip-bad-rows", action="store_true", help="load the good rows, report the bad ones")
    orders.set_defaults(run=cmd_import_orders)

    catalog = verbs.add_parser("import-catalog", help="load or update the product catalog (CSV or JSON feed)")
    catalog.add_argument("file", help="product_id, name, rubrique, price, url (+ optional in_stock, is_new)")
    catalog.add_argument("--site", default="demo", help="site the catalog belongs to (default demo)")
    catalog.set_defaults(run=cmd_import_catalog)

    simulate = verbs.add_parser("simulate", help="realistic shop traffic, over HTTP or bulk-loaded into the store")
    simulate.add_argument("--visitors", type=int, required=True, help="how many simulated visitors")
    simulate.add_argument("--days", type=int, required=True, help="over how many days, ending now")
    simulate.add_argument("--seed", type=int, default=1, help="same seed, same traffic (default 1)")
    simulate.add_argument("--url", help="send through the collector at this base URL (else bulk-load the store)")
    simulate.add_argument("--site", default="demo", help="site id the events belong to (default demo)")
    simulate.set_defaults(run=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run: Callable[[argparse.Namespace, Settings], int] = args.run
        return run(args, settings)
    except FideliaError as exc:
        print(f"fidelia: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
