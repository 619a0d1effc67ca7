"""Writing ad metrics into BI: stage with COPY, then delete-stale + upsert inside PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import IO

import psycopg
from psycopg import sql

from hyperdash_pipeline.ingestion.rows import STAGE_COLUMNS, MetricRow, RejectedRow
from hyperdash_pipeline.settings import read_sql

_QUARANTINE_BATCH = 1_000


@dataclass(frozen=True)
class Integration:
    id: str
    organization_id: str
    organization_slug: str
    account_id: str
    credentials_env_var: str | None


@dataclass(frozen=True)
class ReplaceScope:
    """The slice of campaign_metrics an API pull is authoritative for: one account over a date range."""

    source: str
    account_id: str
    date_from: date
    date_to: date


@dataclass
class LoadOutcome:
    staged: int = 0
    changed_dates: set[date] = field(default_factory=set)
    deleted: int = 0
    upserted: int = 0


def list_integrations(conn: psycopg.Connection, provider: str) -> list[Integration]:
    rows = conn.execute(read_sql("transforms/ingestion/list_integrations.sql"), {"provider": provider}).fetchall()
    return [Integration(str(r[0]), str(r[1]), r[2], r[3], r[4]) for r in rows]


def mark_integration(conn: psycopg.Connection, integration_id: str, status: str, last_error: str | None) -> None:
    conn.execute(
        read_sql("transforms/ingestion/mark_integration.sql"),
        {"integration_id": integration_id, "status": status, "last_error": last_error},
    )


def quarantine(conn: psycopg.Connection, stage: str, rejected: Iterable[RejectedRow]) -> int:
    """Insert the rejected rows into BI quarantine, a batch at a time (they may come from a stream)."""
    count = 0
    items = iter(rejected)
    with conn.cursor() as cur:
        while batch := list(islice(items, _QUARANTINE_BATCH)):
            rows = [(stage, r.source_ref, r.reason, json.dumps(r.payload, default=str)) for r in batch]
            cur.executemany(
                "INSERT INTO quarantine (stage, source_ref, reason, payload) VALUES (%s, %s, %s, %s::jsonb)", rows
            )
            count += len(rows)
    return count


class RejectedSpool:
    """Rejected rows kept in a (temporary) file while the good ones stream into COPY (one connection cannot
    run an INSERT during a COPY); `replay()` reads them back for quarantine(). Keeps the first few in
    memory for the command's summary."""

    def __init__(self, file: IO[str], keep: int = 10) -> None:
        self._file = file
        self._keep = keep
        self.first: list[RejectedRow] = []
        self.count = 0

    def add(self, row: RejectedRow) -> None:
        self._file.write(json.dumps([row.source_ref, row.reason, row.payload], default=str) + "\n")
        self.count += 1
        if len(self.first) < self._keep:
            self.first.append(row)

    def replay(self) -> Iterator[RejectedRow]:
        self._file.seek(0)
        for line in self._file:
            source_ref, reason, payload = json.loads(line)
            yield RejectedRow(source_ref, reason, payload)


def load_rows(
    conn: psycopg.Connection,
    organization_id: str,
    rows: Iterable[MetricRow],
    *,
    loaded_via: str,
    replace: ReplaceScope | None = None,
) -> LoadOutcome:
    """Merge `rows` into campaign_metrics in the caller's transaction.

    With `replace`, rows of that account and date range absent from `rows` are deleted first, so
    re-ingesting a day leaves exactly what the platform reports now (no duplicates, no stale rows).
    """
    outcome = LoadOutcome()
    conn.execute(read_sql("transforms/ingestion/stage_create.sql"))
    copy = sql.SQL("COPY ad_metrics_stage ({}) FROM STDIN").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in STAGE_COLUMNS)
    )
    with conn.cursor() as cur, cur.copy(copy) as writer:
        for row in rows:
            writer.write_row(row.stage_tuple(organization_id))
            outcome.staged += 1
    conn.execute(
        "ANALYZE ad_metrics_stage"
    )  # a temp table has no statistics: without them the merge plans nested loops
    if replace is not None:
        params = {
            "organization_id": organization_id,
            "source": replace.source,
            "account_id": replace.account_id,
            "date_from": replace.date_from,
            "date_to": replace.date_to,
        }
        deleted = conn.execute(read_sql("transforms/ingestion/delete_stale.sql"), params).fetchall()
        outcome.deleted = len(deleted)
        outcome.changed_dates.update(d for (d,) in deleted)
    upserted = conn.execute(read_sql("transforms/ingestion/upsert_stage.sql"), {"loaded_via": loaded_via}).fetchall()
    outcome.upserted = len(upserted)
    outcome.changed_dates.update(d for (d,) in upserted)
    conn.execute("DROP TABLE ad_metrics_stage")
    return outcome
