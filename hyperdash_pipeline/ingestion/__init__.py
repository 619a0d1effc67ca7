"""Ad platform ingestion: Meta and Google Ads metrics into BI campaign_metrics (API and CSV exports)."""

from dagster import Definitions

from hyperdash_pipeline.ingestion.assets import (
    ASSETS,
    CHECKS,
    ad_platforms_job,
    ad_platforms_restatement_schedule,
    google_ads_resource,
    meta_ads_resource,
)

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[ad_platforms_job],
    schedules=[ad_platforms_restatement_schedule],
    resources={"meta_ads": meta_ads_resource(), "google_ads": google_ads_resource()},
)
