"""Every metric of the contract, computed by hand on a small account, against the materialized tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from dagster import materialize
from psycopg.rows import dict_row

from hyperdash_pipeline.defs.attribution.assets import lead_attribution
from hyperdash_pipeline.defs.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.defs.correlation.checks import correlation_checks
from hyperdash_pipeline.insights.stats import wilson_interval
from tests.support.correlation_seed import BiSeeder, ts

# lead_attribution attributes the seeded CRM leads, as it does before the correlation tables in production.
ASSETS = [lead_attribution, correlation_tables, campaign_attributed_revenue, *correlation_checks()]


def run(databases: Any, run_config: dict | None = None):
    result = materialize(ASSETS, resources={"bi": databases.bi}, run_config=run_config, raise_on_error=False)
    return result


def rows(url: str, query: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture
def account(databases: Any) -> dict[str, Any]:
    """Org A: meta campaign C1 (ads A1, A2), meta campaign C2 (spend, no leads), google C3 (leads, no spend),
    one organic lead; org B: one campaign, to prove organizations never mix."""
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        org, other = s.organization("acme"), s.organization("other")
        s.metrics(
            org,
            "meta",
            "C1",
            "A1",
            date(2026, 1, 5),
            spend=100,
            impressions=1000,
            clicks=50,
            conversions=4,
            conversion_value=400,
            video_3s_views=300,
            thruplays=60,
        )
        s.metrics(
            org,
            "meta",
            "C1",
            "A2",
            date(2026, 1, 13),
            spend=300,
            impressions=9000,
            clicks=90,
            conversions=6,
            conversion_value=200,
            video_3s_views=900,
            thruplays=90,
        )
        s.metrics(org, "meta", "C2", "B1", date(2026, 1, 6), spend=50)
        s.metrics(other, "meta", "X1", "Z1", date(2026, 1, 6), spend=999, impressions=10, clicks=1)

        # A1: 2 leads; one bought twice (200 + 300) and also lost a deal.
        buyer = s.lead(org, "meta", "C1", "A1", ts("2026-01-06T10:00:00"))
        s.deal(org, buyer, "won", 200)
        s.deal(org, buyer, "won", 300)
        s.deal(org, buyer, "lost", 5000)
        s.lead(org, "meta", "C1", "A1", ts("2026-01-07T10:00:00"))
        # A2: 8 live leads, one created Sunday 23:30 UTC (still the week of Jan 5); one customer worth 1000.
        s.lead(org, "meta", "C1", "A2", ts("2026-01-11T23:30:00"))
        a2 = [s.lead(org, "meta", "C1", "A2", ts("2026-01-14T09:00:00")) for _ in range(7)]
        s.deal(org, a2[0], "won", 1000)
        s.deal(org, a2[1], "won", 700, deleted=True)  # a deleted won deal makes nobody a customer
        s.deal(org, a2[2], "open", 900)
        gone = s.lead(org, "meta", "C1", "A2", ts("2026-01-14T09:00:00"), deleted=True)  # deleted lead: excluded
        s.deal(org, gone, "won", 10_000)
        # C3 on google: 3 leads, no spend, no customer. One organic lead (source NULL).
        for _ in range(3):
            s.lead(org, "google", "C3", "G1", ts("2026-01-08T12:00:00"))
        s.lead(org, None, "direct", None, ts("2026-01-09T12:00:00"))
        s.lead(other, "meta", "X1", "Z1", ts("2026-01-06T12:00:00"))
    return {"org": org, "other": other}


def quality(url: str, org: Any, source: str, campaign: str) -> dict[str, Any]:
    (row,) = rows(
        url,
        "SELECT * FROM analytics.campaign_lead_quality WHERE organization_id = %s AND source = %s AND campaign_id = %s",
        (org, source, campaign),
    )
    return row


def test_campaign_metrics_are_ratios_of_sums(databases: Any, account: dict[str, Any]) -> None:
    result = run(databases)
    assert result.success
    c1 = quality(databases.bi_url, account["org"], "meta", "C1")
    # sums: spend 100+300, leads 2+8 live, customers 1+1, revenue (200+300)+1000
    assert (c1["spend"], c1["impressions"], c1["clicks"]) == (Decimal("400.00"), 10_000, 140)
    assert (c1["conversions"], c1["conversion_value"]) == (Decimal("10.00"), Decimal("600.00"))
    assert (c1["video_3s_views"], c1["thruplays"]) == (1200, 150)
    assert (c1["leads"], c1["customers"], c1["revenue"]) == (10, 2, Decimal("1500.00"))
    assert c1["lead_to_customer_rate"] == pytest.approx(2 / 10)
    assert c1["cpl"] == Decimal(40)
    assert c1["cac"] == Decimal(200)
    assert c1["avg_deal_value"] == Decimal(750)
    assert c1["platform_cpa"] == Decimal(40)
    assert c1["platform_roas"] == Decimal("1.5")
    assert c1["real_roas"] == Decimal("3.75")
    assert c1["hook_rate"] == pytest.approx(1200 / 10_000)
    assert c1["hold_rate"] == pytest.approx(150 / 1200)
    assert c1["ctr"] == pytest.approx(140 / 10_000)
    assert c1["currency"] == "USD"
    # The trap: the average of the two ads' ratios is not the campaign's ratio.
    assert pytest.approx(c1["lead_to_customer_rate"]) != (1 / 2 + 1 / 8) / 2
    assert (Decimal(500) / 100 + Decimal(1000) / 300) / 2 != c1["real_roas"]
    low, high = wilson_interval(2, 10)  # type: ignore[misc]
    assert c1["lead_to_customer_rate_low"] == pytest.approx(low, abs=1e-12)
    assert c1["lead_to_customer_rate_high"] == pytest.approx(high, abs=1e-12)


def test_zero_denominators_give_null_and_both_sides_of_the_outer_join_appear(
    databases: Any, account: dict[str, Any]
) -> None:
    assert run(databases).success
    spend_only = quality(databases.bi_url, account["org"], "meta", "C2")
    assert (spend_only["spend"], spend_only["leads"], spend_only["customers"]) == (Decimal("50.00"), 0, 0)
    for column in (
        "lead_to_customer_rate",
        "lead_to_customer_rate_low",
        "lead_to_customer_rate_high",
        "cpl",
        "cac",
        "avg_deal_value",
        "platform_cpa",
        "hook_rate",
        "hold_rate",
        "ctr",
    ):
        assert spend_only[column] is None, column
    assert spend_only["real_roas"] == 0 and spend_only["platform_roas"] == 0

    leads_only = quality(databases.bi_url, account["org"], "google", "C3")
    assert (leads_only["spend"], leads_only["leads"], leads_only["customers"]) == (0, 3, 0)
    assert leads_only["lead_to_customer_rate"] == 0
    assert leads_only["lead_to_customer_rate_low"] == 0
    assert leads_only["lead_to_customer_rate_high"] == pytest.approx(wilson_interval(0, 3)[1])  # type: ignore[index]
    assert leads_only["cpl"] == 0
    for column in ("cac", "avg_deal_value", "platform_cpa", "platform_roas", "real_roas", "hook_rate", "ctr"):
        assert leads_only[column] is None, column
    assert leads_only["currency"] is None

    organic = quality(databases.bi_url, account["org"], "organic", "direct")
    assert (organic["leads"], organic["spend"]) == (1, 0)


def test_creative_rows_and_recommendations(databases: Any, account: dict[str, Any]) -> None:
    assert run(databases).success
    creatives = rows(
        databases.bi_url,
        "SELECT source, campaign_id, ad_id, spend, leads, customers, revenue, real_roas, cac, recommendation"
        " FROM analytics.creative_performance WHERE organization_id = %s ORDER BY source, campaign_id, ad_id",
        (account["org"],),
    )
    by_ad = {(c["campaign_id"], c["ad_id"]): c for c in creatives}
    assert set(by_ad) == {("C1", "A1"), ("C1", "A2"), ("C2", "B1"), ("C3", "G1"), ("direct", None)}
    a1, a2 = by_ad[("C1", "A1")], by_ad[("C1", "A2")]
    assert (a1["leads"], a1["customers"], a1["revenue"], a1["real_roas"], a1["cac"]) == (
        2,
        1,
        Decimal("500.00"),
        Decimal(5),
        Decimal(100),
    )
    assert (a2["leads"], a2["customers"], a2["revenue"], a2["cac"]) == (8, 1, Decimal("1000.00"), Decimal(300))
    # Every creative with an ad id has a recommendation; under 30 leads nobody gets a call.
    assert {c["recommendation"] for c in creatives if c["ad_id"]} == {"insufficient_data"}
    assert by_ad[("direct", None)]["recommendation"] is None
    insights = rows(
        databases.bi_url, "SELECT * FROM ai_creative_insights WHERE organization_id = %s", (account["org"],)
    )
    assert len(insights) == 4
    a1_insight = next(i for i in insights if i["ad_id"] == "A1")
    assert a1_insight["reason"].startswith("ad A1 in campaign C1: only 2 leads (1 became customers)")
    assert a1_insight["evidence"]["thresholds"]["min_leads"] == 30


def test_weekly_cohorts_by_utc_week(databases: Any, account: dict[str, Any]) -> None:
    day_before = datetime.now(UTC).date()
    assert run(databases).success
    weeks = rows(
        databases.bi_url,
        "SELECT week_start, spend, leads, customers, revenue, cpl, real_roas, lead_to_customer_rate, cohort_age_days"
        " FROM analytics.campaign_weekly WHERE organization_id = %s AND campaign_id = 'C1' ORDER BY week_start",
        (account["org"],),
    )
    assert [w["week_start"] for w in weeks] == [date(2026, 1, 5), date(2026, 1, 12)]
    first, second = weeks
    # Week of Jan 5: A1's 2 leads + A2's Sunday-night lead; spend of A1 on Jan 5.
    assert (first["spend"], first["leads"], first["customers"], first["revenue"]) == (Decimal(100), 3, 1, Decimal(500))
    assert first["cpl"] == pytest.approx(Decimal(100) / 3)
    assert first["real_roas"] == Decimal(5)
    assert (second["spend"], second["leads"], second["customers"], second["revenue"]) == (
        Decimal(300),
        7,
        1,
        Decimal(1000),
    )
    assert second["lead_to_customer_rate"] == pytest.approx(1 / 7)
    # The age is taken on the build's UTC date: the day the test started, or the next if it ran past midnight.
    day_after = datetime.now(UTC).date()
    assert first["cohort_age_days"] in {(day_before - date(2026, 1, 5)).days, (day_after - date(2026, 1, 5)).days}


def test_attributed_revenue_per_model(databases: Any, account: dict[str, Any]) -> None:
    org = account["org"]
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        lead = s.lead(org, "meta", "C1", "A1", ts("2026-01-06T10:00:00"))
        s.credit(org, lead, 0, "C2", "linear", 0.5, 400)
        s.credit(org, lead, 1, "C1", "linear", 0.5, 400)
        s.credit(org, lead, 0, "C2", "first_touch", 1.0, 800)
        s.credit(org, lead, 2, None, "last_touch", 1.0, 800)
    assert run(databases).success
    got = {
        (r["campaign_id"], r["model"]): r
        for r in rows(
            databases.bi_url, "SELECT * FROM analytics.campaign_attributed_revenue WHERE organization_id = %s", (org,)
        )
    }
    assert got[("C1", "linear")]["attributed_leads"] == 0.5
    assert got[("C1", "linear")]["attributed_revenue"] == Decimal(400)
    assert got[("C1", "linear")]["spend"] == Decimal(400)
    assert got[("C1", "linear")]["roas"] == Decimal(1)
    assert got[("C2", "first_touch")]["roas"] == Decimal(16)  # 800 / 50
    assert got[("C2", "time_decay")]["roas"] == 0  # spend but no credit: ROAS 0, still a row
    assert got[(None, "last_touch")]["spend"] == 0 and got[(None, "last_touch")]["roas"] is None
    # Every model row set carries the organization's whole spend once.
    for model in ("first_touch", "last_touch", "linear", "position_based", "time_decay"):
        assert sum(r["spend"] for (c, m), r in got.items() if m == model) == Decimal(450)


def test_checks_pass_on_consistent_tables(databases: Any, account: dict[str, Any]) -> None:
    result = run(databases)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 11
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert failed == []


def test_currency_is_reported_and_mixed_currencies_are_flagged(databases: Any) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        org = s.organization("fx")
        s.metrics(org, "meta", "EU", "e1", date(2026, 1, 5), spend=10, currency="EUR")
        s.metrics(org, "meta", "MIX", "m1", date(2026, 1, 5), spend=10, currency="EUR")
        s.metrics(org, "meta", "MIX", "m2", date(2026, 1, 5), spend=10, currency="BRL")
    assert run(databases).success
    currencies = dict(
        (r["campaign_id"], r["currency"])
        for r in rows(databases.bi_url, "SELECT campaign_id, currency FROM analytics.campaign_lead_quality")
    )
    assert currencies == {"EU": "EUR", "MIX": "mixed"}
