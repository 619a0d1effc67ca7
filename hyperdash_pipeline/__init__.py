"""hyperdash-pipeline: a Dagster ELT pipeline from a CRM PostgreSQL into a BI PostgreSQL."""

__version__ = "0.1.0"
