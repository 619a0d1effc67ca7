"""Analytics rows for report tests, written through the analytics contract's column names.

The correlation tables are created by another concern's migration; where they do not exist yet (this
branch on its own) they are created here with the contract's columns, so the report is tested on the
same names it will meet after the merge.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from hyperdash_pipeline.report import charts


def insert_rows(conn: psycopg.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    schema, name = table.split(".")
    for row in rows:
        conn.execute(
            sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
                sql.Identifier(schema),
                sql.Identifier(name),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            [Jsonb(v) if isinstance(v, dict) else v for v in row.values()],
        )


def new_organization(conn: psycopg.Connection, slug: str) -> str:
    org = str(uuid.uuid4())
    conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)", (org, slug.title(), slug))
    return org


def campaign(
    org: str,
    source: str,
    campaign_id: str,
    spend: float,
    leads: int,
    customers: int,
    revenue: float,
    conversion_value: float,
) -> dict[str, Any]:
    rate = customers / leads
    return {
        "organization_id": org,
        "source": source,
        "campaign_id": campaign_id,
        "spend": spend,
        "impressions": 100 * leads,
        "clicks": 5 * leads,
        "conversions": leads,
        "video_3s_views": 30 * leads,
        "thruplays": 10 * leads,
        "leads": leads,
        "customers": customers,
        "revenue": revenue,
        "conversion_value": conversion_value,
        "lead_to_customer_rate": rate,
        "lead_to_customer_rate_low": max(0.0, rate - 0.1),
        "lead_to_customer_rate_high": min(1.0, rate + 0.1),
        "cpl": spend / leads,
        "platform_roas": conversion_value / spend,
        "real_roas": revenue / spend,
    }


def seed_organization(conn: psycopg.Connection, org: str, prefix: str) -> None:
    """Three campaigns, four creatives, two models, four weeks, one scale and one pause call."""
    campaigns = [
        campaign(org, "meta", f"{prefix}-a", 5000, 100, 20, 9000, 17500),
        campaign(org, "meta", f"{prefix}-b", 8000, 100, 60, 30000, 20000),
        campaign(org, "google", f"{prefix}-c", 3000, 50, 10, 4000, 6000),
    ]
    insert_rows(conn, "analytics.campaign_lead_quality", campaigns)
    creatives = [
        {**c, "ad_id": f"{c['campaign_id']}-ad{i}", "hook_rate": 0.1 + 0.1 * i} for i, c in enumerate(campaigns)
    ] + [{**campaigns[0], "ad_id": f"{prefix}-a-adx", "hook_rate": 0.45, "lead_to_customer_rate": 0.02}]
    insert_rows(conn, "analytics.creative_performance", creatives)
    start = date(2026, 10, 5)
    weekly = [
        {
            "organization_id": org,
            "source": c["source"],
            "campaign_id": c["campaign_id"],
            "week_start": start + timedelta(weeks=w),
            **{k: 0 for k in ("spend", "impressions", "clicks", "conversions", "conversion_value")},
            **{k: 0 for k in ("video_3s_views", "thruplays", "revenue")},
            "leads": 25,
            "customers": 2 + w + 3 * i,
            "cohort_age_days": 7 * (4 - w),
        }
        for i, c in enumerate(campaigns)
        for w in range(4)
    ]
    insert_rows(conn, "analytics.campaign_weekly", weekly)
    revenue = [
        {
            "organization_id": org,
            "campaign_id": c["campaign_id"],
            "model": model,
            "attributed_leads": c["leads"] * share,
            "attributed_revenue": c["revenue"] * share,
            "spend": c["spend"],
        }
        for c in campaigns
        for model, share in (("first_touch", 0.4), ("last_touch", 0.9))
    ]
    insert_rows(conn, "analytics.campaign_attributed_revenue", revenue)
    insights = [
        {
            "organization_id": org,
            "source": "meta",
            "campaign_id": f"{prefix}-b",
            "ad_id": f"{prefix}-b-ad1",
            "recommendation": "scale",
            "reason": "leads convert 3x the account average",
            "evidence": {"leads": 100, "customers": 60},
        },
        {
            "organization_id": org,
            "source": "meta",
            "campaign_id": f"{prefix}-a",
            "ad_id": f"{prefix}-a-adx",
            "recommendation": "pause",
            "reason": "high hook rate, leads rarely buy",
            "evidence": {"leads": 100, "customers": 2},
        },
        {
            "organization_id": org,
            "source": "google",
            "campaign_id": f"{prefix}-c",
            "ad_id": f"{prefix}-c-ad2",
            "recommendation": "insufficient_data",
            "reason": "too few leads",
            "evidence": {},
        },
    ]
    insert_rows(conn, "public.ai_creative_insights", insights)


def _lead(
    conn: psycopg.Connection, org: str, source: str | None, campaign_id: str, created: date, won: float | None
) -> None:
    lead = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO lead_attribution (organization_id, lead_id, campaign_id, ad_id, source, conversion_date) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (org, lead, campaign_id, f"{campaign_id}-ad1" if source else None, source, created),
    )
    if won is not None:
        conn.execute(
            "INSERT INTO analytics.lead_outcomes (lead_id, won_deals, won_revenue, run_id) VALUES (%s, 1, %s, 1)",
            (lead, won),
        )


def _spend(
    conn: psycopg.Connection, org: str, source: str, campaign_id: str, name: str, day: date, spend: float
) -> None:
    conn.execute(
        "INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_id, date, campaign_name, ad_name, "
        "spend, impressions, clicks, conversions, conversion_value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s)",
        (org, source, campaign_id, f"{campaign_id}-ad1", day, name, "Video 1", spend, 1000, 40, 3, 2.5 * spend),
    )


def seed_slice_facts(conn: psycopg.Connection, org: str, prefix: str, as_of: date, scale: int = 1) -> None:
    """Leads and spend spread over the filters' periods (2 to 120 days before `as_of`) on two platforms and
    organic leads: each period, source and organization has different numbers."""
    campaigns = (
        ("meta", f"{prefix}-spring", "Spring sale", 37.25),
        ("google", f"{prefix}-search", "Brand search", 11.4),
    )
    for days_ago, leads in ((1, 2), (5, 3), (12, 4), (25, 2), (60, 5), (120, 3)):
        created = as_of - timedelta(days=days_ago)
        for i, (source, campaign_id, name, spend) in enumerate(campaigns):
            for n in range(leads * scale + i):
                _lead(conn, org, source, campaign_id, created, 1234.56 + 10.1 * n if n % 3 == 0 else None)
            _spend(conn, org, source, campaign_id, name, created, spend * (days_ago + 1) * scale)
        _lead(conn, org, None, "(organic)", created, None)


# The filters: one slice of leads, won revenue and spend per campaign, straight from BI.
AS_OF = date(2026, 12, 5)

SLICE_SQL = """
WITH l AS (
    SELECT la.organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id,
           count(*) AS leads, count(*) FILTER (WHERE o.won_deals > 0) AS customers,
           coalesce(sum(o.won_revenue), 0) AS revenue
    FROM lead_attribution la LEFT JOIN analytics.lead_outcomes o USING (lead_id)
    WHERE (%(org)s::uuid IS NULL OR la.organization_id = %(org)s::uuid)
      AND (%(days)s::int IS NULL
           OR la.conversion_date::date BETWEEN %(as_of)s::date - (%(days)s::int - 1) AND %(as_of)s::date)
      AND (%(source)s::text IS NULL OR coalesce(la.source, 'organic') = %(source)s::text)
    GROUP BY 1, 2, 3
), s AS (
    SELECT organization_id, source, campaign_id, sum(spend) AS spend, sum(conversion_value) AS conversion_value
    FROM campaign_metrics
    WHERE (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
      AND (%(days)s::int IS NULL OR date BETWEEN %(as_of)s::date - (%(days)s::int - 1) AND %(as_of)s::date)
      AND (%(source)s::text IS NULL OR source = %(source)s::text)
    GROUP BY 1, 2, 3
)
SELECT organization_id::text || '/' || source || '/' || campaign_id AS key,
       coalesce(l.leads, 0) AS leads, coalesce(l.customers, 0) AS customers, coalesce(l.revenue, 0) AS revenue,
       coalesce(s.spend, 0) AS spend, coalesce(s.conversion_value, 0) AS conversion_value,
       coalesce(s.spend, 0) / NULLIF(coalesce(l.leads, 0), 0) AS cpl,
       l.customers::float8 / NULLIF(l.leads, 0) AS rate,
       analytics.wilson_low(l.customers, l.leads) AS low, analytics.wilson_high(l.customers, l.leads) AS high,
       s.conversion_value / NULLIF(s.spend, 0) AS platform_roas,
       coalesce(l.revenue, 0) / NULLIF(s.spend, 0) AS real_roas
FROM l FULL JOIN s USING (organization_id, source, campaign_id)
"""


def slice_from_sql(conn: psycopg.Connection, org: str | None, period: str, source: str | None) -> dict[str, Any]:
    """Per campaign key (organization/source/campaign) the numbers of one slice, straight from BI."""
    days = None if period == "all" else int(period)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SLICE_SQL, {"org": org, "days": days, "as_of": AS_OF, "source": source})
        return {r["key"]: r for r in cur.fetchall()}


def shown(row: dict[str, Any]) -> dict[str, str]:
    """The cells an analyst reads for a SQL row (money without its currency: the test data is all USD)."""

    def fmt(value: Any, f: Any) -> str:
        return "n/a" if value is None else f(float(value))

    interval = (
        "n/a"
        if row.get("low") is None
        else f"{fmt(row['low'], charts.fmt_percent)} to {fmt(row['high'], charts.fmt_percent)}"
    )
    cells = {
        "leads": fmt(row["leads"], charts.fmt_number),
        "customers": fmt(row["customers"], charts.fmt_number),
        "rate": fmt(row["rate"], charts.fmt_percent),
        "revenue": fmt(row["revenue"], charts.fmt_money),
        "spend": fmt(row["spend"], charts.fmt_money),
        "cpl": fmt(row["cpl"], charts.fmt_money),
        "platform_roas": fmt(row["platform_roas"], charts.fmt_ratio),
        "real_roas": fmt(row["real_roas"], charts.fmt_ratio),
    }
    return {**cells, "interval": interval} if "low" in row else cells


def page_cells(row: dict[str, str], interval: bool = True) -> dict[str, str]:
    """The cells a test compares: the 95% interval too, except on the total row (its SQL is not a row's)."""
    keys = ("leads", "customers", "rate", "revenue", "platform_roas", "real_roas") + (("interval",) if interval else ())
    picked = {k: row[k] for k in keys}
    picked["cpl"] = row["cpl"].removesuffix(" USD")
    picked["spend"] = row["spend"].removesuffix(" USD")
    return picked


def slice_totals(rows: dict[str, Any]) -> dict[str, str]:
    """The total row of a slice from its SQL rows: sums, and the ratios of those sums."""
    leads, customers = sum(r["leads"] for r in rows.values()), sum(r["customers"] for r in rows.values())
    revenue, spend = sum(r["revenue"] for r in rows.values()), sum(r["spend"] for r in rows.values())
    value = sum(r["conversion_value"] for r in rows.values())
    return shown(
        {
            "leads": leads,
            "customers": customers,
            "revenue": revenue,
            "spend": spend,
            "rate": customers / leads if leads else None,
            "cpl": spend / leads if leads else None,
            "platform_roas": value / spend if spend else None,
            "real_roas": revenue / spend if spend else None,
        }
    )
