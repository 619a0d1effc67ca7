"""The correlation report (HTML with inline SVG charts) and its asset."""

from dagster import Definitions

from hyperdash_pipeline.report.assets import correlation_report

defs = Definitions(assets=[correlation_report])

__all__ = ["defs"]
