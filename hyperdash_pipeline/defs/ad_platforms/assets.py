"""Daily-partitioned Meta and Google Ads metrics in BI campaign_metrics, their checks and restatement.

Each asset run covers a partition range (one day from the schedule, many from a UI backfill in one
run: BackfillPolicy.single_run). For every integration of its provider it pulls the range from the
API and, in one transaction per integration, deletes the account's rows the platform no longer
reports and upserts the rest, so re-running a day is idempotent.
"""

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    BackfillPolicy,
    Backoff,
    DailyPartitionsDefinition,
    DataVersion,
    DefaultScheduleStatus,
    Definitions,
    EnvVar,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RunRequest,
    ScheduleEvaluationContext,
    TableColumn,
    TableSchema,
    asset,
    asset_check,
    define_asset_job,
    schedule,
)

from hyperdash_pipeline.conventions import (
    GOOGLE_METRICS_KEY,
    GROUP_AD_PLATFORMS,
    META_METRICS_KEY,
    OWNERS,
)
from hyperdash_pipeline.ingestion.credentials import Credentials
from hyperdash_pipeline.ingestion.google import GOOGLE_DEVELOPER_TOKEN_VAR, GOOGLE_TOKEN_VAR, GoogleAdsResource
from hyperdash_pipeline.ingestion.http import AdPlatformError, scrub
from hyperdash_pipeline.ingestion.load import Integration, ReplaceScope, list_integrations, load_rows, mark_integration
from hyperdash_pipeline.ingestion.load import quarantine as quarantine_rows
from hyperdash_pipeline.ingestion.meta import META_TOKEN_VAR, MetaAdsResource
from hyperdash_pipeline.ingestion.rows import FetchResult, RejectedRow, canonical_account_id
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql

AD_METRICS_START_DATE = "2024-01-01"
RESTATEMENT_DAYS = 28  # Meta and Google restate conversions for up to 28 days

DAILY_PARTITIONS = DailyPartitionsDefinition(start_date=AD_METRICS_START_DATE)

CAMPAIGN_METRICS_SCHEMA = TableSchema(
    columns=[
        TableColumn("organization_id", "uuid", description="owner organization"),
        TableColumn("source", "text", description="meta or google"),
        TableColumn("account_id", "text", description="ad account (Meta act id without act_, Google customer id)"),
        TableColumn("campaign_id", "text"),
        TableColumn("ad_set_id", "text", description="Meta ad set / Google ad group"),
        TableColumn("ad_id", "text"),
        TableColumn("date", "date", description="the account's reporting day (the partition key)"),
        TableColumn("currency", "char(3)", description="ISO 4217 currency of spend and conversion_value"),
        TableColumn("spend", "numeric(14,2)"),
        TableColumn("impressions", "bigint"),
        TableColumn("clicks", "bigint", description="all clicks"),
        TableColumn("link_clicks", "bigint", description="Meta inline link clicks"),
        TableColumn("conversions", "numeric(14,2)", description="platform-reported"),
        TableColumn("conversion_value", "numeric(14,2)", description="platform-reported revenue"),
        TableColumn("video_3s_views", "bigint", description="Meta 3-second video plays (0 for Google)"),
        TableColumn("thruplays", "bigint", description="Meta ThruPlays / Google TrueView views"),
    ]
)

Fetch = Callable[[Integration, date, date, str], FetchResult]


@dataclass
class SyncSummary:
    loaded: int = 0
    changed_dates: set[date] = field(default_factory=set)
    rejected: int = 0
    http_calls: int = 0
    retries: int = 0
    synced: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (integration label, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _label(integration: Integration) -> str:
    return f"{integration.organization_slug}/{integration.account_id}"


def _date_range(context: AssetExecutionContext) -> tuple[date, date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def _out_of_range(result: FetchResult, date_from: date, date_to: date, source: str) -> None:
    """Rows outside the requested days would escape the restatement's delete scope: quarantine them."""
    kept = []
    for row in result.rows:
        if date_from <= row.date <= date_to:
            kept.append(row)
        else:
            payload = {"campaign_id": row.campaign_id, "ad_id": row.ad_id, "date": row.date.isoformat()}
            reason = f"day {row.date} is outside the requested {date_from}..{date_to}"
            result.rejected.append(RejectedRow(f"{source} account {row.account_id}", reason, payload))
    result.rows = kept


def _sync_integration(
    bi: PostgresResource,
    integration: Integration,
    credentials: Credentials,
    fetch: Fetch,
    window: tuple[date, date],
    source: str,
    summary: SyncSummary,
) -> str:
    """Pull and load one integration; returns the outcome for the run log."""
    label = _label(integration)
    if credentials.token is None:
        reason = f"no credentials: {credentials.missing_reason}"
        with bi.connection() as conn:
            mark_integration(conn, integration.id, "unconfigured", reason)
        summary.skipped.append((label, reason))
        return f"skipped ({reason})"
    try:
        result = fetch(integration, window[0], window[1], credentials.token)
    except AdPlatformError as exc:
        message = scrub(str(exc))
        with bi.connection() as conn:
            mark_integration(conn, integration.id, "error", message)
        summary.failed.append((label, message))
        return f"failed ({message})"
    _out_of_range(result, window[0], window[1], source)
    scope = ReplaceScope(source, canonical_account_id(source, integration.account_id), window[0], window[1])
    with bi.connection() as conn:  # data, quarantine and integration status commit together
        outcome = load_rows(conn, integration.organization_id, result.rows, loaded_via="api", replace=scope)
        summary.rejected += quarantine_rows(conn, f"{source}_campaign_metrics", result.rejected)
        mark_integration(conn, integration.id, "ok", None)
    summary.loaded += outcome.staged
    summary.changed_dates |= outcome.changed_dates
    summary.http_calls += result.http_calls
    summary.retries += result.retries
    summary.synced.append(label)
    return f"{outcome.staged} rows loaded, {len(result.rejected)} quarantined, {result.pages} pages"


def _integrations_markdown(summary: SyncSummary) -> str:
    lines = ["| integration | outcome |", "|---|---|"]
    lines += [f"| {label} | synced |" for label in summary.synced]
    lines += [f"| {label} | skipped: {reason} |" for label, reason in summary.skipped]
    lines += [f"| {label} | failed: {reason} |" for label, reason in summary.failed]
    return "\n".join(lines) if len(lines) > 2 else "No integrations for this provider in BI `integrations`."


def sync_provider(
    context: AssetExecutionContext,
    bi: PostgresResource,
    source: str,
    credentials_for: Callable[[str | None], Credentials],
    fetch: Fetch,
) -> MaterializeResult:
    window = _date_range(context)
    with bi.connection() as conn:
        integrations = list_integrations(conn, source)
    summary = SyncSummary()
    for integration in integrations:
        credentials = credentials_for(integration.credentials_env_var)
        outcome = _sync_integration(bi, integration, credentials, fetch, window, source, summary)
        context.log.info(f"{source} {_label(integration)} {window[0]}..{window[1]}: {outcome}")
    metadata: dict[str, Any] = {
        "date_range": f"{window[0]}..{window[1]}",
        "rows_loaded": summary.loaded,
        "rows_quarantined": summary.rejected,
        "changed_dates": MetadataValue.json(sorted(d.isoformat() for d in summary.changed_dates)),
        "integrations_synced": len(summary.synced),
        "integrations_skipped": MetadataValue.json([{"integration": i, "reason": r} for i, r in summary.skipped]),
        "integrations": MetadataValue.md(_integrations_markdown(summary)),
        "http_calls": summary.http_calls,
        "http_retries": summary.retries,
        "dagster/column_schema": CAMPAIGN_METRICS_SCHEMA,
    }
    if summary.failed:
        raise Failure(
            description=f"{len(summary.failed)} {source} integration(s) failed: "
            + "; ".join(f"{label}: {reason}" for label, reason in summary.failed),
            metadata=metadata,
        )
    with bi.connection() as conn:
        params = {"source": source, "date_from": window[0], "date_to": window[1]}
        version, rows = conn.execute(read_sql("transforms/ingestion/partition_version.sql"), params).fetchone() or (
            "",
            0,
        )
    metadata["dagster/row_count"] = rows
    return MaterializeResult(metadata=metadata, data_version=DataVersion(version))


# After the client's own retries (seconds apart) give up, Dagster retries the step minutes later.
STEP_RETRY_POLICY = RetryPolicy(max_retries=2, delay=60, backoff=Backoff.EXPONENTIAL)


def _asset_common(retry_policy: RetryPolicy | None) -> dict[str, Any]:
    return {
        "group_name": GROUP_AD_PLATFORMS,
        "owners": OWNERS,
        "partitions_def": DAILY_PARTITIONS,
        "backfill_policy": BackfillPolicy.single_run(),
        "retry_policy": retry_policy,
    }


@contextmanager
def _backfill_policy_is_beta() -> Iterator[None]:
    """BackfillPolicy is Dagster's way to backfill a date range in one run; 1.13 still labels the
    parameter beta. Silence exactly that notice while our assets are defined, nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`")
        yield


def build_meta_asset(retry_policy: RetryPolicy | None = STEP_RETRY_POLICY) -> AssetsDefinition:
    def meta_campaign_metrics(
        context: AssetExecutionContext, bi: PostgresResource, meta_ads: MetaAdsResource
    ) -> MaterializeResult:
        def fetch(integration: Integration, date_from: date, date_to: date, token: str) -> FetchResult:
            return meta_ads.fetch_insights(integration.account_id, date_from, date_to, token)

        return sync_provider(context, bi, "meta", meta_ads.credentials, fetch)

    with _backfill_policy_is_beta():
        return asset(
            key=META_METRICS_KEY,
            kinds={"postgres", "meta"},
            description="Meta ads, one row per ad per day in BI campaign_metrics (source meta), from the Marketing "
            "API insights of every Meta integration. Integrations without a token are skipped and marked "
            "'unconfigured'; their existing rows are left untouched.",
            **_asset_common(retry_policy),
        )(meta_campaign_metrics)


def build_google_asset(retry_policy: RetryPolicy | None = STEP_RETRY_POLICY) -> AssetsDefinition:
    def google_campaign_metrics(
        context: AssetExecutionContext, bi: PostgresResource, google_ads: GoogleAdsResource
    ) -> MaterializeResult:
        def fetch(integration: Integration, date_from: date, date_to: date, token: str) -> FetchResult:
            return google_ads.fetch_ad_metrics(integration.account_id, date_from, date_to, token)

        return sync_provider(context, bi, "google", google_ads.credentials, fetch)

    with _backfill_policy_is_beta():
        return asset(
            key=GOOGLE_METRICS_KEY,
            kinds={"postgres", "googleads"},
            description="Google Ads, one row per ad per day in BI campaign_metrics (source google), from GAQL on "
            "ad_group_ad for every Google integration. Integrations without credentials are skipped and "
            "marked 'unconfigured'; their existing rows are left untouched.",
            **_asset_common(retry_policy),
        )(google_campaign_metrics)


meta_campaign_metrics = build_meta_asset()
google_campaign_metrics = build_google_asset()


def _fx_check(key: AssetKey, source: str) -> Any:
    @asset_check(
        asset=key,
        name="fx_rates_available",
        blocking=True,
        description=f"Every {source} row can be converted to its organization's reporting currency "
        "(a missing rate in fx_rates fails; it is never taken as 1).",
    )
    def check(context: AssetCheckExecutionContext, bi: PostgresResource) -> AssetCheckResult:
        with bi.connection() as conn:
            missing = conn.execute(read_sql("transforms/ingestion/missing_fx_rates.sql"), {"source": source}).fetchall()
        details = [
            {"from": c, "to": r, "first_date": str(first), "last_date": str(last), "rows": n}
            for c, r, first, last, n in missing
        ]
        return AssetCheckResult(
            passed=not missing,
            metadata={
                "rows_without_rate": sum(d["rows"] for d in details),
                "missing_rates": MetadataValue.json(details),
                "fix": "load the rates with `hyperdash import-fx FILE` (date,currency,rate_to_usd), re-run the check",
            },
        )

    return check


def _quarantine_check(key: AssetKey, source: str) -> Any:
    stage = f"{source}_campaign_metrics"

    @asset_check(
        asset=key,
        name="no_quarantined_rows",
        description=f"No {source} API row was quarantined in the last 24 hours (see BI quarantine, stage {stage}).",
    )
    def check(context: AssetCheckExecutionContext, bi: PostgresResource) -> AssetCheckResult:
        with bi.connection() as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM quarantine WHERE stage = %s AND detected_at > now() - interval '24 hours'",
                (stage,),
            ).fetchone() or (0,)
        return AssetCheckResult(
            passed=count == 0, severity=AssetCheckSeverity.WARN, metadata={"quarantined_last_24h": count}
        )

    return check


ASSETS: list[AssetsDefinition] = [meta_campaign_metrics, google_campaign_metrics]
CHECKS = [
    _fx_check(META_METRICS_KEY, "meta"),
    _fx_check(GOOGLE_METRICS_KEY, "google"),
    _quarantine_check(META_METRICS_KEY, "meta"),
    _quarantine_check(GOOGLE_METRICS_KEY, "google"),
]

ad_platforms_job = define_asset_job(
    "ad_platforms_daily_job",
    selection=AssetSelection.assets(META_METRICS_KEY, GOOGLE_METRICS_KEY),
    description="Meta and Google Ads metrics for one day (the restatement schedule runs it for the last 28).",
)


@schedule(
    job=ad_platforms_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def ad_platforms_restatement_schedule(context: ScheduleEvaluationContext) -> list[RunRequest]:
    """Every day, re-materialize the trailing 28 daily partitions: the platforms restate that far back.

    One run per day (not one range run) so each partition gets its own data version: a restated day
    whose numbers did not change keeps its version, and downstream assets watching data versions stay put.
    """
    tick = context.scheduled_execution_time
    keys = DAILY_PARTITIONS.get_partition_keys(current_time=tick)[-RESTATEMENT_DAYS:]
    return [RunRequest(run_key=f"restate-{key}@{tick:%Y-%m-%d}", partition_key=key) for key in keys]


def meta_ads_resource() -> MetaAdsResource:
    """The Meta client; its token comes from META_ACCESS_TOKEN when that is set when the code loads."""
    if os.environ.get(META_TOKEN_VAR):
        return MetaAdsResource(access_token=EnvVar(META_TOKEN_VAR))
    return MetaAdsResource()


GOOGLE_ENV_FIELDS = {
    "developer_token": GOOGLE_DEVELOPER_TOKEN_VAR,
    "refresh_token": GOOGLE_TOKEN_VAR,
    "client_id": "GOOGLE_ADS_CLIENT_ID",
    "client_secret": "GOOGLE_ADS_CLIENT_SECRET",
    "login_customer_id": "GOOGLE_ADS_LOGIN_CUSTOMER_ID",
}


def google_ads_resource() -> GoogleAdsResource:
    """The Google Ads client, each credential from its environment variable when set at load time."""
    kwargs: dict[str, Any] = {f: EnvVar(var) for f, var in GOOGLE_ENV_FIELDS.items() if os.environ.get(var)}
    return GoogleAdsResource(**kwargs)


defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[ad_platforms_job],
    schedules=[ad_platforms_restatement_schedule],
    resources={"meta_ads": meta_ads_resource(), "google_ads": google_ads_resource()},
)
