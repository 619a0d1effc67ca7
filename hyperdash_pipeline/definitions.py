"""The code location: every Dagster object under hyperdash_pipeline/defs/<concern>/, loaded from that folder,
with the cross-cutting policies (freshness by asset group, hyperdash_pipeline.freshness) applied once here.

`dagster`, `dg` and the Helm chart's user-code deployment load `defs` from this module. The folder is found
through the project's pyproject.toml (`[tool.dg.project]`); an installed copy without the source tree (the
Docker image) points at a copy of that file with HYPERDASH_PROJECT_ROOT.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, load_from_defs_folder

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


def build_definitions() -> Definitions:
    return load_from_defs_folder(path_within_project=project_root()).map_asset_specs(func=with_freshness)


defs = build_definitions()
