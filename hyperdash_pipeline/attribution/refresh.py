"""Plain functions that refresh the attribution tables inside BI (used by the assets, the demo, benchmarks).

Each takes an open psycopg connection to BI (not in autocommit, no transaction open) and commits its
work as one transaction. Refreshes of the same table are serialised by an advisory lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hyperdash_pipeline.attribution import markov
from hyperdash_pipeline.attribution.models import MODELS
from hyperdash_pipeline.attribution.parallel import (
    LeadRange,
    PartT,
    export_snapshot,
    lead_id_sample,
    max_parts,
    part_count,
    plan_lead_ranges,
    run_parts,
    table_blocks,
)
from hyperdash_pipeline.attribution.staging import (
    Stages,
    load_stage,
    load_summed,
    replace_partitions,
    seal_as_partition,
    staged,
)
from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.transforms import (
    WORK_MEM,
    Transform,
    bulk_load,
    load_transform,
    scalar,
    serialised,
    snapshot_transaction,
    trigger_disabled,
)

LEAD_ATTRIBUTION = "lead_attribution"
ATTRIBUTION_CREDITS = "attribution_credits"
# Where the credits are stored: one row per lead x touch, a column per model (migration 0205);
# analytics.attribution_credits is the contract's view of it, one row per lead x touch x configured model.
CREDITS_STORAGE = "analytics.attribution_touch_credits"
PATHS_STORAGE = "analytics.attribution_paths"
CREDIT_TOTALS = "analytics.campaign_credit_totals"
CREDIT_TOTALS_KEY = ("organization_id", "campaign_id")
TRANSITIONS = "analytics.markov_transitions"
TRANSITIONS_KEY = ("organization_id", "dimension", "from_state", "to_state")
# What the parts of a parallel credits rebuild write (attribution/staging.py): their credits and paths, and the
# campaign totals and Markov transitions of those, which the load adds up.
CREDITS_STAGED = (CREDITS_STORAGE, PATHS_STORAGE, CREDIT_TOTALS, TRANSITIONS)
# Partitioned by range of lead_id (migration 1807; lead_attribution too, migration 1808): a parallel rebuild's
# parts seal their stages of these as partitions and the load attaches them, with no copy and no index build
# (attribution/staging.py).
PARTITIONED_BY_LEAD = (CREDITS_STORAGE, PATHS_STORAGE)
LEAD_ATTRIBUTION_STORAGE = f"public.{LEAD_ATTRIBUTION}"
# Keeps analytics.campaign_credit_totals per inserted statement (migration 0302); a full load regroups instead.
CREDIT_TOTALS_TRIGGER = "credit_totals_insert"
# The step files; each declares its plans (the order of its steps) in its header.
LEAD_ATTRIBUTION_SQL = "transforms/attribution/lead_attribution.sql"
CREDITS_SQL = "transforms/attribution/attribution_credits.sql"
PARALLEL_SQL = "transforms/attribution/parallel.sql"
QUARANTINE = "public.quarantine"
# What the parts of a parallel lead_attribution rebuild write (attribution/staging.py).
LEAD_ATTRIBUTION_STAGED = (LEAD_ATTRIBUTION_STORAGE, QUARANTINE)
ORGANIZATION_SQL = "transforms/attribution/organization.sql"
# Time-decay weights 2^(-age / half_life) stay clear of float underflow (2^-1022) up to this age.
MAX_LOOKBACK_HALF_LIVES = 1000
# A full credits rebuild sorts every touch of every lead (2.3 M rows, ~600 MB at 1 M leads): in memory, not
# in an external merge on disk. Set for that transaction only.
FULL_CREDITS_WORK_MEM = "1GB"


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
    """The attribution knobs (docs/contracts.md#attribution-contract): lookback, half-life, collapsing, models."""

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
        if self.lookback_days > MAX_LOOKBACK_HALF_LIVES * self.half_life_days:
            raise ValueError(
                f"lookback_days may span at most {MAX_LOOKBACK_HALF_LIVES} half-lives (half_life_days "
                f"{self.half_life_days} allows {MAX_LOOKBACK_HALF_LIVES * self.half_life_days:g} days): an older "
                f"touch would weigh less than 2^-{MAX_LOOKBACK_HALF_LIVES} in the time-decay model"
            )

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
    unmapped_labels: int  # (organization, label) pairs no alias maps: rows of analytics.unmapped_channels
    unmapped_touches: int  # credited touches carrying those labels (kept, under their normalised label)


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


def _lock_key(table: str) -> str:
    return f"hyperdash.attribution.{table}"


def read_state(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    """The bookkeeping row of one attribution refresh (analytics.attribution_state), None before its first run."""
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


def _watermark(conn: psycopg.Connection, table: str, horizon: datetime, previous: datetime | None) -> datetime | None:
    latest = conn.execute(f"SELECT max(_synced_at) FROM crm_raw.{table}").fetchone()
    newest = latest[0] if latest else None
    if newest is None:
        return previous
    return min(newest, horizon)


def _load_all_leads(conn: psycopg.Connection, steps: Transform, params: dict[str, Any]) -> tuple[int, int]:
    """Full rebuild: every live lead, bulk-loaded. Returns (quarantined, organizations created).

    The pending deletions are consumed: the rebuild covers them."""
    counts = steps.run(conn, "full_prepare", params)
    with bulk_load(conn, "lead_attribution"):
        steps.run(conn, "full_load", params)
    return counts["quarantine_insert"], counts["organizations"]


def _stages_by_part(parts: Sequence[PartT], stages: Stages) -> dict[PartT, dict[str, str]]:
    """Each part's own stage tables (Transform.run's `tables`): no two parts append to the same table."""
    return {part: stages.of_part(number) for number, part in enumerate(parts)}


@dataclass(frozen=True)
class _StagedLeads:
    """What the parts of a split lead_attribution rebuild wrote and counted, and what their snapshot saw of the
    queue."""

    parts: list[LeadRange]  # in the order of their stages
    rows: int
    quarantined: int
    organizations: int
    # The truncation markers of crm_raw.leads queued before the parts' snapshot (ctids; live until this
    # refresh, which holds the lock, consumes them): the parts read the re-copied mirror, so the load may
    # consume them. A marker queued later stays for the next refresh's anti-join.
    truncations_seen: list[str]


def _stage_all_leads(conn: psycopg.Connection, steps: Transform, parallelism: int, stages: Stages) -> _StagedLeads:
    """Every live lead's row written into the stage tables by `parallelism` sessions, a part (a range of the
    mirror's lead ids, cut at its ANALYZE histogram) per transaction on one exported snapshot; each part's rows
    sealed as the partition of its range (attribution/staging.py)."""
    with snapshot_transaction(conn):
        snapshot = export_snapshot(conn)
        truncations = scalar(conn, steps.query("truncations_seen")) or []
        mirror = "crm_raw.leads"
        count = part_count(table_blocks(conn, mirror), parallelism)
        parts = plan_lead_ranges(lead_id_sample(conn, mirror, "id"), count)
        tables = _stages_by_part(parts, stages)

        def stage_part(part_conn: psycopg.Connection, part: LeadRange) -> tuple[int, ...]:
            # A full rebuild: every deal is checked, as with no deals watermark.
            counts = steps.run(part_conn, "stage_part", {**part.params(), "deals_wm": None}, tables=tables[part])
            stage = tables[part][LEAD_ATTRIBUTION_STORAGE]
            seal_as_partition(part_conn, stage, LEAD_ATTRIBUTION_STORAGE, part.partition_check())
            quarantined = counts["quarantine_insert"] + counts["deal_quarantine_insert"]
            return counts["insert"], quarantined, counts["organizations"]

        totals = run_parts(conn, snapshot, parts, parallelism, stage_part)
    rows, quarantined, organizations = totals or (0, 0, 0)
    return _StagedLeads(parts, rows, quarantined, organizations, list(truncations))


def _load_staged_leads(
    conn: psycopg.Connection, steps: Transform, params: dict[str, Any], stages: Stages, staged_leads: _StagedLeads
) -> tuple[int, int, int, int]:
    """The sealed stages attached in place of the stored partitions and the staged quarantine loaded, in the
    caller's transaction; the deletions and truncation markers queued before the parts' snapshot consumed (the
    step file's `deletions_staged` says which). Returns the counts (recomputed, removed, outcomes changed, rows)
    as `counts_full` gives them for a one-session rebuild."""
    steps.run(conn, "staged_prepare", params)
    load_stage(conn, stages.of_table(QUARANTINE), QUARANTINE)
    # Part n wrote stage n (_stages_by_part); stages past the last part (fewer parts than sessions) are empty.
    used = stages.of_table(LEAD_ATTRIBUTION_STORAGE)[: len(staged_leads.parts)]
    bounds = [part.partition_bound() for part in staged_leads.parts]
    replace_partitions(conn, LEAD_ATTRIBUTION_STORAGE, list(zip(used, bounds, strict=True)))
    steps.run(conn, "staged_finish", {**params, "truncations_seen": staged_leads.truncations_seen})
    written = staged_leads.rows
    return written, 0, int(scalar(conn, "SELECT count(*) FROM _outcome_diff")), written


def _load_changed_leads(conn: psycopg.Connection, steps: Transform, params: dict[str, Any]) -> tuple[int, int, int]:
    """Incremental: the changed leads only, logged for attribution_credits.

    Returns (quarantined, organizations created, rows added - rows deleted).
    """
    counts = steps.run(conn, "changed", params)
    return counts["quarantine_insert"], counts["organizations"], counts["added"] - counts["delete_gone"]


def consume_row_changes(conn: psycopg.Connection, name: str) -> int:
    """The row-count changes organization rebuilds left for table `name` since its last refresh (migration 1912),
    summed and removed, in the caller's transaction."""
    return int(scalar(conn, load_transform(ORGANIZATION_SQL).query("consume_row_changes"), {"name": name}))


def _kept_rows(conn: psycopg.Connection, steps: Transform, kept: int | None, change: int) -> int:
    """A table's row count from the one kept in attribution_state plus `change`, or, when none is kept (a BI
    migrated before it was), counted once by the step file's `row_count`, a count that already includes `change`."""
    return int(scalar(conn, steps.query("row_count"))) if kept is None else int(kept) + change


def _without_jit(conn: psycopg.Connection) -> None:
    """No JIT compilation for the rest of this transaction (an incremental refresh).

    Its statements touch the changed leads only, but a plan can still cost more than `jit_above_cost` (a
    branch planned for the whole table and skipped at run time, e.g. the truncation anti-join): compiling it
    took 10-30 ms a statement at 1M leads, for nothing.
    """
    conn.execute("SET LOCAL jit = off")


def _outcomes_plan(conn: psycopg.Connection, steps: Transform, full: bool) -> str:
    """Compare every lead's outcome (a full run, or after crm_raw.deals was truncated), or only those of the
    leads whose deals changed since the last refresh (the watermark and the deals' queue, migration 1911)."""
    if full or scalar(conn, steps.query("deal_queue_truncated")):
        return "outcomes"
    return "outcomes_changed"


def refresh_lead_attribution(
    conn: psycopg.Connection, full: bool = False, parallelism: int = 1
) -> LeadAttributionStats:
    """Bring public.lead_attribution (and analytics.lead_outcomes) up to date with crm_raw.

    Incremental unless `full` or never run: recomputes leads synced since the watermark, leads whose
    won deals changed and leads that were deleted; logs them for attribution_credits. A full rebuild with
    `parallelism` > 1 is split by ranges of lead ids across that many BI sessions writing stage tables, each
    sealed as the partition of its range, then attached in place of the stored partitions in one transaction
    (attribution/parallel.py, attribution/staging.py).
    """
    steps = load_transform(LEAD_ATTRIBUTION_SQL)
    with serialised(conn, _lock_key(LEAD_ATTRIBUTION)), ExitStack() as stack:
        horizon: datetime = scalar(conn, steps.query("safe_horizon"))
        split = parallelism > 1 and (full or read_state(conn, LEAD_ATTRIBUTION) is None)
        conn.commit()
        stages: Stages | None = None
        if split:
            placeholders = load_transform(PARALLEL_SQL).run(conn, "placeholders", {})["organizations"]
            stages = stack.enter_context(staged(conn, LEAD_ATTRIBUTION_STAGED, max_parts(parallelism)))
            staged_leads = _stage_all_leads(conn, steps, parallelism, stages)
        with snapshot_transaction(conn):
            state = read_state(conn, LEAD_ATTRIBUTION)
            full = full or state is None or split
            if not full:
                _without_jit(conn)
            run_row = conn.execute("SELECT nextval('analytics.attribution_run_id_seq')").fetchone()
            assert run_row is not None
            run_id = int(run_row[0])
            params = {
                "full": full,
                "run_id": run_id,
                "leads_wm": None if full or state is None else state["leads_synced_at"],
                "deals_wm": None if full or state is None else state["deals_synced_at"],
            }
            steps.run(conn, _outcomes_plan(conn, steps, full), params)
            row_change = consume_row_changes(conn, LEAD_ATTRIBUTION)
            counts: tuple[Any, ...] | None = None
            if stages is not None:
                counts = _load_staged_leads(conn, steps, params, stages, staged_leads)
                quarantined = staged_leads.quarantined
                organizations = placeholders + staged_leads.organizations
            elif full:
                quarantined, organizations = _load_all_leads(conn, steps, params)
            else:
                quarantined, organizations, written_change = _load_changed_leads(conn, steps, params)
                row_change += written_change
            if stages is None:  # else the parts quarantined the deals, and the load cleared the old rows
                quarantined += steps.run(conn, "deal_quarantine", params)["deal_quarantine_insert"]
            if stages is None and full:
                counts = conn.execute(steps.query("counts_full")).fetchone()
            elif stages is None:
                changed = conn.execute(steps.query("counts")).fetchone()
                assert changed is not None
                counts = (*changed, _kept_rows(conn, steps, (state or {}).get("lead_rows"), row_change))
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
                lead_rows=int(counts[3]),
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
    steps: Transform,
    requested: bool,
    state: dict[str, Any] | None,
    la_state: dict[str, Any] | None,
    config: dict[str, Any],
) -> str | None:
    if requested:
        return "requested"
    if state is None:
        return "first run"
    if state["config"] != config:
        return "configuration or channel map changed"
    if la_state is not None and (la_state["full_run_id"] or 0) > (state["last_run_id"] or 0):
        return "lead_attribution was rebuilt"
    if (state["credit_rows"] or 0) > 0 and scalar(conn, steps.query("lost")):
        return "credits were lost (UNLOGGED table emptied by crash recovery)"
    return None


def refresh_attribution_credits(
    conn: psycopg.Connection, settings: CreditSettings | None = None, full: bool = False, parallelism: int = 1
) -> CreditsStats:
    """Recompute analytics.attribution_credits for the leads lead_attribution changed since the last run
    (all leads on a full rebuild: requested, first run, new settings, lead_attribution rebuilt, or the
    UNLOGGED credits table found empty after a crash). A full rebuild with `parallelism` > 1 is split by
    ranges of lead ids across that many BI sessions writing stage tables, each sealed as the partition of its
    range, then attached in place of the stored partitions in one transaction (attribution/parallel.py,
    attribution/staging.py)."""
    settings = settings or CreditSettings()
    steps = load_transform(CREDITS_SQL)
    with serialised(conn, _lock_key(ATTRIBUTION_CREDITS)):
        with snapshot_transaction(conn):
            state = read_state(conn, ATTRIBUTION_CREDITS)
            la_state = read_state(conn, LEAD_ATTRIBUTION)
            # The channel map's fingerprint is part of the configuration: editing an alias recomputes every credit.
            config = {**settings.as_json(), "channel_map": scalar(conn, steps.query("channel_map_digest"))}
            reason = _credits_full_reason(conn, steps, full, state, la_state, config)
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
            if not reason or parallelism <= 1:
                return _refresh_credits_serial(conn, steps, params, settings, config, state, reason)
        with staged(conn, CREDITS_STAGED, max_parts(parallelism), indexed=(TRANSITIONS,)) as stages:
            parts, touches = _stage_credits(conn, steps, params, parallelism, stages)
            # A new transaction: the parts committed on their own, the first one's snapshot does not see them.
            with snapshot_transaction(conn):
                leads, unmapped, unmapped_touches = _load_staged_credits(
                    conn, steps, params, config, stages, parts, touches
                )
    written = touches * len(settings.models)
    return CreditsStats(
        full=True,
        reason=reason,
        leads_recomputed=leads,
        rows_written=written,
        row_count=written,
        upto_run_id=upto,
        unmapped_labels=unmapped,
        unmapped_touches=unmapped_touches,
    )


def _stage_credits(
    conn: psycopg.Connection, steps: Transform, params: dict[str, Any], parallelism: int, stages: Stages
) -> tuple[list[LeadRange], int]:
    """Every attributed lead's credits and path written into the stage tables by `parallelism` sessions, a
    part (a range of lead ids, as many as lead_attribution's blocks allow) per transaction on one exported
    snapshot (attribution/staging.py); each part's credits and paths sealed as the partition of its range.
    Returns the parts, in the order of their stages, and the touches they wrote."""
    with snapshot_transaction(conn):
        snapshot = export_snapshot(conn)
        table = f"public.{LEAD_ATTRIBUTION}"
        parts = plan_lead_ranges(lead_id_sample(conn, table), part_count(table_blocks(conn, table), parallelism))
        tables = _stages_by_part(parts, stages)

        def stage_part(part_conn: psycopg.Connection, part: LeadRange) -> tuple[int, ...]:
            # As the one-session rebuild's sort, in memory: a part sorts its share of the touches.
            part_conn.execute("SELECT set_config('work_mem', %s, true)", (FULL_CREDITS_WORK_MEM,))
            touches = steps.run(part_conn, "stage_part", {**params, **part.params()}, tables=tables[part])["insert"]
            for table in PARTITIONED_BY_LEAD:
                seal_as_partition(part_conn, tables[part][table], table, part.partition_check())
            return (touches,)

        totals = run_parts(conn, snapshot, parts, parallelism, stage_part)
    return parts, (totals or (0,))[0]


def _load_staged_credits(
    conn: psycopg.Connection,
    steps: Transform,
    params: dict[str, Any],
    config: dict[str, Any],
    stages: Stages,
    parts: Sequence[LeadRange],
    touches: int,
) -> tuple[int, int, int]:
    """The sealed stages of the credits and paths attached in place of the stored partitions; the campaign totals
    and transitions the parts counted, added up; unmapped labels listed, the change log pruned, the state saved
    (`touches`: what the parts wrote). Returns (leads credited, unmapped labels, unmapped touches)."""
    steps.run(conn, "rebuild_prepare", params)  # its TRUNCATE empties the campaign totals too (migration 0302)
    steps.run(conn, "staged_paths_prepare", params)  # the paths and the transitions
    bounds = [part.partition_bound() for part in parts]
    for table in PARTITIONED_BY_LEAD:
        # Part n wrote stage n (_stages_by_part); stages past the last part (fewer parts than sessions) are empty.
        used = stages.of_table(table)[: len(parts)]
        replace_partitions(conn, table, list(zip(used, bounds, strict=True)))
    load_summed(conn, stages.of_table(CREDIT_TOTALS), CREDIT_TOTALS, CREDIT_TOTALS_KEY)
    load_summed(conn, stages.of_table(TRANSITIONS), TRANSITIONS, TRANSITIONS_KEY)
    steps.run(conn, "staged_finish", params)
    _regroup(conn, steps, params)
    consume_row_changes(conn, ATTRIBUTION_CREDITS)  # a full rebuild: the whole table's count is saved
    leads = int(scalar(conn, "SELECT count(*) FROM lead_attribution"))
    rows = touches * len(params["models"])
    _save_state(conn, ATTRIBUTION_CREDITS, last_run_id=params["upto_run_id"], config=config, credit_rows=rows)
    return leads, *_unmapped(conn)


def _regroup(conn: psycopg.Connection, steps: Transform, params: dict[str, Any]) -> None:
    """Organizations a rebuild of another one took leads from (migration 1913), their totals, transitions and
    unmapped labels regrouped from their rows; nothing more when none is queued, the usual case: the regroup's
    statements filter the whole credits table by the queued organizations, a scan that cost 0.2-0.4 s of every
    incremental run at 1M leads with an empty queue."""
    if steps.run(conn, "regroup_take", params)["regroup_queue"]:
        steps.run(conn, "regroup", params)


def _unmapped(conn: psycopg.Connection) -> tuple[int, int]:
    """The (organization, label) pairs no alias maps and the touches carrying them (analytics.unmapped_channels,
    rebuilt by the plans' last steps)."""
    row = conn.execute("SELECT count(*), coalesce(sum(touches), 0) FROM analytics.unmapped_channels").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _refresh_credits_serial(
    conn: psycopg.Connection,
    steps: Transform,
    params: dict[str, Any],
    settings: CreditSettings,
    config: dict[str, Any],
    state: dict[str, Any] | None,
    reason: str | None,
) -> CreditsStats:
    """The refresh inside the caller's one transaction: incremental, or a full rebuild by bulk load."""
    upto = int(params["upto_run_id"])
    if not reason:
        _without_jit(conn)
    row_change = consume_row_changes(conn, ATTRIBUTION_CREDITS)
    steps.run(conn, "changed", params)
    if reason:
        row_count = written = _rebuild_credits(conn, steps, params) * len(settings.models)
    else:
        row_count, written = _update_credits(conn, steps, params, state, len(settings.models), row_change)
    steps.run(conn, "paths_full" if reason else "paths_incremental", params)
    _regroup(conn, steps, params)
    unmapped, unmapped_touches = _unmapped(conn)
    leads_changed = int(scalar(conn, steps.query("counts"), params))
    _save_state(conn, ATTRIBUTION_CREDITS, last_run_id=upto, config=config, credit_rows=row_count)
    return CreditsStats(
        full=reason is not None,
        reason=reason or "incremental",
        leads_recomputed=leads_changed,
        rows_written=written,
        row_count=row_count,
        upto_run_id=upto,
        unmapped_labels=unmapped,
        unmapped_touches=unmapped_touches,
    )


def _rebuild_credits(conn: psycopg.Connection, steps: Transform, params: dict[str, Any]) -> int:
    """Full rebuild: truncate and bulk-load every lead's credits, regroup the campaign totals, empty the paths
    (paths_full reloads them); the touches written."""
    conn.execute("SELECT set_config('work_mem', %s, true)", (FULL_CREDITS_WORK_MEM,))
    steps.run(conn, "rebuild_prepare", params)
    with bulk_load(conn, CREDITS_STORAGE), trigger_disabled(conn, CREDITS_STORAGE, CREDIT_TOTALS_TRIGGER):
        written = steps.run(conn, "rebuild_load", params)["insert"]
    steps.run(conn, "rebuild_finish", params)
    conn.execute("SELECT set_config('work_mem', %s, true)", (WORK_MEM,))
    return written


def _update_credits(
    conn: psycopg.Connection,
    steps: Transform,
    params: dict[str, Any],
    state: dict[str, Any] | None,
    models: int,
    row_change: int,
) -> tuple[int, int]:
    """Incremental: replace the changed leads' credits and paths; (rows in the contract view now, rows written).

    Every stored touch is one view row per configured model, and the models are those of the last run (a
    change of models forces a full rebuild), so deleted and written touches count `models` rows each.
    `row_change`: what organization rebuilds changed since the last run, added to the kept count.
    """
    previous = _kept_rows(conn, steps, (state or {}).get("credit_rows"), row_change)  # before this run's update
    counts = steps.run(conn, "update", params)
    deleted, written = counts["delete_changed"] * models, counts["insert"] * models
    return previous - deleted + written, written


def _chains(conn: psycopg.Connection) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
    return chains_of(conn.execute(read_sql("transforms/attribution/markov_transitions.sql")))


def chains_of(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
    """Transition rows (organization, dimension, from, to, count) grouped into one chain per organization and
    dimension."""
    chains: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    for organization_id, dimension, source, target, count in rows:
        chains.setdefault((str(organization_id), dimension), {})[(source, target)] = int(count)
    return chains


def refresh_markov_attribution(conn: psycopg.Connection) -> MarkovStats:
    """Rebuild analytics.markov_attribution from the transition counts of all paths (kept incrementally by
    the attribution_credits refresh), solving each organization's chain in numpy."""
    with serialised(conn, _lock_key("markov_attribution")), snapshot_transaction(conn):
        chains = _chains(conn)
        totals = {
            str(org): (int(customers), float(revenue))
            for org, customers, revenue in conn.execute(read_sql("transforms/attribution/markov_totals.sql"))
        }
        rows = markov_rows(chains, totals)
        conn.execute("DELETE FROM analytics.markov_attribution")
        insert_markov_rows(conn, rows)
    return MarkovStats(rows=rows, customers=sum(c for c, _ in totals.values()))


def insert_markov_rows(conn: psycopg.Connection, rows: list[MarkovRow]) -> None:
    """Store solved Markov rows in analytics.markov_attribution (the caller removed the ones they replace)."""
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


def markov_rows(
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
