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
from psycopg.types.json import Jsonb

CONTRACT_TABLES = {
    "analytics.campaign_lead_quality": """
        organization_id uuid, source text, campaign_id text, spend numeric, impressions bigint, clicks bigint,
        conversions numeric, conversion_value numeric, video_3s_views bigint, thruplays bigint, leads bigint,
        customers bigint, revenue numeric, lead_to_customer_rate double precision,
        lead_to_customer_rate_low double precision, lead_to_customer_rate_high double precision, cpl numeric,
        cac numeric, avg_deal_value numeric, platform_cpa numeric, platform_roas numeric, real_roas numeric,
        hook_rate double precision, hold_rate double precision, ctr double precision""",
    "analytics.creative_performance": """
        organization_id uuid, source text, campaign_id text, ad_id text, spend numeric, impressions bigint,
        clicks bigint, conversions numeric, conversion_value numeric, video_3s_views bigint, thruplays bigint,
        leads bigint, customers bigint, revenue numeric, lead_to_customer_rate double precision,
        lead_to_customer_rate_low double precision, lead_to_customer_rate_high double precision, cpl numeric,
        cac numeric, avg_deal_value numeric, platform_cpa numeric, platform_roas numeric, real_roas numeric,
        hook_rate double precision, hold_rate double precision, ctr double precision, recommendation text""",
    "analytics.campaign_weekly": """
        organization_id uuid, source text, campaign_id text, week date, leads bigint, customers bigint,
        revenue numeric, lead_to_customer_rate double precision, lead_to_customer_rate_low double precision,
        lead_to_customer_rate_high double precision, spend numeric, cpl numeric, real_roas numeric,
        cohort_age_days int""",
    "analytics.campaign_attributed_revenue": """
        organization_id uuid, source text, campaign_id text, model text, attributed_leads double precision,
        attributed_revenue numeric, spend numeric, roas numeric""",
}


def create_contract_tables(conn: psycopg.Connection) -> None:
    for table, columns in CONTRACT_TABLES.items():
        schema, name = table.split(".")
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({})").format(
                sql.Identifier(schema), sql.Identifier(name), sql.SQL(columns)
            )
        )


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
            "week": start + timedelta(weeks=w),
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
            "source": c["source"],
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
