"""The Dagster instance the CLI uses: DAGSTER_HOME under HYPERDASH_HOME with the repo's dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hyperdash_pipeline.settings import DAGSTER_YAML, hyperdash_home


def prepare_dagster_home() -> Path:
    """Point DAGSTER_HOME at HYPERDASH_HOME/dagster (unless set) holding a current copy of dagster.yaml.

    The copy keeps runs from different HYPERDASH_HOMEs apart while the checked-in dagster.yaml stays
    the one file to edit.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or hyperdash_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.resolve() != DAGSTER_YAML.resolve():
        shutil.copyfile(DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
