"""The sync's upper bound: below it, every CRM row that will ever exist is already committed.

See sql/transforms/sync/horizon.sql for the argument. It is read in autocommit *before* the sync opens
its REPEATABLE READ snapshot, so any transaction that was still open when the snapshot was taken
either counted as a holder or stamps its rows later than the bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from hyperdash_pipeline.sync.sqlfiles import read_sync_sql as read_sql


class SyncError(RuntimeError):
    """The sync cannot run as things stand; the message names the cause and the fix."""


@dataclass(frozen=True)
class Horizon:
    crm_now: datetime
    upper_bound: datetime
    holder_pid: int | None = None
    holder_application: str | None = None
    holder_xact_start: datetime | None = None

    @property
    def held_seconds(self) -> float:
        """How far the bound lies behind the CRM clock: the lag an open CRM transaction imposes."""
        return max(0.0, (self.crm_now - self.upper_bound).total_seconds())

    def describe_holder(self) -> str:
        if self.holder_pid is None:
            return "no open CRM write transaction"
        return (
            f"CRM backend pid {self.holder_pid} ({self.holder_application or 'no application_name'}), "
            f"in a transaction since {self.holder_xact_start:%Y-%m-%d %H:%M:%S%z}"
        )


def check_can_read_activity(conn: psycopg.Connection) -> None:
    row = conn.execute(read_sql("transforms/sync/can_read_activity.sql")).fetchone()
    if not (row and row[0]):
        raise SyncError(
            "the CRM role the sync connects as cannot see other sessions' transactions in "
            "pg_stat_activity, which the late-commit guarantee relies on: run "
            "GRANT pg_read_all_stats TO <that role> on the CRM"
        )


def read_horizon(conn: psycopg.Connection) -> Horizon:
    """The bound, taken now; the caller must open its snapshot only after this returns."""
    if not conn.autocommit:
        raise SyncError("read_horizon needs an autocommit connection (it must run before the snapshot)")
    row = conn.execute(read_sql("transforms/sync/horizon.sql")).fetchone()
    assert row is not None  # the query always returns one row
    crm_now, upper_bound, pid, application, xact_start = row
    return Horizon(crm_now, upper_bound, pid, application, xact_start)


def horizon_warning(horizon: Horizon, max_open_transaction_seconds: float) -> str | None:
    """The observable limit of the mechanism: a long open CRM transaction delays everything newer."""
    if horizon.held_seconds <= max_open_transaction_seconds:
        return None
    return (
        f"{horizon.describe_holder()} holds the sync {horizon.held_seconds:.0f} s behind the CRM "
        f"(window {max_open_transaction_seconds:.0f} s). Its rows will still arrive after it commits, but "
        "no change newer than its start is mirrored until it ends: commit or end that transaction."
    )
