"""The `reporting/correlation_report` asset: the HTML report, with its top findings in the UI's metadata."""

# No `from __future__ import annotations` here: Dagster reads the Config and resource annotations at runtime.

import uuid

from dagster import (
    AssetExecutionContext,
    Backoff,
    Config,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import Field, field_validator

from hyperdash_pipeline.automation.conditions import refresh_analytics
from hyperdash_pipeline.conventions import (
    CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    CAMPAIGN_LEAD_QUALITY_KEY,
    CAMPAIGN_WEEKLY_KEY,
    CORRELATION_REPORT_KEY,
    CREATIVE_INSIGHTS_KEY,
    CREATIVE_PERFORMANCE_KEY,
    GROUP_REPORTING,
    OWNERS,
)
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from hyperdash_pipeline.resources import PostgresResource

REPORT_DEPS = [
    CAMPAIGN_LEAD_QUALITY_KEY,
    CREATIVE_PERFORMANCE_KEY,
    CAMPAIGN_WEEKLY_KEY,
    CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    CREATIVE_INSIGHTS_KEY,
]


class CorrelationReportConfig(Config):
    organization_id: str | None = Field(default=None, description="Only this organization; all when unset.")
    max_points: int = Field(default=200, ge=1, le=5000, description="Campaigns / creatives drawn per chart.")

    @field_validator("organization_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None:
            uuid.UUID(value)  # raises a clear "badly formed hexadecimal UUID string"
        return value


@asset(
    key=CORRELATION_REPORT_KEY,
    group_name=GROUP_REPORTING,
    kinds={"html", "postgres"},
    owners=OWNERS,
    deps=REPORT_DEPS,
    description=(
        "Self-contained HTML report under HYPERDASH_HOME/reports. First, leads, won revenue and spend per campaign "
        "with filters (organization; last 7/30/90 days or all by lead-created date; source; default last 30 "
        "days, all organizations), then: CPL against lead->customer rate, platform "
        "against real ROAS, hook rate against conversion rate, attributed revenue by model, weekly cohort "
        "curves, and the scale/pause findings. A missing or empty table is reported in its section."
    ),
    automation_condition=refresh_analytics(),
    retry_policy=RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL),
)
def correlation_report(
    context: AssetExecutionContext, config: CorrelationReportConfig, bi: PostgresResource
) -> MaterializeResult:
    result = write_report(bi, ReportParams(organization_id=config.organization_id, max_points=config.max_points))
    context.log.info(f"wrote {result.path} ({result.charts_drawn} charts drawn)")
    return MaterializeResult(
        metadata={
            "report_path": MetadataValue.path(str(result.path)),
            "summary": MetadataValue.md(result.summary_md),
            "charts_drawn": result.charts_drawn,
            "findings": result.findings,
        }
    )
