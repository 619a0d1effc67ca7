"""The incremental correlation refresh gives exactly the tables a full rebuild gives, whatever changed.

Each case changes the CRM mirror and the ad metrics the way syncs and loads do, refreshes lead_attribution
and the credits, refreshes the correlation tables incrementally, reads every table, rebuilds in full and
reads again: both must be equal, row for row.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from dagster import materialize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.attribution.refresh import refresh_attribution_credits, refresh_lead_attribution
from hyperdash_pipeline.correlation.build import rebuild_attributed_revenue
from hyperdash_pipeline.correlation.refresh import CorrelationRefresh, correlation_transaction, refresh_correlation
from hyperdash_pipeline.defs.attribution.assets import lead_attribution
from hyperdash_pipeline.defs.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.insights.decide import DecisionRule
from tests.support.correlation_seed import BiSeeder, snapshot, ts

RULE = DecisionRule(min_leads=3, confidence=0.95)
SOURCES = ["meta", "google", None]
CAMPAIGNS = ["C1", "C2", "C3"]
ADS = ["A1", "A2", None]
FIRST_DAY = date(2026, 1, 5)


def refresh_all(conn: psycopg.Connection, full: bool) -> CorrelationRefresh:
    """What one automation pass runs: lead_attribution, the credits, then the correlation tables."""
    refresh_lead_attribution(conn)
    refresh_attribution_credits(conn)
    with correlation_transaction(conn):
        result = refresh_correlation(conn, RULE, full=full)
    with conn.transaction():
        rebuild_attributed_revenue(conn)
    conn.commit()
    return result


def assert_incremental_equals_full(conn: psycopg.Connection) -> CorrelationRefresh:
    incremental = refresh_all(conn, full=False)
    assert not incremental.sides.full, incremental.sides.reason
    after_incremental = snapshot(conn)
    full = refresh_all(conn, full=True)
    assert full.sides.full
    assert snapshot(conn) == after_incremental
    assert full.rows_written["campaign_weekly"] == len(after_incremental["analytics.campaign_weekly"])
    return incremental


class World:
    """A small account whose leads, deals and metrics change between refreshes."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.seed = BiSeeder(conn)
        self.orgs = [self.seed.organization("acme"), self.seed.organization("other")]
        self.leads: list[uuid.UUID] = []
        self.deals: list[uuid.UUID] = []

    def add_lead(self, org: int, source: int, campaign: int, ad: int, day: int) -> None:
        created = ts("2026-01-05T10:00:00") + timedelta(days=day, hours=day % 5 * 6)
        self.leads.append(self.seed.lead(self.orgs[org], SOURCES[source], CAMPAIGNS[campaign], ADS[ad], created))

    def move_lead(self, pick: int, source: int, campaign: int, ad: int, day: int) -> None:
        created = ts("2026-01-05T10:00:00") + timedelta(days=day)
        self.conn.execute(
            "UPDATE crm_raw.leads SET utm_source = %s, campaign_id = %s, ad_id = %s, created_at = %s,"
            " _synced_at = clock_timestamp() WHERE id = %s",
            (SOURCES[source], CAMPAIGNS[campaign], ADS[ad], created, self._lead(pick)),
        )

    def delete_lead(self, pick: int) -> None:
        self.conn.execute(
            "UPDATE crm_raw.leads SET deleted_at = now(), _synced_at = clock_timestamp() WHERE id = %s",
            (self._lead(pick),),
        )

    def add_deal(self, pick: int, stage: str, amount: int) -> None:
        deal = uuid.uuid4()
        self.conn.execute(
            "INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, amount, currency, closed_at,"
            " created_at, updated_at) SELECT %s, organization_id, id, %s, %s, 'USD', now(), now(), now()"
            " FROM crm_raw.leads WHERE id = %s",
            (deal, stage, Decimal(amount), self._lead(pick)),
        )
        self.deals.append(deal)

    def change_deal(self, pick: int, stage: str, lead: int) -> None:
        """A deal changes stage and may move to another lead (both leads' outcomes change)."""
        if self.deals:
            self.conn.execute(
                "UPDATE crm_raw.deals SET stage = %s, lead_id = %s, _synced_at = clock_timestamp() WHERE id = %s",
                (stage, self._lead(lead), self.deals[pick % len(self.deals)]),
            )

    def metric(self, org: int, source: int, campaign: int, ad: int, day: int, spend: int) -> None:
        """Insert or restate a day of an ad (the loader's upsert)."""
        self.conn.execute(
            "INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_id, date, spend, impressions,"
            " video_3s_views) VALUES (%s, %s, %s, %s, %s, %s, 1000, %s)"
            " ON CONFLICT ON CONSTRAINT campaign_metrics_grain DO UPDATE SET spend = excluded.spend,"
            " video_3s_views = excluded.video_3s_views",
            (
                self.orgs[org],
                SOURCES[source] or "meta",
                CAMPAIGNS[campaign],
                ADS[ad],
                FIRST_DAY + timedelta(days=day),
                Decimal(spend),
                spend * 3 % 1000,
            ),
        )

    def delete_metric(self, pick: int) -> None:
        self.conn.execute(
            "DELETE FROM campaign_metrics WHERE id = (SELECT id FROM campaign_metrics ORDER BY id OFFSET %s LIMIT 1)",
            (pick,),
        )

    def _lead(self, pick: int) -> uuid.UUID | None:
        return self.leads[pick % len(self.leads)] if self.leads else None


@pytest.fixture
def world(databases: Any) -> Any:
    conn = psycopg.connect(databases.bi_url)
    w = World(conn)
    for i in range(24):
        w.add_lead(i % 2, i % 3, i % 3, i % 3, i % 14)
        w.metric(i % 2, i % 3, i % 3, i % 3, i % 14, 10 * (i + 1))
    for i in range(0, 24, 3):
        w.add_deal(i, "won", 100 + i)
    conn.commit()
    refresh_all(conn, full=False)  # the first refresh is full: nothing to follow yet
    yield w
    conn.close()


small = st.integers(min_value=0, max_value=50)
index3 = st.integers(min_value=0, max_value=2)
operation = st.one_of(
    st.tuples(st.just("add_lead"), st.integers(0, 1), index3, index3, index3, st.integers(0, 20)),
    st.tuples(st.just("move_lead"), small, index3, index3, index3, st.integers(0, 20)),
    st.tuples(st.just("delete_lead"), small),
    st.tuples(st.just("add_deal"), small, st.sampled_from(["won", "lost", "open"]), st.integers(-50, 900)),
    st.tuples(st.just("change_deal"), small, st.sampled_from(["won", "lost"]), small),
    st.tuples(st.just("metric"), st.integers(0, 1), index3, index3, index3, st.integers(0, 20), small),
    st.tuples(st.just("delete_metric"), small),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=8))
def test_incremental_refresh_equals_a_full_rebuild(world: World, operations: list[tuple]) -> None:
    for name, *args in operations:
        getattr(world, name)(*args)
    world.conn.commit()
    assert_incremental_equals_full(world.conn)


def test_only_the_changed_campaigns_are_rebuilt(world: World) -> None:
    world.move_lead(0, 1, 2, 0, 3)  # a C1 lead moves to C3: two campaigns change
    world.conn.commit()
    result = assert_incremental_equals_full(world.conn)
    assert result.sides.leads_changed == 1
    # (acme, meta, C1) loses it, (acme, google, C3) gains it.
    assert result.sides.campaigns_touched == 2
    assert result.rows_written["campaign_lead_quality"] == 2


def test_a_truncated_metrics_table_forces_a_full_rebuild(world: World) -> None:
    world.conn.execute("TRUNCATE campaign_metrics")
    world.metric(0, 0, 0, 0, 1, 40)
    world.conn.commit()
    result = refresh_all(world.conn, full=False)
    assert (result.sides.full, result.sides.reason) == (True, "campaign_metrics was truncated")
    with world.conn.cursor() as cur:
        (spend,) = cur.execute("SELECT sum(spend) FROM analytics.campaign_lead_quality").fetchone()  # type: ignore[misc]
    assert spend == 40


def test_lost_unlogged_lead_tables_force_a_full_rebuild(world: World) -> None:
    # What crash recovery does to UNLOGGED tables.
    world.conn.execute("TRUNCATE analytics.correlation_leads, analytics.correlation_lead_totals")
    world.conn.commit()
    before = snapshot(world.conn)
    result = refresh_all(world.conn, full=False)
    assert result.sides.reason == "crash recovery emptied the UNLOGGED lead tables"
    assert snapshot(world.conn) == before


def test_a_rebuilt_lead_attribution_forces_a_full_rebuild(world: World) -> None:
    refresh_lead_attribution(world.conn, full=True)
    with correlation_transaction(world.conn):
        result = refresh_correlation(world.conn, RULE)
    assert result.sides.reason == "lead_attribution was rebuilt"


def test_credits_of_changed_leads_reach_campaign_attributed_revenue(world: World) -> None:
    """campaign_credit_totals (kept by trigger) equals a direct grouping of the stored credits."""
    world.move_lead(1, 0, 1, 1, 2)
    world.add_deal(1, "won", 500)
    world.conn.commit()
    refresh_all(world.conn, full=False)
    grouped = """
        SELECT organization_id, campaign_id, count(*), sum(first_touch::numeric), sum(linear::numeric),
               sum(time_decay::numeric), sum(linear_revenue)
        FROM analytics.attribution_touch_credits GROUP BY 1, 2 ORDER BY 1, 2"""
    kept = """
        SELECT organization_id, campaign_id, touches, first_touch, linear, time_decay, linear_revenue
        FROM analytics.campaign_credit_totals ORDER BY 1, 2"""
    with world.conn.cursor() as cur:
        assert cur.execute(kept).fetchall() == cur.execute(grouped).fetchall()


def test_attributed_revenue_sees_queued_spend_before_the_correlation_refresh(world: World) -> None:
    """campaign_attributed_revenue reads totals + queued deltas, so it never lags campaign_metrics."""
    world.metric(0, 0, 0, 0, 30, 77)
    world.conn.commit()
    with world.conn.transaction():
        rebuild_attributed_revenue(world.conn)
    query = """
        SELECT r.organization_id, r.campaign_id, r.spend, m.spend
        FROM analytics.campaign_attributed_revenue r
        JOIN (SELECT organization_id, campaign_id, sum(spend) AS spend FROM campaign_metrics GROUP BY 1, 2) m
          USING (organization_id, campaign_id)
        WHERE r.model = 'linear'"""
    with world.conn.cursor() as cur:
        rows = cur.execute(query).fetchall()
        (queued,) = cur.execute("SELECT count(*) FROM analytics.campaign_metrics_deltas").fetchone()  # type: ignore[misc]
    assert queued > 0
    assert rows and all(ours == theirs for _, _, ours, theirs in rows)


def test_dagster_metadata_reports_the_refresh_mode(databases: Any) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        org = s.organization("acme")
        s.metrics(org, "meta", "K", "A", date(2026, 1, 5), spend=100)
        s.lead(org, "meta", "K", "A", ts("2026-01-06T10:00:00"))
    assets = [lead_attribution, correlation_tables, campaign_attributed_revenue]

    def run() -> dict[str, Any]:
        result = materialize(assets, resources={"bi": databases.bi})
        (meta,) = [
            m.metadata
            for m in result.asset_materializations_for_node("correlation_tables")
            if m.asset_key.path[-1] == "campaign_lead_quality"
        ]
        return {k: v.value for k, v in meta.items() if k in {"full_refresh", "refresh_reason", "leads_changed"}}

    assert run() == {"full_refresh": True, "refresh_reason": "first run"}
    with psycopg.connect(databases.bi_url) as conn:
        s = BiSeeder(conn)
        s.lead(org, "meta", "K", "A", ts("2026-01-07T10:00:00"))
    assert run() == {"full_refresh": False, "refresh_reason": "incremental", "leads_changed": 1}
