"""Freshness policies, applied once to the whole code location by hyperdash_pipeline.definitions.

Dagster 1.13's `FreshnessPolicy.time_window(fail_window=, warn_window=)`: an asset is WARN once its last
materialization is older than `warn_window`, FAIL once older than `fail_window`. The FreshnessDaemon
(started by `dagster dev` / `hyperdash dev`; on by default in 1.13) evaluates them and the asset health shows
in the UI. The policy follows the asset's group; an asset that declares its own keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from dagster import AssetsDefinition, AssetSpec, FreshnessPolicy, apply_freshness_policy, map_asset_specs

from hyperdash_pipeline.conventions import GROUP_AD_PLATFORMS, GROUP_ATTRIBUTION, GROUP_CORRELATION, GROUP_CRM_SYNC

# The sync runs hourly: one missed run warns, two fail.
SYNC_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(hours=1, minutes=15))
# Ad metrics land daily (platforms restate the last 28 days): a missed day plus slack fails.
AD_METRICS_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=26))
# Attribution follows the hourly sync through the automation sensor: two missed hours warn, three fail.
ATTRIBUTION_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2))
# Correlation also waits for the daily ad metrics: older than 2 hours is late, older than a day is failing.
CORRELATION_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=2))

_BY_GROUP = {
    GROUP_AD_PLATFORMS: AD_METRICS_FRESHNESS,
    GROUP_ATTRIBUTION: ATTRIBUTION_FRESHNESS,
    GROUP_CORRELATION: CORRELATION_FRESHNESS,
}


def freshness_for(spec: AssetSpec) -> FreshnessPolicy | None:
    """The policy an asset gets by its group (of the sync's group, only the BI mirrors crm_raw.*)."""
    if spec.group_name == GROUP_CRM_SYNC:
        return SYNC_FRESHNESS if spec.key.path[0] == "crm_raw" else None
    return _BY_GROUP.get(spec.group_name or "")


def with_freshness(spec: AssetSpec) -> AssetSpec:
    """`spec` with its group's policy attached, unless it has one of its own."""
    policy = freshness_for(spec)
    if policy is None:
        return spec
    return apply_freshness_policy(spec, policy, overwrite_existing=False)


def with_freshness_policies(assets: Iterable[AssetsDefinition | AssetSpec]) -> list[AssetsDefinition | AssetSpec]:
    """The same assets with the policy of their group attached (an asset's own policy is kept)."""
    return list(map_asset_specs(with_freshness, list(assets)))
