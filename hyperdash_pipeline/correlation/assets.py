"""Correlation assets: lead quality per campaign and creative, weekly cohorts, revenue per attribution model,
and the creative recommendations, all rebuilt in full inside BI.

No `from __future__ import annotations` here: Dagster reads the `config: InsightsConfig` annotation at
decoration time and cannot resolve it from a string.
"""

import time
from collections.abc import Iterator
from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Backoff,
    Config,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
    multi_asset,
)
from pydantic import Field

from hyperdash_pipeline.automation.conditions import refresh_analytics
from hyperdash_pipeline.conventions import (
    ATTRIBUTION_CREDITS_KEY,
    CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    CAMPAIGN_LEAD_QUALITY_KEY,
    CAMPAIGN_WEEKLY_KEY,
    CREATIVE_INSIGHTS_KEY,
    CREATIVE_PERFORMANCE_KEY,
    GOOGLE_METRICS_KEY,
    GROUP_CORRELATION,
    LEAD_ATTRIBUTION_KEY,
    META_METRICS_KEY,
    OWNERS,
    POSTGRES_KINDS,
    crm_raw_key,
)
from hyperdash_pipeline.correlation.build import (
    AD_METRICS,
    BASE,
    GRAIN_CREATIVE,
    GRAIN_WEEK,
    LEAD_COHORTS,
    rebuild_from_file,
    rebuild_metrics_table,
    stage_inputs,
    table_metadata,
)
from hyperdash_pipeline.insights.apply import decide_all, load_creatives, write_insights
from hyperdash_pipeline.insights.decide import RULE_TEXT, DecisionRule
from hyperdash_pipeline.resources import PostgresResource

LEAD_INPUTS = [LEAD_ATTRIBUTION_KEY, crm_raw_key("leads"), crm_raw_key("deals")]
SPEND_INPUTS = [META_METRICS_KEY, GOOGLE_METRICS_KEY]

AUTOMATION = refresh_analytics()
# Inputs sync hourly: a table older than 2 hours is late, older than a day is failing.
FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=2))
RETRY = RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL)

PREVIEW = ["source", "campaign_id", "spend", "leads", "customers", "lead_to_customer_rate", "cpl", "cac", "real_roas"]
PREVIEW_CREATIVE = [
    "source",
    "campaign_id",
    "ad_id",
    "leads",
    "customers",
    "lead_to_customer_rate",
    "cac",
    "hook_rate",
    "real_roas",
    "recommendation",
]
PREVIEW_WEEKLY = [
    "campaign_id",
    "week_start",
    "cohort_age_days",
    "spend",
    "leads",
    "customers",
    "lead_to_customer_rate",
    "cpl",
    "real_roas",
]
PREVIEW_ATTRIBUTED = ["campaign_id", "model", "attributed_leads", "attributed_revenue", "spend", "roas"]


class InsightsConfig(Config):
    """Thresholds of the recommendation rule (see hyperdash_pipeline.insights.decide)."""

    min_leads: int = Field(default=30, ge=1, description="Fewer live attributed leads than this: insufficient_data.")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Confidence of the Wilson interval.")


def _spec(key: AssetKey, description: str, deps: list[AssetKey]) -> AssetSpec:
    return AssetSpec(
        key=key,
        deps=deps,
        description=description,
        group_name=GROUP_CORRELATION,
        owners=OWNERS,
        kinds=POSTGRES_KINDS,
        automation_condition=AUTOMATION,
        freshness_policy=FRESHNESS,
    )


CORRELATION_SPECS = [
    _spec(
        CAMPAIGN_LEAD_QUALITY_KEY,
        "Per organization, source and campaign: spend and platform metrics beside the CRM truth (leads, "
        "customers, revenue), lead-to-customer rate with its 95% Wilson interval, CPL, CAC, platform vs real ROAS.",
        LEAD_INPUTS + SPEND_INPUTS,
    ),
    _spec(
        CREATIVE_PERFORMANCE_KEY,
        "The campaign_lead_quality metrics per ad (creative), plus the recommendation of ai_creative_insights.",
        LEAD_INPUTS + SPEND_INPUTS,
    ),
    _spec(
        CAMPAIGN_WEEKLY_KEY,
        "Weekly lead cohorts per campaign (UTC week the lead was created) with the spend of that week; "
        "cohort_age_days marks young cohorts whose leads have not had time to buy.",
        LEAD_INPUTS + SPEND_INPUTS,
    ),
    _spec(
        CREATIVE_INSIGHTS_KEY,
        f"Recommendation per creative with its reason and evidence. Rule: {RULE_TEXT}.",
        [CREATIVE_PERFORMANCE_KEY],
    ),
]


@multi_asset(
    specs=CORRELATION_SPECS,
    name="correlation_tables",
    can_subset=False,
    retry_policy=RETRY,
    description="One consistent snapshot: lead quality per campaign, creative and week, and the recommendations.",
)
def correlation_tables(
    context: AssetExecutionContext, config: InsightsConfig, bi: PostgresResource
) -> Iterator[MaterializeResult]:
    rule = DecisionRule(min_leads=config.min_leads, confidence=config.confidence)
    started = time.perf_counter()
    with bi.connection() as conn:
        stage_inputs(conn, [LEAD_COHORTS, AD_METRICS, BASE])
        quality_rows = rebuild_metrics_table(
            conn, "campaign_lead_quality", ["organization_id", "source", "campaign_id"], GRAIN_CREATIVE
        )
        creative_rows = rebuild_metrics_table(
            conn, "creative_performance", ["organization_id", "source", "campaign_id", "ad_id"], GRAIN_CREATIVE
        )
        weekly_rows = rebuild_metrics_table(
            conn, "campaign_weekly", ["organization_id", "source", "campaign_id", "week_start"], GRAIN_WEEK
        )
        decisions = decide_all(load_creatives(conn), rule)
        counts = write_insights(conn, decisions)
        metadata = {
            CAMPAIGN_LEAD_QUALITY_KEY: table_metadata(
                conn, "campaign_lead_quality", quality_rows, PREVIEW, "real_roas"
            ),
            CREATIVE_PERFORMANCE_KEY: table_metadata(
                conn, "creative_performance", creative_rows, PREVIEW_CREATIVE, "real_roas"
            ),
            CAMPAIGN_WEEKLY_KEY: table_metadata(conn, "campaign_weekly", weekly_rows, PREVIEW_WEEKLY, "week_start"),
        }
    elapsed = round(time.perf_counter() - started, 3)
    context.log.info(f"correlation tables rebuilt in {elapsed}s; recommendations {dict(counts)}")
    for key, meta in metadata.items():
        yield MaterializeResult(asset_key=key, metadata={**meta, "rebuild_seconds": elapsed})
    yield MaterializeResult(
        asset_key=CREATIVE_INSIGHTS_KEY,
        metadata={
            "dagster/row_count": len(decisions),
            "dagster/table_name": "public.ai_creative_insights",
            **{
                f"recommendations/{name}": counts.get(name, 0)
                for name in ("pause", "scale", "keep", "insufficient_data")
            },
            "rule": MetadataValue.text(RULE_TEXT),
            "min_leads": rule.min_leads,
            "confidence": rule.confidence,
        },
    )


@asset(
    key=CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    deps=[ATTRIBUTION_CREDITS_KEY, *SPEND_INPUTS],
    group_name=GROUP_CORRELATION,
    owners=OWNERS,
    kinds=POSTGRES_KINDS,
    automation_condition=AUTOMATION,
    freshness_policy=FRESHNESS,
    retry_policy=RETRY,
    description="Per organization, campaign and attribution model: credited leads and revenue "
    "(analytics.attribution_credits) against the campaign's spend, and the ROAS each model implies.",
)
def campaign_attributed_revenue(context: AssetExecutionContext, bi: PostgresResource) -> MaterializeResult:
    started = time.perf_counter()
    with bi.connection() as conn:
        stage_inputs(conn, [AD_METRICS])
        rows = rebuild_from_file(conn, "campaign_attributed_revenue", "campaign_attributed_revenue.sql")
        metadata = table_metadata(conn, "campaign_attributed_revenue", rows, PREVIEW_ATTRIBUTED, "roas")
    return MaterializeResult(metadata={**metadata, "rebuild_seconds": round(time.perf_counter() - started, 3)})
