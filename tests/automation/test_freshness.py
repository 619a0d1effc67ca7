"""Freshness policies land by asset group (CRM mirrors, ad metrics, attribution, correlation), nowhere else."""

from __future__ import annotations

from datetime import timedelta

from dagster import (
    AssetKey,
    AssetSpec,
    DailyPartitionsDefinition,
    Definitions,
    FreshnessPolicy,
    MaterializeResult,
    asset,
    multi_asset,
)

from hyperdash_pipeline.conventions import GROUP_AD_PLATFORMS, GROUP_CRM_SYNC, GROUP_REPORTING, crm_raw_key
from hyperdash_pipeline.freshness import AD_METRICS_FRESHNESS, SYNC_FRESHNESS, with_freshness_policies


@multi_asset(specs=[AssetSpec(crm_raw_key(t), group_name=GROUP_CRM_SYNC) for t in ("leads", "deals")])
def crm_raw_tables():
    yield MaterializeResult(asset_key=crm_raw_key("leads"))
    yield MaterializeResult(asset_key=crm_raw_key("deals"))


@asset(
    key=["ad_platforms", "meta_campaign_metrics"],
    group_name=GROUP_AD_PLATFORMS,
    partitions_def=DailyPartitionsDefinition(start_date="2026-01-01"),
)
def meta_metrics() -> None:
    return None


@asset(key=["reporting", "x"], group_name=GROUP_REPORTING)
def report() -> None:
    return None


own = FreshnessPolicy.time_window(fail_window=timedelta(minutes=30))


@asset(key=["crm_raw", "notes"], group_name=GROUP_CRM_SYNC, freshness_policy=own)
def notes() -> None:
    return None


def policies(defs: Definitions) -> dict[AssetKey, FreshnessPolicy | None]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get(key).freshness_policy for key in graph.get_all_asset_keys()}


def test_policies_follow_the_asset_groups() -> None:
    defs = Definitions(assets=with_freshness_policies([crm_raw_tables, meta_metrics, report, notes]))
    got = policies(defs)
    assert got[crm_raw_key("leads")] == got[crm_raw_key("deals")] == SYNC_FRESHNESS
    assert got[AssetKey(["ad_platforms", "meta_campaign_metrics"])] == AD_METRICS_FRESHNESS
    assert got[AssetKey(["reporting", "x"])] is None
    assert got[crm_raw_key("notes")] == own  # an asset's own policy is kept


def test_windows_match_the_schedules() -> None:
    assert SYNC_FRESHNESS.fail_window.to_timedelta() == timedelta(hours=2)
    assert AD_METRICS_FRESHNESS.fail_window.to_timedelta() == timedelta(hours=36)


def test_a_caught_up_quiet_mirror_is_refreshed_by_every_sync_so_the_ui_never_calls_it_stale(databases) -> None:
    """The UI's freshness is the age of an asset's last materialization. A sync with nothing to move still
    materializes every mirror (0 rows), and the hourly schedule runs one well inside the warn window, so a
    quiet table that is caught up never turns WARN; only a sync that stops running does."""
    from dagster import DagsterInstance

    from hyperdash_pipeline.conventions import CRM_TABLES
    from hyperdash_pipeline.definitions import defs
    from hyperdash_pipeline.defs.crm_sync.mirror import SYNC_JOB_NAME, hourly_crm_sync

    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def(SYNC_JOB_NAME)
    assert job.execute_in_process(instance=instance).success

    def last_materialized() -> dict[str, float]:
        events = {table: instance.get_latest_materialization_event(crm_raw_key(table)) for table in CRM_TABLES}
        return {table: event.timestamp for table, event in events.items() if event is not None}

    before = last_materialized()
    assert set(before) == set(CRM_TABLES)
    quiet = job.execute_in_process(instance=instance)  # nothing changed in the CRM since
    assert quiet.success
    after = last_materialized()
    assert all(after[table] > before[table] for table in CRM_TABLES), "a no-op sync resets every mirror's age"
    assert hourly_crm_sync.cron_schedule == "0 * * * *" and hourly_crm_sync.default_status.value == "RUNNING"
    warn = SYNC_FRESHNESS.warn_window
    assert warn is not None and warn.to_timedelta() > timedelta(hours=1), "one hourly sync fits in the warn window"


def test_the_code_location_applies_each_groups_policy_once_at_the_root() -> None:
    """No asset declares a policy: the root definitions attach them by group, so every group is covered."""
    from hyperdash_pipeline.conventions import CAMPAIGN_LEAD_QUALITY_KEY, LEAD_ATTRIBUTION_KEY, META_METRICS_KEY
    from hyperdash_pipeline.definitions import defs
    from hyperdash_pipeline.freshness import ATTRIBUTION_FRESHNESS, CORRELATION_FRESHNESS

    got = policies(defs)
    assert got[crm_raw_key("leads")] == SYNC_FRESHNESS
    assert got[META_METRICS_KEY] == AD_METRICS_FRESHNESS
    assert got[LEAD_ATTRIBUTION_KEY] == got[AssetKey(["analytics", "attribution_credits"])] == ATTRIBUTION_FRESHNESS
    assert got[CAMPAIGN_LEAD_QUALITY_KEY] == CORRELATION_FRESHNESS
    assert got[AssetKey(["reporting", "correlation_report"])] is None
    assert got[AssetKey(["crm", "leads"])] is None  # the CRM's own tables are sources, not ours to keep fresh
