"""Dagster objects of the conversions loop: the outbox asset, the delivery asset, the job and its sensor.

`conversions_outbox` adds the CRM events of rows synced since its last run; `conversions_delivery`
sends what is pending and records per-platform counts. The `send_conversions` job runs both; the
`send_conversions_sensor` (running by default) launches it when the CRM mirror moved or events wait.
Without a token a destination is marked `unconfigured` and its events stay pending (no run loops on it:
the sensor only launches when something changed).
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    sensor,
)

from hyperdash_pipeline.conventions import CONVERSIONS_OUTBOX_KEY, GROUP_CONVERSIONS, OWNERS, crm_raw_key
from hyperdash_pipeline.conversions.outbox import build_outbox
from hyperdash_pipeline.conversions.sender import PLATFORMS, ConversionsResource, SendReport, send_platform
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql

CONVERSIONS_DELIVERY_KEY = AssetKey(["conversions", "conversions_delivery"])
SEND_JOB_NAME = "send_conversions"


@asset(
    key=CONVERSIONS_OUTBOX_KEY,
    deps=[crm_raw_key("leads"), crm_raw_key("deals")],
    group_name=GROUP_CONVERSIONS,
    owners=OWNERS,
    kinds={"postgres"},
    description="One row per (CRM event, platform) to report back to Meta and Google: Lead, qualified, "
    "Purchase; deterministic event_id, hashed identifiers, status. Incremental from crm_raw.",
)
def conversions_outbox(
    context: AssetExecutionContext, bi: PostgresResource, conversions: ConversionsResource
) -> MaterializeResult:
    with bi.connection() as conn:
        outcome = build_outbox(conn, conversions.qualified_statuses, conversions.default_phone_country_code)
        rows = conn.execute("SELECT count(*) FROM conversions_outbox").fetchone()
    context.log.info(
        f"outbox: {outcome.candidates} CRM events read ({'full' if outcome.full else 'incremental'}), "
        f"{outcome.inserted} new rows, {outcome.updated} pending rows refreshed"
    )
    return MaterializeResult(
        metadata={
            "crm_events_read": outcome.candidates,
            "rows_added": outcome.inserted,
            "pending_rows_refreshed": outcome.updated,
            "full_read": outcome.full,
            "dagster/row_count": rows[0] if rows else 0,
        }
    )


def _report_markdown(reports: list[SendReport]) -> str:
    lines = [
        "| platform | sent | rejected | expired | skipped (consent) | unconfigured | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        c = r.counts
        unconfigured = "; ".join(f"{label}: {why}" for label, why in r.unconfigured) or "-"
        failed = "; ".join(f"{label}: {why}" for label, why in r.failed) or "-"
        lines.append(
            f"| {r.platform} | {c['sent']} | {c['rejected']} | {c['expired']} | {c['skipped_consent']} "
            f"| {unconfigured} | {failed} |"
        )
    return "\n".join(lines)


@asset(
    key=CONVERSIONS_DELIVERY_KEY,
    deps=[CONVERSIONS_OUTBOX_KEY],
    group_name=GROUP_CONVERSIONS,
    owners=OWNERS,
    kinds={"postgres", "meta", "google"},
    description="Sends the outbox's pending events to Meta's Conversions API and Google Ads click "
    "conversions, exactly once per platform; its metadata counts this run's outcomes.",
)
def conversions_delivery(
    context: AssetExecutionContext, bi: PostgresResource, conversions: ConversionsResource
) -> MaterializeResult:
    reports = [send_platform(bi, conversions, platform) for platform in PLATFORMS]
    metadata: dict[str, Any] = {"outcomes": MetadataValue.md(_report_markdown(reports))}
    for r in reports:
        for status, count in r.counts.items():
            metadata[f"{r.platform}_{status}"] = count
        metadata[f"{r.platform}_http_calls"] = r.http_calls
        context.log.info(f"{r.platform}: {r.counts}, {r.http_calls} HTTP calls, {r.retries} retries")
    failed = [f"{r.platform} {label}: {why}" for r in reports for label, why in r.failed]
    if failed:
        raise Failure(description="conversions not delivered (left pending): " + "; ".join(failed), metadata=metadata)
    return MaterializeResult(metadata=metadata)


send_conversions = define_asset_job(
    SEND_JOB_NAME,
    selection=[CONVERSIONS_OUTBOX_KEY, CONVERSIONS_DELIVERY_KEY],
    description="Add new CRM events to the conversions outbox and send what is pending to Meta and Google.",
)


@sensor(
    name="send_conversions_sensor",
    job=send_conversions,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches send_conversions when the CRM mirror moved past the outbox or pending events "
    "changed; never twice for the same state (an unconfigured destination does not loop).",
)
def send_conversions_sensor(context: SensorEvaluationContext, bi: PostgresResource) -> SensorResult | SkipReason:
    with bi.connection() as conn:
        row = conn.execute(read_sql("transforms/conversions/sensor_state.sql")).fetchone()
    assert row is not None
    crm_moved, pending, state = row
    if not crm_moved and pending == 0:
        return SkipReason("the outbox is up to date with crm_raw and nothing is pending")
    if state == context.cursor:
        return SkipReason(f"already launched for this state ({state})")
    return SensorResult(run_requests=[RunRequest(run_key=state)], cursor=state)
