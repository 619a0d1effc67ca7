"""Blocking asset checks: the correlation tables must reconcile with their inputs before anything reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import AssetCheckResult, AssetChecksDefinition, AssetKey, Definitions, MetadataValue, asset_check
from psycopg import sql

from hyperdash_pipeline.conventions import (
    CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    CAMPAIGN_LEAD_QUALITY_KEY,
    CAMPAIGN_WEEKLY_KEY,
    CREATIVE_INSIGHTS_KEY,
    CREATIVE_PERFORMANCE_KEY,
)
from hyperdash_pipeline.correlation.build import ATTRIBUTION_MODELS, analytics_table, markdown_table
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql

CHECKS = "transforms/correlation/checks"


def _violations(
    bi: PostgresResource, file: str, params: Mapping[str, object] | None = None, **identifiers: sql.Composable
) -> tuple[list[str], list[tuple]]:
    query = sql.SQL(read_sql(f"{CHECKS}/{file}")).format(**identifiers)
    with bi.connection() as conn, conn.cursor() as cur:
        cur.execute(query, params)
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


def _spend_check(
    key: AssetKey, table: str, partition: str | None = None, parts: Sequence[str] = ()
) -> AssetChecksDefinition:
    """Spend per organization (and per value of `partition`, each of `parts` required) equals campaign_metrics'."""
    per = f" per {partition} (each of {', '.join(parts)})" if partition else ""

    @asset_check(
        asset=key,
        name="spend_reconciles",
        blocking=True,
        description=f"Per organization{per}, the spend in analytics.{table} equals public.campaign_metrics' spend.",
    )
    def check(bi: PostgresResource) -> AssetCheckResult:
        part = sql.Identifier(partition) if partition else sql.SQL("NULL")
        params = {"parts": list(parts) if partition else [None]}
        columns, rows = _violations(bi, "spend_mismatches.sql", params, table=analytics_table(table), partition=part)
        return _result(columns, rows, "spend equals campaign_metrics")

    return check


def _violations_check(
    key: AssetKey, table: str, name: str, description: str, query: str, ok: str
) -> AssetChecksDefinition:
    """A blocking check on analytics.`table` that passes when `query` (checks/<query>) returns no row."""

    @asset_check(asset=key, name=name, blocking=True, description=description)
    def check(bi: PostgresResource) -> AssetCheckResult:
        columns, rows = _violations(bi, query, table=analytics_table(table))
        return _result(columns, rows, ok)

    return check


def _leads_check(key: AssetKey, table: str) -> AssetChecksDefinition:
    description = (
        f"Per organization, the leads in analytics.{table} equal the live attributed leads "
        "(the rows of lead_attribution, one per live CRM lead)."
    )
    return _violations_check(
        key, table, "leads_reconcile", description, "lead_mismatches.sql", "leads equal live attributed leads"
    )


def _rates_check(key: AssetKey, table: str) -> AssetChecksDefinition:
    description = f"In analytics.{table}: customers <= leads, 0 <= low <= rate <= high <= 1, NULL only when leads = 0."
    return _violations_check(
        key, table, "rates_valid", description, "rate_violations.sql", "lead-to-customer rates valid"
    )


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
        checks += [_spend_check(key, table), _leads_check(key, table), _rates_check(key, table)]
    checks.append(
        _spend_check(CAMPAIGN_ATTRIBUTED_REVENUE_KEY, "campaign_attributed_revenue", "model", ATTRIBUTION_MODELS)
    )
    checks.append(insights_consistent)
    return checks


defs = Definitions(asset_checks=correlation_checks())
