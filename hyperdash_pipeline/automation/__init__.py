"""Automation building blocks shared by the concerns: automation conditions and their intervals.

The automation condition sensor is in hyperdash_pipeline.defs.automation, the backups in
hyperdash_pipeline.defs.backups."""
