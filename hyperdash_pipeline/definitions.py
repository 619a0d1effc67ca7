"""The one place the Dagster Definitions are assembled: each concern contributes its own `defs`."""

from __future__ import annotations

from dagster import Definitions

<<<<<<< HEAD
<<<<<<< HEAD
<<<<<<< HEAD
from hyperdash_pipeline import automation
=======
from hyperdash_pipeline.attribution import defs as attribution_defs
>>>>>>> feat/attribution
=======
from hyperdash_pipeline.correlation import defs as correlation_defs
>>>>>>> feat/correlation
=======
from hyperdash_pipeline import ingestion
>>>>>>> feat/ads
from hyperdash_pipeline.resources import bi_resource, crm_resource
from hyperdash_pipeline.sync.definitions import defs as sync_defs


def _resources() -> Definitions:
    return Definitions(resources={"crm": crm_resource(), "bi": bi_resource()})


def build_definitions() -> Definitions:
<<<<<<< HEAD
    parts: list[Definitions] = [
        _resources(),
        automation.defs,
        sync_defs,
    ]
=======
    parts: list[Definitions] = [_resources()]
<<<<<<< HEAD
<<<<<<< HEAD
    parts.append(attribution_defs)
>>>>>>> feat/attribution
=======
    parts.append(correlation_defs)
>>>>>>> feat/correlation
=======
    parts.append(ingestion.defs)
>>>>>>> feat/ads
    return Definitions.merge(*parts)


defs = build_definitions()
