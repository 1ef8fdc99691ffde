"""How the app runs under uvicorn: the one server configuration `fidelia serve` and the tests'
live servers share, so what the tests see on a socket is what production answers."""

from __future__ import annotations

from typing import Any

import uvicorn
from starlette.applications import Starlette

from collector.protocol import protocol_for
from fidelia.app import Services

GRACEFUL_SHUTDOWN_SECONDS = 10


def uvicorn_config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    """uvicorn's settings for the app built by `build_app`.

    - The collector's hot routes are answered inside the HTTP protocol (collector/protocol.py)
      unless FIDELIA_COLLECTOR_FAST_PATH is off.
    - No access log: it would write client IPs, which Fidelia never stores.
    - No proxy headers: FIDELIA_TRUST_PROXY alone decides whether a forwarded address or scheme
      counts, on every route and on both paths of the collector.
    """
    services: Services = app.state.services
    settings = services.settings
    http: Any = "auto"
    if settings.collector_fast_path:
        http = protocol_for(services.collector.protocol_routes(), settings.max_body_bytes, services.metrics,
                            services.writer)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, proxy_headers=False,
                          http=http, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
