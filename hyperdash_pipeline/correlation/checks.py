"""Blocking asset checks: the correlation tables must reconcile with their inputs before anything reads them."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetCheckResult, AssetChecksDefinition, AssetKey, MetadataValue, asset_check
from psycopg import sql

from hyperdash_pipeline.conventions import (
    CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    CAMPAIGN_LEAD_QUALITY_KEY,
    CAMPAIGN_WEEKLY_KEY,
    CREATIVE_INSIGHTS_KEY,
    CREATIVE_PERFORMANCE_KEY,
    read_sql,
)
from hyperdash_pipeline.correlation.build import analytics_table, markdown_table
from hyperdash_pipeline.resources import PostgresResource

CHECKS = "transforms/correlation/checks"


def _violations(bi: PostgresResource, file: str, **identifiers: sql.Composable) -> tuple[list[str], list[tuple]]:
    query = sql.SQL(read_sql(f"{CHECKS}/{file}")).format(**identifiers)
    with bi.connection() as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [c.name for c in cur.description or []]
        return columns, cur.fetchall()


def _result(columns: Sequence[str], rows: Sequence[tuple], what: str) -> AssetCheckResult:
    metadata: dict[str, MetadataValue] = {"violations_shown": MetadataValue.int(len(rows))}
    if rows:
        metadata["first_violations"] = MetadataValue.md(markdown_table(columns, rows))
    return AssetCheckResult(
        passed=not rows,
        description=f"{what}: ok" if not rows else f"{what}: {len(rows)} mismatch(es) (up to 20 shown)",
        metadata=metadata,
    )


def _spend_check(key: AssetKey, table: str, partition: str | None) -> AssetChecksDefinition:
    per = f" per {partition}" if partition else ""

    @asset_check(
        asset=key,
        name="spend_reconciles",
        blocking=True,
        description=f"Per organization{per}, the spend in analytics.{table} equals public.campaign_metrics' spend.",
    )
    def check(bi: PostgresResource) -> AssetCheckResult:
        part = sql.Identifier(partition) if partition else sql.SQL("NULL")
        columns, rows = _violations(bi, "spend_mismatches.sql", table=analytics_table(table), partition=part)
        return _result(columns, rows, "spend equals campaign_metrics")

    return check


def _leads_check(key: AssetKey, table: str) -> AssetChecksDefinition:
    @asset_check(
        asset=key,
        name="leads_reconcile",
        blocking=True,
        description=f"Per organization, the leads in analytics.{table} equal the live attributed leads "
        "(lead_attribution joined to crm_raw.leads with deleted_at IS NULL).",
    )
    def check(bi: PostgresResource) -> AssetCheckResult:
        columns, rows = _violations(bi, "lead_mismatches.sql", table=analytics_table(table))
        return _result(columns, rows, "leads equal live attributed leads")

    return check


def _rates_check(key: AssetKey, table: str) -> AssetChecksDefinition:
    @asset_check(
        asset=key,
        name="rates_valid",
        blocking=True,
        description=f"In analytics.{table}: customers <= leads, 0 <= low <= rate <= high <= 1, "
        "NULL only when leads = 0.",
    )
    def check(bi: PostgresResource) -> AssetCheckResult:
        columns, rows = _violations(bi, "rate_violations.sql", table=analytics_table(table))
        return _result(columns, rows, "lead-to-customer rates valid")

    return check


@asset_check(
    asset=CREATIVE_INSIGHTS_KEY,
    name="every_creative_judged_by_the_rule",
    blocking=True,
    description="Every creative has exactly its recommendation in both tables, and no call was made below min_leads.",
)
def insights_consistent(bi: PostgresResource) -> AssetCheckResult:
    columns, rows = _violations(bi, "insight_violations.sql")
    return _result(columns, rows, "recommendations consistent")


def correlation_checks() -> list[AssetChecksDefinition]:
    metric_tables = [
        (CAMPAIGN_LEAD_QUALITY_KEY, "campaign_lead_quality"),
        (CREATIVE_PERFORMANCE_KEY, "creative_performance"),
        (CAMPAIGN_WEEKLY_KEY, "campaign_weekly"),
    ]
    checks: list[AssetChecksDefinition] = []
    for key, table in metric_tables:
        checks += [_spend_check(key, table, None), _leads_check(key, table), _rates_check(key, table)]
    checks.append(_spend_check(CAMPAIGN_ATTRIBUTED_REVENUE_KEY, "campaign_attributed_revenue", "model"))
    checks.append(insights_consistent)
    return checks
