"""`GET /v1/me/recommendations` against a bare Starlette JSON endpoint, same worker count, one run.

Builds a small simulated shop in a temp dir, rebuilds its profiles (the snapshot the API reads),
starts `fidelia serve` and a bare Starlette app answering a ~1 KB JSON body, then runs wrk on
both alternately (A B A B …) with the cookie of a visitor who has a profile, and prints the
median requests/s, p50 and p99 of each and their ratio (goal: >= 0.5). wrk cannot pace a fixed
rate, so latencies are at full load; fewer `--connections` show them at a lighter one.

    .venv/bin/python -m loadtests.api_bench --rounds 3 --seconds 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
BODY = {body!r}
async def offer(request):
    return Response(BODY, media_type="application/json")
app = Starlette(routes=[Route("/v1/me/recommendations", offer)])
'''
LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited at start (code {proc.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"{url} not answering after {seconds} s")


def wrk(url: str, cookie: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Cookie: {cookie}",
                          url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {q: float(v) * UNIT[u] for q, v, u in LATENCY.findall(out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rate, "p50": latency.get("50", 0.0), "p99": latency.get("99", 0.0),
            "errors": float(non2xx.group(1)) if non2xx else 0.0}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if min(args.visitors, args.rounds, args.seconds, args.connections) <= 0:
        parser.error("every count must be above 0")
    fidelia = [sys.executable, "-m", "fidelia.cli"]
    with tempfile.TemporaryDirectory(prefix="fidelia-api-bench-") as tmp:
        data = Path(tmp)
        env = {**os.environ, "FIDELIA_DATA_DIR": str(data), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{data}/clickhouse",
               "FIDELIA_RECO_HOLDOUT": "0", "FIDELIA_LOG_LEVEL": "warning"}
        subprocess.run([*fidelia, "simulate", "--visitors", str(args.visitors), "--days", "30", "--seed", "5"],
                       env=env, check=True, capture_output=True)
        subprocess.run([*fidelia, "profiles", "rebuild", "--full"], env=env, check=True, capture_output=True)
        visitor = pick_visitor(data)
        port, bare_port = free_port(), free_port()
        server = subprocess.Popen([*fidelia, "serve", "--demo", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sample = httpx.Client(cookies={"fid_vid": visitor})
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", server)
            body = sample.get(f"http://127.0.0.1:{port}/v1/me/recommendations?slot=home&n=8").content
            (data / "bare.py").write_text(BARE_APP.format(body=body))
            bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare:app", "--port", str(bare_port),
                                     "--log-level", "warning", "--no-access-log"], cwd=data,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_healthy(f"http://127.0.0.1:{bare_port}/v1/me/recommendations", bare)
                run(args, port, bare_port, visitor, len(body))
            finally:
                bare.send_signal(signal.SIGTERM)
                bare.wait(timeout=30)
        finally:
            sample.close()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    return 0


def pick_visitor(data: Path) -> str:
    from profiles.snapshot import reading

    with reading(data / "snapshot" / "profiles.duckdb") as con:
        row = con.execute("SELECT visitor_id FROM visitor_profiles WHERE visits > 1 ORDER BY visits DESC LIMIT 1"
                          ).fetchone()
    if row is None:
        raise SystemExit("no returning visitor in the simulated shop")
    return str(row[0])


def run(args: argparse.Namespace, port: int, bare_port: int, visitor: str, size: int) -> None:
    cookie = f"fid_vid={visitor}"
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(wrk(f"http://127.0.0.1:{port}/v1/me/recommendations?slot=home&n=8", cookie, args.seconds,
                        args.connections))
        theirs.append(wrk(f"http://127.0.0.1:{bare_port}/v1/me/recommendations", cookie, args.seconds,
                          args.connections))
    med = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "errors")}
           for name, runs in (("fidelia", ours), ("bare", theirs))}
    print(f"response body {size} bytes, {args.rounds} rounds of {args.seconds} s, {args.connections} connections")
    print(f"{'endpoint':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, label in (("fidelia", "/v1/me/recommendations (fidelia)"), ("bare", "bare Starlette JSON")):
        m = med[name]
        print(f"{label:<34} {m['rps']:>9.0f} {m['p50']:>8.2f} {m['p99']:>8.2f}")
    print(f"ratio {med['fidelia']['rps'] / med['bare']['rps']:.2f} (goal >= 0.50); "
          f"non-2xx answers: {int(med['fidelia']['errors'])}")
    print(json.dumps({"ratio": round(med["fidelia"]["rps"] / med["bare"]["rps"], 3), **{
        f"{n}_{k}": round(v, 2) for n, m in med.items() for k, v in m.items()}}))


if __name__ == "__main__":
    sys.exit(main())
