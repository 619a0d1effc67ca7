"""Real Facebook ad data (Kaggle KAG_conversion_data.csv, see its SOURCE.md): our per-ad CPL, lead-to-customer
rate and CAC equal a direct pandas computation over the same file.

Loading: one campaign_metrics row per ad (campaign = xyz_campaign_id, ad set = fb_campaign_id, one fixed date,
since the file has none); Total_Conversion leads per ad in crm_raw.leads (utm_source facebook, attributed by
lead_attribution); the first Approved_Conversion of them get a won deal. The file has no revenue, so deals carry
no amount.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg
import pytest
from dagster import materialize

from hyperdash_pipeline.defs.attribution.assets import lead_attribution
from hyperdash_pipeline.defs.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.defs.correlation.checks import correlation_checks
from tests.support.public_data import needs_public_data, public_data

KAG = public_data("kag_facebook_ad_conversion/KAG_conversion_data.csv")
# lead_attribution attributes the seeded CRM leads, as it does before the correlation tables in production.
ASSETS = [lead_attribution, correlation_tables, campaign_attributed_revenue, *correlation_checks()]

CREATE_STAGE = """
CREATE TEMP TABLE kag (ad_id bigint, xyz_campaign_id bigint, fb_campaign_id bigint, age text, gender text,
    interest int, impressions bigint, clicks bigint, spent double precision, total_conversion int,
    approved_conversion int)
"""
LOAD = """
INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_set_id, ad_id, date, spend, impressions, clicks)
SELECT %(org)s, 'meta', xyz_campaign_id::text, fb_campaign_id::text, ad_id::text, DATE '2017-01-01',
       spent, impressions, clicks
FROM kag;

WITH leads AS (
    SELECT gen_random_uuid() AS id, k.ad_id, k.xyz_campaign_id, k.fb_campaign_id, n <= k.approved_conversion AS bought
    FROM kag AS k, generate_series(1, k.total_conversion) AS n
),
crm AS (
    INSERT INTO crm_raw.leads (id, organization_id, status, campaign_id, ad_set_id, ad_id, utm_source,
                               attribution_synced, created_at, updated_at)
    SELECT id, %(org)s, CASE WHEN bought THEN 'won' ELSE 'new' END, xyz_campaign_id::text, fb_campaign_id::text,
           ad_id::text, 'facebook', true, TIMESTAMPTZ '2017-01-01Z', TIMESTAMPTZ '2017-01-01Z'
    FROM leads
)
INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, currency, closed_at, created_at, updated_at)
SELECT gen_random_uuid(), %(org)s, id, 'won', 'USD', TIMESTAMPTZ '2017-01-02Z', TIMESTAMPTZ '2017-01-01Z',
       TIMESTAMPTZ '2017-01-02Z'
FROM leads WHERE bought
"""


def expected_per_ad(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract computed directly with pandas (spend stored to the cent, as numeric(14, 2) keeps it)."""
    out = pd.DataFrame({"ad_id": frame["ad_id"].astype(str)})
    spend = frame["Spent"].round(2)
    leads, customers = frame["Total_Conversion"], frame["Approved_Conversion"]
    out["cpl"] = spend / leads.where(leads > 0)
    out["rate"] = customers / leads.where(leads > 0)
    out["cac"] = spend / customers.where(customers > 0)
    out["leads"], out["customers"] = leads, customers
    return out.set_index("ad_id")


@needs_public_data(KAG)
def test_per_ad_metrics_match_pandas_on_real_facebook_data(databases: Any) -> None:
    frame = pd.read_csv(KAG, encoding="utf-8-sig")
    with psycopg.connect(databases.bi_url) as conn:
        (org,) = conn.execute("INSERT INTO organizations (name, slug) VALUES ('KAG', 'kag') RETURNING id").fetchone()  # type: ignore[misc]
        conn.execute(CREATE_STAGE)
        with conn.cursor().copy("COPY kag FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(KAG.read_text(encoding="utf-8-sig"))
        for statement in LOAD.split(";\n\n"):
            conn.execute(statement, {"org": org})

    result = materialize(ASSETS, resources={"bi": databases.bi})
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())

    with psycopg.connect(databases.bi_url) as conn:
        ours = pd.DataFrame(
            conn.execute(
                "SELECT ad_id, leads, customers, cpl::float8, lead_to_customer_rate, cac::float8,"
                " lead_to_customer_rate_low, lead_to_customer_rate_high"
                " FROM analytics.creative_performance WHERE organization_id = %s",
                (org,),
            ).fetchall(),
            columns=["ad_id", "leads", "customers", "cpl", "rate", "cac", "low", "high"],
        ).set_index("ad_id")
    expected = expected_per_ad(frame)
    assert len(ours) == len(expected) == 1143
    ours = ours.loc[expected.index]
    assert (ours["leads"] == expected["leads"]).all() and (ours["customers"] == expected["customers"]).all()
    for metric in ("cpl", "rate", "cac"):
        pd.testing.assert_series_equal(ours[metric], expected[metric], check_names=False, rtol=1e-12, atol=0)
    # NULL exactly where the file has no lead (8 ads) or no approved conversion.
    assert ours["cpl"].isna().sum() == (frame["Total_Conversion"] == 0).sum() == 8
    assert ours["cac"].isna().sum() == (frame["Approved_Conversion"] == 0).sum()
    known = ours.dropna(subset=["rate"])
    assert ((known["low"] <= known["rate"]) & (known["rate"] <= known["high"])).all()

    with psycopg.connect(databases.bi_url) as conn:
        campaigns: dict[str, float | None] = dict(
            conn.execute(
                "SELECT campaign_id, cac::float8 FROM analytics.campaign_lead_quality WHERE organization_id = %s",
                (org,),
            ).fetchall()
        )
    by_campaign = (
        frame.assign(spend=frame["Spent"].round(2)).groupby("xyz_campaign_id")[["spend", "Approved_Conversion"]].sum()
    )
    for campaign, row in by_campaign.iterrows():
        assert campaigns[str(campaign)] == pytest.approx(row["spend"] / row["Approved_Conversion"], rel=1e-12)
