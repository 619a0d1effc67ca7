"""Reproducible sample data for the CRM and BI databases (`hyperdash seed`)."""

from hyperdash_pipeline.sample_data.seed import SampleDataError, SeedSummary, seed_sample_data

__all__ = ["SampleDataError", "SeedSummary", "seed_sample_data"]
