"""Bring the two sides of the correlation tables up to date (migration 0302), in full or from the changes.

Incremental unless asked, never run, or the inputs cannot be followed by deltas any more: lead_attribution
was rebuilt (its change log does not cover a rebuild), crash recovery emptied the UNLOGGED lead tables, or
campaign_metrics was truncated. refresh_correlation runs inside correlation_transaction: one serialised snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hyperdash_pipeline.attribution.refresh import LEAD_ATTRIBUTION, read_state
from hyperdash_pipeline.correlation.build import (
    GRAIN_CREATIVE,
    GRAIN_WEEK,
    age_weekly_cohorts,
    rebuild_metrics_table,
)
from hyperdash_pipeline.insights.apply import CreativeDecision, decide_all, load_creatives, write_insights
from hyperdash_pipeline.insights.decide import DecisionRule
from hyperdash_pipeline.transforms import Transform, bulk_load, load_transform, scalar, serialised, snapshot_transaction

STEPS = "transforms/correlation/refresh.sql"
# One lock for every writer of the correlation tables and their sides.
LOCK_KEY = "hyperdash.correlation.tables"
LEADS_TABLE = "analytics.correlation_leads"
REQUESTED = "requested"
METRICS_TRUNCATED = "campaign_metrics was truncated"
# Full refreshes that regroup campaign_metrics; the others apply the queued deltas to the spend totals, which
# are exact at every commit except after a truncation (migration 0302).
REGROUP_SPEND = {REQUESTED, METRICS_TRUNCATED}
# Each metric table: its keys and the grain of correlation_base it is grouped from.
METRIC_TABLES = {
    "campaign_lead_quality": (["organization_id", "source", "campaign_id"], GRAIN_CREATIVE),
    "creative_performance": (["organization_id", "source", "campaign_id", "ad_id"], GRAIN_CREATIVE),
    "campaign_weekly": (["organization_id", "source", "campaign_id", "week_start"], GRAIN_WEEK),
}


@dataclass(frozen=True)
class SidesRefresh:
    full: bool
    reason: str  # "incremental", or why the refresh was full
    leads_changed: int | None  # leads whose contribution was recomputed; None on a full refresh
    campaigns_touched: int | None  # campaigns whose rows must be rebuilt; None = all


def _lead_attribution_runs(conn: psycopg.Connection) -> tuple[int, int]:
    """(last run, last full rebuild) of lead_attribution, 0 when it never ran."""
    state = read_state(conn, LEAD_ATTRIBUTION) or {}
    return int(state.get("last_run_id") or 0), int(state.get("full_run_id") or 0)


def _load_all_leads(conn: psycopg.Connection, steps: Transform, params: dict[str, Any]) -> None:
    steps.run(conn, "leads_clear", params)
    with bulk_load(conn, LEADS_TABLE):
        steps.run(conn, "leads_load", params)
    steps.run(conn, "leads_totals", params)


def _full_reason(
    conn: psycopg.Connection, steps: Transform, requested: bool, state: dict[str, Any] | None, rebuilt: int
) -> str | None:
    if requested:
        return REQUESTED
    if state is None:
        return "first run"
    if rebuilt > (state["lead_run_id"] or 0):
        return "lead_attribution was rebuilt"
    if state["leads_present"] and scalar(conn, steps.query("leads_lost")):
        return "crash recovery emptied the UNLOGGED lead tables"
    if scalar(conn, steps.query("metrics_truncated")):
        return METRICS_TRUNCATED
    return None


@dataclass(frozen=True)
class CorrelationRefresh:
    sides: SidesRefresh
    rows_written: dict[str, int]  # per metric table
    cohorts_aged: int
    decisions: list[CreativeDecision]
    recommendations: Counter[str]


@contextmanager
def correlation_transaction(conn: psycopg.Connection) -> Iterator[None]:
    """The one transaction a correlation refresh runs in: serialised with every other, one snapshot."""
    with serialised(conn, LOCK_KEY), snapshot_transaction(conn):
        yield


def refresh_correlation(conn: psycopg.Connection, rule: DecisionRule, full: bool = False) -> CorrelationRefresh:
    """Inside correlation_transaction: the sides, the rows of every campaign that changed (all on a full
    refresh) in the three metric tables, and every creative's recommendation (the account rates they are
    judged against move with any change)."""
    sides = refresh_sides(conn, full=full)
    written = {
        table: rebuild_metrics_table(conn, table, keys, grain, touched_only=not sides.full)
        for table, (keys, grain) in METRIC_TABLES.items()
    }
    aged = 0 if sides.full else age_weekly_cohorts(conn)  # a full refresh wrote today's ages
    decisions = decide_all(load_creatives(conn), rule)
    counts = write_insights(conn, decisions)
    return CorrelationRefresh(sides, written, aged, decisions, counts)


def refresh_sides(conn: psycopg.Connection, full: bool = False) -> SidesRefresh:
    """Update the lead and spend sides; on an incremental refresh, leave the touched campaigns in
    _cr_campaigns. Either way leave correlation_base (the join of both sides) and the latest names
    (_cr_campaign_names, _cr_ad_names) for the campaigns to rebuild."""
    steps = load_transform(STEPS)
    with conn.cursor(row_factory=dict_row) as cur:
        state = cur.execute(steps.query("state")).fetchone()
    last_run, rebuilt = _lead_attribution_runs(conn)
    reason = _full_reason(conn, steps, full, state, rebuilt)
    params = {"since_run_id": int((state or {}).get("lead_run_id") or 0), "upto_run_id": last_run}
    if reason:
        _load_all_leads(conn, steps, params)
        steps.run(conn, "spend_regroup" if reason in REGROUP_SPEND else "spend_queued", params)
        result = SidesRefresh(full=True, reason=reason, leads_changed=None, campaigns_touched=None)
    else:
        steps.run(conn, "incremental", params)
        result = SidesRefresh(
            full=False,
            reason="incremental",
            leads_changed=int(scalar(conn, "SELECT count(*) FROM _cr_changed")),
            campaigns_touched=int(scalar(conn, "SELECT count(*) FROM _cr_campaigns")),
        )
    steps.run(conn, "sides_all" if result.full else "sides_touched", params)
    return result
