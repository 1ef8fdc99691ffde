"""App wiring: builds the Starlette app from the settings, the store and the parts.

The composition root: the only place that knows every part. Each package exposes its
routes; this module mounts them, owns the store's lifetime and turns FideliaError into
JSON error responses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector.app import CollectorEndpoints
from collector.metrics import CollectorMetrics
from collector.spool import Spool
from collector.writer import EventWriter
from fidelia.errors import FideliaError
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry
from fidelia.store import Store

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The long-lived parts of one running app, reachable from tests and the CLI."""

    settings: Settings
    store: Store
    sites: SiteRegistry
    metrics: CollectorMetrics
    writer: EventWriter


def open_store(settings: Settings) -> Store:
    """Open the configured store and bring its schema up to date."""
    store = Store(settings.clickhouse_dsn)
    applied = store.migrate(settings.retention_days)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    return store


def build_app(settings: Settings, store: Store | None = None, clock: Callable[[], float] = time.time) -> Starlette:
    """The whole service as one ASGI app. Without a store, the configured one is opened and
    migrated now, and closed when the app shuts down."""
    sites = SiteRegistry.load(settings.sites_file)
    owns_store = store is None
    store = store if store is not None else open_store(settings)
    metrics = CollectorMetrics()
    writer = EventWriter(store, Spool(settings.spool_dir), metrics, settings.flush_rows,
                         settings.flush_interval, settings.retry_max_seconds)
    services = Services(settings, store, sites, metrics, writer)
    collector = CollectorEndpoints(settings, sites, writer, metrics, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await writer.start()
        try:
            yield
        finally:
            await writer.stop()
            if owns_store:
                store.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "buffered_events": metrics.buffered,
                             "spool_segments": metrics.spool_segments})

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    routes = [*collector.routes(), Route("/healthz", healthz), Route("/metrics", prometheus)]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={FideliaError: fidelia_error, Exception: unexpected_error})
    app.state.services = services
    return app


async def fidelia_error(request: Request, exc: Exception) -> Response:
    error = cast(FideliaError, exc)
    return JSONResponse(error.to_json(), status_code=error.status)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": {"code": "internal", "message": "internal error; see the server log"}},
                        status_code=500)
