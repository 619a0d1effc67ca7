"""The small aggregates the report reads from BI, each tolerant of a table that is not there yet.

Every query returns at most a few hundred rows (LIMITs and GROUP BYs run in PostgreSQL). A table that
is absent, empty or missing a column yields a `Section` with a note saying so and what to do, so the
report is written whatever state the pipeline is in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from dagster import AssetKey
from psycopg.rows import dict_row

from hyperdash_pipeline.conventions import (
    CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
    CAMPAIGN_LEAD_QUALITY_KEY,
    CAMPAIGN_WEEKLY_KEY,
    CONVERSIONS_OUTBOX_KEY,
    CREATIVE_INSIGHTS_KEY,
    CREATIVE_PERFORMANCE_KEY,
)
from hyperdash_pipeline.settings import read_sql


@dataclass(frozen=True)
class Query:
    name: str
    table: str  # the table it reads, schema-qualified
    asset: AssetKey  # the asset that fills that table
    sql_file: str


QUERIES = {
    q.name: q
    for q in (
        Query("campaigns", "analytics.campaign_lead_quality", CAMPAIGN_LEAD_QUALITY_KEY, "campaign_quality.sql"),
        Query(
            "creatives", "analytics.creative_performance", CREATIVE_PERFORMANCE_KEY, "creative_hook_vs_conversion.sql"
        ),
        Query(
            "attributed_revenue",
            "analytics.campaign_attributed_revenue",
            CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
            "attributed_revenue_by_model.sql",
        ),
        Query(
            "model_totals",
            "analytics.campaign_attributed_revenue",
            CAMPAIGN_ATTRIBUTED_REVENUE_KEY,
            "attributed_revenue_totals.sql",
        ),
        Query("weekly", "analytics.campaign_weekly", CAMPAIGN_WEEKLY_KEY, "weekly_cohorts.sql"),
        Query("findings", "public.ai_creative_insights", CREATIVE_INSIGHTS_KEY, "findings.sql"),
        Query("insight_counts", "public.ai_creative_insights", CREATIVE_INSIGHTS_KEY, "insight_counts.sql"),
        Query("conversions", "public.conversions_outbox", CONVERSIONS_OUTBOX_KEY, "conversions_sent.sql"),
    )
}


@dataclass(frozen=True)
class ReportParams:
    organization_id: str | None = None
    as_of: date | None = None  # the day the filters' periods count back from (UTC); None: today
    max_points: int = 200
    max_categories: int = 8
    max_series: int = 6
    max_findings: int = 10

    def as_sql_params(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "max_points": self.max_points,
            "max_categories": self.max_categories,
            "max_series": self.max_series,
            "max_findings": self.max_findings,
        }


@dataclass
class Section:
    query: Query
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # why there is nothing (or less than expected) to show

    @property
    def has_data(self) -> bool:
        return bool(self.rows)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _table_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def load_section(conn: psycopg.Connection, query: Query, params: ReportParams) -> Section:
    """Run one report query on an autocommit connection (a failure leaves no aborted transaction)."""
    materialize = f"materialize {query.asset.to_user_string()} first"
    scope = f" for organization {params.organization_id}" if params.organization_id else ""
    if not _table_exists(conn, query.table):
        return Section(query, note=f"{query.table} does not exist yet: run `hyperdash migrate`, then {materialize}.")
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(read_sql(f"transforms/report/{query.sql_file}"), params.as_sql_params())
            rows = [{k: _plain(v) for k, v in row.items()} for row in cur.fetchall()]
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable) as exc:
        return Section(query, note=f"{query.table} does not have the expected shape ({exc.diag.message_primary}).")
    if not rows:
        return Section(query, note=f"{query.table} has no rows{scope} yet: {materialize}.")
    return Section(query, rows=rows)


def load_all(conn: psycopg.Connection, params: ReportParams) -> dict[str, Section]:
    return {name: load_section(conn, query, params) for name, query in QUERIES.items()}
