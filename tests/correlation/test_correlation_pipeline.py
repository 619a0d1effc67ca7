"""Recommendations end to end through Dagster, and the blocking checks catching tables that do not reconcile."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    MarkdownMetadataValue,
    MetadataValue,
    TableSchemaMetadataValue,
    materialize,
)

from hyperdash_pipeline.conventions import CREATIVE_INSIGHTS_KEY
from hyperdash_pipeline.defs.attribution.assets import lead_attribution
from hyperdash_pipeline.defs.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.defs.correlation.checks import correlation_checks
from tests.support.correlation_seed import BiSeeder, ts

# lead_attribution attributes the seeded CRM leads, as it does before the correlation tables in production.
ASSETS = [lead_attribution, correlation_tables, campaign_attributed_revenue, *correlation_checks()]
# ad: (leads, customers, spend, video_3s_views per 1000 impressions)
ADS = {"GOOD": (60, 30, 600, 100), "BAD": (140, 2, 1000, 380), "MID": (100, 10, 500, 200), "SMALL": (10, 5, 100, 50)}


@pytest.fixture
def creatives(databases: Any) -> Any:
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        org = s.organization("acme")
        for ad, (leads, customers, spend, views) in ADS.items():
            s.metrics(org, "meta", "K", ad, date(2026, 1, 5), spend=spend, impressions=1000, video_3s_views=views)
            for i in range(leads):
                lead = s.lead(org, "meta", "K", ad, ts("2026-01-06T10:00:00"))
                if i < customers:
                    s.deal(org, lead, "won", 100)
    return org


def markdown(value: MetadataValue) -> str:
    """The text of a markdown metadata value (previews and check violations are markdown tables)."""
    assert isinstance(value, MarkdownMetadataValue)
    return value.value


def recommendations(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return {
            ad: (rec, reason)
            for ad, rec, reason in conn.execute("SELECT ad_id, recommendation, reason FROM ai_creative_insights")
        }


def test_recommendations_end_to_end(databases: Any, creatives: Any) -> None:
    result = materialize(ASSETS, resources={"bi": databases.bi})
    assert result.success
    got = recommendations(databases.bi_url)
    # Account: 47 of 310 leads = 15.2%, CAC 2200 / 47 = 46.81.
    assert {ad: rec for ad, (rec, _) in got.items()} == {
        "GOOD": "scale",  # 50% (37.7-62.3%)
        "BAD": "pause",  # 1.4% (0.4-5.1%) and CAC 500
        "MID": "keep",  # 10% (5.5-17.4%) contains 15.2%
        "SMALL": "insufficient_data",
    }
    assert got["BAD"][1].startswith(
        "ad BAD in campaign K: hook rate 38.0% (top quartile) but 2 of 140 leads became customers"
    )
    with psycopg.connect(databases.bi_url) as conn:
        stamped: dict[str, str] = dict(
            conn.execute("SELECT ad_id, recommendation FROM analytics.creative_performance").fetchall()
        )
    assert stamped == {ad: rec for ad, (rec, _) in got.items()}
    meta = result.asset_materializations_for_node("correlation_tables")
    insights_meta = next(m for m in meta if m.asset_key == CREATIVE_INSIGHTS_KEY).metadata
    assert insights_meta["recommendations/pause"].value == 1
    assert insights_meta["expected_false_calls_if_none_differ"].value == pytest.approx(3 * 0.05)  # 3 judged


def test_min_leads_is_run_config(databases: Any, creatives: Any) -> None:
    config = {"ops": {"correlation_tables": {"config": {"min_leads": 150}}}}
    assert materialize(ASSETS, resources={"bi": databases.bi}, run_config=config).success
    assert {rec for rec, _ in recommendations(databases.bi_url).values()} == {"insufficient_data"}


def test_a_rebuild_replaces_everything(databases: Any, creatives: Any) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        conn.execute(
            "UPDATE crm_raw.leads SET deleted_at = now(), _synced_at = now() WHERE id IN "
            "(SELECT lead_id FROM lead_attribution WHERE ad_id = 'SMALL')"
        )
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        small = conn.execute(
            "SELECT leads, customers, spend FROM analytics.creative_performance WHERE ad_id = 'SMALL'"
        ).fetchone()
        (count,) = conn.execute("SELECT count(*) FROM analytics.creative_performance").fetchone()  # type: ignore[misc]
    assert small == (0, 0, 100)  # spend stays, its leads are gone
    assert count == 4


TAMPERING = {
    "spend_reconciles": "UPDATE analytics.{table} SET spend = spend + 1 WHERE campaign_id = 'K'",
    "leads_reconcile": "UPDATE analytics.{table} SET leads = leads + 1 WHERE campaign_id = 'K'",
    "rates_valid": "UPDATE analytics.{table} SET lead_to_customer_rate_low = 0.9 WHERE campaign_id = 'K'",
}


@pytest.mark.parametrize("table", ["campaign_lead_quality", "creative_performance", "campaign_weekly"])
@pytest.mark.parametrize("check", sorted(TAMPERING))
def test_blocking_checks_catch_tables_that_do_not_reconcile(
    databases: Any, creatives: Any, table: str, check: str
) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        conn.execute(TAMPERING[check].format(table=table))  # test-only constant SQL
    checks_only = AssetSelection.checks_for_assets(AssetKey(["analytics", table]))
    result = materialize(ASSETS, selection=checks_only, resources={"bi": databases.bi}, raise_on_error=False)
    assert result.get_asset_materialization_events() == []  # the checks ran alone, on the tampered table
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {check}
    assert not result.success  # blocking: the run fails, so nothing downstream would read it


def test_insight_check_catches_a_call_on_a_small_sample(databases: Any, creatives: Any) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        conn.execute("UPDATE ai_creative_insights SET recommendation = 'scale' WHERE ad_id = 'SMALL'")
        conn.execute("UPDATE analytics.creative_performance SET recommendation = 'scale' WHERE ad_id = 'SMALL'")
    checks_only = AssetSelection.checks_for_assets(CREATIVE_INSIGHTS_KEY)
    result = materialize(ASSETS, selection=checks_only, resources={"bi": databases.bi}, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "call made below min_leads" in markdown(evaluation.metadata["first_violations"])


def test_definitions_load_with_the_correlation_concern() -> None:
    from hyperdash_pipeline.conventions import (
        CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
        CAMPAIGN_LEAD_QUALITY_KEY,
        CAMPAIGN_WEEKLY_KEY,
        CREATIVE_PERFORMANCE_KEY,
        GOOGLE_METRICS_KEY,
        GROUP_CORRELATION,
        LEAD_ATTRIBUTION_KEY,
        META_METRICS_KEY,
    )
    from hyperdash_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    ours = [
        CAMPAIGN_LEAD_QUALITY_KEY,
        CREATIVE_PERFORMANCE_KEY,
        CAMPAIGN_WEEKLY_KEY,
        CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
        CREATIVE_INSIGHTS_KEY,
    ]
    for key in ours:
        assert graph.get(key).group_name == GROUP_CORRELATION
    # The lead side comes through lead_attribution (its rows, outcomes and change log), the spend side from
    # the ad-platform metrics.
    parents = graph.get(CAMPAIGN_LEAD_QUALITY_KEY).parent_keys
    assert parents == {LEAD_ATTRIBUTION_KEY, META_METRICS_KEY, GOOGLE_METRICS_KEY}
    assert CREATIVE_PERFORMANCE_KEY in graph.get(CREATIVE_INSIGHTS_KEY).parent_keys


def test_materialization_metadata(databases: Any, creatives: Any) -> None:
    result = materialize(ASSETS, resources={"bi": databases.bi})
    by_key = {m.asset_key: m.metadata for m in result.asset_materializations_for_node("correlation_tables")}
    creative = by_key[AssetKey(["analytics", "creative_performance"])]
    assert creative["dagster/row_count"].value == 4
    column_schema = creative["dagster/column_schema"]
    assert isinstance(column_schema, TableSchemaMetadataValue)
    columns = [c.name for c in column_schema.schema.columns]
    assert columns[:4] == ["organization_id", "source", "campaign_id", "ad_id"] and "recommendation" in columns
    assert markdown(creative["preview"]).startswith("Top 4 by real_roas:")
    assert "| GOOD |" in markdown(creative["preview"])


def test_attributed_revenue_spend_check_is_per_model(databases: Any, creatives: Any) -> None:
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        conn.execute("DELETE FROM analytics.campaign_attributed_revenue WHERE model = 'linear' AND campaign_id = 'K'")
    selection = AssetSelection.checks_for_assets(AssetKey(["analytics", "campaign_attributed_revenue"]))
    result = materialize(ASSETS, selection=selection, resources={"bi": databases.bi}, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "| linear |" in markdown(evaluation.metadata["first_violations"])
