"""The Definitions load cleanly: no Dagster warnings, every job resolvable."""

from __future__ import annotations

import importlib
import sys
import warnings


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
