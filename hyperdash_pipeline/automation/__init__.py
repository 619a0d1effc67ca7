"""Automation that is not tied to one concern: database backups on the seed's cadence."""

from hyperdash_pipeline.automation.backups import defs

__all__ = ["defs"]
