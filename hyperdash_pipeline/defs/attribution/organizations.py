"""One organization's attribution, rebuilt or backfilled from the UI: the `organizations` dynamic partitions
(BI's organizations, kept by a sensor) and the partitioned job `rebuild_organization`.

The asset graph stays unpartitioned (its assets are driven by automation conditions); this job writes the same
tables for one organization in one transaction (hyperdash_pipeline/attribution/organization.py). In the UI:
Jobs -> rebuild_organization -> Partitions -> select organizations -> Launch backfill (a run per organization).
"""

from dagster import (
    AddDynamicPartitionsRequest,
    Backoff,
    DefaultSensorStatus,
    Definitions,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsDefinition,
    OpExecutionContext,
    Output,
    RetryPolicy,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)

from hyperdash_pipeline.attribution.organization import organization_ids, rebuild_organization
from hyperdash_pipeline.resources import PostgresResource

ORGANIZATIONS_PARTITIONS_NAME = "organizations"
REBUILD_ORGANIZATION_JOB = "rebuild_organization"
ORGANIZATION_SENSOR_NAME = "organization_partitions"
# Organizations appear in BI with the sync (placeholders) or an admin; a minute is soon enough for a UI pick.
SENSOR_SECONDS = 60
# dagster.yaml caps the concurrent runs of this tag: a backfill of every organization leaves room for the
# sync and the automation's runs.
RUN_TAGS = {"hyperdash/organization_rebuild": "true"}

organizations_partitions = DynamicPartitionsDefinition(name=ORGANIZATIONS_PARTITIONS_NAME)


@op(
    description="Rebuild the partition's organization: its lead_attribution rows, outcomes, quarantine, credits, "
    "paths, campaign totals, Markov transitions and attribution, in one BI transaction.",
    retry_policy=RetryPolicy(max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL),
)
def rebuild_organization_attribution(context: OpExecutionContext, bi: PostgresResource) -> Output[None]:
    with bi.connection() as conn:
        stats = rebuild_organization(conn, context.partition_key)
    context.log.info(
        f"organization {stats.organization}: {stats.leads} leads, {stats.removed} removed, {stats.touches} "
        f"credited touches, {stats.markov_rows} Markov rows in {stats.seconds:.2f} s"
    )
    return Output(
        None,
        metadata={
            "organization": stats.organization,
            "leads": stats.leads,
            "leads_removed": stats.removed,
            "quarantined": stats.quarantined,
            "credited_touches": stats.touches,
            "markov_rows": stats.markov_rows,
            "customers": stats.customers,
            "run_id": stats.run_id,
            "engine_seconds": stats.seconds,
        },
    )


@job(
    name=REBUILD_ORGANIZATION_JOB,
    partitions_def=organizations_partitions,
    tags=RUN_TAGS,
    description="One organization's attribution and its analytics rebuilt atomically (a partition per "
    "organization; select several and launch a backfill).",
)
def rebuild_organization_job() -> None:
    rebuild_organization_attribution()


@sensor(
    name=ORGANIZATION_SENSOR_NAME,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps the `organizations` partitions equal to BI's organizations table (adds new ones, "
    "removes deleted ones).",
)
def organization_partitions(context: SensorEvaluationContext, bi: PostgresResource) -> SensorResult | SkipReason:
    with bi.connection() as conn:
        wanted = set(organization_ids(conn))
    known = set(context.instance.get_dynamic_partitions(ORGANIZATIONS_PARTITIONS_NAME))
    added, removed = sorted(wanted - known), sorted(known - wanted)
    if not added and not removed:
        return SkipReason(f"the {len(known)} organization partitions match BI")
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(organizations_partitions.build_add_request(added))
    if removed:
        requests.append(organizations_partitions.build_delete_request(removed))
    context.log.info(f"organization partitions: {len(added)} added, {len(removed)} removed")
    return SensorResult(dynamic_partitions_requests=requests)


defs = Definitions(jobs=[rebuild_organization_job], sensors=[organization_partitions])
