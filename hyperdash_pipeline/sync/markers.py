"""The sensor's change markers: a cheap poll telling whether the CRM holds anything BI has not mirrored."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.sync.engine import SYNCED_TABLES
from hyperdash_pipeline.sync.generation import read_crm_identity, recorded_identity

_NEVER = datetime.fromisoformat("0001-01-01T00:00:00+00:00")

SENSOR_APPLICATION = "hyperdash-sensor"  # both databases: a DBA sees the sensor's reads


@dataclass(frozen=True)
class TableMarker:
    table: str
    newest: datetime | None
    pending_rows: int
    pending_deletes: int
    oldest_pending_seconds: float | None = None
    """Age of the oldest change BI has not mirrored yet (CRM clock, never negative); None when caught up."""
    crm_went_back: bool = False  # the CRM's sync generation is below BI's: the sync must repair BI

    @property
    def pending(self) -> bool:
        return self.pending_rows + self.pending_deletes > 0 or self.crm_went_back

    def token(self) -> str:
        newest = self.newest.isoformat() if self.newest else "-"
        return f"{self.table}:{newest}:{self.pending_rows}:{self.pending_deletes}" + (
            ":back" if self.crm_went_back else ""
        )


def change_markers(crm_url: str, bi_url: str, tables: Sequence[str] = SYNCED_TABLES) -> list[TableMarker]:
    """Per table: newest CRM stamp and the rows and tombstones beyond BI's watermarks.

    The counts are index range scans over the not-yet-mirrored tail, so a poll stays cheap once the
    mirror is caught up; a late commit with an old stamp raises the count though not the newest stamp.
    """
    state, bi_generation = _sync_state(bi_url)
    return _markers(crm_url, state, bi_generation, tables)


def pending_work(crm_url: str, bi_url: str, tables: Sequence[str] = SYNCED_TABLES) -> list[str]:
    """Why a sync of `tables` would do anything, in words; empty when BI is caught up with the CRM.

    A run is due when a table has rows or tombstones beyond its watermarks (all of them before its first
    sync; an empty table has nothing to mirror), or when leads have CRM receipts still to set: the receipt
    watermark trails the rows watermark after a crash between the BI commit and the receipt, or when a
    writer's lock made a receipt skip a lead.
    """
    state, bi_generation = _sync_state(bi_url)
    reasons = []
    leads = state.get("leads", _NO_STATE)
    if "leads" in tables and leads.rows is not None and leads.receipt != leads.rows:
        reasons.append("leads: CRM receipts pending")
    for marker in _markers(crm_url, state, bi_generation, tables):
        if marker.crm_went_back:
            reasons.append(f"{marker.table}: the CRM went back in time (older sync generation than BI's)")
        elif marker.pending:
            reasons.append(f"{marker.table}: {marker.pending_rows} changed, {marker.pending_deletes} deleted")
    return reasons


@dataclass(frozen=True)
class _Watermarks:
    rows: datetime | None
    tombstones: datetime | None
    receipt: datetime | None


_NO_STATE = _Watermarks(None, None, None)


def _sync_state(bi_url: str) -> tuple[dict[str, _Watermarks], int | None]:
    """BI's watermarks per table, and the CRM sync generation BI last recorded."""
    with closing(connect(bi_url, "bi", SENSOR_APPLICATION, autocommit=True, statement_timeout_ms=10_000)) as bi_conn:
        state = {
            row[0]: _Watermarks(row[1], row[2], row[3])
            for row in bi_conn.execute(
                "SELECT table_name, rows_watermark, tombstones_watermark, receipt_watermark FROM sync_state"
            )
        }
        bi_generation, _ = recorded_identity(bi_conn)
    return state, bi_generation


def _markers(
    crm_url: str, state: dict[str, _Watermarks], bi_generation: int | None, tables: Sequence[str]
) -> list[TableMarker]:
    query = read_sql("transforms/sync/change_markers.sql")
    markers = []
    with closing(connect(crm_url, "crm", SENSOR_APPLICATION, autocommit=True, statement_timeout_ms=10_000)) as crm:
        # The counts below must stay index range scans over the unsynced tail whatever the CRM's statistics:
        # without them (autovacuum off, a freshly loaded table) the planner expected a third of the table
        # beyond the watermark and counted it by a sequential scan, 0.2-0.6 s per poll at 1M leads.
        crm.execute("SET enable_seqscan = off")
        crm_generation = read_crm_identity(crm).generation
        went_back = crm_generation is not None and bi_generation is not None and crm_generation < bi_generation
        for table in tables:
            marks = state.get(table, _NO_STATE)
            row = crm.execute(
                sql.SQL(query).format(table=sql.Identifier("public", table)),
                {
                    "table_name": table,
                    "rows_watermark": marks.rows or _NEVER,
                    "tombstones_watermark": marks.tombstones or _NEVER,
                },
            ).fetchone()
            assert row is not None  # scalar subqueries always return one row
            oldest = None if row[3] is None else max(float(row[3]), 0.0)
            markers.append(TableMarker(table, row[0], int(row[1]), int(row[2]), oldest, went_back))
    return markers


def run_key(markers: Sequence[TableMarker]) -> str:
    """A key that names this exact CRM change state: the same state never launches two runs."""
    digest = hashlib.sha256("|".join(m.token() for m in markers).encode()).hexdigest()[:24]
    return f"crm-changes-{digest}"
