"""CPU time of one `POST /collect` in-process, against a bare Starlette 204, no sockets.

Calls the real app (build_app on a temp embedded store) and the bare app straight through
ASGI with the same two-event batch, alternating, and prints the CPU microseconds per request
of each: what the collector's own code costs, without the HTTP server, the load generator or
the other jobs of a shared machine (throughput numbers on a loaded 2-core machine swing by
2x; this moves by a few percent). The writer does not flush during the run, so this is the
request path alone. `--profile` prints cProfile's top functions instead.

    .venv/bin/python -m loadtests.collector_cpu --requests 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = (b'{"site_id":"demo","events":[{"type":"pageview","url":"https://shop.example/fr/chaussures/escarpin-noir",'
        b'"referrer":"https://www.google.com/","rubrique":"chaussures"},{"type":"product_view",'
        b'"url":"https://shop.example/fr/chaussures/escarpin-noir","rubrique":"chaussures","product_id":"p-123",'
        b'"price":79.9}]}')
USER_AGENT = (b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              b"Version/17.5 Mobile/15E148 Safari/604.1")


async def bare_collect(request: Any) -> Response:
    await request.body()
    return Response(status_code=204)


BARE = Starlette(routes=[Route("/collect", bare_collect, methods=["POST"])])


def scope() -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/collect", "raw_path": b"/collect", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", USER_AGENT), (b"content-type", b"text/plain"),
                        (b"content-length", str(len(BODY)).encode()), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000), "state": {}}


async def cpu_per_request(app: Any, n: int) -> float:
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.process_time()
    for _ in range(n):
        await app(scope(), receive, send)
    elapsed = time.process_time() - started
    if statuses != {204}:
        raise SystemExit(f"unexpected answers {statuses}")
    return elapsed / n * 1e6


async def run(args: argparse.Namespace) -> None:
    from fidelia.app import build_app
    from fidelia.settings import Settings
    from fidelia.store import Store

    data = Path(tempfile.mkdtemp(prefix="fidelia-collector-cpu-"))
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(data), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{data}/ch",
                                  "FIDELIA_FLUSH_ROWS": "100000000", "FIDELIA_FLUSH_INTERVAL": "3600"})
    store = Store(settings.clickhouse_dsn)
    store.migrate(settings.retention_days)
    app = build_app(settings, store=store)
    await cpu_per_request(app, 500)  # warm the caches (user agent, URL split)
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        await cpu_per_request(app, args.requests)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(await cpu_per_request(app, args.requests))
        theirs.append(await cpu_per_request(BARE, args.requests))
    ours.sort()
    theirs.sort()
    print(f"CPU per request, median of {args.rounds} x {args.requests}: POST /collect {ours[len(ours) // 2]:.1f} us, "
          f"bare Starlette 204 {theirs[len(theirs) // 2]:.1f} us (in-process, no HTTP server)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.requests <= 0 or args.rounds <= 0:
        parser.error("--requests and --rounds must be above 0")
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # the embedded store's threads need not be waited for


if __name__ == "__main__":
    sys.exit(main())
