"""Correlation tables in BI (schema analytics): lead quality, creative performance, weekly cohorts,
attributed revenue per model, and the creative recommendations. Exposes `defs`."""

from __future__ import annotations

from dagster import Definitions

from hyperdash_pipeline.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.correlation.checks import correlation_checks

defs = Definitions(assets=[correlation_tables, campaign_attributed_revenue], asset_checks=correlation_checks())
