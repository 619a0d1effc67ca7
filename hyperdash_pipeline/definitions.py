"""The code location: every Dagster object under hyperdash_pipeline/defs/<concern>/, loaded from that folder,
with the cross-cutting policies (freshness by asset group, hyperdash_pipeline.freshness) applied once here.

`dagster`, `dg` and the Helm chart's user-code deployment load `defs` from this module. The folder is found
through the project's pyproject.toml (`[tool.dg.project]`); an installed copy without the source tree (the
Docker image) points at a copy of that file with HYPERDASH_PROJECT_ROOT.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetsDefinition, AssetSpec, Definitions, MetadataValue, load_from_defs_folder, map_asset_specs

from hyperdash_pipeline.conventions import (
    GROUP_AD_PLATFORMS,
    GROUP_ATTRIBUTION,
    GROUP_BACKUPS,
    GROUP_CONVERSIONS,
    GROUP_CORRELATION,
    GROUP_CRM_SYNC,
    GROUP_REPORTING,
)
from hyperdash_pipeline.freshness import with_freshness

PROJECT_ROOT_VAR = "HYPERDASH_PROJECT_ROOT"
# Where each group's SQL and tests live (relative to the repository): shown on every asset of the group in the
# UI, so that a reader goes from an asset to its SQL and to its tests in one step.
SOURCES_BY_GROUP = {
    GROUP_CRM_SYNC: ("sql/transforms/sync/", "tests/crm_sync/"),
    GROUP_AD_PLATFORMS: ("sql/transforms/ingestion/", "tests/ad_platforms/"),
    GROUP_ATTRIBUTION: ("sql/transforms/attribution/", "tests/attribution/"),
    GROUP_CORRELATION: ("sql/transforms/correlation/", "tests/correlation/"),
    GROUP_REPORTING: ("sql/transforms/report/", "tests/reporting/"),
    GROUP_BACKUPS: ("sql/transforms/backup/", "tests/backups/"),
    GROUP_CONVERSIONS: ("sql/transforms/conversions/", "tests/conversions/"),
}


def project_root() -> Path:
    """The directory holding the pyproject.toml that names the defs module."""
    configured = os.environ.get(PROJECT_ROOT_VAR)
    root = Path(configured) if configured else Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"no pyproject.toml in {root}: set {PROJECT_ROOT_VAR} to the directory holding hyperdash-pipeline's "
            "pyproject.toml (the Docker image sets it)"
        )
    return root


def with_source_paths(spec: AssetSpec) -> AssetSpec:
    """`spec` with its group's SQL folder and tests folder in its metadata (hyperdash/sql, hyperdash/tests)."""
    found = SOURCES_BY_GROUP.get(spec.group_name or "")
    if found is None:
        return spec
    sql_dir, tests_dir = found
    return spec.merge_attributes(
        metadata={"hyperdash/sql": MetadataValue.path(sql_dir), "hyperdash/tests": MetadataValue.path(tests_dir)}
    )


def with_policies(loaded: Definitions) -> Definitions:
    """`loaded` with each asset's group freshness policy and its source paths attached.

    Rebuilt through the public constructor: `Definitions.map_asset_specs` does the same but is a preview API in
    Dagster 1.13 (it warns on every load).
    """
    specs = [a for a in loaded.assets or [] if isinstance(a, AssetsDefinition | AssetSpec)]
    others = [a for a in loaded.assets or [] if not isinstance(a, AssetsDefinition | AssetSpec)]
    return Definitions(
        assets=[*map_asset_specs(lambda spec: with_source_paths(with_freshness(spec)), specs), *others],
        asset_checks=loaded.asset_checks,
        jobs=loaded.jobs,
        schedules=loaded.schedules,
        sensors=loaded.sensors,
        resources=loaded.resources,
        executor=loaded.executor,
        loggers=loaded.loggers,
        metadata=loaded.metadata,
        component_tree=loaded.component_tree,
    )


def build_definitions() -> Definitions:
    return with_policies(load_from_defs_folder(path_within_project=project_root()))


defs = build_definitions()
