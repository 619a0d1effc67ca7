"""The report's sections below the campaigns, one slice at a time, straight from BI.

Each query restates a section's definition in its own terms (date ranges instead of the report's period buckets,
the long form analytics.attribution_credits instead of the wide credits table), so a test comparing the page
with them checks the facts the page regroups as well as the script's regrouping.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from dagster import DagsterInstance, materialize
from psycopg.rows import dict_row

from hyperdash_pipeline.definitions import defs
from hyperdash_pipeline.demo import QUIET_RUN_CONFIG, executable_assets
from hyperdash_pipeline.sample_data import seed_sample_data
from tests.support.report_data import AS_OF

# The slice's conditions on a lead (alias la) and on a dated row (column `day`), as the filters describe them.
LEADS_IN_SLICE = """
    (%(org)s::uuid IS NULL OR la.organization_id = %(org)s::uuid)
    AND (%(days)s::int IS NULL
         OR la.conversion_date::date BETWEEN %(as_of)s::date - (%(days)s::int - 1) AND %(as_of)s::date)
"""
LEAD_SOURCE = "(%(source)s::text IS NULL OR coalesce(la.source, 'organic') = %(source)s::text)"

CREATIVES_SQL = f"""
WITH l AS (
    SELECT la.organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id, la.ad_id,
           count(*) AS leads, count(*) FILTER (WHERE o.won_deals > 0) AS customers
    FROM lead_attribution AS la LEFT JOIN analytics.lead_outcomes AS o USING (lead_id)
    WHERE la.ad_id IS NOT NULL AND {LEADS_IN_SLICE} AND {LEAD_SOURCE}
    GROUP BY 1, 2, 3, 4
), s AS (
    SELECT organization_id, source, campaign_id, ad_id, sum(spend) AS spend, sum(impressions) AS impressions,
           sum(video_3s_views) AS views, sum(thruplays) AS thruplays
    FROM campaign_metrics
    WHERE ad_id IS NOT NULL
      AND (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
      AND (%(days)s::int IS NULL OR date BETWEEN %(as_of)s::date - (%(days)s::int - 1) AND %(as_of)s::date)
      AND (%(source)s::text IS NULL OR source = %(source)s::text)
    GROUP BY 1, 2, 3, 4
)
SELECT source || '/' || campaign_id || '/' || ad_id AS ids, coalesce(s.spend, 0) AS spend,
       coalesce(l.leads, 0) AS leads,
       CASE WHEN s.views > 0 THEN s.views::float8 / NULLIF(s.impressions, 0) END AS hook_rate,
       s.thruplays::float8 / NULLIF(s.views, 0) AS hold_rate,
       l.customers::float8 / NULLIF(l.leads, 0) AS rate,
       analytics.wilson_low(l.customers, l.leads) AS low, analytics.wilson_high(l.customers, l.leads) AS high
FROM l FULL JOIN s USING (organization_id, source, campaign_id, ad_id)
ORDER BY coalesce(s.spend, 0) DESC, coalesce(l.leads, 0) DESC, organization_id, source COLLATE "C",
         campaign_id COLLATE "C", ad_id COLLATE "C"
LIMIT %(limit)s
"""

# A campaign's source: its ad platform, else the source of its own leads (credits without a campaign: organic).
MODELS_SQL = f"""
SELECT c.model, sum(c.credit) AS attributed_leads, sum(c.revenue_credit) AS attributed_revenue
FROM analytics.attribution_credits AS c
JOIN lead_attribution AS la ON la.lead_id = c.lead_id
WHERE {LEADS_IN_SLICE}
  AND (%(source)s::text IS NULL OR coalesce(
        (SELECT min(m.source) FROM campaign_metrics AS m
          WHERE m.organization_id = c.organization_id AND m.campaign_id = c.campaign_id),
        (SELECT min(coalesce(x.source, 'organic')) FROM lead_attribution AS x
          WHERE x.organization_id = c.organization_id AND x.campaign_id = c.campaign_id),
        'organic') = %(source)s::text)
GROUP BY c.model
ORDER BY c.model
"""

SPEND_SQL = """
SELECT coalesce(sum(spend), 0) FROM campaign_metrics
WHERE (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
  AND (%(days)s::int IS NULL OR date BETWEEN %(as_of)s::date - (%(days)s::int - 1) AND %(as_of)s::date)
  AND (%(source)s::text IS NULL OR source = %(source)s::text)
"""

COHORTS_SQL = f"""
WITH weeks AS (
    SELECT la.organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id,
           date_trunc('week', la.conversion_date)::date AS week,
           count(*) AS leads, count(*) FILTER (WHERE o.won_deals > 0) AS customers
    FROM lead_attribution AS la LEFT JOIN analytics.lead_outcomes AS o USING (lead_id)
    WHERE {LEADS_IN_SLICE} AND {LEAD_SOURCE}
    GROUP BY 1, 2, 3, 4
), top AS (
    SELECT organization_id, source, campaign_id FROM weeks
    GROUP BY 1, 2, 3
    ORDER BY sum(leads) DESC, source COLLATE "C", campaign_id COLLATE "C", organization_id
    LIMIT %(limit)s
)
SELECT source || '/' || campaign_id AS ids, week::text AS week, leads, customers::float8 / leads AS rate
FROM weeks JOIN top USING (organization_id, source, campaign_id)
"""

CONVERSIONS_SQL = """
SELECT platform,
       count(*) FILTER (WHERE status = 'sent' AND in_period) AS sent,
       count(*) FILTER (WHERE status = 'rejected' AND in_period) AS rejected,
       count(*) FILTER (WHERE status = 'expired' AND in_period) AS expired,
       count(*) FILTER (WHERE status = 'skipped_consent' AND in_period) AS skipped_consent,
       count(*) FILTER (WHERE status = 'pending') AS pending
FROM (
    SELECT platform, status,
           %(days)s::int IS NULL OR (updated_at AT TIME ZONE 'UTC')::date
               BETWEEN %(as_of)s::date - (%(days)s::int - 1) AND %(as_of)s::date AS in_period
    FROM conversions_outbox
    WHERE (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
      AND (%(source)s::text IS NULL OR platform = %(source)s::text)
) AS events
GROUP BY platform
ORDER BY platform
"""

FINDINGS_SQL = """
SELECT recommendation, source || '/' || campaign_id || '/' || ad_id AS ids
FROM (
    SELECT *, row_number() OVER (PARTITION BY recommendation
                                 ORDER BY generated_at DESC, source, campaign_id, ad_id) AS n
    FROM ai_creative_insights
    WHERE recommendation IN ('scale', 'pause')
      AND (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
      AND (%(source)s::text IS NULL OR source = %(source)s::text)
) AS ranked
WHERE n <= %(limit)s
ORDER BY recommendation DESC, n
"""


def slice_params(org: str | None, period: str, source: str | None, limit: int = 0) -> dict[str, Any]:
    return {
        "org": org,
        "days": None if period == "all" else int(period),
        "as_of": AS_OF,
        "source": source,
        "limit": limit,
    }


def query(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def run_pipeline(crm_url: str, bi_url: str, leads: int = 5000, today: date = AS_OF) -> None:
    """The sample CRM, then every unpartitioned asset in one in-process run (as `hyperdash demo` does)."""
    seed_sample_data(crm_url, bi_url, leads=leads, seed=11, days=120, today=today)
    assets = executable_assets(defs)
    keys = [k for a in assets if a.partitions_def is None for k in a.keys]
    result = materialize(
        assets,
        selection=keys,
        resources=defs.resources or {},
        instance=DagsterInstance.ephemeral(),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success


def spread_conversion_statuses(bi_url: str) -> None:
    """Two thirds of the queued conversions get a final status, changed 0 to 99 days before AS_OF, so every
    period shows different counts (the outbox asset only queues; sending is another job)."""
    with psycopg.connect(bi_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE conversions_outbox SET status = (ARRAY['sent', 'rejected', 'expired', 'skipped_consent'])"
            "[1 + abs(hashtext(event_id::text)) %% 4], updated_at = %s::timestamptz + interval '12 hours' "
            "- (abs(hashtext(lead_id::text)) %% 100) * interval '1 day' WHERE abs(hashtext(event_id::text)) %% 3 > 0",
            (AS_OF,),
        )
