"""Dagster assets of the attribution concern: lead_attribution, attribution_credits, markov_attribution."""

from dagster import (
    AssetExecutionContext,
    Backoff,
    Config,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableSchema,
    asset,
)
from pydantic import Field

from hyperdash_pipeline.attribution.models import MODELS
from hyperdash_pipeline.attribution.parallel import default_parallelism
from hyperdash_pipeline.attribution.refresh import (
    CreditSettings,
    MarkovStats,
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.automation.conditions import refresh_analytics
from hyperdash_pipeline.conventions import (
    ATTRIBUTION_CREDITS_KEY,
    GOOGLE_METRICS_KEY,
    GROUP_ATTRIBUTION,
    LEAD_ATTRIBUTION_KEY,
    MARKOV_ATTRIBUTION_KEY,
    META_METRICS_KEY,
    OWNERS,
    POSTGRES_KINDS,
    crm_raw_key,
)
from hyperdash_pipeline.resources import PostgresResource

RETRY = RetryPolicy(max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL)

LEAD_ATTRIBUTION_SCHEMA = TableSchema(
    columns=[
        TableColumn("organization_id", "uuid", description="organizations.id (placeholder row created if missing)"),
        TableColumn("lead_id", "uuid", description="CRM lead; one row per live lead"),
        TableColumn("campaign_id", "text", description="lead's campaign, or '(<source>)', e.g. '(organic)'"),
        TableColumn("ad_id", "text"),
        TableColumn("ad_set_id", "text"),
        TableColumn("source", "text", description="normalised: meta, google, organic or lower-cased utm_source"),
        TableColumn("medium", "text", description="lower-cased utm_medium"),
        TableColumn("utm_campaign", "text"),
        TableColumn("utm_content", "text"),
        TableColumn("utm_term", "text"),
        TableColumn("cpa_at_conversion", "numeric(10,2)", description="campaign spend/conversions, 7 days"),
        TableColumn("roas", "numeric(10,2)", description="campaign conversion_value/spend, 7 days"),
        TableColumn("touchpoints", "jsonb", description="valid touchpoints, normalised, oldest first"),
        TableColumn("first_touch", "timestamp", description="UTC; the lead's created_at without touchpoints"),
        TableColumn("last_touch", "timestamp", description="UTC"),
        TableColumn("conversion_date", "timestamp", description="the lead's created_at, UTC"),
        TableColumn("created_at", "timestamp"),
    ]
)

CREDITS_SCHEMA = TableSchema(
    columns=[
        TableColumn("organization_id", "uuid"),
        TableColumn("lead_id", "uuid"),
        TableColumn("touch_index", "int", description="0-based position in the collapsed path, oldest first"),
        TableColumn("channel", "text", description="channel group, or the normalised label no alias maps"),
        TableColumn("campaign_id", "text"),
        TableColumn("ad_id", "text"),
        TableColumn("model", "text", description=", ".join(MODELS)),
        TableColumn("credit", "double precision", description="sums to 1 per lead and model"),
        TableColumn("revenue_credit", "numeric(18,6)", description="credit x the lead's won revenue"),
        TableColumn("channel_raw", "text", description="the channel label as the CRM sent it (NULL: none)"),
    ]
)

MARKOV_SCHEMA = TableSchema(
    columns=[
        TableColumn("organization_id", "uuid"),
        TableColumn("dimension", "text", description="channel or campaign"),
        TableColumn("touch", "text"),
        TableColumn("removal_effect", "double precision"),
        TableColumn("attributed_conversions", "double precision", description="sums to the customers"),
        TableColumn("attributed_revenue", "numeric(18,6)"),
    ]
)


PARALLELISM_HELP = (
    "BI sessions a full rebuild is split across, by ranges of lead ids written into stage tables and attached "
    "in one transaction as the partitions of their ranges (attribution/parallel.py, attribution/staging.py). "
    "Default: the BI server's "
    "max_parallel_workers, at most 4 and this machine's cores (1.7-1.75x faster at 2 sessions, 1M leads, "
    "docs/distributed.md)."
)


class LeadAttributionConfig(Config):
    full_refresh: bool = Field(default=False, description="Rebuild every lead instead of the changed ones.")
    parallelism: int | None = Field(default=None, ge=1, description=PARALLELISM_HELP)


class AttributionCreditsConfig(Config):
    lookback_days: int = Field(default=30, description="Touches older than this before the conversion are ignored.")
    half_life_days: float = Field(default=7.0, description="Time-decay half-life in days.")
    collapse_consecutive: bool = Field(
        default=True, description="Merge consecutive touches with the same (channel, campaign_id)."
    )
    models: list[str] = Field(default=list(MODELS), description=f"Subset of {', '.join(MODELS)}.")
    full_refresh: bool = Field(default=False, description="Recompute every lead (done anyway when settings change).")
    parallelism: int | None = Field(default=None, ge=1, description=PARALLELISM_HELP)

    def settings(self) -> CreditSettings:
        return CreditSettings(
            lookback_days=self.lookback_days,
            half_life_days=self.half_life_days,
            collapse=self.collapse_consecutive,
            models=tuple(self.models),
        )


@asset(
    key=LEAD_ATTRIBUTION_KEY,
    group_name=GROUP_ATTRIBUTION,
    kinds=POSTGRES_KINDS,
    owners=OWNERS,
    deps=[crm_raw_key("leads"), crm_raw_key("deals"), META_METRICS_KEY, GOOGLE_METRICS_KEY],
    description=(
        "BI public.lead_attribution: one row per live CRM lead with its campaign, ad, normalised source, "
        "touchpoints and the campaign's 7-day CPA/ROAS at conversion. Incremental on crm_raw._synced_at; "
        "bad touchpoints and deals go to quarantine."
    ),
    retry_policy=RETRY,
    automation_condition=refresh_analytics(),
)
def lead_attribution(
    context: AssetExecutionContext, config: LeadAttributionConfig, bi: PostgresResource
) -> MaterializeResult:
    with bi.connection() as conn:
        parallelism = config.parallelism or default_parallelism(conn)
        stats = refresh_lead_attribution(conn, full=config.full_refresh, parallelism=parallelism)
    context.log.info(f"lead_attribution: {stats.recomputed} recomputed, {stats.removed} removed (full={stats.full})")
    return MaterializeResult(
        metadata={
            "dagster/row_count": stats.row_count,
            "dagster/column_schema": LEAD_ATTRIBUTION_SCHEMA,
            "full_refresh": stats.full,
            "parallelism": parallelism if stats.full else 1,
            "leads_recomputed": stats.recomputed,
            "leads_removed": stats.removed,
            "lead_outcomes_changed": stats.outcomes_changed,
            "quarantined": stats.quarantined,
            "organizations_created": stats.organizations_created,
            "leads_watermark": str(stats.leads_watermark),
            "deals_watermark": str(stats.deals_watermark),
        }
    )


@asset(
    key=ATTRIBUTION_CREDITS_KEY,
    group_name=GROUP_ATTRIBUTION,
    kinds=POSTGRES_KINDS,
    owners=OWNERS,
    deps=[LEAD_ATTRIBUTION_KEY],
    description=(
        "Multi-touch credits per lead x touch x model (first/last touch, linear, position-based, time decay), "
        "with revenue credit = credit x won revenue. Recomputes only leads changed by lead_attribution. "
        "A view over analytics.attribution_touch_credits (one row per lead x touch, a column per model)."
    ),
    retry_policy=RETRY,
    automation_condition=refresh_analytics(),
)
def attribution_credits(
    context: AssetExecutionContext, config: AttributionCreditsConfig, bi: PostgresResource
) -> MaterializeResult:
    settings = config.settings()
    with bi.connection() as conn:
        parallelism = config.parallelism or default_parallelism(conn)
        stats = refresh_attribution_credits(conn, settings, full=config.full_refresh, parallelism=parallelism)
    context.log.info(f"attribution_credits: {stats.reason}, {stats.leads_recomputed} leads recomputed")
    return MaterializeResult(
        metadata={
            "dagster/row_count": stats.row_count,
            "dagster/column_schema": CREDITS_SCHEMA,
            "full_refresh": stats.full,
            "parallelism": parallelism if stats.full else 1,
            "refresh_reason": stats.reason,
            "leads_recomputed": stats.leads_recomputed,
            "rows_written": stats.rows_written,
            "unmapped_channel_labels": stats.unmapped_labels,
            "unmapped_channel_touches": stats.unmapped_touches,
            "settings": MetadataValue.json(settings.as_json()),
        }
    )


def _markov_preview(stats: MarkovStats, limit: int = 20) -> str:
    lines = [
        "| organization | dimension | touch | removal effect | conversions | revenue |",
        "|---|---|---|---|---|---|",
    ]
    top = sorted(stats.rows, key=lambda r: r.attributed_conversions, reverse=True)[:limit]
    lines += [
        f"| {r.organization_id[:8]} | {r.dimension} | {r.touch} | {r.removal_effect:.3f} | "
        f"{r.attributed_conversions:.1f} | {r.attributed_revenue:,.2f} |"
        for r in top
    ]
    return "\n".join(lines)


@asset(
    key=MARKOV_ATTRIBUTION_KEY,
    group_name=GROUP_ATTRIBUTION,
    kinds=POSTGRES_KINDS | {"numpy"},
    owners=OWNERS,
    deps=[ATTRIBUTION_CREDITS_KEY],
    description=(
        "Data-driven attribution: first-order Markov chain removal effects by channel and by campaign per "
        "organization; customers and won revenue split in proportion to the removal effects."
    ),
    retry_policy=RETRY,
    automation_condition=refresh_analytics(),
)
def markov_attribution(context: AssetExecutionContext, bi: PostgresResource) -> MaterializeResult:
    with bi.connection() as conn:
        stats = refresh_markov_attribution(conn)
    context.log.info(f"markov_attribution: {len(stats.rows)} rows, {stats.customers} customers")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(stats.rows),
            "dagster/column_schema": MARKOV_SCHEMA,
            "customers": stats.customers,
            "preview": MetadataValue.md(_markov_preview(stats)),
        }
    )
