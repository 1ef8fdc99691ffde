"""The merchandiser dashboard in real Chromium, on a small simulated shop.

A few hundred simulated visitors over two months go into a fresh site, profiles are rebuilt,
and one pageview carries the rubrique `<script>alert(1)</script>`. The browser signs in with a
`reports` key, then every report must be drawn (a Chart.js chart on a sized canvas) with no
console error (a CSP violation is one), no page error and no dialog; the hostile rubrique must
show as text. The period picker, the language switch and a CSV download are driven like a
merchandiser would. Screenshots land in test-output/dashboard-{fr,en}.png.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fidelia.auth import new_key
from fidelia.dashboard.labels import REPORT_VIEWS
from fidelia.demo.population import SimulationSpec
from fidelia.demo.simulator import simulate_bulk
from fidelia.sites import SiteRegistry
from fidelia.store import Store
from loadtests.value_sim import simulate_orders
from profiles.job import rebuild_profiles
from profiles.orders_import import import_orders
from profiles.reports import parse_params, run_report
from profiles.value import BGNBD, GammaGamma
from tests.conftest import TEST_OUTPUT, LiveServer, make_settings
from tests.profiles.events import Events

pytestmark = pytest.mark.browser
SCRIPT_RUBRIQUE = "<script>alert(1)</script>"
READY = "main#dashboard[data-state=ready]"


@dataclass
class Dashboard:
    server: LiveServer
    key: str
    site_id: str


@dataclass
class Watched:
    """What a page reported that it should not have: console errors, uncaught errors, dialogs."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert (self.console, self.errors, self.dialogs) == ([], [], [])


@pytest.fixture(scope="module")
def dashboard(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("dashboard")
    site_id = "dash" + secrets.token_hex(5)
    key, entry = new_key(["reports"])
    # A second site, so the page shows its site picker.
    settings = make_settings(folder, [site_id, "dash-second-shop"], api_keys=entry)
    site = SiteRegistry.load(settings.sites_file).get(site_id)
    simulate_bulk(store, site, SimulationSpec(400, 60, seed=17, end_ms=int(time.time() * 1000)), workers=0)
    # A year of imported order history, so the customer value models have enough repeat buyers.
    history = simulate_orders(300, BGNBD(0.7, 15.0, 1.4, 3.0), GammaGamma(5.0, 4.0, 20.0),
                              as_of=datetime.now(UTC), max_age_days=365, seed=17).history
    history.with_row_index("n").select(
        pl.col("person").str.slice(2).alias("customer_id"), pl.format("h{}", "n").alias("order_id"),
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%z").alias("ordered_at"), "amount",
    ).write_csv(folder / "orders.csv")
    import_orders(store, folder / "orders.csv", site_id)
    rebuild_profiles(store, settings, sites=[site_id])
    Events(site_id).add("hostile-visitor", datetime.now(UTC) - timedelta(days=1),
                        url="https://shop.example/r/x", rubrique=SCRIPT_RUBRIQUE).insert(store)
    server = LiveServer(settings, store).start()
    yield Dashboard(server, key, site_id)
    server.stop()


def watch(page: Any) -> Watched:
    watched = Watched()
    page.on("console", lambda m: watched.console.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return watched


def sign_in(context: Any, dashboard: Dashboard) -> tuple[Any, Watched]:
    page = context.new_page()
    watched = watch(page)
    page.goto(dashboard.server.base_url + "/dashboard")
    assert page.url.endswith("/dashboard/login")
    page.fill("input[name=key]", dashboard.key)
    page.click("form button[type=submit]")
    page.wait_for_selector(READY, timeout=60_000)
    return page, watched


def reload_ready(page: Any, action: Any) -> None:
    """Run an action that loads a new dashboard page and wait until all its reports are drawn."""
    with page.expect_navigation():
        action()
    page.wait_for_selector(READY, timeout=60_000)


def kpi(page: Any, name: str) -> str:
    return page.text_content(f"[data-kpi={name}]").strip()


def as_number(text: str) -> float:
    return float(re.sub(r"[^\d,.-]", "", text).replace(",", ".") or "nan")


def assert_every_chart_drawn(page: Any) -> None:
    states = page.eval_on_selector_all("section[data-report]", "els => els.map(e => [e.dataset.report, "
                                       "e.dataset.state])")
    assert states == [[view.name, "ready"] for view in REPORT_VIEWS]
    canvases = page.eval_on_selector_all(
        "section[data-report] canvas",
        "els => els.map(c => ({w: c.width, h: c.height, box: c.getBoundingClientRect().height, "
        "chart: !!window.Chart.getChart(c)}))")
    assert len(canvases) == len(REPORT_VIEWS)
    for canvas in canvases:
        assert canvas["w"] > 0 and canvas["h"] > 0 and canvas["box"] > 100 and canvas["chart"], canvas


def cells_of(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")


def test_dashboard_draws_every_report_and_escapes_data(context: Any, dashboard: Dashboard, store: Store) -> None:
    page, watched = sign_in(context, dashboard)
    assert_every_chart_drawn(page)
    # The customer value card: the fitted model's parameters, the top customers, a histogram.
    value = run_report(store, "customer-value", parse_params(dashboard.site_id, None, None, None,
                                                              datetime.now(UTC).date())).to_json()
    assert value["model"]["status"] == "fitted"
    card = "#report-customer-value"
    assert cells_of(page, f"{card} table[data-table=parameters] tbody td:first-child")[:2] == ["status", "message"]
    assert "bgnbd.alpha" in cells_of(page, f"{card} table[data-table=parameters] tbody td:first-child")
    top = cells_of(page, f"{card} table[data-table=top_customers] tbody td:first-child")
    assert top == [row["customer"] for row in value["top_customers"]] and len(top) == 20
    bars = page.eval_on_selector(f"{card} canvas", "c => window.Chart.getChart(c).data.datasets[0].data")
    assert bars == [row["customers"] for row in value["rows"]] and sum(bars) > 250
    assert page.get_attribute("html", "lang") == "fr"
    # The hostile rubrique is a table cell's text; no script element came with it, no alert fired.
    cells = page.eval_on_selector_all("#report-top-rubriques tbody td:first-child",
                                      "els => els.map(e => e.textContent)")
    assert SCRIPT_RUBRIQUE in cells and len(cells) > 3
    assert page.eval_on_selector_all("main script", "els => els.length") == 0
    assert as_number(kpi(page, "visits")) > 0 and as_number(kpi(page, "orders")) > 0
    assert "€" in kpi(page, "basket")
    assert page.is_visible("select[name=site_id]")
    page.screenshot(path=str(TEST_OUTPUT / "dashboard-fr.png"), full_page=True)

    reload_ready(page, lambda: page.click("a[data-lang=en]"))
    assert page.get_attribute("html", "lang") == "en"
    assert page.text_content("[data-kpi=basket] >> xpath=../dt") == "Average basket"
    assert page.text_content("#report-attrition th[data-key=attrition_rate]") == "Attrition rate"
    assert_every_chart_drawn(page)
    page.screenshot(path=str(TEST_OUTPUT / "dashboard-en.png"), full_page=True)

    page.goto(dashboard.server.base_url + "/dashboard")  # the language cookie keeps English
    page.wait_for_selector(READY, timeout=60_000)
    assert page.get_attribute("html", "lang") == "en"
    reload_ready(page, lambda: page.click("a[data-lang=fr]"))
    assert page.text_content("[data-kpi=basket] >> xpath=../dt") == "Panier moyen"
    assert page.text_content("#report-satisfaction th[data-key=complaint_rate]") == "Taux de réclamation"
    watched.assert_clean()


def test_period_picker_changes_the_numbers(context: Any, dashboard: Dashboard) -> None:
    page, watched = sign_in(context, dashboard)
    month_visits = as_number(kpi(page, "visits"))
    month_rows = page.eval_on_selector_all("#report-visitors tbody tr", "els => els.length")
    # The week of full days up to yesterday: today may hold no visit yet (just after midnight UTC).
    to = (datetime.fromisoformat(page.input_value("input[name=to]")) - timedelta(days=1)).date().isoformat()
    week_start = (datetime.fromisoformat(to) - timedelta(days=6)).date().isoformat()
    page.fill("input[name=to]", to)
    page.fill("input[name=from]", week_start)
    reload_ready(page, lambda: page.click("form.period button[type=submit]"))
    assert page.input_value("input[name=from]") == week_start
    week_visits = as_number(kpi(page, "visits"))
    assert 0 < week_visits < month_visits
    assert page.eval_on_selector_all("#report-visitors tbody tr", "els => els.length") == 7 < month_rows
    page.select_option("select[name=by]", "week")
    reload_ready(page, lambda: page.click("form.period button[type=submit]"))
    assert page.eval_on_selector_all("#report-visitors tbody tr", "els => els.length") <= 2
    assert as_number(kpi(page, "visits")) == week_visits  # the same visits, grouped otherwise
    assert_every_chart_drawn(page)
    watched.assert_clean()


def test_csv_download(context: Any, dashboard: Dashboard, store: Store) -> None:
    page, watched = sign_in(context, dashboard)
    with page.expect_download() as caught:
        page.click("#report-top-rubriques a.csv")
    download = caught.value
    assert download.suggested_filename.startswith(f"top-rubriques_{dashboard.site_id}_")
    text = Path(download.path()).read_text()
    today = datetime.now(UTC).date()
    rows = run_report(store, "top-rubriques", parse_params(dashboard.site_id, None, None, None, today)).rows
    assert text.splitlines()[0] == ",".join(rows[0]) and text.startswith("rubrique,pageviews,unique_visitors")
    assert SCRIPT_RUBRIQUE in text
    watched.assert_clean()
