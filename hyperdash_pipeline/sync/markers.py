"""The sensor's change markers: a cheap poll telling whether the CRM holds anything BI has not mirrored."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from hyperdash_pipeline.settings import libpq_url, read_sql
from hyperdash_pipeline.sync.engine import SYNCED_TABLES
from hyperdash_pipeline.sync.generation import read_crm_identity, recorded_identity

_NEVER = datetime.fromisoformat("0001-01-01T00:00:00+00:00")


@dataclass(frozen=True)
class TableMarker:
    table: str
    newest: datetime | None
    pending_rows: int
    pending_deletes: int
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
    with closing(psycopg.connect(libpq_url(bi_url), autocommit=True)) as bi_conn:
        state = {
            row[0]: (row[1], row[2])
            for row in bi_conn.execute("SELECT table_name, rows_watermark, tombstones_watermark FROM sync_state")
        }
        bi_generation, _ = recorded_identity(bi_conn)
    query = read_sql("transforms/sync/change_markers.sql")
    markers = []
    with closing(psycopg.connect(libpq_url(crm_url), autocommit=True, application_name="hyperdash-sensor")) as crm:
        crm.execute("SET statement_timeout = '10s'")
        crm_generation = read_crm_identity(crm).generation
        went_back = crm_generation is not None and bi_generation is not None and crm_generation < bi_generation
        for table in tables:
            rows_mark, tombstones_mark = state.get(table, (None, None))
            row = crm.execute(
                sql.SQL(query).format(table=sql.Identifier("public", table)),
                {
                    "table_name": table,
                    "rows_watermark": rows_mark or _NEVER,
                    "tombstones_watermark": tombstones_mark or _NEVER,
                },
            ).fetchone()
            assert row is not None  # scalar subqueries always return one row
            markers.append(TableMarker(table, row[0], int(row[1]), int(row[2]), went_back))
    return markers


def run_key(markers: Sequence[TableMarker]) -> str:
    """A key that names this exact CRM change state: the same state never launches two runs."""
    digest = hashlib.sha256("|".join(m.token() for m in markers).encode()).hexdigest()[:24]
    return f"crm-changes-{digest}"
