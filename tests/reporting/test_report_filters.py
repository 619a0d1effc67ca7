"""The report's filters (organization, period, source): every slice equals SQL over BI, the default view is
server-rendered, and the file fetches nothing. The browser side is in tests/reporting/test_browser.py."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.report import slices
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from hyperdash_pipeline.settings import DAGSTER_URL_VAR, HOME_VAR
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


@pytest.fixture
def two_orgs(databases: Any) -> tuple[str, str]:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        acme, globex = new_organization(conn, "acme"), new_organization(conn, "globex")
        seed_slice_facts(conn, acme, "acme", AS_OF)
        seed_slice_facts(conn, globex, "globex", AS_OF, scale=2)
    return acme, globex


def test_every_slice_equals_sql(databases: Any, two_orgs: tuple[str, str]) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        data = slices.load_slice_data(conn, None, AS_OF)
        assert data.sources == ["google", "meta", "organic"]
        assert [name for _, name in data.organizations] == ["Acme", "Globex"]
        for org, (period, *_), source in itertools.product((None, *two_orgs), slices.PERIODS, (None, *data.sources)):
            view = slices.Slice(org or slices.ALL, period, source or slices.ALL)
            rows = {
                f"{r['organization_id']}/{r['source']}/{r['campaign_id']}": r
                for r in slices.campaign_rows(data.facts, view)
            }
            expected = slice_from_sql(conn, org, period, source)
            assert set(rows) == set(expected), view
            for key, row in rows.items():
                cells = slices.cells(row, dict(data.organizations))
                assert page_cells(cells) == shown(expected[key]), (view, key)
            total = slices.cells(slices.totals(list(rows.values())), {})
            assert not expected or page_cells(total, interval=False) == slice_totals(expected), (view, "total")


def test_default_view_is_written_into_the_file(databases: Any, two_orgs: tuple[str, str], tmp_path: Path) -> None:
    html = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path).path.read_text()
    assert 'value="30" selected' in html and "As of 2026-12-05 (UTC)" in html
    assert "spend-based metrics (CPL, ROAS) divide the spend dated within the same days" in html
    body = re.search(r'<table id="slice-table">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body
    rows = re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', body.group(1))
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        expected = slice_from_sql(conn, None, "30", None)
    assert {key for key, _ in rows} == set(expected)  # 6 campaigns: all fit the table
    for key, cells_html in rows:
        cells = dict(re.findall(r'data-col="(\w+)"[^>]*>([^<]*)<', cells_html))
        assert page_cells(cells) == shown(expected[key]), key
    assert "Spring sale (meta/acme-spring)" in html  # names beside ids
    chart = re.search(
        r'<figure class="slice-chart" id="chart-slice-cpl-vs-quality-figure"><svg.*?</svg></figure>', html, re.S
    )
    assert chart  # one point per campaign with leads in the slice
    assert chart.group(0).count('class="mark"') == sum(1 for r in expected.values() if r["leads"] > 0)
    assert "last 30 days (2026-11-06 to 2026-12-05)" in html


def test_a_bi_without_leads_shows_an_explicit_empty_state(databases: Any, tmp_path: Path) -> None:
    html = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path).path.read_text()
    note = re.search(r'<p class="note" id="slice-empty">([^<]*)</p>', html)
    assert note and "No lead and no spend in BI yet" in note.group(1)
    assert '<table id="slice-table" hidden>' in html and html.count('<figure class="slice-chart"') == 2
    assert "<svg" not in html.split("<script>")[0] and '-figure" hidden></figure>' in html
    assert "NaN" not in html


def test_the_file_fetches_nothing(databases: Any, two_orgs: tuple[str, str], tmp_path: Path) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        seed_organization(conn, two_orgs[0], "acme")  # the charts and tables of the correlation tables too
    html = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path).path.read_text()
    # The only URL is the SVG namespace (a name, never fetched); nothing loads a resource.
    assert set(re.findall(r"[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", html, re.I)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"\b(src|href|action|srcset|poster)\s*=", html, re.I)
    assert not re.search(r"<(link|iframe|object|embed|img|base)\b|@import|url\(", html, re.I)
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource|importScripts)\b", slices.SCRIPT)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1) and slices.SCRIPT_HASH in csp.group(1)
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert embedded
    data = json.loads(embedded.group(1))
    assert data["as_of"] == "2026-12-05" and len(data["rows"]) > 0


def test_cli_as_of_sets_the_day_the_periods_count_back_from(
    databases: Any, two_orgs: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv(HOME_VAR, str(tmp_path / "home"))
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)  # set, so no embedded server is started
    assert main(["report", "--as-of", "2026-12-05"]) == 0
    html = Path(capsys.readouterr().out.strip().splitlines()[-1]).read_text()
    assert "As of 2026-12-05 (UTC)" in html and "last 30 days (2026-11-06 to 2026-12-05)" in html
    assert main(["report", "--as-of", "yesterday"]) == 2
    assert "--as-of must be a date like 2026-12-05, got 'yesterday'" in capsys.readouterr().err


def test_a_campaign_name_cannot_break_out_of_the_embedded_data(databases: Any, tmp_path: Path) -> None:
    name = '</script><script>alert("x")</script><!--'
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        org = new_organization(conn, "acme")
        conn.execute(
            "INSERT INTO campaign_metrics (organization_id, source, campaign_id, date, campaign_name, spend) "
            "VALUES (%s, 'meta', 'c1', %s, %s, 10)",
            (org, AS_OF, name),
        )
    html = write_report(databases.bi, ReportParams(as_of=AS_OF), tmp_path).path.read_text()
    assert "<script>alert" not in html and html.count("</script>") == 2 and "<!--" not in html
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert embedded
    assert json.loads(embedded.group(1))["rows"][0][4] == name  # campaign_name, as stored
    assert "&lt;/script&gt;&lt;script&gt;alert" in html  # the server-rendered table, escaped
