"""Names every concern shares: asset keys, groups, owners, kinds. Change them here, nowhere else."""

from __future__ import annotations

from dagster import AssetKey

from hyperdash_pipeline.sync.schema import CRM_TABLES

__all__ = ["CRM_TABLES"]  # re-exported: the asset definitions build their keys from it

# Asset groups shown in the Dagster UI.
GROUP_CRM_SYNC = "crm_sync"
GROUP_AD_PLATFORMS = "ad_platforms"
GROUP_ATTRIBUTION = "attribution"
GROUP_CORRELATION = "correlation"
GROUP_REPORTING = "reporting"
GROUP_BACKUPS = "backups"
GROUP_CONVERSIONS = "conversions"

OWNERS = ["team:data-engineering"]
POSTGRES_KINDS = {"postgres"}


def crm_source_key(table: str) -> AssetKey:
    """The CRM table itself (an external/observable source asset)."""
    return AssetKey(["crm", table])


def crm_raw_key(table: str) -> AssetKey:
    """The BI mirror of a CRM table, crm_raw.<table>."""
    return AssetKey(["crm_raw", table])


META_METRICS_KEY = AssetKey(["ad_platforms", "meta_campaign_metrics"])
GOOGLE_METRICS_KEY = AssetKey(["ad_platforms", "google_campaign_metrics"])
LEAD_ATTRIBUTION_KEY = AssetKey(["lead_attribution"])
ATTRIBUTION_CREDITS_KEY = AssetKey(["analytics", "attribution_credits"])
MARKOV_ATTRIBUTION_KEY = AssetKey(["analytics", "markov_attribution"])
CAMPAIGN_LEAD_QUALITY_KEY = AssetKey(["analytics", "campaign_lead_quality"])
CREATIVE_PERFORMANCE_KEY = AssetKey(["analytics", "creative_performance"])
CAMPAIGN_WEEKLY_KEY = AssetKey(["analytics", "campaign_weekly"])
CAMPAIGN_ATTRIBUTED_REVENUE_KEY = AssetKey(["analytics", "campaign_attributed_revenue"])
CREATIVE_INSIGHTS_KEY = AssetKey(["ai_creative_insights"])
CORRELATION_REPORT_KEY = AssetKey(["reporting", "correlation_report"])
BACKUP_CRM_KEY = AssetKey(["backups", "crm"])
BACKUP_BI_KEY = AssetKey(["backups", "bi"])
CONVERSIONS_OUTBOX_KEY = AssetKey(["conversions", "conversions_outbox"])
