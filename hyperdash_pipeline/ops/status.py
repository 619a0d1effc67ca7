"""`hyperdash status`: how far behind the CRM each synced table is, the last runs, the failing checks.

Sync lag comes from the BI `sync_state` table the incremental sync keeps (one row per CRM table,
sql/bi/0101_sync_state.sql).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance, Definitions

from hyperdash_pipeline.conversions.store import SUMMARY_DAYS, DestinationState, PlatformCounts
from hyperdash_pipeline.conversions.store import destination_states as read_destination_states
from hyperdash_pipeline.conversions.store import summary as conversions_summary
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.ops.output import add_json_flag, format_duration, print_json
from hyperdash_pipeline.resources import PostgresResource


@dataclass(frozen=True)
class SyncLag:
    table: str
    last_synced_at: datetime | None
    lag_seconds: float | None
    state: dict[str, Any]  # the whole row, for whoever wants the watermark itself


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    job_name: str
    status: str
    assets: list[str]
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True)
class FailingCheck:
    asset: str
    check: str
    severity: str | None
    description: str | None
    run_id: str
    at: datetime


@dataclass
class Status:
    sync: list[SyncLag] = field(default_factory=list)
    sync_note: str | None = None
    runs: list[RunSummary] = field(default_factory=list)
    failing_checks: list[FailingCheck] = field(default_factory=list)
    checks_known: int = 0
    conversions: list[PlatformCounts] = field(default_factory=list)  # last SUMMARY_DAYS days, per platform
    conversion_destinations: list[DestinationState] = field(default_factory=list)


SYNC_STATE_QUERY = """
SELECT table_name, synced_at, now() - coalesce(horizon, synced_at) AS lag, to_jsonb(s) AS state
FROM public.sync_state AS s
ORDER BY table_name
"""


def read_sync_lag(conn: psycopg.Connection) -> tuple[list[SyncLag], str | None]:
    """Per synced table: when a run last moved rows, and how old the newest point BI is complete up to
    (the sync's upper bound, `horizon`) is. A quiet CRM lets this grow; the sensor syncs within a minute
    of any write, so a large lag with recent CRM writes is the thing to look into."""
    if conn.execute("SELECT to_regclass('public.sync_state')").fetchone() == (None,):
        return [], "BI has no sync_state table: run `hyperdash migrate`"
    lags = [
        SyncLag(table=name, last_synced_at=at, lag_seconds=lag.total_seconds() if lag else None, state=state)
        for name, at, lag, state in conn.execute(SYNC_STATE_QUERY).fetchall()
    ]
    note = None if lags else "no table has been synced yet (materialize the crm_raw assets or run `hyperdash sync`)"
    return lags, note


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _run_assets(instance: DagsterInstance, run_id: str, selection: AbstractSet[AssetKey] | None) -> list[str]:
    """The assets a run targeted, or (a run with no selection, e.g. a whole job) those it materialized."""
    if selection:
        keys = set(selection)
    else:
        events = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=100)
        keys = {r.asset_key for r in events.records if r.asset_key}
    return sorted(key.to_user_string() for key in keys)


def last_runs(instance: DagsterInstance, limit: int) -> list[RunSummary]:
    return [
        RunSummary(
            run_id=record.dagster_run.run_id,
            job_name=record.dagster_run.job_name,
            status=record.dagster_run.status.value,
            assets=_run_assets(instance, record.dagster_run.run_id, record.dagster_run.asset_selection),
            start_time=_time(record.start_time),
            end_time=_time(record.end_time),
        )
        for record in instance.get_run_records(limit=limit)
    ]


def failing_checks(instance: DagsterInstance, check_keys: Sequence[AssetCheckKey]) -> list[FailingCheck]:
    """Checks whose latest evaluation failed (a check that raised shows as a failed run instead)."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))
    failing = []
    for key, record in sorted(latest.items(), key=lambda item: item[0].to_user_string()):
        if record.status.value != "FAILED":  # an explicit failed result (not planned, not passed)
            continue
        event = record.event.dagster_event if record.event else None
        evaluation = (
            event.asset_check_evaluation_data if event and event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        )
        failing.append(
            FailingCheck(
                asset=key.asset_key.to_user_string(),
                check=key.name,
                severity=evaluation.severity.value if evaluation else None,
                description=evaluation.description if evaluation else None,
                run_id=record.run_id,
                at=datetime.fromtimestamp(record.create_timestamp, UTC),
            )
        )
    return failing


def collect_status(instance: DagsterInstance, bi: PostgresResource, defs: Definitions, run_limit: int) -> Status:
    with bi.connection(autocommit=True) as conn:
        sync, note = read_sync_lag(conn)
        has_outbox = conn.execute("SELECT to_regclass('public.conversions_outbox')").fetchone() != (None,)
        conversions = conversions_summary(conn) if has_outbox else []
        destinations = read_destination_states(conn) if has_outbox else []
    check_keys = list(defs.resolve_asset_graph().asset_check_keys)
    return Status(
        sync=sync,
        sync_note=note,
        runs=last_runs(instance, run_limit),
        failing_checks=failing_checks(instance, check_keys),
        checks_known=len(check_keys),
        conversions=conversions,
        conversion_destinations=destinations,
    )


def render_text(status: Status) -> str:
    lines = ["Sync lag (BI behind the CRM):"]
    if status.sync_note:
        lines.append(f"  {status.sync_note}")
    for lag in status.sync:
        behind = format_duration(lag.lag_seconds) if lag.lag_seconds is not None else "unknown"
        at = f"{lag.last_synced_at:%Y-%m-%d %H:%M:%S %Z}" if lag.last_synced_at else "never"
        lines.append(f"  {lag.table:<24} {behind:>10} behind (last synced {at})")
    lines.append("Last runs:")
    if not status.runs:
        lines.append("  none yet")
    for run in status.runs:
        started = f"{run.start_time:%Y-%m-%d %H:%M:%S}" if run.start_time else "not started"
        what = ", ".join(run.assets) if run.assets else run.job_name
        lines.append(f"  {run.status:<10} {started}  {run.run_id[:8]}  {what}")
    lines.append(f"Failing asset checks ({len(status.failing_checks)} of {status.checks_known}):")
    if not status.failing_checks:
        lines.append("  none")
    for fc in status.failing_checks:
        lines.append(f"  {fc.asset} {fc.check} [{fc.severity}] {fc.description or ''} (run {fc.run_id[:8]})".rstrip())
    lines += _conversion_lines(status)
    return "\n".join(lines)


def _conversion_lines(status: Status) -> list[str]:
    lines = [f"Conversions sent back to the ad platforms (last {SUMMARY_DAYS} days):"]
    if not status.conversions:
        lines.append("  nothing in the outbox yet")
    for c in status.conversions:
        lines.append(
            f"  {c.platform:<7} {c.sent} sent, {c.rejected} rejected, {c.expired} expired, "
            f"{c.skipped_consent} skipped for consent; {c.pending} pending now"
        )
    for d in status.conversion_destinations:
        if d.status in ("error", "unconfigured"):
            lines.append(f"  {d.platform} {d.integration}: {d.status} ({d.last_error})")
    return lines


def status_command(args: argparse.Namespace) -> int:
    from hyperdash_pipeline.definitions import defs  # loaded here: `hyperdash --help` stays fast

    urls = export_database_urls()
    prepare_dagster_home()
    bi = PostgresResource(url=urls.bi, application_name="hyperdash-status")
    with DagsterInstance.get() as instance:
        status = collect_status(instance, bi, defs, args.runs)
    if args.json:
        print_json(status)
    else:
        print(render_text(status))
    return 1 if status.failing_checks else 0


def register_status(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("status", help="sync lag per table, last runs, failing asset checks (exit 1 if any fail)")
    cmd.add_argument("--runs", type=int, default=10, help="how many recent runs to list (default 10)")
    add_json_flag(cmd)
    cmd.set_defaults(handler=status_command)
