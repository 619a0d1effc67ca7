"""Correlation assets: lead quality per campaign and creative, weekly cohorts, revenue per attribution model,
and the creative recommendations, all computed inside BI; the campaigns whose leads or spend changed since the
last run are rebuilt, the others kept (hyperdash_pipeline.correlation.refresh).

No `from __future__ import annotations` here: Dagster reads the `config: CorrelationConfig` annotation at
decoration time and cannot resolve it from a string.
"""

import time
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Backoff,
    Config,
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
)
from hyperdash_pipeline.correlation.build import rebuild_attributed_revenue, table_metadata
from hyperdash_pipeline.correlation.refresh import correlation_transaction, refresh_correlation
from hyperdash_pipeline.insights.decide import RULE_TEXT, DecisionRule
from hyperdash_pipeline.resources import PostgresResource

# lead_attribution also writes analytics.lead_outcomes (the won deals per lead) and the change log read here.
LEAD_INPUTS = [LEAD_ATTRIBUTION_KEY]
SPEND_INPUTS = [META_METRICS_KEY, GOOGLE_METRICS_KEY]

AUTOMATION = refresh_analytics()
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


class CorrelationConfig(Config):
    """Thresholds of the recommendation rule (see hyperdash_pipeline.insights.decide), and the refresh mode."""

    full_refresh: bool = Field(
        default=False,
        description="Regroup every lead and metric row instead of applying the changes since the last run.",
    )
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
    )


# A tuple, not a list: the defs folder's loader collects module-level lists of specs as assets of their own.
CORRELATION_SPECS = (
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
)


@multi_asset(
    specs=list(CORRELATION_SPECS),
    name="correlation_tables",
    can_subset=False,
    retry_policy=RETRY,
    description="One consistent snapshot: lead quality per campaign, creative and week, and the recommendations.",
)
def correlation_tables(
    context: AssetExecutionContext, config: CorrelationConfig, bi: PostgresResource
) -> Iterator[MaterializeResult]:
    rule = DecisionRule(min_leads=config.min_leads, confidence=config.confidence)
    started = time.perf_counter()
    with bi.connection() as conn, correlation_transaction(conn):
        result = refresh_correlation(conn, rule, full=config.full_refresh)
        sides, written = result.sides, result.rows_written
        refresh: dict[str, Any] = {"full_refresh": sides.full, "refresh_reason": sides.reason}
        if not sides.full:
            refresh |= {"leads_changed": sides.leads_changed, "campaigns_rebuilt": sides.campaigns_touched}
        metadata = {
            CAMPAIGN_LEAD_QUALITY_KEY: table_metadata(
                conn, "campaign_lead_quality", written["campaign_lead_quality"], PREVIEW, "real_roas"
            ),
            CREATIVE_PERFORMANCE_KEY: table_metadata(
                conn, "creative_performance", written["creative_performance"], PREVIEW_CREATIVE, "real_roas"
            ),
            CAMPAIGN_WEEKLY_KEY: {
                **table_metadata(conn, "campaign_weekly", written["campaign_weekly"], PREVIEW_WEEKLY, "week_start"),
                "cohorts_aged": result.cohorts_aged,
            },
        }
    elapsed = round(time.perf_counter() - started, 3)
    decisions, counts = result.decisions, result.recommendations
    judged = len(decisions) - counts.get("insufficient_data", 0)
    context.log.info(f"correlation tables refreshed in {elapsed}s ({sides.reason}); recommendations {dict(counts)}")
    for key, meta in metadata.items():
        yield MaterializeResult(asset_key=key, metadata={**meta, **refresh, "refresh_seconds": elapsed})
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
            # If no creative truly differed from its account, about this many calls would still be made:
            # read the pause/scale counts against it (many creatives -> raise `confidence`).
            "expected_false_calls_if_none_differ": round(judged * (1 - rule.confidence), 2),
        },
    )


@asset(
    key=CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    deps=[ATTRIBUTION_CREDITS_KEY, *SPEND_INPUTS],
    group_name=GROUP_CORRELATION,
    owners=OWNERS,
    kinds=POSTGRES_KINDS,
    automation_condition=AUTOMATION,
    retry_policy=RETRY,
    description="Per organization, campaign and attribution model: credited leads and revenue "
    "(analytics.attribution_credits) against the campaign's spend, and the ROAS each model implies.",
)
def campaign_attributed_revenue(bi: PostgresResource) -> MaterializeResult:
    started = time.perf_counter()
    with bi.connection() as conn:
        rows = rebuild_attributed_revenue(conn)
        metadata = table_metadata(conn, "campaign_attributed_revenue", rows, PREVIEW_ATTRIBUTED, "roas")
    return MaterializeResult(metadata={**metadata, "refresh_seconds": round(time.perf_counter() - started, 3)})
