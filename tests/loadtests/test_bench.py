"""`make bench`'s runner: each benchmark run for real, its record written into the performance page
without touching what was written there by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.bench import BEGIN, END, Bench, main, run_benches, with_section

HAND_WRITTEN = "# Performance\n\nMeasured by hand, with the command.\n"


def test_a_run_records_each_benchmark_below_the_hand_written_page(tmp_path: Path) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(HAND_WRITTEN)
    assert run_benches([Bench("value_bench", ("--customers", "2000", "--repeat", "1"))], doc)

    text = doc.read_text()
    assert text.startswith(HAND_WRITTEN)
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert "### value_bench" in section
    assert "`.venv/bin/python -m loadtests.value_bench --customers 2000 --repeat 1`" in section
    assert "passed" in section and "CPUs" in section and "polars " in section
    assert "Not recorded yet: collector_bench, api_bench," in section
    record = json.loads((tmp_path / "bench-results.json").read_text())["value_bench"]
    assert record["exit_code"] == 0
    printed = json.loads(record["output"][-1])  # the benchmark's own last line, as it printed it
    assert printed["customers"] == 2000


def test_a_second_run_replaces_its_own_record_and_keeps_the_others(tmp_path: Path) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(HAND_WRITTEN)
    assert run_benches([Bench("value_bench", ("--customers", "2000", "--repeat", "1"))], doc)
    # A benchmark that refuses its arguments fails: recorded with its exit code, and the run says so.
    assert not run_benches([Bench("value_backtest", ("--visitors", "0",))], doc)
    assert run_benches([Bench("value_bench", ("--customers", "3000", "--repeat", "1"))], doc)

    text = doc.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "--customers 3000" in text and "--customers 2000" not in text
    assert "### value_backtest" in text and "**failed, exit 2**" in text
    records = json.loads((tmp_path / "bench-results.json").read_text())
    assert list(records) == ["value_bench", "value_backtest"]  # in the order of `make bench`


def test_the_section_goes_between_its_markers_and_nowhere_else() -> None:
    after = "\n## A later section written by hand\n"
    old = f"{HAND_WRITTEN}\n{BEGIN}\nold numbers\n{END}\n{after}"
    assert with_section(old, "new numbers\n") == f"{HAND_WRITTEN}\n{BEGIN}\nnew numbers\n{END}\n{after}"
    assert with_section(HAND_WRITTEN, "new\n") == f"{HAND_WRITTEN}\n{BEGIN}\nnew\n{END}\n"


def test_an_unknown_benchmark_is_refused_before_anything_runs(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    with pytest.raises(SystemExit) as exit_info:
        main(["collector_bench", "no_such_bench", "--doc", str(doc)])
    assert exit_info.value.code == 2
    assert "no benchmark named no_such_bench" in capsys.readouterr().err
    assert not doc.exists()
