"""App wiring: builds the Starlette app from the settings, the store and the parts.

The composition root: the only place that knows every part. Each package exposes its
routes; this module mounts them, owns the store's lifetime and turns FideliaError into
JSON error responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector.app import CollectorEndpoints
from collector.http import HotPathMiddleware
from collector.metrics import CollectorMetrics
from collector.spool import Spool
from collector.writer import EventWriter
from fidelia.auth import ApiKeys
from fidelia.dashboard.routes import dashboard_routes
from fidelia.errors import FideliaError, InternalError, error_payload
from fidelia.openapi import openapi_document
from fidelia.privacy_api import PrivacyAPI
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry
from fidelia.store import Store
from profiles.reports_api import ReportsAPI
from recommender.api import ProfileAPI
from recommender.serving import SnapshotReader

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The long-lived parts of one running app, reachable from tests and the CLI."""

    settings: Settings
    store: Store
    sites: SiteRegistry
    metrics: CollectorMetrics
    writer: EventWriter
    collector: CollectorEndpoints


def open_store(settings: Settings) -> Store:
    """Open the configured store and bring its schema up to date."""
    store = Store.from_settings(settings)
    applied = store.migrate(settings.retention_days)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    return store


def build_app(
    settings: Settings,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    demo: bool = False,
) -> Starlette:
    """The whole service as one ASGI app. Without a store, the configured one is opened and
    migrated now, and closed when the app shuts down. `demo` adds the demo shop under /shop."""
    sites = SiteRegistry.load(settings.sites_file)
    owns_store = store is None
    store = store if store is not None else open_store(settings)
    metrics = CollectorMetrics()
    writer = EventWriter(store, Spool(settings.spool_dir, settings.spool_max_bytes), metrics, settings.flush_rows,
                         settings.flush_interval, settings.retry_max_seconds)
    collector = CollectorEndpoints(settings, sites, writer, metrics, clock)
    services = Services(settings, store, sites, metrics, writer, collector)
    reader = SnapshotReader(settings.snapshot_path)
    keys = ApiKeys.parse(settings.api_keys)
    api = ProfileAPI(settings, sites, reader, keys, clock)
    reports = ReportsAPI(settings, sites, store, keys, clock)
    privacy = PrivacyAPI(settings, sites, store, keys, reader)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # What start-up loaded (modules, caches, the catalog) lives as long as the process: frozen,
        # the garbage collector stops rescanning it, which on /collect showed as 50-100 ms pauses.
        gc.collect()
        gc.freeze()
        await writer.start()
        scheduler = ProfilesSchedule(store, settings, [site.site_id for site in sites])
        if settings.profiles_every_minutes:
            scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await writer.stop()
            if owns_store:
                store.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "buffered_events": metrics.buffered,
                             "spool_segments": metrics.spool_segments})

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    routes = [*collector.routes(), *api.routes(), *reports.routes(), *privacy.routes(),
              *dashboard_routes(settings, sites, store, keys, clock, demo), Route("/healthz", healthz),
              Route("/metrics", prometheus),
              Route("/openapi.json", openapi)]
    if demo:
        from fidelia.demo.catalog import load_demo_catalog
        from fidelia.demo.shop import shop_routes

        load_demo_catalog(store)
        routes += shop_routes()
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(HotPathMiddleware, routes=collector.hot_routes(), on_error=fidelia_error)],
                    exception_handlers={FideliaError: fidelia_error, Exception: unexpected_error})
    app.state.services = services
    return app


class ProfilesSchedule:
    """Incremental profile rebuilds every FIDELIA_PROFILES_EVERY_MINUTES, in a worker thread so the
    collector keeps answering meanwhile. Stopping waits for a rebuild in progress: the store
    must not close under it."""

    def __init__(self, store: Store, settings: Settings, site_ids: list[str]) -> None:
        self.store = store
        self.settings = settings
        self.site_ids = site_ids
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="fidelia-profiles")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running

    async def _loop(self) -> None:
        from profiles.job import rebuild_profiles

        while True:
            await asyncio.sleep(self.settings.profiles_every_minutes * 60)
            running = asyncio.ensure_future(asyncio.to_thread(rebuild_profiles, self.store, self.settings,
                                                              sites=self.site_ids))
            self._running = running
            try:
                await asyncio.shield(running)
            except FideliaError as exc:
                log.error("scheduled profiles rebuild failed: %s", exc.message)
            except asyncio.CancelledError:
                raise
            except Exception:  # the schedule must survive a bad run; the next one retries
                log.exception("scheduled profiles rebuild failed")
            self._running = None


async def fidelia_error(request: Request, exc: Exception) -> Response:
    error = cast(FideliaError, exc)
    status, body = error_payload(error)
    if status == 500:
        log.error("%s on %s %s: %s", error.code, request.method, request.url.path, error.message)
        return JSONResponse(body, status_code=500)
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return JSONResponse(body, status_code=status, headers=headers)



async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    status, body = error_payload(InternalError("unexpected error"))
    return JSONResponse(body, status_code=status)
