"""The Locust scenarios against a real `fidelia serve` on 127.0.0.1, for a few seconds."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from loadtests.run_loadtest import run_loadtest


@pytest.mark.slow
def test_locust_scenarios_succeed_and_every_acknowledged_event_is_stored(tmp_path: Path) -> None:
    result = run_loadtest(tmp_path, users=12, spawn_rate=12, duration="6s")
    with (tmp_path / "stats_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    # every kind of user ran: the visitor's snippet and batches, the shop's offers, the reports
    for name in ("/t.js", "/collect", "/v1/me/recommendations", "/v1/reports/[name]"):
        assert int(rows[name]["Request Count"]) > 0, name
    assert result.failures == 0, (tmp_path / "stats_failures.csv").read_text()
    assert result.sent_events > 0
    assert result.stored_events == result.sent_events
    assert (tmp_path / "report.html").stat().st_size > 0
