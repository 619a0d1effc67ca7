"""Incremental CRM -> BI sync: the engine (`run_sync`), plain Python without Dagster (crash tests spawn it).

Its Dagster assets, jobs, sensor and schedules are in hyperdash_pipeline.defs.crm_sync.
"""

from __future__ import annotations

from hyperdash_pipeline.sync.engine import SyncAlreadyRunning, SyncReport, TableReport, run_sync
from hyperdash_pipeline.sync.horizon import SyncError

__all__ = ["SyncAlreadyRunning", "SyncError", "SyncReport", "TableReport", "run_sync"]
