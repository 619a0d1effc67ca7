"""The one place the Dagster Definitions are assembled: each concern contributes its own `defs`."""

from __future__ import annotations

from dagster import Definitions

from hyperdash_pipeline import attribution, automation, conversions, correlation, distributed, ingestion, report, sync
from hyperdash_pipeline.resources import bi_resource, crm_resource


def _resources() -> Definitions:
    return Definitions(resources={"crm": crm_resource(), "bi": bi_resource()})


def build_definitions() -> Definitions:
    parts: list[Definitions] = [
        _resources(),
        sync.defs,
        ingestion.defs,
        attribution.defs,
        correlation.defs,
        report.defs,
        automation.defs,
        distributed.build_defs(),  # the analytics_rebuild job; the Celery executor when HYPERDASH_EXECUTOR=celery
        conversions.defs,
    ]
    return Definitions.merge(*parts)


defs = build_definitions()
