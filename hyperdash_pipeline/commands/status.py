"""`hyperdash status`: how far behind the CRM each synced table is, the last runs, the failing checks.

Lag is the age of the oldest CRM change BI has not mirrored yet, zero when BI is caught up: the
sensor's change markers (hyperdash_pipeline.sync.markers) read against the watermarks of the BI
`sync_state` table (one row per CRM table, sql/bi/0101_sync_state.sql). The time of the last sync
that moved rows is shown beside it; a quiet, caught-up table is never "behind".
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

from hyperdash_pipeline.console import add_json_flag, format_duration, print_json
from hyperdash_pipeline.conversions.store import SUMMARY_DAYS, DestinationState, PlatformCounts
from hyperdash_pipeline.conversions.store import destination_states as read_destination_states
from hyperdash_pipeline.conversions.store import summary as conversions_summary
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql, redact
from hyperdash_pipeline.sync.markers import TableMarker, change_markers


@dataclass(frozen=True)
class SyncLag:
    table: str
    last_synced_at: datetime | None
    lag_seconds: float | None  # age of the oldest CRM change not in BI; 0 caught up; None: CRM unreadable
    pending_rows: int | None
    pending_deletes: int | None
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


def read_sync_lag(conn: psycopg.Connection, crm_url: str, bi_url: str) -> tuple[list[SyncLag], str | None]:
    """Per synced table: how old the oldest CRM change BI has not mirrored yet is (0 when caught up),
    and when a run last moved rows. The CRM is read with the sensor's change markers (index probes);
    when it cannot be read the lag is unknown and the note says why, the rest of the status still shows."""
    if conn.execute("SELECT to_regclass('public.sync_state')").fetchone() == (None,):
        return [], "BI has no sync_state table: run `hyperdash migrate`"
    rows = conn.execute(read_sql("transforms/sync/sync_state.sql")).fetchall()
    if not rows:
        return [], "no table has been synced yet (materialize the crm_raw assets or run `hyperdash sync`)"
    markers: dict[str, TableMarker] = {}
    note = None
    try:
        markers = {m.table: m for m in change_markers(crm_url, bi_url, [row[0] for row in rows])}
    except psycopg.Error as exc:
        note = f"the CRM could not be read, lag unknown: {redact(str(exc).strip())}"
    lags = []
    for name, at, state in rows:
        marker = markers.get(name)
        lags.append(
            SyncLag(
                table=name,
                last_synced_at=at,
                lag_seconds=None if marker is None else marker.oldest_pending_seconds or 0.0,
                pending_rows=None if marker is None else marker.pending_rows,
                pending_deletes=None if marker is None else marker.pending_deletes,
                state=state,
            )
        )
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


def collect_status(
    instance: DagsterInstance, crm: PostgresResource, bi: PostgresResource, defs: Definitions, run_limit: int
) -> Status:
    with bi.connection(autocommit=True) as conn:
        sync, note = read_sync_lag(conn, crm.url, bi.url)
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
        lines.append(f"  {lag.table:<24} {_describe_lag(lag)}")
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


def _describe_lag(lag: SyncLag) -> str:
    at = f"{lag.last_synced_at:%Y-%m-%d %H:%M:%S %Z}" if lag.last_synced_at else "never"
    if lag.lag_seconds is None:
        return f"{'unknown':>10}        (last synced {at})"
    if not lag.pending_rows and not lag.pending_deletes:
        return f"{'caught up':>10}        (last synced {at})"
    waiting = f"{lag.pending_rows} changed, {lag.pending_deletes} deleted waiting"
    return f"{format_duration(lag.lag_seconds):>10} behind ({waiting}; last synced {at})"


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
    crm = PostgresResource(url=urls.crm, application_name="hyperdash-status")
    bi = PostgresResource(url=urls.bi, application_name="hyperdash-status")
    with DagsterInstance.get() as instance:
        status = collect_status(instance, crm, bi, defs, args.runs)
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
