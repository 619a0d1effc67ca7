"""Freshness policies: how stale the CRM mirror and the ad metrics may get before the UI flags them.

Dagster 1.13's `FreshnessPolicy.time_window(fail_window=, warn_window=)`: an asset is WARN once its last
materialization is older than `warn_window`, FAIL once older than `fail_window`. The FreshnessDaemon
(started by `dagster dev` / `hyperdash dev`; on by default in 1.13) evaluates them and the asset
health shows in the UI. Attach them on the asset itself:

    @multi_asset(specs=[AssetSpec(crm_raw_key(t), ..., freshness_policy=SYNC_FRESHNESS) for t in CRM_TABLES])
    @asset(..., freshness_policy=AD_METRICS_FRESHNESS)

or to a concern's whole asset list by group, in its `defs`:

    defs = Definitions(assets=with_freshness_policies([crm_raw_tables, ...]), ...)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from dagster import AssetsDefinition, AssetSpec, FreshnessPolicy, apply_freshness_policy, map_asset_specs

from hyperdash_pipeline.conventions import GROUP_AD_PLATFORMS, GROUP_CRM_SYNC

# The sync runs hourly: one missed run warns, two fail.
SYNC_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(hours=1, minutes=15))
# Ad metrics land daily (platforms restate the last 28 days): a missed day plus slack fails.
AD_METRICS_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=26))


def freshness_for(spec: AssetSpec) -> FreshnessPolicy | None:
    """The policy an asset gets by its group: BI mirrors of CRM tables and ad-platform metrics."""
    if spec.group_name == GROUP_CRM_SYNC and spec.key.path[0] == "crm_raw":
        return SYNC_FRESHNESS
    if spec.group_name == GROUP_AD_PLATFORMS:
        return AD_METRICS_FRESHNESS
    return None


def _attach(spec: AssetSpec) -> AssetSpec:
    policy = freshness_for(spec)
    if policy is None:
        return spec
    return apply_freshness_policy(spec, policy, overwrite_existing=False)  # an asset's own policy wins


def with_freshness_policies(assets: Iterable[AssetsDefinition | AssetSpec]) -> list[AssetsDefinition | AssetSpec]:
    """The same assets with the policy of their group attached (an asset's own policy is kept)."""
    return list(map_asset_specs(_attach, list(assets)))
