"""The one place the Dagster Definitions are assembled: each concern contributes its own `defs`."""

from __future__ import annotations

from dagster import Definitions

from hyperdash_pipeline import automation
from hyperdash_pipeline.resources import bi_resource, crm_resource
from hyperdash_pipeline.sync.definitions import defs as sync_defs


def _resources() -> Definitions:
    return Definitions(resources={"crm": crm_resource(), "bi": bi_resource()})


def build_definitions() -> Definitions:
    parts: list[Definitions] = [
        _resources(),
        automation.defs,
        sync_defs,
    ]
    return Definitions.merge(*parts)


defs = build_definitions()
