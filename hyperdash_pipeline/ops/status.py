"""`hyperdash status`: how far behind the CRM each synced table is, the last runs, the failing checks.

Sync lag comes from the BI `sync_state` table the incremental sync keeps (one row per CRM table). It is
read defensively: a BI database without it (sync never run) says so, and the key and timestamp
columns are found by name, so a renamed column degrades the output instead of breaking the command.
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
from psycopg import sql

from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.ops.dev import prepare_dagster_home
from hyperdash_pipeline.ops.output import add_json_flag, format_duration, print_json
from hyperdash_pipeline.resources import PostgresResource

SYNC_STATE_TABLE = "sync_state"
KEY_COLUMNS = ("table_name", "source_table", "table", "stream", "name")
TIME_COLUMNS = ("last_synced_at", "synced_at", "last_success_at", "last_run_at", "committed_at", "updated_at")


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


def _sync_state_columns(conn: psycopg.Connection) -> tuple[str, dict[str, str]] | None:
    """The schema holding sync_state (public first) and its columns with their types, or None."""
    rows = conn.execute(
        "SELECT table_schema, column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s ORDER BY table_schema <> 'public', table_schema, ordinal_position",
        (SYNC_STATE_TABLE,),
    ).fetchall()
    if not rows:
        return None
    schema = rows[0][0]
    return schema, {name: dtype for s, name, dtype in rows if s == schema}


def _pick_time_column(columns: dict[str, str]) -> str | None:
    timestamps = [c for c, t in columns.items() if t.startswith("timestamp")]
    for name in TIME_COLUMNS:
        if name in timestamps:
            return name
    synced = [c for c in timestamps if "sync" in c]
    candidates = synced or timestamps
    return candidates[0] if candidates else None


def read_sync_lag(conn: psycopg.Connection) -> tuple[list[SyncLag], str | None]:
    found = _sync_state_columns(conn)
    if found is None:
        return [], f"no {SYNC_STATE_TABLE} table in BI yet: the CRM sync has not run (materialize the crm_raw assets)"
    schema, columns = found
    key = next((c for c in KEY_COLUMNS if c in columns), next(iter(columns)))
    time_column = _pick_time_column(columns)
    query = sql.SQL("SELECT {key}::text, {ts}, now() - {ts}, to_jsonb(s) FROM {schema}.{table} AS s ORDER BY 1").format(
        key=sql.Identifier(key),
        ts=sql.Identifier(time_column) if time_column else sql.SQL("NULL::timestamptz"),
        schema=sql.Identifier(schema),
        table=sql.Identifier(SYNC_STATE_TABLE),
    )
    lags = [
        SyncLag(table=name, last_synced_at=at, lag_seconds=lag.total_seconds() if lag else None, state=state)
        for name, at, lag, state in conn.execute(query).fetchall()
    ]
    note = None if time_column else f"{schema}.{SYNC_STATE_TABLE} has no timestamp column to measure lag from"
    if not lags:
        note = f"{schema}.{SYNC_STATE_TABLE} is empty: no table has been synced yet"
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
    check_keys = list(defs.resolve_asset_graph().asset_check_keys)
    return Status(
        sync=sync,
        sync_note=note,
        runs=last_runs(instance, run_limit),
        failing_checks=failing_checks(instance, check_keys),
        checks_known=len(check_keys),
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
    return "\n".join(lines)


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
