"""Incremental CRM -> BI sync: the engine (`run_sync`) and its Dagster definitions (`defs`).

`defs` is imported lazily so that the engine runs without loading Dagster (crash tests spawn it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperdash_pipeline.sync.engine import SyncAlreadyRunning, SyncReport, TableReport, run_sync
from hyperdash_pipeline.sync.horizon import SyncError

if TYPE_CHECKING:
    from dagster import Definitions

    defs: Definitions

__all__ = ["SyncAlreadyRunning", "SyncError", "SyncReport", "TableReport", "defs", "run_sync"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from dagster import Definitions

        from hyperdash_pipeline.sync.definitions import defs
        from hyperdash_pipeline.sync.reconcile_job import defs as reconcile_defs

        return Definitions.merge(defs, reconcile_defs)
    raise AttributeError(name)
