"""The correlation report: what an analyst sees in the HTML file and in the asset's metadata."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import materialize

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.conventions import CORRELATION_REPORT_KEY
from hyperdash_pipeline.defs.reporting.assets import correlation_report
from hyperdash_pipeline.report.charts import MARGIN_LEFT, MARGIN_RIGHT, WIDTH, nice_ticks
from hyperdash_pipeline.report.data import QUERIES, Section
from hyperdash_pipeline.report.document import cohort_curves
from hyperdash_pipeline.settings import DAGSTER_URL_VAR, HOME_VAR
from tests.support.report_data import insert_rows, new_organization, seed_organization

CHART_IDS = (
    "chart-cpl-vs-quality",
    "chart-platform-vs-real-roas",
    "chart-hook-vs-conversion",
    "chart-revenue-by-model",
    "chart-cohort-curves",
)


def marks(html: str, chart_id: str) -> list[str]:
    """The data marks (points, bars) drawn in one chart."""
    match = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert match, f"{chart_id} is not in the report"
    return re.findall(r'<(?:circle|rect) class="mark".*?</(?:circle|rect)>', match.group(0), re.S)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(HOME_VAR, str(tmp_path / "home"))
    return tmp_path / "home"


def run_asset(databases, config: dict | None = None):
    result = materialize(
        [correlation_report],
        resources={"bi": databases.bi},
        run_config={"ops": {"reporting__correlation_report": {"config": config or {}}}},
    )
    assert result.success
    return result.asset_materializations_for_node("reporting__correlation_report")[0]


def test_report_on_a_fresh_bi_names_every_empty_table(databases, home: Path) -> None:
    mat = run_asset(databases)
    path = Path(mat.metadata["report_path"].value)
    assert path.parent == home / "reports" and path.is_file()
    html = path.read_text()
    for table in ("campaign_lead_quality", "creative_performance", "campaign_weekly", "campaign_attributed_revenue"):
        assert f"analytics.{table} has no rows yet: materialize analytics/{table} first" in html
    assert "public.ai_creative_insights has no rows yet" in html
    assert "<svg" not in html.split("<script>")[0]  # no chart drawn (the filters' script can draw one)
    assert mat.metadata["charts_drawn"].value == 0
    assert "No scale or pause call yet" in mat.metadata["summary"].value


def test_report_draws_every_chart_and_lists_findings(databases, home: Path) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        org = new_organization(conn, "acme")
        seed_organization(conn, org, "acme")
    mat = run_asset(databases)
    html = Path(mat.metadata["report_path"].value).read_text()

    assert len(marks(html, "chart-cpl-vs-quality")) == 3  # one point per campaign
    assert len(marks(html, "chart-platform-vs-real-roas")) == 3
    assert len(marks(html, "chart-hook-vs-conversion")) == 4  # one per creative
    assert len(marks(html, "chart-revenue-by-model")) == 6  # 3 campaigns x 2 models
    assert len(marks(html, "chart-cohort-curves")) == 12  # 3 campaigns x 4 weeks
    drawn = html.split("<script>")[0]  # what Python drew (the filters' script draws its own)
    assert drawn.count('class="interval"') == 3 + 4  # CPL chart and creative chart carry 95% intervals
    assert 'data-series="pause"' in html and 'data-series="scale"' in html
    assert "meta/acme-b/acme-b-ad1" in html and "leads convert 3x the account average" in html
    assert "insufficient_data: 1" in html  # the count of every call, not only scale/pause
    assert "does not exist yet" not in html
    # self-contained: nothing fetched at view time (tests/reporting/test_report_filters.py checks every URL and tag)
    assert "src=" not in html and html.count("<script") == 2  # the filters' data (JSON) and inline script

    summary = mat.metadata["summary"].value
    assert "**Scale** `meta/acme-b/acme-b-ad1`" in summary
    assert "**Pause** `meta/acme-a/acme-a-adx`" in summary
    # acme-a: platform 3.5x vs real 1.8x is the widest gap of the three
    assert "**Largest ROAS gap** `meta/acme-a`: platform reports 3.50x, CRM deals say 1.80x" in summary
    assert mat.metadata["charts_drawn"].value == 5
    assert mat.metadata["findings"].value == 2


def test_report_for_one_organization_leaves_the_others_out(databases, home: Path) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        acme, globex = new_organization(conn, "acme"), new_organization(conn, "globex")
        seed_organization(conn, acme, "acme")
        seed_organization(conn, globex, "globex")
    mat = run_asset(databases, {"organization_id": globex})
    path = Path(mat.metadata["report_path"].value)
    html = path.read_text()
    assert globex in path.name
    assert "globex-a" in html and "acme-" not in html
    assert len(marks(html, "chart-cpl-vs-quality")) == 3


def test_campaign_names_cannot_inject_markup(databases, home: Path) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        org = new_organization(conn, "acme")
        seed_organization(conn, org, '<script>alert("x")</script>')
    html = Path(run_asset(databases).metadata["report_path"].value).read_text()
    assert "<script>alert" not in html and html.count("<script") == 2  # only the report's own two
    assert "&lt;script&gt;" in html


def test_a_table_of_another_shape_is_reported_not_fatal(databases, home: Path) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        conn.execute("DROP TABLE analytics.campaign_weekly")  # e.g. a hand-made table from an older release
        conn.execute("CREATE TABLE analytics.campaign_weekly (organization_id uuid, week date)")
        org = new_organization(conn, "acme")
        insert_rows(conn, "analytics.campaign_weekly", [{"organization_id": org, "week": "2026-10-05"}])
    html = Path(run_asset(databases).metadata["report_path"].value).read_text()
    assert "analytics.campaign_weekly does not have the expected shape" in html


def test_cli_report_writes_the_file_and_prints_its_path(
    databases, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)  # set, so no embedded server is started
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        seed_organization(conn, new_organization(conn, "acme"), "acme")
    assert main(["report"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert Path(printed) == home / "reports" / "correlation_report.html"
    assert all(marks(Path(printed).read_text(), chart) for chart in CHART_IDS)


def test_cli_report_rejects_a_malformed_organization(databases, home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)
    assert main(["report", "--organization", "acme"]) == 2
    assert "--organization must be an organization id (a UUID)" in capsys.readouterr().err


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0, 0.037), (12.5, 980), (-3, 7), (5, 5)])
def test_ticks_cover_the_data_with_round_steps(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    assert 3 <= len(ticks) <= 12


def test_report_asset_key_is_the_shared_convention() -> None:
    assert correlation_report.key == CORRELATION_REPORT_KEY


def test_a_long_cohort_history_keeps_every_point_inside_the_chart_and_dates_readable() -> None:
    rows = [
        {
            "source": "meta",
            "campaign_id": "c1",
            "week": date(2026, 1, 5) + timedelta(weeks=w),
            "leads": 10.0,
            "lead_to_customer_rate": 0.1 + w / 100,
            "cohort_age_days": 7 * (30 - w),
        }
        for w in range(30)
    ]
    figure = cohort_curves(Section(QUERIES["weekly"], rows=rows))
    assert figure.svg
    xs = [float(x) for x in re.findall(r'<circle class="mark"[^>]* cx="([\d.]+)"', figure.svg)]
    assert len(xs) == 30
    assert all(MARGIN_LEFT - 0.01 <= x <= WIDTH - MARGIN_RIGHT + 0.01 for x in xs)
    labels = re.findall(r'text-anchor="middle">(\d{4}-\d{2}-\d{2})</text>', figure.svg)
    assert 4 <= len(labels) <= 8 and labels[0] == "2026-01-05"
