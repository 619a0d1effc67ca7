"""The code location: every Dagster object under hyperdash_pipeline/defs/<concern>/, loaded from that folder,
with the cross-cutting policies (freshness by asset group, hyperdash_pipeline.freshness) applied once here.

`dagster`, `dg` and the Helm chart's user-code deployment load `defs` from this module. The folder is found
through the project's pyproject.toml (`[tool.dg.project]`); an installed copy without the source tree (the
Docker image) points at a copy of that file with HYPERDASH_PROJECT_ROOT.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetsDefinition, AssetSpec, Definitions, load_from_defs_folder, map_asset_specs

from hyperdash_pipeline.freshness import with_freshness

PROJECT_ROOT_VAR = "HYPERDASH_PROJECT_ROOT"


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


def with_policies(loaded: Definitions) -> Definitions:
    """`loaded` with each asset's group freshness policy attached.

    Rebuilt through the public constructor: `Definitions.map_asset_specs` does the same but is a preview API in
    Dagster 1.13 (it warns on every load).
    """
    specs = [a for a in loaded.assets or [] if isinstance(a, AssetsDefinition | AssetSpec)]
    others = [a for a in loaded.assets or [] if not isinstance(a, AssetsDefinition | AssetSpec)]
    return Definitions(
        assets=[*map_asset_specs(with_freshness, specs), *others],
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
