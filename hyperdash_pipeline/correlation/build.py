"""Rebuilds of the correlation tables' rows inside BI, and the metadata they report.

Every rebuild runs in the caller's transaction: DELETE then INSERT, so readers keep seeing the previous
complete table until COMMIT (MVCC), and a failure leaves the previous table untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from dagster import MetadataValue, TableColumn, TableSchema
from psycopg import sql

from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.transforms import scalar

TRANSFORMS = "transforms/correlation"
# Rows of correlation_base: per (org, source, campaign, ad), or per (org, source, campaign, week).
GRAIN_CREATIVE = "creative"
GRAIN_WEEK = "week"
# The models of analytics.attribution_credits (a column each in its storage, docs/contracts.md#attribution-contract).
ATTRIBUTION_MODELS = ["first_touch", "last_touch", "linear", "position_based", "time_decay"]
COHORT_AGE = sql.SQL("(now() AT TIME ZONE 'UTC')::date - week_start")
# Rows of the campaigns the refresh rebuilds (hyperdash_pipeline.correlation.refresh leaves them in _cr_campaigns).
_CAMPAIGN_NAMES = sql.SQL(" LEFT JOIN _cr_campaign_names USING (organization_id, source, campaign_id)")
_AD_NAMES = sql.SQL(" LEFT JOIN _cr_ad_names USING (organization_id, source, campaign_id, ad_id)")
_TOUCHED = sql.SQL(
    " AS t USING _cr_campaigns AS c WHERE t.organization_id = c.organization_id AND t.source = c.source"
    " AND t.campaign_id = c.campaign_id"
)


def analytics_table(name: str) -> sql.Identifier:
    return sql.Identifier("analytics", name)


def rebuild_metrics_table(
    conn: psycopg.Connection, table: str, keys: Sequence[str], grain: str, touched_only: bool
) -> int:
    """Replace the rows of analytics.<table> (every row, or those of the touched campaigns) with the metric
    contract over the `grain` rows of correlation_base grouped by `keys`, with the latest campaign name (and
    ad name, per ad) beside the ids; returns the rows written."""
    target = analytics_table(table)
    weekly = grain == GRAIN_WEEK
    per_ad = "ad_id" in keys
    conn.execute(sql.SQL("DELETE FROM {}").format(target) + (_TOUCHED if touched_only else sql.SQL("")))
    query = sql.SQL(read_sql(f"{TRANSFORMS}/metrics_insert.sql")).format(
        target=target,
        keys=sql.SQL(", ").join(sql.Identifier(k) for k in keys),
        grain=sql.Literal(grain),
        name_columns=sql.SQL(", campaign_name, ad_name" if per_ad else ", campaign_name"),
        name_joins=_CAMPAIGN_NAMES + (_AD_NAMES if per_ad else sql.SQL("")),
        extra_columns=sql.SQL(", cohort_age_days") if weekly else sql.SQL(""),
        extra_values=sql.SQL(", ") + COHORT_AGE if weekly else sql.SQL(""),
    )
    return conn.execute(query).rowcount


def age_weekly_cohorts(conn: psycopg.Connection) -> int:
    """Bring cohort_age_days of the rows not rebuilt to today (a no-op within the day); the rows aged."""
    query = sql.SQL("UPDATE analytics.campaign_weekly SET cohort_age_days = {age} WHERE cohort_age_days <> {age}")
    return conn.execute(query.format(age=COHORT_AGE)).rowcount


def rebuild_attributed_revenue(conn: psycopg.Connection) -> int:
    """Replace analytics.campaign_attributed_revenue (small: campaigns x models, from the 0302 totals)."""
    conn.execute("DELETE FROM analytics.campaign_attributed_revenue")
    query = sql.SQL(read_sql(f"{TRANSFORMS}/campaign_attributed_revenue.sql"))
    return conn.execute(query, {"models": ATTRIBUTION_MODELS}).rowcount


def row_count(conn: psycopg.Connection, table: str) -> int:
    return int(scalar(conn, sql.SQL("SELECT count(*) FROM {}").format(analytics_table(table))))


def column_schema(conn: psycopg.Connection, table: str) -> TableSchema:
    """The table's columns and types as PostgreSQL reports them."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'analytics' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return TableSchema(
        columns=[
            TableColumn(name=name, type=dtype, description=None if nullable == "YES" else "NOT NULL")
            for name, dtype, nullable in rows
        ]
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def preview(conn: psycopg.Connection, table: str, columns: Sequence[str], order_by: str, limit: int = 10) -> str:
    """Markdown of the top `limit` rows of analytics.<table> by `order_by` (descending, NULLs last)."""
    query = sql.SQL("SELECT {cols} FROM {table} ORDER BY {order} DESC NULLS LAST LIMIT {limit}").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=analytics_table(table),
        order=sql.Identifier(order_by),
        limit=sql.Literal(limit),
    )
    rows = conn.execute(query).fetchall()
    return f"Top {len(rows)} by {order_by}:\n\n" + markdown_table(columns, rows)


def table_metadata(
    conn: psycopg.Connection, table: str, rows_written: int, preview_columns: Sequence[str], order_by: str
) -> dict[str, Any]:
    return {
        "dagster/row_count": row_count(conn, table),
        "rows_written": rows_written,
        "dagster/column_schema": column_schema(conn, table),
        "dagster/table_name": f"analytics.{table}",
        "preview": MetadataValue.md(preview(conn, table, preview_columns, order_by)),
    }
