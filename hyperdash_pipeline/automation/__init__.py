"""Automation that is not tied to one concern: the automation condition sensor, database backups."""

from dagster import Definitions

from hyperdash_pipeline.automation import backups, sensor

defs = Definitions.merge(backups.defs, sensor.defs)

__all__ = ["defs"]
