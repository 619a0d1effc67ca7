"""The Definitions load cleanly: no Dagster warnings, every job resolvable."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

from hyperdash_pipeline.settings import PROJECT_ROOT


def test_definitions_load_without_warnings():
    for name in [m for m in sys.modules if m.startswith("hyperdash_pipeline")]:
        del sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module("hyperdash_pipeline.definitions")
        repository = module.defs.get_repository_def()  # builds every job, asset graph and schedule
    dagster_warnings = [w for w in caught if "dagster" in (w.filename or "") or "dagster" in str(w.category)]
    assert not dagster_warnings, [str(w.message) for w in dagster_warnings]
    assert repository.get_all_jobs(), "no jobs defined"


def test_dg_cli_loads_the_project(databases, tmp_path):
    """`dg` (the [tool.dg] section of pyproject.toml) finds and validates the code location."""
    dg = Path(sys.executable).with_name("dg")
    result = subprocess.run(
        [str(dg), "check", "defs"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_every_asset_names_its_sql_and_its_tests():
    """From an asset in the UI, one step to its SQL folder and one to its tests: both exist, and a test there
    names the asset."""
    from hyperdash_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        metadata = graph.get(key).metadata
        sql_dir = PROJECT_ROOT / metadata["hyperdash/sql"].value
        tests_dir = PROJECT_ROOT / metadata["hyperdash/tests"].value
        assert sorted(sql_dir.glob("*.sql")), f"{key.to_user_string()}: no SQL in {sql_dir}"
        tests = "\n".join(path.read_text() for path in tests_dir.glob("test_*.py"))
        assert key.path[-1] in tests, f"{key.to_user_string()}: no test in {tests_dir} names it"
