"""The Dagster instance every `hyperdash` command uses (runs, events, schedules in PostgreSQL)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hyperdash_pipeline.settings import DAGSTER_YAML, hyperdash_home


def prepare_dagster_home(home: Path | None = None) -> Path:
    """Set DAGSTER_HOME for this process and its children, and return it.

    A DAGSTER_HOME the user set is used as it is (their own dagster.yaml). Otherwise it is
    `<HYPERDASH_HOME>/dagster` holding a current copy of the repository's dagster.yaml: instances of
    different HYPERDASH_HOMEs stay apart while the checked-in file stays the one to edit.
    """
    if home is None and os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    target = (home or hyperdash_home()) / "dagster"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DAGSTER_YAML, target / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(target)
    return target
