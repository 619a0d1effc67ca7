"""Plain functions that refresh the attribution tables inside BI (used by the assets, the demo, benchmarks).

Each takes an open psycopg connection to BI (not in autocommit, no transaction open) and commits its
work as one transaction. Refreshes of the same table are serialised by an advisory lock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from psycopg import IsolationLevel, sql
from psycopg.rows import dict_row

from hyperdash_pipeline.attribution import markov
from hyperdash_pipeline.attribution.models import MODELS
from hyperdash_pipeline.settings import read_sql

LEAD_ATTRIBUTION = "lead_attribution"
ATTRIBUTION_CREDITS = "attribution_credits"
# Where the credits are stored: one row per lead x touch, a column per model (migration 0205);
# analytics.attribution_credits is the contract's view of it, one row per lead x touch x configured model.
CREDITS_STORAGE = "analytics.attribution_touch_credits"
# The incremental filter of the credits steps (a literal fragment, no user input).
# = ANY(array) keeps the plan on the lead_id indexes (a join would scan the whole table).
_CHANGED_LEADS = "AND {alias}.lead_id = ANY ((SELECT array_agg(lead_id) FROM _ac_changed)::uuid[])"
# Sorts and hashes of a refresh stay in memory up to this (PostgreSQL's default, 4MB, spills to disk).
WORK_MEM = "256MB"
# A full credits rebuild sorts every touch of every lead (2.3 M rows, ~600 MB at 1 M leads): in memory, not
# in an external merge on disk. Set for that transaction only.
FULL_CREDITS_WORK_MEM = "1GB"
_STEP = re.compile(r"^-- step: (\w+)\s*$", re.MULTILINE)

# The newest _synced_at that is safe to store as a watermark: no transaction still open (which may
# commit rows stamped with its start time, default now()) started at or before it.
_SAFE_HORIZON_SQL = """
SELECT least(now(), min(xact_start)) - interval '1 microsecond' AS horizon
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


@cache
def sql_steps(relative_path: str) -> dict[str, str]:
    """The `-- step: name` sections of a transform file under sql/."""
    parts = _STEP.split(read_sql(relative_path))
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@dataclass(frozen=True)
class LeadAttributionStats:
    full: bool
    run_id: int
    recomputed: int
    removed: int
    outcomes_changed: int
    quarantined: int
    organizations_created: int
    row_count: int
    leads_watermark: datetime | None
    deals_watermark: datetime | None


@dataclass(frozen=True)
class CreditSettings:
    """The attribution knobs (MISSION.md): lookback, time-decay half-life, collapsing, models."""

    lookback_days: int = 30
    half_life_days: float = 7.0
    collapse: bool = True
    models: tuple[str, ...] = field(default=MODELS)

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(
                f"models must be a non-empty subset of {', '.join(MODELS)} without repeats; got {list(self.models)}"
            )
        if self.lookback_days < 1 or self.half_life_days <= 0:
            raise ValueError("lookback_days must be >= 1 and half_life_days > 0")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "models": list(self.models)}


@dataclass(frozen=True)
class CreditsStats:
    full: bool
    reason: str
    leads_recomputed: int
    rows_written: int
    row_count: int
    upto_run_id: int


@dataclass(frozen=True)
class MarkovRow:
    organization_id: str
    dimension: str
    touch: str
    removal_effect: float
    attributed_conversions: float
    attributed_revenue: float


@dataclass(frozen=True)
class MarkovStats:
    rows: list[MarkovRow]
    customers: int


@contextmanager
def _serialised(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """A session advisory lock per refreshed table, taken before the data snapshot."""
    key = f"hyperdash.attribution.{name}"
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        conn.commit()


@contextmanager
def _snapshot_transaction(conn: psycopg.Connection) -> Iterator[None]:
    """One REPEATABLE READ transaction: every step and the watermark see the same data."""
    if conn.autocommit:
        raise ValueError("pass a connection with autocommit off; the refresh commits its own transaction")
    previous = conn.isolation_level
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            conn.execute("SET LOCAL timezone = 'UTC'")
            conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            yield
        conn.commit()
    finally:
        conn.isolation_level = previous


@contextmanager
def _bulk_load(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Drop `table`'s indexes and constraints, run the load, recreate them exactly as they were.

    Building an index once after a full load is several times faster than maintaining it row by row
    (and one foreign-key validation beats a trigger per row). Skipped when another table references it.
    """
    found = conn.execute(read_sql("transforms/attribution/table_indexes.sql"), {"table": table}).fetchall()
    if any(kind == "referenced_by" for kind, *_ in found):
        yield
        return
    relation = sql.Identifier(*table.split("."))
    constraints = [(name, definition, order) for kind, name, definition, order in found if kind == "constraint"]
    indexes = [(name, definition) for kind, name, definition, _ in found if kind == "index"]
    schema = table.split(".")[0] if "." in table else "public"
    for name, _, _ in sorted(constraints, key=lambda c: -c[2]):
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(relation, sql.Identifier(name)))
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    yield
    for _, definition in indexes:
        conn.execute(definition)  # pg_get_indexdef output: a complete, quoted CREATE INDEX statement
    for name, definition, _ in sorted(constraints, key=lambda c: c[2]):
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(relation, sql.Identifier(name))
            + sql.SQL(definition)  # pg_get_constraintdef output, already quoted
        )


def _state(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM analytics.attribution_state WHERE name = %s", (name,))
        return cur.fetchone()


def _save_state(conn: psycopg.Connection, name: str, **values: Any) -> None:
    values = {k: json.dumps(v) if k == "config" else v for k, v in values.items()}
    columns = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    updates = ", ".join(f"{k} = excluded.{k}" for k in values)
    conn.execute(
        f"INSERT INTO analytics.attribution_state (name, {columns}, refreshed_at) "
        f"VALUES (%(name)s, {placeholders}, now()) "
        f"ON CONFLICT (name) DO UPDATE SET {updates}, refreshed_at = excluded.refreshed_at",
        {"name": name, **values},
    )


def _run(conn: psycopg.Connection, steps: dict[str, str], name: str, params: dict[str, Any], scope: str = "") -> int:
    """Execute one step, its `{scope}` filled in; its row count (inserted/deleted rows)."""
    query = steps[name].replace("{scope}", scope)
    with conn.cursor() as cur:
        # Steps without placeholders may hold several statements (only the simple protocol allows that).
        cur.execute(query, params if "%(" in query else None)
        return cur.rowcount


def _watermark(conn: psycopg.Connection, table: str, horizon: datetime, previous: datetime | None) -> datetime | None:
    latest = conn.execute(f"SELECT max(_synced_at) FROM crm_raw.{table}").fetchone()
    newest = latest[0] if latest else None
    if newest is None:
        return previous
    return min(newest, horizon)


def _load_all_leads(conn: psycopg.Connection, steps: dict[str, str], params: dict[str, Any]) -> tuple[int, int]:
    """Full rebuild: every live lead, bulk-loaded. Returns (quarantined, organizations created)."""
    _run(conn, steps, "quarantine_clear_full", params)
    _run(conn, steps, "leads", params, "")
    quarantined = _run(conn, steps, "quarantine_insert", params)
    organizations = _run(conn, steps, "organizations", params)
    _run(conn, steps, "campaign_window", params)
    _run(conn, steps, "truncate", params)
    with _bulk_load(conn, "lead_attribution"):
        _run(conn, steps, "insert", params)
    return quarantined, organizations


def _load_changed_leads(conn: psycopg.Connection, steps: dict[str, str], params: dict[str, Any]) -> tuple[int, int]:
    """Incremental: the changed leads only, logged for attribution_credits. Returns (quarantined, orgs created)."""
    _run(conn, steps, "changed", params)
    _run(conn, steps, "changed_index", params)
    _run(conn, steps, "quarantine_clear_changed", params)
    _run(
        conn, steps, "leads", params, "AND l.id = ANY ((SELECT array_agg(lead_id) FROM _la_changed WHERE live)::uuid[])"
    )
    quarantined = _run(conn, steps, "quarantine_insert", params)
    organizations = _run(conn, steps, "organizations", params)
    _run(conn, steps, "campaign_window", params)
    _run(conn, steps, "delete_gone", params)
    _run(conn, steps, "upsert", params)
    _run(conn, steps, "log_changes", params)
    return quarantined, organizations


def refresh_lead_attribution(conn: psycopg.Connection, full: bool = False) -> LeadAttributionStats:
    """Bring public.lead_attribution (and analytics.lead_outcomes) up to date with crm_raw.

    Incremental unless `full` or never run: recomputes leads synced since the watermark, leads whose
    won deals changed and leads that were deleted; logs them for attribution_credits.
    """
    steps = sql_steps("transforms/attribution/lead_attribution.sql")
    with _serialised(conn, LEAD_ATTRIBUTION):
        horizon_row = conn.execute(_SAFE_HORIZON_SQL).fetchone()
        assert horizon_row is not None
        horizon: datetime = horizon_row[0]
        conn.commit()
        with _snapshot_transaction(conn):
            state = _state(conn, LEAD_ATTRIBUTION)
            full = full or state is None
            run_row = conn.execute("SELECT nextval('analytics.attribution_run_id_seq')").fetchone()
            assert run_row is not None
            run_id = int(run_row[0])
            params = {
                "full": full,
                "run_id": run_id,
                "leads_wm": None if full or state is None else state["leads_synced_at"],
                "deals_wm": None if full or state is None else state["deals_synced_at"],
            }
            for step in ("won", "outcome_diff", "outcomes_delete", "outcomes_upsert"):
                _run(conn, steps, step, params)
            if full:
                quarantined, organizations = _load_all_leads(conn, steps, params)
            else:
                quarantined, organizations = _load_changed_leads(conn, steps, params)
            _run(conn, steps, "deal_quarantine_clear", params)
            quarantined += _run(conn, steps, "deal_quarantine_insert", params)
            counts = conn.execute(steps["counts_full" if full else "counts"]).fetchone()
            assert counts is not None
            previous_leads = None if state is None else state["leads_synced_at"]
            previous_deals = None if state is None else state["deals_synced_at"]
            leads_wm = _watermark(conn, "leads", horizon, previous_leads)
            deals_wm = _watermark(conn, "deals", horizon, previous_deals)
            _save_state(
                conn,
                LEAD_ATTRIBUTION,
                leads_synced_at=leads_wm,
                deals_synced_at=deals_wm,
                last_run_id=run_id,
                full_run_id=run_id if full else (state or {}).get("full_run_id"),
            )
    recomputed, removed, outcomes_changed, row_count = (int(v) for v in counts)
    return LeadAttributionStats(
        full=full,
        run_id=run_id,
        recomputed=recomputed,
        removed=removed,
        outcomes_changed=outcomes_changed,
        quarantined=quarantined,
        organizations_created=organizations,
        row_count=row_count,
        leads_watermark=leads_wm,
        deals_watermark=deals_wm,
    )


def _credits_full_reason(
    conn: psycopg.Connection,
    steps: dict[str, str],
    requested: bool,
    state: dict[str, Any] | None,
    la_state: dict[str, Any] | None,
    settings: CreditSettings,
) -> str | None:
    if requested:
        return "requested"
    if state is None:
        return "first run"
    if state["config"] != settings.as_json():
        return "configuration changed"
    if la_state is not None and (la_state["full_run_id"] or 0) > (state["last_run_id"] or 0):
        return "lead_attribution was rebuilt"
    if (state["credit_rows"] or 0) > 0 and _scalar(conn, steps["lost"]):
        return "credits were lost (UNLOGGED table emptied by crash recovery)"
    return None


def _scalar(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def refresh_attribution_credits(
    conn: psycopg.Connection, settings: CreditSettings | None = None, full: bool = False
) -> CreditsStats:
    """Recompute analytics.attribution_credits for the leads lead_attribution changed since the last run
    (all leads on a full rebuild: requested, first run, new settings, lead_attribution rebuilt, or the
    UNLOGGED credits table found empty after a crash)."""
    settings = settings or CreditSettings()
    steps = sql_steps("transforms/attribution/attribution_credits.sql")
    with _serialised(conn, ATTRIBUTION_CREDITS), _snapshot_transaction(conn):
        state = _state(conn, ATTRIBUTION_CREDITS)
        la_state = _state(conn, LEAD_ATTRIBUTION)
        reason = _credits_full_reason(conn, steps, full, state, la_state, settings)
        upto = int((la_state or {}).get("last_run_id") or 0)
        params = {
            "full": reason is not None,
            "since_run_id": int((state or {}).get("last_run_id") or 0),
            "upto_run_id": upto,
            "lookback": timedelta(days=settings.lookback_days),
            "half_life_days": float(settings.half_life_days),
            "collapse": settings.collapse,
            "models": list(settings.models),
        }
        _run(conn, steps, "changed", params)
        _run(conn, steps, "changed_index", params)
        if reason:
            row_count = written = _rebuild_credits(conn, steps, params) * len(settings.models)
        else:
            row_count, written = _update_credits(conn, steps, params, state, len(settings.models))
        _run(conn, steps, "paths_insert", params, "" if reason else _CHANGED_LEADS.format(alias="c"))
        for step in ("transitions_apply", "transitions_prune"):
            _run(conn, steps, step, params)
        _run(conn, steps, "prune_log", params)
        leads_changed = int(_scalar(conn, steps["counts"], params))
        _save_state(conn, ATTRIBUTION_CREDITS, last_run_id=upto, config=settings.as_json(), credit_rows=row_count)
    return CreditsStats(
        full=reason is not None,
        reason=reason or "incremental",
        leads_recomputed=leads_changed,
        rows_written=written,
        row_count=row_count,
        upto_run_id=upto,
    )


def _rebuild_credits(conn: psycopg.Connection, steps: dict[str, str], params: dict[str, Any]) -> int:
    """Full rebuild: truncate and bulk-load every lead's credits and paths; the touches written."""
    conn.execute("SELECT set_config('work_mem', %s, true)", (FULL_CREDITS_WORK_MEM,))
    _run(conn, steps, "truncate", params)
    with _bulk_load(conn, CREDITS_STORAGE):
        written = _run(conn, steps, "insert", params, "")
    conn.execute("SELECT set_config('work_mem', %s, true)", (WORK_MEM,))
    _run(conn, steps, "paths_truncate", params)
    return written


def _update_credits(
    conn: psycopg.Connection,
    steps: dict[str, str],
    params: dict[str, Any],
    state: dict[str, Any] | None,
    models: int,
) -> tuple[int, int]:
    """Incremental: replace the changed leads' credits and paths; (rows in the contract view now, rows written).

    Every stored touch is one view row per configured model, and the models are those of the last run (a
    change of models forces a full rebuild), so deleted and written touches count `models` rows each.
    """
    previous = (state or {}).get("credit_rows")
    if previous is None:
        previous = int(_scalar(conn, steps["row_count"]))
    deleted = _run(conn, steps, "delete_changed", params) * models
    written = _run(conn, steps, "insert", params, _CHANGED_LEADS.format(alias="la")) * models
    _run(conn, steps, "paths_delete_changed", params)
    return int(previous) - deleted + written, written


def _chains(conn: psycopg.Connection) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
    chains: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    rows = conn.execute(read_sql("transforms/attribution/markov_transitions.sql"))
    for organization_id, dimension, source, target, count in rows:
        chains.setdefault((str(organization_id), dimension), {})[(source, target)] = int(count)
    return chains


def refresh_markov_attribution(conn: psycopg.Connection) -> MarkovStats:
    """Rebuild analytics.markov_attribution from the transition counts of all paths (kept incrementally by
    the attribution_credits refresh), solving each organization's chain in numpy."""
    with _serialised(conn, "markov_attribution"), _snapshot_transaction(conn):
        chains = _chains(conn)
        totals = {
            str(org): (int(customers), float(revenue))
            for org, customers, revenue in conn.execute(read_sql("transforms/attribution/markov_totals.sql"))
        }
        rows = _markov_rows(chains, totals)
        conn.execute("DELETE FROM analytics.markov_attribution")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO analytics.markov_attribution (organization_id, dimension, touch, removal_effect, "
                "attributed_conversions, attributed_revenue) VALUES (%s, %s, %s, %s, %s, round(%s::numeric, 6))",
                [
                    (
                        r.organization_id,
                        r.dimension,
                        r.touch,
                        r.removal_effect,
                        r.attributed_conversions,
                        r.attributed_revenue,
                    )
                    for r in rows
                ],
            )
    return MarkovStats(rows=rows, customers=sum(c for c, _ in totals.values()))


def _markov_rows(
    chains: dict[tuple[str, str], dict[tuple[str, str], int]], totals: dict[str, tuple[int, float]]
) -> list[MarkovRow]:
    rows: list[MarkovRow] = []
    for (organization_id, dimension), transitions in sorted(chains.items()):
        customers, revenue = totals.get(organization_id, (0, 0.0))
        result = markov.removal_effects(transitions)
        conversions = markov.split(customers, result.removal_effects)
        money = markov.split(revenue, result.removal_effects)
        rows.extend(
            MarkovRow(organization_id, dimension, touch, effect, conversions[touch], money[touch])
            for touch, effect in sorted(result.removal_effects.items())
        )
    return rows
