"""Dagster side of the sync: crm/<table> sources, crm_raw/<table> mirrors, job, sensor, schedule."""
# No `from __future__ import annotations`: Dagster reads the Config and resource annotations at runtime.

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Backoff,
    Config,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TableColumn,
    TableSchema,
    define_asset_job,
    multi_asset,
    sensor,
)
from psycopg import sql
from pydantic import Field

from hyperdash_pipeline.automation.intervals import crm_poll_seconds
from hyperdash_pipeline.conventions import (
    CRM_TABLES,
    GROUP_CRM_SYNC,
    OWNERS,
    POSTGRES_KINDS,
    crm_raw_key,
    crm_source_key,
)
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import libpq_url
from hyperdash_pipeline.sync.engine import (
    MIRROR_SCHEMA,
    SyncAlreadyRunning,
    SyncConnectionError,
    SyncError,
    SyncReport,
    TableReport,
    run_sync,
)
from hyperdash_pipeline.sync.markers import change_markers, run_key
from hyperdash_pipeline.sync.schema import read_columns

SYNC_OP_NAME = "crm_raw_sync"
SYNC_JOB_NAME = "crm_to_bi_sync"
SYNC_RUN_TAGS = {"hyperdash/sync": "crm_to_bi"}  # dagster.yaml allows one such run at a time
WINDOW_CHECK = "crm_transactions_within_window"

_TABLE_DESCRIPTIONS = {
    "contacts": "People in the CRM (name, email, phone).",
    "leads": "Leads with their campaign, ad, UTM, click ids and touchpoints (attribution inputs).",
    "deals": "Deals per lead: stage (open/won/lost), amount and currency (revenue truth).",
    "tasks": "Follow-up tasks on leads and deals.",
    "notes": "Free-text notes on leads and deals.",
    "activities": "Calls, emails, meetings and other touches logged against leads and deals.",
}


class CrmSyncConfig(Config):
    """Run config of the sync (Launchpad: ops.crm_raw_sync.config)."""

    full_refresh: bool = Field(
        default=False,
        description="Re-copy the selected crm_raw tables from scratch (TRUNCATE + COPY) instead of moving "
        "changes. Select one asset in the UI to refresh only that table.",
    )
    max_open_transaction_seconds: float = Field(
        default=300.0,
        description="Warn (asset check) when an open CRM write transaction holds the sync this far behind.",
    )
    overlap_seconds: float = Field(
        default=0.0, ge=0, description="Re-read this much before each watermark, idempotently (clock-step guard)."
    )
    tombstone_retention_days: float = Field(
        default=7.0,
        ge=0,
        description="Keep CRM tombstones (deleted row ids) this long after BI applied them, then delete them.",
    )


def crm_source_specs() -> list[AssetSpec]:
    return [
        AssetSpec(
            crm_source_key(table),
            description=f"CRM table public.{table} (external: written by the CRM app and the webhook). "
            + _TABLE_DESCRIPTIONS[table],
            group_name=GROUP_CRM_SYNC,
            kinds=POSTGRES_KINDS,
            owners=OWNERS,
        )
        for table in CRM_TABLES
    ]


def _mirror_spec(table: str) -> AssetSpec:
    return AssetSpec(
        crm_raw_key(table),
        deps=[crm_source_key(table)],
        description=f"BI mirror {MIRROR_SCHEMA}.{table} of the CRM table, kept exact by the incremental "
        f"sync (docs/sync.md). {_TABLE_DESCRIPTIONS[table]}",
        group_name=GROUP_CRM_SYNC,
        kinds=POSTGRES_KINDS,
        owners=OWNERS,
        skippable=True,
    )


_CHECK_SPECS = [
    AssetCheckSpec(
        WINDOW_CHECK,
        asset=crm_raw_key(table),
        description="No CRM transaction held the sync's upper bound back longer than the window "
        "(its limit: changes newer than an open transaction wait for it to end).",
    )
    for table in CRM_TABLES
]

SYNC_RETRY_POLICY = RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@multi_asset(
    name=SYNC_OP_NAME,
    specs=[_mirror_spec(table) for table in CRM_TABLES],
    check_specs=_CHECK_SPECS,
    can_subset=True,
    retry_policy=SYNC_RETRY_POLICY,
    description="Incremental CRM -> BI sync: binary COPY of changed rows, upsert and watermark in one BI "
    "transaction per table, deletes via CRM tombstones.",
)
def crm_raw_sync(
    context: AssetExecutionContext, config: CrmSyncConfig, crm: PostgresResource, bi: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    selected = {key.path[-1] for key in context.selected_asset_keys}
    tables = [t for t in CRM_TABLES if t in selected]
    report = _run(crm, bi, tables, config)
    context.log.info("\n" + report.summary())
    for warning in report.warnings:
        context.log.warning(warning)
    with bi.connection() as conn:  # one connection for every table's columns (and a row count the sync lacks)
        columns = _mirror_columns(conn, tables)
        counts = {table: _row_count(conn, report.tables[table]) for table in tables}
    for table in tables:
        result = report.tables[table]
        yield MaterializeResult(
            asset_key=crm_raw_key(table), metadata=_metadata(result, report, counts[table], columns[table])
        )
        if any(key.asset_key == crm_raw_key(table) for key in context.selected_asset_check_keys):
            yield AssetCheckResult(
                asset_key=crm_raw_key(table),
                check_name=WINDOW_CHECK,
                passed=not report.warnings,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "lag_seconds": result.lag_seconds,
                    "window_seconds": config.max_open_transaction_seconds,
                    "oldest_open_crm_transaction": report.horizon.describe_holder(),
                },
            )


def _run(crm: PostgresResource, bi: PostgresResource, tables: list[str], config: CrmSyncConfig) -> SyncReport:
    """Connection errors and a busy lock propagate, so the RetryPolicy retries them with backoff;
    other sync errors (schema mismatch, missing privilege) fail at once: a retry cannot fix them."""
    try:
        return run_sync(
            crm.url,
            bi.url,
            tables=tables,
            full=config.full_refresh,
            overlap_seconds=config.overlap_seconds,
            tombstone_retention_days=config.tombstone_retention_days,
            max_open_transaction_seconds=config.max_open_transaction_seconds,
            statement_timeout_ms=crm.statement_timeout_ms,
        )
    except (SyncConnectionError, SyncAlreadyRunning, psycopg.OperationalError):
        raise
    except SyncError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None


def _metadata(result: TableReport, report: SyncReport, row_count: int, schema: TableSchema) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "mode": result.mode,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_deleted": result.deleted,
        "lag_seconds": MetadataValue.float(round(result.lag_seconds, 3)),
        "upper_bound": MetadataValue.timestamp(report.horizon.upper_bound),
        "dagster/row_count": row_count,
        "dagster/column_schema": schema,
        "dagster/relation_identifier": f"{MIRROR_SCHEMA}.{result.table}",
    }
    if isinstance(result.watermark, datetime):
        metadata["watermark"] = MetadataValue.timestamp(result.watermark)
    if isinstance(result.tombstones_watermark, datetime):
        metadata["tombstones_watermark"] = MetadataValue.timestamp(result.tombstones_watermark)
    if result.table == "leads":
        metadata["attribution_synced_flagged"] = result.attribution_flagged
    metadata["crm_tombstones_pruned"] = result.tombstones_pruned
    metadata["columns_dropped_in_crm"] = MetadataValue.text(", ".join(result.columns_dropped_in_crm) or "none")
    if result.schema_changes:
        metadata["schema_changes"] = MetadataValue.md("\n".join(f"- {change}" for change in result.schema_changes))
    if result.repair:
        metadata["repair"] = result.repair  # why this incremental run re-copied the table (docs/sync.md)
    if report.crm_generation is not None:
        metadata["crm_generation"] = report.crm_generation
    return metadata


def _row_count(conn: psycopg.Connection, result: TableReport) -> int:
    """The mirror's rows as the sync keeps them in sync_state (no scan of the mirror); count(*) only for a table
    the sync has no state for yet (its CRM table was empty so far)."""
    if result.mirror_rows is not None:
        return result.mirror_rows
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(MIRROR_SCHEMA, result.table))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _mirror_columns(conn: psycopg.Connection, tables: list[str]) -> dict[str, TableSchema]:
    return {
        table: TableSchema(
            columns=[TableColumn(c.name, c.type) for c in read_columns(conn, f"{MIRROR_SCHEMA}.{table}")]
        )
        for table in tables
    }


crm_to_bi_sync = define_asset_job(
    SYNC_JOB_NAME,
    selection=[crm_raw_key(table) for table in CRM_TABLES],
    tags=SYNC_RUN_TAGS,
    description="Mirror the CRM tables into BI crm_raw (incremental; run config full_refresh re-copies).",
)


@sensor(
    name="crm_changes_sensor",
    job=crm_to_bi_sync,
    minimum_interval_seconds=crm_poll_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Polls the CRM's change markers (newest updated_at, rows and tombstones beyond BI's "
    "watermarks) and launches the sync once per distinct change state.",
)
def crm_changes_sensor(
    context: SensorEvaluationContext, crm: PostgresResource, bi: PostgresResource
) -> SensorResult | SkipReason:
    markers = change_markers(libpq_url(crm.url), libpq_url(bi.url))
    pending = [m for m in markers if m.pending]
    if not pending:
        return SkipReason("BI is caught up with the CRM")
    key = run_key(markers)
    if key == context.cursor:
        return SkipReason(f"already launched a sync for this change state ({key})")
    summary = ", ".join(f"{m.table}: {m.pending_rows} changed, {m.pending_deletes} deleted" for m in pending)
    request = RunRequest(run_key=key, tags={**SYNC_RUN_TAGS, "hyperdash/changes": summary[:200]})
    return SensorResult(run_requests=[request], cursor=key)


hourly_crm_sync = ScheduleDefinition(
    name="hourly_crm_sync",
    job=crm_to_bi_sync,
    cron_schedule="0 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    tags=SYNC_RUN_TAGS,
    description="Hourly safety net: mirrors whatever the sensor has not already carried.",
)

defs = Definitions(
    assets=[*crm_source_specs(), crm_raw_sync],
    jobs=[crm_to_bi_sync],
    sensors=[crm_changes_sensor],
    schedules=[hourly_crm_sync],
)
