"""Dagster side of the daily reconciliation (reconcile.py): job `crm_bi_reconciliation`, daily schedule.

Each run records an AssetObservation on every `crm_raw/<table>` (matched, the id ranges that differed, the
rows repaired), so the asset's page shows when BI last agreed with the CRM and what had to be copied again.
"""
# No `from __future__ import annotations`: Dagster reads the Config and resource annotations at runtime.

from collections.abc import Iterator

from dagster import (
    AssetObservation,
    Backoff,
    Config,
    DefaultScheduleStatus,
    Definitions,
    OpExecutionContext,
    Output,
    RetryPolicy,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from hyperdash_pipeline.conventions import crm_raw_key
from hyperdash_pipeline.defs.crm_sync.mirror import SYNC_RUN_TAGS
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.sync.reconcile import reconcile


class ReconcileConfig(Config):
    repair: bool = Field(default=True, description="Copy the differing id ranges again (false: only report).")
    prefix: int = Field(default=3, ge=1, le=8, description="Hex digits per id bucket (3: 4,096 buckets).")


@op(
    retry_policy=RetryPolicy(max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL),
    description="Compare every crm_raw table with the CRM by id bucket (counts + fingerprints) and copy the "
    "differing id ranges again.",
)
def reconcile_crm_mirror(
    context: OpExecutionContext, config: ReconcileConfig, crm: PostgresResource, bi: PostgresResource
) -> Iterator[AssetObservation | Output[int]]:
    report = reconcile(crm.url, bi.url, repair=config.repair, prefix=config.prefix)
    context.log.info("\n" + report.summary())
    for table in report.tables.values():
        if not table.matched:
            action = "copied again" if config.repair else "not repaired (repair=false)"
            context.log.warning(
                f"crm_raw.{table.table} differed from the CRM in ids {table.differing_ranges}: {action}"
            )
        yield AssetObservation(
            asset_key=crm_raw_key(table.table),
            metadata={
                "reconciled_matched": table.matched,
                "reconciled_crm_rows": table.crm_rows,
                "reconciled_bi_rows": table.bi_rows,
                "reconciled_differing_ranges": ", ".join(table.differing_ranges[:50]) or "none",
                "reconciled_rows_repaired": table.inserted + table.updated + table.deleted,
            },
        )
    yield Output(sum(len(t.differing_ranges) for t in report.tables.values()))


@job(tags=SYNC_RUN_TAGS, description="Daily: compare BI's crm_raw with the CRM and repair the id ranges that differ.")
def crm_bi_reconciliation() -> None:
    reconcile_crm_mirror()


crm_bi_reconciliation_daily = ScheduleDefinition(
    name="crm_bi_reconciliation_daily",
    job=crm_bi_reconciliation,
    cron_schedule="45 2 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)

defs = Definitions(jobs=[crm_bi_reconciliation], schedules=[crm_bi_reconciliation_daily])
