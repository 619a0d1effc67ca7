"""The UI and the report as a person sees them, in headless Chromium (Debian's `chromium`, driven by Playwright).

Skipped where /usr/bin/chromium or the `playwright` package is absent (`.ci/install-browser` installs the
browser). Screenshots go to build/screenshots (HYPERDASH_SCREENSHOT_DIR overrides); with
HYPERDASH_UPDATE_DOCS_IMG=1 the asset graph and the report are also written to docs/img/ for the docs.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from hyperdash_pipeline.conventions import CORRELATION_REPORT_KEY
from hyperdash_pipeline.report import charts, slices
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from hyperdash_pipeline.settings import PROJECT_ROOT
from tests.support import report_sections as sections_sql
from tests.support.defined_assets import assets_by_group
from tests.support.dev_server import DevServer, running_dev_server
from tests.support.report_data import (
    AS_OF,
    new_organization,
    page_cells,
    seed_organization,
    seed_slice_facts,
    shown,
    slice_from_sql,
    slice_totals,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCATION = "hyperdash_pipeline.definitions"
UI_TIMEOUT_MS = 120_000
RUN_TIMEOUT = 300.0
# The pairs of <text> elements of one SVG whose rendered boxes intersect (by more than half a pixel).
OVERLAPPING_LABELS = """svg => {
  const boxes = [...svg.querySelectorAll("text")].map(t => [t.textContent, t.getBoundingClientRect()]);
  const hits = [];
  boxes.forEach(([a, p], i) => boxes.slice(i + 1).forEach(([b, q]) => {
    const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (w > 0.5 && h > 0.5) hits.push([a, b]);
  }));
  return hits;
}"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (run .ci/install-browser)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def screenshot_dir() -> Path:
    path = Path(os.environ.get("HYPERDASH_SCREENSHOT_DIR", PROJECT_ROOT / "build" / "screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with running_dev_server(tmp_path_factory.mktemp("ui") / "home") as server:
        server.wait_until_up()
        yield server
        server.stop()


def _report_runs(ui: DevServer) -> list[dict[str, str]]:
    query = "{ runsOrError(limit: 20) { ... on Runs { results { runId status assetSelection { path } } } } }"
    runs = httpx.post(f"{ui.url}/graphql", json={"query": query}, timeout=30).json()["data"]["runsOrError"]["results"]
    return [r for r in runs if {"path": CORRELATION_REPORT_KEY.path} in (r["assetSelection"] or [])]


def test_materialize_the_report_from_the_ui(ui: DevServer, page: Page) -> None:
    asset_url = f"{ui.url}/assets/{CORRELATION_REPORT_KEY.to_user_string()}"
    page.goto(asset_url, timeout=UI_TIMEOUT_MS)
    page.get_by_role("button", name="Materialize").first.click(timeout=UI_TIMEOUT_MS)
    # On a fresh pipeline the analytics tables upstream were never materialized: the UI asks first
    # (the report says which tables are empty), as it would ask a user.
    launched = page.get_by_text("Launched run").first
    confirm = page.get_by_role("button", name="Confirm")
    launched.or_(confirm).first.wait_for(timeout=UI_TIMEOUT_MS)
    if confirm.count():
        confirm.click(timeout=UI_TIMEOUT_MS)
    launched.wait_for(timeout=UI_TIMEOUT_MS)

    deadline = time.monotonic() + RUN_TIMEOUT
    status = None
    while time.monotonic() < deadline:
        runs = _report_runs(ui)
        status = runs[0]["status"] if runs else None
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", f"the run launched from the UI ended {status}; log:\n{ui.log.read_text()[-3000:]}"

    page.goto(asset_url, timeout=UI_TIMEOUT_MS)
    report = ui.home / "reports" / "correlation_report.html"
    page.get_by_text(str(report)).first.wait_for(timeout=UI_TIMEOUT_MS)  # the report_path metadata
    # The summary: shown inline when short, behind "[Show Markdown]" when long (a user clicks it).
    findings = page.get_by_text("Top findings").first
    show = page.get_by_text("Show Markdown").first
    findings.or_(show).wait_for(timeout=UI_TIMEOUT_MS)
    if not findings.is_visible():
        show.click(timeout=UI_TIMEOUT_MS)
    findings.wait_for(timeout=UI_TIMEOUT_MS)
    assert report.is_file()
    page.screenshot(path=screenshot_dir() / "report-asset.png", full_page=True)


def _wait_until_loaded(page: Page) -> None:
    """Nodes fill in their status after the graph draws; wait so the screenshot shows it."""
    deadline = time.monotonic() + 60
    while page.get_by_text("Loading...").count() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    page.wait_for_timeout(500)


def test_asset_graph_shows_every_group_and_asset(ui: DevServer, page: Page) -> None:
    groups = assets_by_group()
    assert groups
    page.set_viewport_size({"width": 1400, "height": 2000})  # the longest group list fits without scrolling
    for group, specs in groups.items():
        # The group's list view names each asset by its full key ("crm_raw / leads"); graph nodes
        # shorten long names, so the list is what can be checked exactly (its cells keep the full name
        # in a hidden element they measure to truncate in the middle).
        page.goto(f"{ui.url}/locations/{LOCATION}/asset-groups/{group}/list", timeout=UI_TIMEOUT_MS)
        for spec in specs:
            row = page.get_by_text(" / ".join(spec.key.path)).first
            row.wait_for(state="attached", timeout=UI_TIMEOUT_MS)  # the full name (a hidden measure)
        page.screenshot(path=screenshot_dir() / f"group-{group}.png")

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{ui.url}/asset-groups", timeout=UI_TIMEOUT_MS)
    if len(groups) > 1:  # the global graph starts with one collapsed box per group, named
        for group in groups:
            page.get_by_text(group, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
    else:  # a single group is drawn as its assets
        for spec in next(iter(groups.values())):
            page.get_by_text(spec.key.path[-1], exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
    _wait_until_loaded(page)
    page.screenshot(path=screenshot_dir() / "asset-graph.png")
    if os.environ.get("HYPERDASH_UPDATE_DOCS_IMG") == "1":
        page.screenshot(path=PROJECT_ROOT / "docs" / "img" / "asset-graph.png")


def test_report_charts_draw_in_the_browser(databases, tmp_path: Path, page: Page) -> None:
    sections_sql.run_pipeline(databases.crm_url, databases.bi_url)
    result = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path)
    page.goto(result.path.as_uri())

    # The default view, drawn by the script: the campaigns' two charts, creatives, models and cohorts (the
    # all-time campaign sections are hidden: the campaigns section shows them for the selected slice).
    charts = page.locator("svg.chart:visible")
    assert charts.count() == 5
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200, "chart has no size on the page"
        marks = chart.locator(".mark")
        assert marks.count() > 0
        for j in range(marks.count()):
            mark = marks.nth(j).bounding_box()
            assert mark and mark["width"] > 0 and mark["height"] > 0
            assert box["x"] <= mark["x"] <= box["x"] + box["width"], "a mark is drawn outside its chart"
            assert box["y"] <= mark["y"] <= box["y"] + box["height"], "a mark is drawn outside its chart"
        # Rendered with the browser's own fonts, no two labels of a chart overlap.
        overlaps = chart.evaluate(OVERLAPPING_LABELS)
        assert overlaps == [], f"labels overlap in chart {i}: {overlaps}"
    page.screenshot(path=screenshot_dir() / "report.png", full_page=True)
    if os.environ.get("HYPERDASH_UPDATE_DOCS_IMG") == "1":
        page.screenshot(path=PROJECT_ROOT / "docs" / "img" / "report.png", full_page=True)


LONG_SOURCE = "newsletter-winter-reactivation-2026"

# Per row of the filtered campaigns table (by its data-key: organization/source/campaign), cell text by column.
SLICE_TABLE = """() => Object.fromEntries([...document.querySelectorAll('#slice-table tbody tr')].map(tr =>
  [tr.dataset.key, Object.fromEntries([...tr.cells].map(td => [td.dataset.col, td.textContent]))]))"""


def _assert_slice_equals_sql(page: Page, bi_url: str, org: str | None, period: str, source: str | None) -> dict:
    table = page.evaluate(SLICE_TABLE)
    with psycopg.connect(bi_url, autocommit=True) as conn:
        expected = slice_from_sql(conn, org, period, source)
    assert set(table) == set(expected), (org, period, source)
    for key, cells in table.items():
        assert page_cells(cells) == shown(expected[key]), (org, period, source, key)
    if expected:
        total = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#slice-table tfoot td')]"
            ".map(td => [td.dataset.col, td.textContent]))"
        )
        assert page_cells(total, interval=False) == slice_totals(expected), (org, period, source, "total")
    assert "NaN" not in page.inner_text("#slice") and "undefined" not in page.inner_text("#slice")
    return table


def _choose(page: Page, name: str, value: str) -> None:
    page.select_option(f"#filter-{name}", value)
    _assert_slice_chart(page)


# Per chart of the slice: which table cell says a campaign has no point on it.
SLICE_CHARTS = {"chart-slice-cpl-vs-quality": ("leads", "0"), "chart-slice-roas": ("real_roas", "n/a")}


def _assert_slice_chart(page: Page) -> None:
    """The slice's charts, drawn by the script: one point per campaign that has the chart's metrics (every
    campaign of these slices is in the table), inside the chart, no two labels overlapping (measured with
    the browser's fonts)."""
    table = page.evaluate(SLICE_TABLE)
    assert len(table) < 15
    for chart_id, (column, no_point) in SLICE_CHARTS.items():
        points = [key for key, cells in table.items() if cells[column] != no_point]
        chart = page.locator(f"#{chart_id}-figure svg.chart")
        if not points:
            assert chart.count() == 0
            assert page.locator(f"#{chart_id}-empty").is_visible() == bool(table)
            continue
        assert chart.count() == 1 and page.locator(f"#{chart_id}-empty").is_hidden()
        box = chart.bounding_box()
        marks = chart.locator(".mark")
        assert marks.count() == len(points)
        for mark in marks.all():
            m = mark.bounding_box()
            assert box and m and box["x"] <= m["x"] <= box["x"] + box["width"], "a mark is drawn outside its chart"
            assert box["y"] <= m["y"] <= box["y"] + box["height"], "a mark is drawn outside its chart"
        assert chart.evaluate(OVERLAPPING_LABELS) == [], chart_id


def test_report_filters_recompute_every_number_and_equal_sql(databases, tmp_path: Path, browser: Browser) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        acme, globex = new_organization(conn, "acme"), new_organization(conn, "globex")
        seed_slice_facts(conn, acme, "acme", AS_OF)
        seed_slice_facts(conn, globex, "globex", AS_OF, scale=2)
        seed_organization(conn, acme, "acme")
        # One lead of a source only acme has, 100 days old: a slice with it in 7 days selects nothing. Its long
        # source name is shortened in the chart's legend, in full in its <title>.
        conn.execute(
            "INSERT INTO lead_attribution (organization_id, lead_id, campaign_id, source, conversion_date) "
            "VALUES (%s, gen_random_uuid(), '(newsletter)', %s, %s::date - 100)",
            (acme, LONG_SOURCE, AS_OF),
        )
    path = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path).path

    # Without JavaScript the file shows the default view, written by Python.
    static = browser.new_context(java_script_enabled=False)
    try:
        no_js = static.new_page()
        no_js.goto(path.as_uri())
        assert no_js.locator("#filter-period").is_disabled()
        server_rows = {
            row.get_attribute("data-key"): row.inner_text() for row in no_js.locator("#slice-table tbody tr").all()
        }
        server_caption = no_js.inner_text("#slice-caption")
        server_charts = [no_js.locator(f"#{chart}-figure").inner_html() for chart in SLICE_CHARTS]
    finally:
        static.close()

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: errors.append(f"fetched {req.url}") if req.url != path.as_uri() else None)
    try:
        page.goto(path.as_uri())
        # Default: last 30 days across every organization and source; the script's numbers equal Python's.
        assert page.input_value("#filter-period") == "30" and page.input_value("#filter-organization") == ""
        assert page.input_value("#filter-source") == "" and page.locator("#filter-period").is_enabled()
        default = _assert_slice_equals_sql(page, databases.bi_url, None, "30", None)
        assert {
            row.get_attribute("data-key"): row.inner_text() for row in page.locator("#slice-table tbody tr").all()
        } == server_rows
        assert page.inner_text("#slice-caption") == server_caption
        # The script draws the default chart exactly as Python did (same SVG, mark for mark, label for label).
        assert all("<circle" in svg for svg in server_charts)
        assert [page.locator(f"#{chart}-figure").inner_html() for chart in SLICE_CHARTS] == server_charts
        _assert_slice_chart(page)
        assert "last 30 days (2026-11-06 to 2026-12-05)" in server_caption

        # Each filter on its own changes the numbers, and they equal SQL for that slice.
        _choose(page, "organization", acme)
        by_org = _assert_slice_equals_sql(page, databases.bi_url, acme, "30", None)
        assert by_org != default and all(key.startswith(acme) for key in by_org)
        assert "Spring sale (meta/acme-spring)" in page.inner_text("#slice-table")  # names beside ids
        _choose(page, "organization", "")
        _choose(page, "period", "7")
        week = _assert_slice_equals_sql(page, databases.bi_url, None, "7", None)
        assert week != default
        _choose(page, "period", "30")
        _choose(page, "source", "meta")
        meta = _assert_slice_equals_sql(page, databases.bi_url, None, "30", "meta")
        assert meta != default and all("/meta/" in key for key in meta)
        for period in ("90", "all"):
            _choose(page, "period", period)
            _assert_slice_equals_sql(page, databases.bi_url, None, period, "meta")

        # One organization, last 7 days, one source: leads, won revenue, spend and ROAS per campaign.
        _choose(page, "organization", globex)
        _choose(page, "period", "7")
        _choose(page, "source", "organic")
        organic = _assert_slice_equals_sql(page, databases.bi_url, globex, "7", "organic")
        assert [cells["real_roas"] for cells in organic.values()] == ["n/a"]  # leads without spend: no ROAS
        _choose(page, "source", "meta")
        _assert_slice_equals_sql(page, databases.bi_url, globex, "7", "meta")
        assert page.inner_text("#slice-table tfoot") and "NaN" not in page.inner_text("#slice-table tfoot")

        # A slice with nothing in it says so instead of showing an empty table or NaN.
        _choose(page, "organization", acme)
        _choose(page, "source", LONG_SOURCE)
        assert page.evaluate(SLICE_TABLE) == {}
        assert page.locator("#slice-empty").is_visible() and page.locator("#slice-table").is_hidden()
        assert page.inner_text("#slice-empty").startswith(
            f"Nothing to show for Acme, source {LONG_SOURCE}, last 7 days"
        )
        assert "NaN" not in page.inner_text("body")
        _choose(page, "period", "all")
        _assert_slice_equals_sql(page, databases.bi_url, acme, "all", LONG_SOURCE)
        assert page.locator("#slice-table").is_visible() and page.locator("#slice-empty").is_hidden()
        legend = page.locator("#chart-slice-cpl-vs-quality-figure .legend-label")
        assert legend.evaluate("t => t.lastChild.textContent").endswith("\u2026")  # shortened on the chart
        assert legend.locator("title").text_content() == LONG_SOURCE  # in full in its tooltip
        page.screenshot(path=screenshot_dir() / "report-filters.png", full_page=True)
    finally:
        context.close()
    assert errors == []


def test_report_script_formats_numbers_like_python(page: Page) -> None:
    """The script's number formats (slices.js) write what Python's charts.fmt_* write, ties and exponents
    included, so a filtered view reads like the server-rendered one."""
    rng = random.Random(14)
    values = [0.0, 1.0, 0.5, 2.5, 99.5, 999.5, 1000.0, 1234.5, 0.001234, 0.00001234, 0.125, 0.375, 72.25, 385.0]
    values += [1e-5, 7.5e-5, 9.995, 99.995, 12345678.9, 1e21, 5e20, 1e-9, 123456789012.0]
    values += [rng.uniform(0, 5000) for _ in range(2000)] + [rng.uniform(0, 2) for _ in range(2000)]
    values += [round(rng.uniform(0, 500), 2) for _ in range(2000)] + [rng.expovariate(0.01) for _ in range(2000)]
    values += [-v for v in values[:40] if v]  # (a sum is never -0.0)
    functions = slices.SCRIPT[slices.SCRIPT.index("  function fixed(") : slices.SCRIPT.index("  function num(")]
    formats = "[fmtNumber(v), fmtPercent(v), fmtMoney(v), fmtRatio(v)]"
    script = f"values => {{ {functions}\n return values.map(v => {formats}); }}"
    written = page.evaluate(script, values)
    python = [[charts.fmt_number(v), charts.fmt_percent(v), charts.fmt_money(v), charts.fmt_ratio(v)] for v in values]
    differ = [(v, js, py) for v, js, py in zip(values, written, python, strict=True) if js != py]
    assert differ == []


# The sections below the campaigns, read off the page: table cells, chart marks' tooltips, findings per call.
SECTION_TABLE = """body => [...document.querySelectorAll(`#${body} table tbody tr`)]
    .map(tr => [...tr.cells].map(td => td.textContent))"""
COHORT_TIPS = "() => [...document.querySelectorAll('#cohort-curves-body circle.mark > title')].map(t => t.textContent)"
FINDINGS = """() => [...document.querySelectorAll('#findings-body h3')].map(h =>
    [h.textContent, [...h.nextElementSibling.querySelectorAll('tbody tr')].map(tr => tr.cells[0].textContent)])"""
COHORT_TIP = re.compile(r"^(.*) week of (\S+) \(([\d,]+) leads, \d+ days old\): .* lead -> customer rate (\S+)$")


def _ids(label: str) -> str:
    """The ids a label ends with: "Spring sale (meta/123)" -> "meta/123"; a label without a name is its ids."""
    return label.rsplit(" (", 1)[1].removesuffix(")") if " (" in label else label


def _fmt(value: Any, fmt: Any) -> str:
    return "n/a" if value is None else fmt(float(value))


def _amount(cell: str) -> str:
    return cell.split(" ")[0]  # without its currency


def _sections_equal_sql(page: Page, conn: psycopg.Connection, org: str | None, period: str, source: str | None):
    """Every section below the campaigns shows, for this slice, what SQL says; returns what the page showed."""
    params = sections_sql.slice_params(org, period, source, slices.TABLE_ROWS)
    creatives = page.evaluate(SECTION_TABLE, "hook-vs-conversion-body")
    expected = sections_sql.query(conn, sections_sql.CREATIVES_SQL, params)
    assert [[_ids(c[0]), _amount(c[1]), *c[2:7]] for c in creatives] == [
        [
            r["ids"],
            charts.fmt_money(float(r["spend"])),
            charts.fmt_number(float(r["leads"])),
            _fmt(r["hook_rate"], charts.fmt_percent),
            _fmt(r["hold_rate"], charts.fmt_percent),
            _fmt(r["rate"], charts.fmt_percent),
            "n/a" if r["low"] is None else f"{charts.fmt_percent(r['low'])} to {charts.fmt_percent(r['high'])}",
        ]
        for r in expected
    ], ("creatives", org, period, source)

    models = page.evaluate(SECTION_TABLE, "revenue-by-model-body")
    spend = float(conn.execute(sections_sql.SPEND_SQL, params).fetchone()[0])  # type: ignore[index]
    assert models == [
        [
            r["model"],
            charts.fmt_number(float(r["attributed_leads"])),
            charts.fmt_money(float(r["attributed_revenue"])),
            charts.fmt_money(spend),
            _fmt(float(r["attributed_revenue"]) / spend if spend else None, charts.fmt_ratio),
        ]
        for r in sections_sql.query(conn, sections_sql.MODELS_SQL, params)
    ], ("models", org, period, source)

    tips = [COHORT_TIP.match(t) for t in page.evaluate(COHORT_TIPS)]
    assert all(tips), page.evaluate(COHORT_TIPS)
    cohorts = sorted((_ids(m.group(1)), m.group(2), m.group(3), m.group(4)) for m in tips if m)
    cohort_params = {**params, "limit": slices.MAX_SERIES}
    assert cohorts == sorted(
        (r["ids"], r["week"], charts.fmt_number(float(r["leads"])), charts.fmt_percent(r["rate"]))
        for r in sections_sql.query(conn, sections_sql.COHORTS_SQL, cohort_params)
    ), ("cohorts", org, period, source)

    conversions = page.evaluate(SECTION_TABLE, "conversions-body")
    expected_conversions = [
        [r["platform"], *(str(r[k]) for k in ("sent", "rejected", "expired", "skipped_consent", "pending"))]
        for r in sections_sql.query(conn, sections_sql.CONVERSIONS_SQL, params)
    ]
    assert conversions == [row for row in expected_conversions if set(row[1:]) != {"0"}], ("conversions", period)

    findings = {call: [_ids(label) for label in labels] for call, labels in page.evaluate(FINDINGS)}
    expected_findings: dict[str, list[str]] = {}
    for r in sections_sql.query(conn, sections_sql.FINDINGS_SQL, {**params, "limit": slices.MAX_FINDINGS}):
        expected_findings.setdefault(r["recommendation"].title(), []).append(r["ids"])
    assert findings == expected_findings, ("findings", org, source)
    return creatives, models, cohorts, conversions, findings


def test_every_section_follows_the_filters_and_equals_sql(databases, tmp_path: Path, browser: Browser) -> None:
    """The pipeline's own tables (sample CRM, every asset materialized), then each section of the page, for
    each filter, against SQL written apart from the report's."""
    sections_sql.run_pipeline(databases.crm_url, databases.bi_url)
    sections_sql.spread_conversion_statuses(databases.bi_url)
    path = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path).path
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(path.as_uri())
        with psycopg.connect(databases.bi_url, autocommit=True) as conn:
            orgs = [r[0] for r in conn.execute("SELECT id::text FROM organizations ORDER BY name").fetchall()]
            shown_before = _sections_equal_sql(page, conn, None, "30", None)
            assert all(shown_before), "a section shows nothing in the default view"
            for org, period, source in (
                (orgs[0], "30", None),
                (orgs[0], "7", None),
                (orgs[0], "7", "meta"),
                (None, "90", "google"),
                (orgs[1], "all", None),
                (None, "all", None),
            ):
                page.select_option("#filter-organization", org or "")
                page.select_option("#filter-period", period)
                page.select_option("#filter-source", source or "")
                shown_now = _sections_equal_sql(page, conn, org, period, source)
                assert shown_now != shown_before, (org, period, source)  # a filter change changes the numbers
                shown_before = shown_now
        assert page.locator("#cpl-vs-quality").is_hidden() and page.locator("#unfiltered").is_hidden()
        text = page.inner_text("body")
        assert "NaN" not in text and "undefined" not in text and "null" not in text
        for chart_id in ("chart-hook-vs-conversion", "chart-revenue-by-model", "chart-cohort-curves"):
            assert page.locator(f"#{chart_id}").evaluate(OVERLAPPING_LABELS) == [], chart_id
        page.screenshot(path=screenshot_dir() / "report-sections.png", full_page=True)
    finally:
        context.close()
    assert errors == []
