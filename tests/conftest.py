"""Shared fixtures: one real embedded ClickHouse per test run, a fresh site per test, and
live servers on real sockets.

chdb lets one process hold one store path at a time, so the whole run shares one store
(migrated once) and tests stay independent by each using its own `site_id`, the way
tenants are kept apart in production. Tests that need a store of their own (a `fidelia
serve` subprocess) read it back through a subprocess too.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fidelia.app import Services, build_app
from fidelia.server import uvicorn_config
from fidelia.settings import Settings
from fidelia.store import Store

ROOT = Path(__file__).resolve().parent.parent
TEST_OUTPUT = ROOT / "test-output"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("clickhouse")
    shared = Store(f"chdb://{path}")
    shared.migrate(retention_days=760)
    yield shared
    shared.close()


@pytest.fixture
def site_id() -> str:
    return "t" + secrets.token_hex(6)


class FakeClock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_sites(folder: Path, site_ids: list[str], origins: list[str] | None = None) -> Path:
    lines = []
    for sid in site_ids:
        lines += [
            "[[site]]", f'id = "{sid}"', f"origins = {json.dumps(origins or ['https://shop.example'])}",
            "[[site.rubrique_rules]]", 'pattern = "^/r/(?P<rubrique>[a-z0-9-]+)"', "",
        ]
    path = folder / "sites.toml"
    path.write_text("\n".join(lines))
    return path


def make_settings(data_dir: Path, site_ids: list[str], **overrides: Any) -> Settings:
    sites = write_sites(data_dir, site_ids)
    base = {"FIDELIA_DATA_DIR": str(data_dir), "FIDELIA_SITES_FILE": str(sites), "FIDELIA_FLUSH_INTERVAL": "0.2"}
    return Settings.from_env(base, **overrides)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real app under uvicorn on a real port, in a thread of the test process."""

    def __init__(self, settings: Settings, store: Store, clock: Any = time.time, demo: bool = False) -> None:
        self.app = build_app(settings, store=store, clock=clock, demo=demo)
        self.services: Services = self.app.state.services
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(self.app, "127.0.0.1", self.port, "warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def flush(self) -> bool:
        """Run one writer flush on the server's own event loop and wait for it."""
        loop = self.server_loop()
        return asyncio.run_coroutine_threadsafe(self.services.writer.flush(), loop).result(timeout=30)

    def server_loop(self) -> asyncio.AbstractEventLoop:
        task = self.services.writer._task
        if task is None:
            raise RuntimeError("writer not started")
        return task.get_loop()

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("headers", {"User-Agent": FIREFOX})
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live(store: Store, site_id: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(make_settings(tmp_path, [site_id]), store).start()
    yield server
    server.stop()


def count_events(store: Store, site_id: str) -> int:
    return int(store.client.query("SELECT count() FROM events WHERE site_id = {s:String}",
                                  parameters={"s": site_id}).result_rows[0][0])


def events_of(store: Store, site_id: str, columns: str = "*") -> list[dict[str, Any]]:
    result = store.client.query(f"SELECT {columns} FROM events WHERE site_id = {{s:String}} ORDER BY ts",
                                parameters={"s": site_id})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def read_store_in_subprocess(path: Path, sql: str) -> Any:
    """Query an embedded store this process cannot open (it holds the session store)."""
    code = ("import json, sys, clickhouse_connect; c = clickhouse_connect.get_client(dsn='chdb://' + sys.argv[1]); "
            "print(json.dumps(c.query(sys.argv[2]).result_rows, default=str))")
    out = subprocess.run([sys.executable, "-c", code, str(path), sql], capture_output=True, text=True,
                         timeout=120, env={**os.environ})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout)
