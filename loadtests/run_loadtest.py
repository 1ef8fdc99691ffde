"""`make loadtest`: a local server on a fresh embedded store, Locust headless against it, the report.

Starts `fidelia serve --demo` on 127.0.0.1 with its own store in OUT/data (emptied first) and
a reports API key made for the run, runs the scenarios of loadtests/locustfile.py for a
bounded time, writes Locust's HTML and CSV report to OUT (default var/loadtest/), then stops the
server with SIGTERM (it flushes) and checks that every event acknowledged to the users is in
the store. Exit status 1 if a request failed or an event is missing.

    .venv/bin/python -m loadtests.run_loadtest --users 50 --spawn-rate 10 --duration 30s
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtests.api_bench import free_port, wait_healthy

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class LoadtestResult:
    requests: int
    failures: int
    sent_events: int
    stored_events: int

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.failures == 0 and self.stored_events == self.sent_events


def run_loadtest(out: Path, users: int, spawn_rate: float, duration: str, site: str = "demo") -> LoadtestResult:
    """Run the whole thing; the report lands in `out` (report.html, stats_*.csv, sent.json, server.log)."""
    from fidelia.auth import new_key

    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    key, entry = new_key(["reports"])
    env = {**os.environ, "FIDELIA_DATA_DIR": str(data), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{data}/clickhouse",
           "FIDELIA_API_KEYS": entry, "FIDELIA_LOG_LEVEL": "warning", "FIDELIA_PROFILES_EVERY_MINUTES": "0"}
    env.pop("FIDELIA_SITES_FILE", None)  # the built-in demo site
    port = free_port()
    with (out / "server.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "fidelia.cli", "serve", "--demo", "--host", "127.0.0.1",
                                   "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", server)
            subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
                            "-r", str(spawn_rate), "-t", duration, "--host", f"http://127.0.0.1:{port}",
                            "--html", str(out / "report.html"), "--csv", str(out / "stats"), "--only-summary",
                            "--site", site, "--reports-key", key, "--sent-file", str(out / "sent.json"),
                            "--exit-code-on-error", "0", "--stop-timeout", "10"], check=True, cwd=out)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    requests, failures = totals(out / "stats_stats.csv")
    sent = json.loads((out / "sent.json").read_text())["events"]
    return LoadtestResult(requests, failures, sent, stored_events(data, site))


def totals(stats_csv: Path) -> tuple[int, int]:
    with stats_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return int(row["Request Count"]), int(row["Failure Count"])
    raise SystemExit(f"{stats_csv}: no Aggregated row")


def stored_events(data: Path, site: str) -> int:
    """Counted in a child process: the caller (a test run) may already hold another embedded store,
    and a process opens one embedded store at a time."""
    code = ("import sys; from fidelia.store import Store; s = Store('chdb://' + sys.argv[1]); "
            "print(s.client.query('SELECT count() FROM events WHERE site_id = {s:String}', "
            "parameters={'s': sys.argv[2]}).result_rows[0][0]); s.close()")
    out = subprocess.run([sys.executable, "-c", code, str(data / "clickhouse"), site], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"counting the stored events failed: {out.stderr[-500:]}")
    return int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", default="30s", help="Locust's --run-time: 30s, 2m, …")
    parser.add_argument("--out", type=Path, default=Path("var/loadtest"))
    args = parser.parse_args()
    if args.users <= 0 or args.spawn_rate <= 0:
        parser.error("--users and --spawn-rate must be above 0")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = run_loadtest(out, args.users, args.spawn_rate, args.duration)
    print(f"{result.requests} requests, {result.failures} failed; events acknowledged {result.sent_events}, "
          f"stored after SIGTERM {result.stored_events}: "
          + ("none lost" if result.stored_events == result.sent_events else
             f"{result.sent_events - result.stored_events} missing"))
    print(f"report: {out / 'report.html'}, {out / 'stats_stats.csv'}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
