"""Names beside ids, and n/a (not 0%) for rates that do not apply: the correlation tables, the reasons of
ai_creative_insights and the HTML report, on real PostgreSQL."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import materialize
from psycopg.rows import dict_row

from hyperdash_pipeline.defs.attribution.assets import lead_attribution
from hyperdash_pipeline.defs.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from tests.support.correlation_seed import BiSeeder, ts

ASSETS = [lead_attribution, correlation_tables, campaign_attributed_revenue]
LONG_NAME = "Black Friday 2026 - Prospecting - Lookalike 3% - Video Carousel - Spanish speakers in Miami"


@pytest.fixture
def account(databases: Any) -> Any:
    """Meta campaign V (renamed on Jan 12) with video ad VID; Google search campaign S with ads TXT (converts
    worse than its account: pause) and TXT2, neither with video views."""
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        org = s.organization("acme")
        common: dict[str, Any] = {"spend": 300, "impressions": 1000}
        s.metrics(org, "meta", "V", "VID", date(2026, 1, 5), **common, video_3s_views=300, thruplays=60,
                  campaign_name="Spring test", ad_name="Old cut")  # fmt: skip
        s.metrics(org, "meta", "V", "VID", date(2026, 1, 12), **common, video_3s_views=200, thruplays=40,
                  campaign_name=LONG_NAME, ad_name="Final cut")  # fmt: skip
        s.metrics(org, "meta", "V", "VID", date(2026, 1, 8), **common, campaign_name=None, ad_name=None)
        s.metrics(org, "google", "S", "TXT", date(2026, 1, 5), spend=900, impressions=5000, clicks=200,
                  campaign_name="Brand search", ad_name="Exact match ad")  # fmt: skip
        s.metrics(org, "google", "S", "TXT2", date(2026, 1, 5), spend=300, impressions=2000, ad_name="Broad match ad")
        ads = (("VID", "meta", "V", 60, 30), ("TXT", "google", "S", 60, 3), ("TXT2", "google", "S", 60, 40))
        for ad, source, campaign, leads, customers in ads:
            for i in range(leads):
                lead = s.lead(org, source, campaign, ad, ts("2026-01-06T10:00:00"))
                if i < customers:
                    s.deal(org, lead, "won", 100)
    return org


def rows(url: str, query: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def test_latest_names_beside_ids_and_no_hook_rate_without_video(databases: Any, account: Any) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    quality = {r["campaign_id"]: r for r in rows(databases.bi_url, "SELECT * FROM analytics.campaign_lead_quality")}
    assert quality["V"]["campaign_name"] == LONG_NAME  # the name of the newest dated row that has one
    assert quality["S"]["campaign_name"] == "Brand search"
    creatives = {r["ad_id"]: r for r in rows(databases.bi_url, "SELECT * FROM analytics.creative_performance")}
    assert (creatives["VID"]["campaign_name"], creatives["VID"]["ad_name"]) == (LONG_NAME, "Final cut")
    assert creatives["VID"]["hook_rate"] == pytest.approx(500 / 3000)
    search = creatives["TXT"]
    assert (search["ad_name"], search["video_3s_views"]) == ("Exact match ad", 0)
    assert search["hook_rate"] is None and search["hold_rate"] is None  # n/a, not 0%
    assert quality["S"]["hook_rate"] is None
    weekly = rows(
        databases.bi_url, "SELECT DISTINCT campaign_name FROM analytics.campaign_weekly WHERE campaign_id = 'V'"
    )
    assert weekly == [{"campaign_name": LONG_NAME}]

    reasons = {r["ad_id"]: r for r in rows(databases.bi_url, "SELECT * FROM ai_creative_insights")}
    assert reasons["TXT"]["recommendation"] == "pause"
    assert reasons["TXT"]["reason"].startswith('ad "Exact match ad" (TXT) in campaign "Brand search" (S): ')
    assert "hook" not in reasons["TXT"]["reason"]
    assert reasons["TXT"]["evidence"]["hook_rate"] is None and reasons["TXT"]["evidence"]["currency"] == "USD"
    assert reasons["VID"]["reason"].startswith(f'ad "Final cut" (VID) in campaign "{LONG_NAME}" (V): hook rate')


def test_a_rename_reaches_the_tables_on_the_next_incremental_refresh(databases: Any, account: Any) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        conn.execute("UPDATE campaign_metrics SET campaign_name = 'Brand search 2027', ad_name = 'Phrase ad'"
                     " WHERE campaign_id = 'S'")  # fmt: skip
    result = materialize(ASSETS, resources={"bi": databases.bi})
    meta = result.asset_materializations_for_node("correlation_tables")[0].metadata
    assert meta["refresh_reason"].value == "incremental"
    (row,) = rows(
        databases.bi_url, "SELECT campaign_name, ad_name FROM analytics.creative_performance WHERE ad_id = 'TXT'"
    )
    assert row == {"campaign_name": "Brand search 2027", "ad_name": "Phrase ad"}
    (insight,) = rows(databases.bi_url, "SELECT reason FROM ai_creative_insights WHERE ad_id = 'TXT'")
    assert insight["reason"].startswith('ad "Phrase ad" (TXT) in campaign "Brand search 2027" (S): ')


def text_boxes(svg: str) -> list[tuple[float, float, float, float, str]]:
    """(left, top, right, bottom, shown text) of every horizontal <text>, measured like the charts do."""
    from hyperdash_pipeline.report.charts import CHAR_WIDTH, FONT_SIZE

    boxes = []
    for attrs, body in re.findall(r"<text ([^>]*)>(.*?)</text>", svg, re.S):
        if "transform" in attrs:
            continue  # the rotated y axis title
        shown = re.sub(r"<title>.*?</title>", "", body).replace("&amp;", "&").replace("&quot;", '"')
        x, y = float(re.search(r'\bx="([\d.-]+)"', attrs)[1]), float(re.search(r'\by="([\d.-]+)"', attrs)[1])  # type: ignore[index]
        width = len(shown) * CHAR_WIDTH
        anchor = re.search(r'text-anchor="(\w+)"', attrs)
        left = {"middle": x - width / 2, "end": x - width}.get(anchor[1] if anchor else "start", x)
        boxes.append((left, y - FONT_SIZE, left + width, y, shown))
    return boxes


def test_report_shows_names_na_and_labels_that_do_not_overlap(databases: Any, account: Any, tmp_path: Path) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    html = write_report(databases.bi, ReportParams(), tmp_path).path.read_text()
    assert "Brand search / Exact match ad (google/S/TXT)" in html  # names beside the ids
    assert "Brand search (google/S)" in html
    creatives = re.search(r'<section id="hook-vs-conversion".*?</section>', html, re.S)
    assert creatives
    search_row = re.search(r"<tr><td>Brand search / Exact match ad \(google/S/TXT\)</td>(.*?)</tr>", creatives[0])
    assert search_row and search_row.group(1).count(">n/a<") == 2  # hook and hold rate
    assert "hook rate 0.0%" not in html and "hook rate n/a (no video views)" in html
    assert "{" not in re.search(r'<section id="findings".*?</section>', html, re.S)[0]  # type: ignore[index]
    assert "rule: pause when even the top of the interval" in html and "CAC 300 USD" in html

    svgs = {m[1]: m[0] for m in re.finditer(r'<svg[^>]*id="([\w-]+)".*?</svg>', html, re.S)}
    assert len(svgs) == 5
    for chart_id in ("chart-revenue-by-model", "chart-cohort-curves"):  # a category label, a legend entry
        assert f"<title>{LONG_NAME} (meta/V)</title>" in svgs[chart_id]  # the full name in the SVG title
        drawn = " ".join(box[4] for box in text_boxes(svgs[chart_id]))
        assert "\u2026" in drawn and LONG_NAME not in drawn  # shortened where it is drawn
    for chart_id, svg in svgs.items():
        boxes = text_boxes(svg)
        for i, a in enumerate(boxes):
            assert a[0] >= 0 and a[2] <= 720, f"{chart_id}: {a[4]!r} runs off the chart"
            for b in boxes[i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, f"{chart_id}: {a[4]!r} overlaps {b[4]!r}"


def assert_apart(svg: str) -> None:
    boxes = text_boxes(svg)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{a[4]!r} overlaps {b[4]!r}"


def test_eight_long_campaign_names_under_bars_are_staggered_and_shortened() -> None:
    from hyperdash_pipeline.report.charts import Axis, grouped_bar_chart

    names = [f"{LONG_NAME} #{i}" for i in range(8)]
    svg = grouped_bar_chart("bars", "t", names, {"linear": [1000.0 * i for i in range(8)]}, Axis("revenue"))
    assert all(f"<title>{name}</title>" in svg for name in names)
    rows = {float(y) for y in re.findall(r'<text class="category" x="[\d.]+" y="([\d.]+)"', svg)}
    assert len(rows) == 2  # two staggered rows: each label gets two bands of room
    assert_apart(svg)
