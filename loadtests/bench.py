"""`make bench`: the benchmarks of docs/PERFORMANCE.md in one run, their results written there.

Runs each benchmark as its own process (`python -m loadtests.NAME ARGS`), one after the other,
showing its output as it comes. Then records what each printed, with the machine, the package
versions, the commit, the load average and the wall time, in docs/bench-results.json, and renders
those records into docs/PERFORMANCE.md between the markers of its last section, "Last `make bench`
run" (added at the end of the file when missing). The sections above it are written by hand, from
these numbers and the probes behind them.

Naming benchmarks runs only those and replaces only their records: the others keep their last
run, each with its own date, commit and machine. A benchmark that fails is recorded with its exit
code and the run goes on; the command then exits 1.

    .venv/bin/python -m loadtests.bench                                   # all: about an hour and a half
    .venv/bin/python -m loadtests.bench collector_bench api_bench         # `make bench BENCH="..."`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- make bench: begin -->"
END = "<!-- make bench: end -->"
PACKAGES = ("chdb", "chdb-core", "clickhouse-connect", "starlette", "uvicorn", "httptools", "polars", "duckdb",
            "pyarrow", "user-agents", "locust")
OUTPUT_LINES = 60  # the tail of a benchmark's output kept in the record
LINE_CHARS = 400


@dataclass(frozen=True)
class Bench:
    name: str  # the module under loadtests/
    args: tuple[str, ...]


BENCHES = (
    Bench("collector_bench", ("--rounds", "3", "--seconds", "8", "--rate", "2000")),
    Bench("api_bench", ("--rounds", "3", "--seconds", "6")),
    Bench("quality_eval", ("--visitors", "20000", "--days", "60", "--seed", "1")),
    Bench("simulate_bench", ("--visitors", "100000", "--days", "30")),
    Bench("profiles_bench", ("--visitors", "800000", "--days", "30", "--repeat", "5")),
    Bench("value_bench", ("--customers", "1000000", "--repeat", "3")),
    Bench("value_backtest", ("--visitors", "20000", "--days", "150", "--holdout", "30", "--seed", "1")),
    Bench("collector_core_bench", ("--seconds", "20", "--concurrency", "32", "--batch", "5")),
    Bench("buckets_bench", ("--step", "1000000", "--steps", "5", "--buckets", "auto", "--single-up-to", "2000000")),
)


def main(argv: list[str] | None = None) -> int:
    names = [bench.name for bench in BENCHES]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="*", metavar="NAME", help=f"run only these: {', '.join(names)}")
    parser.add_argument("--doc", type=Path, default=DOC, help="the Markdown file whose last section is rewritten")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benches) - set(names))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(names)}")
    chosen = [bench for bench in BENCHES if not args.benches or bench.name in args.benches]
    return 0 if run_benches(chosen, args.doc) else 1


def run_benches(benches: list[Bench], doc: Path) -> bool:
    """Run `benches` in turn, record each as it ends (a run cut short keeps what was done); True if all passed."""
    passed = True
    for bench in benches:
        record = run_one(bench)
        write_record(doc, record)
        passed &= record["exit_code"] == 0
    return passed


def run_one(bench: Bench) -> dict:
    command = [sys.executable, "-m", f"loadtests.{bench.name}", *bench.args]
    shown = " ".join([".venv/bin/python", "-m", f"loadtests.{bench.name}", *map(shlex.quote, bench.args)])
    print(f"== {shown}", flush=True)
    started, load_before, clock, code = datetime.now(UTC), load_average(), time.monotonic(), commit()
    lines: list[str] = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout or ():
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
    return {"name": bench.name, "command": shown, "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(time.monotonic() - clock), "exit_code": process.returncode,
            "load": [load_before, load_average()], "commit": code, "machine": machine(),
            "versions": versions(), "output": [clip(line) for line in lines[-OUTPUT_LINES:]]}


def write_record(doc: Path, record: dict) -> None:
    """Replace `record`'s benchmark in the records beside `doc`, then render them all into `doc`."""
    store = doc.with_name("bench-results.json")
    records = json.loads(store.read_text()) if store.exists() else {}
    records[record["name"]] = record
    order = [bench.name for bench in BENCHES]
    records = dict(sorted(records.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    store.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    doc.write_text(with_section(doc.read_text() if doc.exists() else "", render(records)))


def with_section(text: str, section: str) -> str:
    """`text` with the block between the markers replaced by `section` (appended when absent)."""
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1].removeprefix("\n")
    return text.rstrip("\n") + "\n\n" + block


def render(records: dict[str, dict]) -> str:
    parts = ["## Last `make bench` run\n\n",
             "Written by `loadtests/bench.py` (`make bench`) from `docs/bench-results.json`: not by hand. Each\n"
             "benchmark's own run: the command, when, on which commit and machine, and the tail of what it printed.\n"]
    missing = [bench.name for bench in BENCHES if bench.name not in records]
    if missing:
        parts.append(f"Not recorded yet: {', '.join(missing)}.\n")
    for record in records.values():
        status = "passed" if record["exit_code"] == 0 else f"**failed, exit {record['exit_code']}**"
        load = " → ".join(record["load"])
        parts.append(f"\n### {record['name']}\n\n`{record['command']}`: {record['started']}, commit "
                     f"{record['commit']}, {record['seconds']} s, load {load}, {status}.\n"
                     f"{record['machine']}; {record['versions']}.\n\n```text\n" + "\n".join(record["output"])
                     + "\n```\n")
    return "".join(parts) + "\n"


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    """The machine a benchmark ran on, as its records and simulate_bench print it."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def versions() -> str:
    found = []
    for package in PACKAGES:
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def clip(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " …"


if __name__ == "__main__":
    sys.exit(main())
