"""Backups on the seed's cadence (the CRM hourly: critical data; BI daily: recomputable) and a weekly drill.

`backups/crm` and `backups/bi` are assets: each materialization is one backup file (hyperdash_pipeline.backup:
pg_dump in the manifest's snapshot, mode 0600, encrypted when HYPERDASH_BACKUP_KEY is set), then retention
by count and age. The `restore_drill` asset check of each restores the newest file into a scratch database,
compares it with the file's manifest and fails (ERROR, and the drill run fails) when they differ, when there
is no backup, or when the newest one is older than its cadence allows.
"""
# No `from __future__ import annotations`: Dagster reads the Config and resource annotations at runtime.

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Backoff,
    Config,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    ScheduleDefinition,
    asset,
    define_asset_job,
    multi_asset_check,
)
from pydantic import Field

from hyperdash_pipeline.backup.archive import (
    BackupError,
    backup_directory,
    backup_time,
    create_backup,
    list_backups,
    prune,
)
from hyperdash_pipeline.backup.crypto import BackupFileError, key_from_environment
from hyperdash_pipeline.backup.restore import RestoreError, drop_database, restore_backup
from hyperdash_pipeline.conventions import BACKUP_BI_KEY, BACKUP_CRM_KEY, GROUP_BACKUPS, OWNERS, POSTGRES_KINDS
from hyperdash_pipeline.resources import PostgresResource

DRILL_CHECK = "restore_drill"
DRILL_JOB = "backup_restore_drill"


class BackupConfig(Config):
    directory: str = Field(
        default="", description="Where backups go; empty: HYPERDASH_BACKUP_DIR, else HYPERDASH_HOME/backups."
    )
    keep: int = Field(default=0, ge=0, description="Keep at most this many backups of the database (0: its default).")
    max_age_days: float = Field(default=0.0, ge=0, description="Remove backups older than this (0: its default).")


# CRM: hourly for a week. BI: daily for two weeks (beyond the sync's 7-day tombstone retention: a BI restored
# from an older dump re-copies the tables whose tombstones were pruned since, see docs/sync.md).
RETENTION = {"crm": (168, 7.0), "bi": (14, 14.0)}
# The newest backup may be this old before the drill fails: the cadence plus slack for a slow or retried run.
CADENCE_HOURS = {"crm": 2.0, "bi": 26.0}

_RETRY = RetryPolicy(max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL)


def _backup(
    context: AssetExecutionContext, config: BackupConfig, database: PostgresResource, role: str
) -> MaterializeResult:
    default_keep, default_age = RETENTION[role]
    try:
        directory = backup_directory(config.directory)
        result = create_backup(database.url, role, directory, key_from_environment())
    except BackupError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    removed = prune(directory, role, config.keep or default_keep, timedelta(days=config.max_age_days or default_age))
    manifest = result.manifest
    context.log.info(f"{role} backed up to {result.path} ({manifest.dump_bytes} bytes); pruned {len(removed)}")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(result.path)),
            "bytes": result.path.stat().st_size,
            "seconds": round(result.seconds, 2),
            "encrypted": key_from_environment() is not None,
            "tables": len(manifest.tables),
            "rows": sum(t.rows for t in manifest.tables.values()),
            "server_version": manifest.server_version,
            "pruned": len(removed),
            "kept": len(list_backups(directory, role)),
        }
    )


@asset(
    key=BACKUP_CRM_KEY,
    group_name=GROUP_BACKUPS,
    kinds=POSTGRES_KINDS,
    owners=OWNERS,
    retry_policy=_RETRY,
    description="The newest CRM backup file (pg_dump + manifest, mode 0600, encrypted with HYPERDASH_BACKUP_KEY "
    "when set), written hourly; older ones kept by count and age.",
)
def backups_crm(context: AssetExecutionContext, config: BackupConfig, crm: PostgresResource) -> MaterializeResult:
    return _backup(context, config, crm, "crm")


@asset(
    key=BACKUP_BI_KEY,
    group_name=GROUP_BACKUPS,
    kinds=POSTGRES_KINDS,
    owners=OWNERS,
    retry_policy=_RETRY,
    description="The newest BI backup file (pg_dump + manifest, mode 0600, encrypted with HYPERDASH_BACKUP_KEY "
    "when set), written daily; older ones kept by count and age.",
)
def backups_bi(context: AssetExecutionContext, config: BackupConfig, bi: PostgresResource) -> MaterializeResult:
    return _backup(context, config, bi, "bi")


class DrillConfig(Config):
    directory: str = Field(default="", description="Where the backups are; empty: as the backup assets.")
    crm_max_age_hours: float = Field(default=CADENCE_HOURS["crm"], gt=0)
    bi_max_age_hours: float = Field(default=CADENCE_HOURS["bi"], gt=0)


def drill(role: str, live_url: str, config: DrillConfig, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """Restore the newest backup of `role` into a scratch database and check it; (passed, metadata)."""
    try:
        directory = backup_directory(config.directory)
    except BackupError as exc:
        return False, {"problem": str(exc)}
    backups = list_backups(directory, role)
    if not backups:
        return False, {"problem": f"no {role} backup in {directory / role}: run the {role}_backup_job"}
    newest = backups[-1]
    age = (now or datetime.now(UTC)) - backup_time(newest)
    limit = timedelta(hours=config.crm_max_age_hours if role == "crm" else config.bi_max_age_hours)
    metadata: dict[str, Any] = {
        "backup": MetadataValue.path(str(newest)),
        "age_hours": round(age / timedelta(hours=1), 2),
    }
    try:
        result = restore_backup(newest, live_url, key_from_environment())
    except (BackupFileError, RestoreError) as exc:
        return False, {**metadata, "problem": str(exc)}
    drop_database(live_url, result.database)
    metadata.update(
        restore_seconds=round(result.seconds, 2),
        tables=len(result.manifest.tables),
        rows=sum(t.rows for t in result.manifest.tables.values()),
    )
    if age > limit:
        metadata["problem"] = f"the newest {role} backup is {metadata['age_hours']} h old (its cadence allows {limit})"
        return False, metadata
    return True, metadata


@multi_asset_check(
    specs=[
        AssetCheckSpec(DRILL_CHECK, asset=key, description="The newest backup restores into a scratch database, "
                       "equals its manifest table by table, and is no older than its cadence allows.")
        for key in (BACKUP_CRM_KEY, BACKUP_BI_KEY)
    ],
    can_subset=True,
    retry_policy=RetryPolicy(max_retries=1, delay=60),
    description="Restore drill: restore the newest CRM and BI backups into scratch databases and compare.",
)  # fmt: skip
def backup_restore_drill_checks(
    context: AssetCheckExecutionContext, config: DrillConfig, crm: PostgresResource, bi: PostgresResource
) -> Iterator[AssetCheckResult]:
    failed = []
    selected = {key.asset_key for key in context.selected_asset_check_keys}
    for role, key, database in (("crm", BACKUP_CRM_KEY, crm), ("bi", BACKUP_BI_KEY, bi)):
        if key not in selected:
            continue
        passed, metadata = drill(role, database.url, config)
        if not passed:
            failed.append(f"{role}: {metadata['problem']}")
        yield AssetCheckResult(
            asset_key=key, check_name=DRILL_CHECK, passed=passed, severity=AssetCheckSeverity.ERROR, metadata=metadata
        )
    if failed:
        raise Failure(description="restore drill failed: " + " | ".join(failed), allow_retries=False)


def _asset_job(name: str, key: AssetKey, description: str) -> Any:
    """A job that writes the backup only (the drill check of the asset runs in its own weekly job)."""
    return define_asset_job(name, selection=AssetSelection.assets(key).without_checks(), description=description)


crm_backup_job = _asset_job("crm_backup_job", BACKUP_CRM_KEY, "Hourly CRM backup (the seed: CRM data is critical).")
bi_backup_job = _asset_job("bi_backup_job", BACKUP_BI_KEY, "Daily BI backup (BI is recomputable from the CRM and ads).")
backup_restore_drill = define_asset_job(
    DRILL_JOB,
    selection=AssetSelection.checks_for_assets(BACKUP_CRM_KEY, BACKUP_BI_KEY),
    description="Weekly: restore the newest backups into scratch databases and compare them with their manifests.",
)

crm_backup_hourly = ScheduleDefinition(
    name="crm_backup_hourly",
    job=crm_backup_job,
    cron_schedule="15 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)
bi_backup_daily = ScheduleDefinition(
    name="bi_backup_daily", job=bi_backup_job, cron_schedule="30 3 * * *", default_status=DefaultScheduleStatus.RUNNING
)
backup_restore_drill_weekly = ScheduleDefinition(
    name="backup_restore_drill_weekly",
    job=backup_restore_drill,
    cron_schedule="0 5 * * 0",
    default_status=DefaultScheduleStatus.RUNNING,
)

defs = Definitions(
    assets=[backups_crm, backups_bi],
    asset_checks=[backup_restore_drill_checks],
    jobs=[crm_backup_job, bi_backup_job, backup_restore_drill],
    schedules=[crm_backup_hourly, bi_backup_daily, backup_restore_drill_weekly],
)

__all__ = ["defs"]
