"""Correlation tables in BI (schema analytics): lead quality, creative performance, weekly cohorts,
attributed revenue per model, and the creative recommendations.

Its assets and checks are in hyperdash_pipeline.defs.correlation."""
