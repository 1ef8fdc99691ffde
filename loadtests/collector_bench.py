"""`POST /collect` against a bare Starlette 204 endpoint, same worker count, one run; then the
latency at 70% of the maximum rate, then the zero-loss check.

Starts `fidelia serve` on a fresh embedded store in a temp dir with a fresh site (its own sites
file) and a bare Starlette app whose `/collect` reads the body and answers 204, one uvicorn
worker each. Then:

1. wrk on both alternately (A B A B …), a mix of realistic two-event batches and user agents
   (`text/plain`, as `sendBeacon` sends them): median requests/s, p50, p99 and the ratio
   (goal >= 0.6).
2. The open-loop pacer at 70% of the collector's median maximum, A B A B again: p50/p99 counted
   from each request's scheduled time, median over the rounds (goal: p99 < 20 ms). The pacer is
   `loadtests/pacer.c`, built into var/pacer with the C compiler (a third of the Python
   pacer's CPU, which the server would otherwise not have); without a C compiler it falls back
   to `loadtests/pacer.py` and says so. Where this process may use it (root, CAP_SYS_NICE), the
   C pacer runs at the lowest real-time priority, so the server's own threads cannot delay its
   sends (`--pacer-priority normal`: never).
3. SIGTERM (the server flushes), reopen the store, count the site's rows: they must equal the
   events the server accepted (its `/metrics` counter) and cover every 2xx the clients saw
   (zero loss). wrk drops the requests still in flight when its time is up, so the server can
   have accepted a few batches more than wrk counted; none may be missing.

Browsers run on other machines and take no CPU from the server. Here the load generators share
two cores with it, so on a machine with two CPUs or more each server's event loop gets the last
CPU (`fidelia serve` through FIDELIA_LOOP_CPU, the bare app by its affinity) and wrk and the
pacer the others (`--no-pin`: anywhere). Unpinned, the pacer's 1 ms ticks landed on the loop's
CPU often enough to take ~10% of it as run-queue wait (docs/PERFORMANCE.md). Fidelia's embedded
ClickHouse threads stay on the generators' CPUs, as FIDELIA_LOOP_CPU puts them.

    .venv/bin/python -m loadtests.collector_bench --rounds 3 --seconds 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fidelia.cpus import CpuPlacement
from loadtests.api_bench import LATENCY, UNIT, free_port, wait_healthy

BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def collect(request):
    await request.body()
    return Response(status_code=204)
app = Starlette(routes=[Route("/collect", collect, methods=["POST"])])
'''
EVENTS_PER_BATCH = 2
SHOP = "https://shop.example/fr"
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
WRK_SCRIPT = '''
local bodies = {bodies}
local agents = {agents}
local reqs, i = {{}}, 0
init = function(args)
  for _, b in ipairs(bodies) do
    for _, a in ipairs(agents) do
      reqs[#reqs + 1] = wrk.format("POST", "/collect", {{["Content-Type"] = "text/plain", ["User-Agent"] = a}}, b)
    end
  end
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
'''


def batches(site_id: str) -> list[str]:
    """Two events each, as the snippet sends them from a product page."""
    page = f"{SHOP}/chaussures/escarpin-noir"
    pairs = [
        ({"type": "pageview", "url": page, "referrer": "https://www.google.com/", "rubrique": "chaussures"},
         {"type": "product_view", "url": page, "rubrique": "chaussures", "product_id": "p-123", "price": 79.9}),
        ({"type": "pageview", "url": f"{SHOP}/sacs/?utm_source=newsletter&utm_medium=email&utm_campaign=soldes"},
         {"type": "add_to_cart", "url": f"{SHOP}/sacs/cabas", "product_id": "p-77", "price": 120.0, "quantity": 1}),
        ({"type": "product_view", "url": f"{SHOP}/montres/m-9", "product_id": "p-9", "price": 249.0},
         {"type": "add_to_cart", "url": f"{SHOP}/montres/m-9", "product_id": "p-9", "price": 249.0, "quantity": 2}),
        ({"type": "pageview", "url": f"{SHOP}/recherche?q=bottes", "referrer": f"{SHOP}/"},
         {"type": "search", "url": f"{SHOP}/recherche?q=bottes", "query": "bottes"}),
    ]
    return [json.dumps({"site_id": site_id, "events": list(pair)}, separators=(",", ":")) for pair in pairs]


def lua_list(values: list[str]) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, script: Path, pid: int) -> dict[str, float]:
    cpu = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    latency = {q: float(v) * UNIT[u] for q, v, u in LATENCY.findall(out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {"rps": rate, "p50": latency.get("50", 0.0), "p99": latency.get("99", 0.0), "ok": float(total - errors),
            "errors": float(errors), "cpu_us": 1e6 * cpu / max(total, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--paced-seconds", type=int, default=10)
    parser.add_argument("--paced-rounds", type=int, default=3, help="paced runs per rate and server")
    parser.add_argument("--tick-ms", type=float, default=1.0,
                        help="the C pacer's send tick: requests due within one go out together (pacer.c)")
    parser.add_argument("--pacer-priority", choices=("auto", "realtime", "normal"), default="auto",
                        help="realtime: the C pacer at the lowest real-time priority (root or CAP_SYS_NICE), so the "
                             "server's threads never delay its sends, as they would not delay browsers on other "
                             "machines; auto (default): realtime where this process may use it, else normal")
    parser.add_argument("--pacer-realtime", dest="pacer_priority", action="store_const", const="realtime",
                        help="the same as --pacer-priority realtime")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the load generators run on any CPU, the servers' event loops' included")
    parser.add_argument("--load", type=float, default=0.7, help="paced rate as a share of the maximum")
    parser.add_argument("--rate", type=float, action="append", default=[],
                        help="also pace at this fixed rate in req/s (repeatable): what a loaded machine sustains")
    args = parser.parse_args()
    if min(args.rounds, args.seconds, args.connections, args.paced_seconds, args.paced_rounds, args.tick_ms,
           *args.rate) <= 0 or not 0 < args.load <= 1:
        parser.error("counts must be above 0 and --load in (0, 1]")
    args.pacer_realtime = args.pacer_priority == "realtime" or (args.pacer_priority == "auto" and realtime_permitted())
    with tempfile.TemporaryDirectory(prefix="fidelia-collector-bench-") as tmp:
        data = Path(tmp)
        site_id = "bench" + os.urandom(4).hex()
        (data / "sites.toml").write_text(f'[[site]]\nid = "{site_id}"\norigins = ["https://shop.example"]\n')
        bodies = batches(site_id)
        script = data / "collect.lua"
        script.write_text(WRK_SCRIPT.format(bodies=lua_list(bodies), agents=lua_list(USER_AGENTS)))
        (data / "bodies.jsonl").write_text("\n".join(bodies) + "\n")
        (data / "bare.py").write_text(BARE_APP)
        env = {**os.environ, "FIDELIA_DATA_DIR": str(data), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{data}/clickhouse",
               "FIDELIA_SITES_FILE": str(data / "sites.toml"), "FIDELIA_LOG_LEVEL": "warning",
               "FIDELIA_PROFILES_EVERY_MINUTES": "0"}
        cpus = None if args.no_pin else split_cpus()
        if cpus is not None:
            env["FIDELIA_LOOP_CPU"] = str(cpus[0])
        port, bare_port = free_port(), free_port()
        server = subprocess.Popen([sys.executable, "-m", "fidelia.cli", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare:app", "--port", str(bare_port),
                                 "--log-level", "warning", "--no-access-log"], cwd=data,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if cpus is not None:
            os.sched_setaffinity(bare.pid, {cpus[0]})  # its one thread yet: later ones inherit the CPU
            os.sched_setaffinity(0, cpus[1])  # wrk and the pacer, started from here, inherit these
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", server)
            wait_healthy(f"http://127.0.0.1:{bare_port}/", bare)
            snippet = snippet_bytes(port)
            ours, theirs = rounds(args, (port, server.pid), (bare_port, bare.pid), script)
            targets = [args.load * statistics.median(r["rps"] for r in ours), *args.rate]
            pacer = pacer_command()
            paced = [paced_rounds(args, pacer, (port, bare_port), data, rate) for rate in targets]
            accepted = accepted_events(port)
        finally:
            bare.send_signal(signal.SIGTERM)
            bare.wait(timeout=30)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
        stored = stored_events(data, site_id)
    acknowledged = EVENTS_PER_BATCH * int(sum(r["ok"] for r in ours) + sum(run["statuses"].get("204", 0)
                                                                            for runs, _ in paced for run in runs))
    report(args, pacer, cpus, snippet, ours, theirs, paced, acknowledged, accepted, stored)
    return 0 if stored == accepted and stored >= acknowledged else 1


def split_cpus() -> tuple[int, set[int]] | None:
    """(the servers' event-loop CPU, the load generators' CPUs), or None with a single CPU: the split
    `fidelia serve` makes with FIDELIA_LOOP_CPU=auto, so the generators get the engine's CPUs."""
    placement = CpuPlacement.plan("auto", embedded=True)
    return None if placement is None else (placement.loop_cpu, set(placement.others))


def realtime_permitted() -> bool:
    """Whether processes started from here may take a real-time priority: tried on this one, then undone."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(os.sched_get_priority_min(os.SCHED_FIFO)))
    except OSError:
        return False
    os.sched_setscheduler(0, policy, param)
    return True


def rounds(args: argparse.Namespace, fidelia: tuple[int, int], bare: tuple[int, int],
           script: Path) -> tuple[list[dict], list[dict]]:
    """A B A B: (port, pid) of each server; the pid gives the server's CPU per request."""
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(args.rounds):
        for (port, pid), runs in ((fidelia, ours), (bare, theirs)):
            runs.append(wrk(f"http://127.0.0.1:{port}/collect", args.seconds, args.connections, script, pid))
    return ours, theirs


def pacer_command() -> list[str]:
    """[var/pacer], (re)built from loadtests/pacer.c when it is older; the Python pacer's command without a C
    compiler."""
    source = Path(__file__).with_name("pacer.c")
    binary = Path(__file__).resolve().parents[1] / "var" / "pacer"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return [str(binary)]
    if compiler is None:
        print("no C compiler: pacing with loadtests/pacer.py, which takes ~0.4 core at 14,000 req/s from the server")
        return [sys.executable, "-m", "loadtests.pacer"]
    binary.parent.mkdir(exist_ok=True)
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source), "-lm"], check=True)
    return [str(binary)]


def pace(args: argparse.Namespace, pacer: list[str], port: int, data: Path, rate: float) -> dict:
    options = [f"--tick-ms={args.tick_ms}", *(["--realtime"] if args.pacer_realtime else [])] if len(pacer) == 1 else []
    out = subprocess.run([*pacer, *options, "--port", str(port), "--rate", str(round(rate)), "--seconds",
                          str(args.paced_seconds), "--body-file", str(data / "bodies.jsonl"),
                          *[f"--user-agent={ua}" for ua in USER_AGENTS]],
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def paced_rounds(args: argparse.Namespace, pacer: list[str], ports: tuple[int, int], data: Path,
                 rate: float) -> tuple[list[dict], list[dict]]:
    """A B A B at one fixed rate: the collector's runs and the bare app's."""
    ours: list[dict] = []
    theirs: list[dict] = []
    for _ in range(args.paced_rounds):
        for port, runs in zip(ports, (ours, theirs), strict=True):
            runs.append(pace(args, pacer, port, data, rate))
    return ours, theirs


def snippet_bytes(port: int) -> tuple[int, int]:
    """The size of `/t.js` as the server sends it: plain, and gzipped for a browser that accepts it."""
    import httpx

    url = f"http://127.0.0.1:{port}/t.js"
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    gzipped = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    if gzipped.headers.get("content-encoding") != "gzip":
        raise SystemExit("/t.js was not sent gzipped to a client that accepts it")
    return len(plain.content), gzipped.num_bytes_downloaded


def accepted_events(port: int) -> int:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return int(re.search(r"^fidelia_events_accepted_total (\d+)$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]


def stored_events(data: Path, site_id: str) -> int:
    from fidelia.store import Store

    store = Store(f"chdb://{data}/clickhouse")
    try:
        return int(store.client.query("SELECT count() FROM events WHERE site_id = {s:String}",
                                      parameters={"s": site_id}).result_rows[0][0])
    finally:
        store.close()


def report(args: argparse.Namespace, pacer: list[str], cpus: tuple[int, set[int]] | None, snippet: tuple[int, int],
           ours: list[dict], theirs: list[dict], paced_runs: list[tuple[list[dict], list[dict]]], acknowledged: int,
           accepted: int, stored: int) -> None:
    med = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "errors", "cpu_us")}
           for name, runs in (("fidelia", ours), ("bare", theirs))}
    ratio = med["fidelia"]["rps"] / med["bare"]["rps"]
    print(f"{args.rounds} rounds of {args.seconds} s, {args.connections} connections, {EVENTS_PER_BATCH} events "
          f"a batch; load average {Path('/proc/loadavg').read_text().split()[0]}")
    if cpus is None:
        print("CPUs: not pinned, the load generators run anywhere")
    else:
        print(f"CPUs: each server's event loop on CPU {cpus[0]}; wrk, the pacer and fidelia's ClickHouse threads "
              f"on {', '.join(map(str, sorted(cpus[1])))}")
    print(f"{'endpoint':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU us/req':>18}")
    for name, label in (("fidelia", "POST /collect (fidelia)"), ("bare", "bare Starlette 204")):
        m = med[name]
        print(f"{label:<28} {m['rps']:>9.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['cpu_us']:>18.1f}")
    print(f"ratio {ratio:.2f} (goal >= 0.60), by server CPU per request "
          f"{med['bare']['cpu_us'] / med['fidelia']['cpu_us']:.2f}; "
          f"non-2xx answers: {int(sum(r['errors'] for r in ours))}")
    summary = []
    for i, (paced, paced_bare) in enumerate(paced_runs):
        share = f"{args.load:.0%} of the collector's maximum" if i == 0 else "fixed rate"
        realtime = ", real-time priority" if args.pacer_realtime else ", normal priority"
        by = f"var/pacer, {args.tick_ms:g} ms tick{realtime}" if len(pacer) == 1 else "loadtests.pacer"
        print(f"paced at {paced[0]['target_rate']:.0f} req/s ({share}), {args.paced_rounds} x {args.paced_seconds} s "
              f"by {by}, latency from the scheduled send time, median of the rounds:")
        medians = {}
        for label, runs in (("POST /collect (fidelia)", paced), ("bare Starlette 204", paced_bare)):
            m = {k: statistics.median(r[k] for r in runs) for k in ("rate", "p50_ms", "p99_ms", "max_ms")}
            medians[label] = m
            refused = sum(n for r in runs for status, n in r["statuses"].items() if status != "204")
            print(f"  {label:<26} {m['rate']:>6.0f} req/s sent, p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms "
                  f"(runs: {', '.join(str(r['p99_ms']) for r in runs)}), max {m['max_ms']:.2f} ms, "
                  f"answers other than 204: {refused}")
            if "wake_lag_max_ms" in runs[0]:  # the C pacer's own delays, inside the latencies above
                print(f"  {'':<26} pacer woke late by up to {', '.join(str(r['wake_lag_max_ms']) for r in runs)} ms "
                      f"(p99 {', '.join(str(r['wake_lag_p99_ms']) for r in runs)}); requests left late by p99 "
                      f"{', '.join(str(r['send_lag_p99_ms']) for r in runs)} ms")
        ours_m, bare_m = medians.values()
        summary.append({"target": paced[0]["target_rate"], "rate": ours_m["rate"], "p99_ms": ours_m["p99_ms"],
                        "bare_rate": bare_m["rate"], "bare_p99_ms": bare_m["p99_ms"]})
    print("goal: p99 < 20 ms for the collector at 70% of its maximum (the bare lines show what the load "
          "generator and the machine add)")
    lost = accepted - stored
    print(f"events acknowledged to the clients {acknowledged}, accepted by the server {accepted}, stored "
          f"after SIGTERM {stored}: lost {lost}" + (" (zero loss)" if lost == 0 and stored >= acknowledged else ""))
    print(f"snippet /t.js as served: {snippet[0]:,} bytes, {snippet[1]:,} gzipped (goal < 1 KB gzipped)")
    print(json.dumps({"ratio": round(ratio, 3), "pinned": cpus is not None, "pacer_realtime": args.pacer_realtime,
                      "snippet_bytes": snippet[0], "snippet_gzip_bytes": snippet[1],
                      "paced": summary,
                      "acknowledged": acknowledged, "accepted": accepted, "stored": stored,
                      **{f"{n}_{k}": round(v, 2) for n, m in med.items() for k, v in m.items()}}))


if __name__ == "__main__":
    sys.exit(main())
