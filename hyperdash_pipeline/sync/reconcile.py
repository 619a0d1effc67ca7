"""Reconciliation of BI's crm_raw mirror with the CRM, cheap enough to run daily at a million rows.

Both sides are read once per table, grouped into id buckets (the first `prefix` hex digits of the uuid, 4,096
buckets by default) with a row count and a content fingerprint each. Buckets that differ name the id ranges
that differ; the repair copies exactly those ranges again from one CRM snapshot: rows the CRM no longer has
are deleted, the rest upserted (an unchanged row is not rewritten, a changed one gets a new `_synced_at`, so
downstream refreshes see what changed). No full resync. It holds the sync's BI lock, so no sync interleaves;
a change the sync has not carried yet shows as a difference too and is simply carried early (idempotent).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field

import psycopg
from psycopg import IsolationLevel, sql

from hyperdash_pipeline.backup.manifest import prepare_session
from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.sync.engine import (
    _MIRROR_VALUE_OVERRIDES,
    MIRROR_SCHEMA,
    _acquire_lock,
    _Columns,
    _plan_mirror,
    _save_mirror_rows,
    _upsert,
    _validate_tables,
    connect,
)
from hyperdash_pipeline.sync.streaming import stream_copy

CRM_APPLICATION = "hyperdash-reconcile/crm"
BI_APPLICATION = "hyperdash-reconcile/bi"
Bucket = tuple[int, str]


@dataclass
class TableReconciliation:
    table: str
    crm_rows: int
    bi_rows: int
    buckets: int
    differing_ranges: list[str] = field(default_factory=list)  # "lower..upper" uuid ranges (upper exclusive)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def matched(self) -> bool:
        return not self.differing_ranges


@dataclass
class ReconcileReport:
    tables: dict[str, TableReconciliation] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"{'table':<12}{'crm rows':>10}{'bi rows':>10}{'ranges':>8}{'ins':>7}{'upd':>7}{'del':>7}"]
        for r in self.tables.values():
            lines.append(
                f"{r.table:<12}{r.crm_rows:>10}{r.bi_rows:>10}{len(r.differing_ranges):>8}"
                f"{r.inserted:>7}{r.updated:>7}{r.deleted:>7}"
            )
            lines.extend(f"  {r.table} differs in ids {span}" for span in r.differing_ranges[:20])
        lines.append(f"{self.seconds:.2f} s")
        return "\n".join(lines)


def reconcile(
    crm_url: str,
    bi_url: str,
    tables: Iterable[str] | None = None,
    *,
    repair: bool = True,
    prefix: int = 3,
    lock_wait_seconds: float = 60.0,
    statement_timeout_ms: int | None = None,
) -> ReconcileReport:
    """Compare each mirrored table with the CRM by id bucket; with `repair`, re-copy the differing ranges."""
    if not 1 <= prefix <= 8:
        raise ValueError("prefix must be 1 to 8 hex digits")
    started = time.monotonic()
    names = _validate_tables(tables)
    report = ReconcileReport()
    with (
        closing(connect(bi_url, BI_APPLICATION, statement_timeout_ms)) as bi_conn,
        closing(connect(crm_url, CRM_APPLICATION, statement_timeout_ms)) as crm_conn,
    ):
        _acquire_lock(bi_conn, lock_wait_seconds)
        prepare_session(bi_conn)
        prepare_session(crm_conn)
        crm_conn.isolation_level = IsolationLevel.REPEATABLE_READ
        crm_conn.read_only = True
        with crm_conn.transaction():
            for name in names:
                report.tables[name] = _reconcile_table(crm_conn, bi_conn, name, prefix, repair)
    report.seconds = time.monotonic() - started
    return report


def _values(table: str, columns: _Columns, source: bool) -> sql.Composable:
    """The compared column list; on the CRM side the mirror's overrides (leads.attribution_synced is true)."""
    return sql.SQL(", ").join(
        _MIRROR_VALUE_OVERRIDES[(table, n)] if source and (table, n) in _MIRROR_VALUE_OVERRIDES else sql.Identifier(n)
        for n in columns.names
    )


def _buckets(
    conn: psycopg.Connection, relation: sql.Identifier, values: sql.Composable, prefix: int
) -> dict[str, Bucket]:
    query = sql.SQL(read_sql("transforms/sync/reconcile_buckets.sql")).format(values=values, table=relation)
    return {str(b): (int(n), str(f)) for b, n, f in conn.execute(query, {"prefix": prefix}).fetchall()}


def id_range(bucket: str) -> tuple[str, str | None]:
    """The uuid range [lower, upper) of the ids whose text starts with `bucket` (upper None: to the end)."""
    lower = str(uuid.UUID(hex=bucket.ljust(32, "0")))
    following = int(bucket, 16) + 1
    if following >= 16 ** len(bucket):
        return lower, None
    return lower, str(uuid.UUID(hex=f"{following:0{len(bucket)}x}".ljust(32, "0")))


def _ranges_sql(buckets: list[str]) -> sql.Composable:
    parts = []
    for bucket in buckets:
        lower, upper = id_range(bucket)
        part = sql.SQL("id >= {}::uuid").format(sql.Literal(lower))
        if upper is not None:
            part = sql.SQL("({} AND id < {}::uuid)").format(part, sql.Literal(upper))
        parts.append(part)
    return sql.SQL(" OR ").join(parts)


def _shared_columns(bi_conn: psycopg.Connection, crm_conn: psycopg.Connection, table: str) -> _Columns:
    """The columns both sides hold: a column dropped in the CRM stays in the mirror (NULL from then on) and is
    neither compared nor repaired."""
    plan = _plan_mirror(bi_conn, crm_conn, table)
    copied = plan.copied_names()
    return _Columns(copied, copied, next(c.type for c in plan.crm if c.name == "id"))


def _reconcile_table(
    crm_conn: psycopg.Connection, bi_conn: psycopg.Connection, table: str, prefix: int, repair: bool
) -> TableReconciliation:
    columns = _shared_columns(bi_conn, crm_conn, table)
    source, target = sql.Identifier("public", table), sql.Identifier(MIRROR_SCHEMA, table)
    crm = _buckets(crm_conn, source, _values(table, columns, source=True), prefix)
    bi = _buckets(bi_conn, target, _values(table, columns, source=False), prefix)
    differing = sorted(b for b in crm.keys() | bi.keys() if crm.get(b) != bi.get(b))
    result = TableReconciliation(
        table,
        crm_rows=sum(n for n, _ in crm.values()),
        bi_rows=sum(n for n, _ in bi.values()),
        buckets=len(crm.keys() | bi.keys()),
        differing_ranges=[f"{lo}..{hi or 'end'}" for lo, hi in map(id_range, differing)],
    )
    if repair and differing:
        _repair(crm_conn, bi_conn, table, columns, differing, result)
    else:
        _save_mirror_rows(bi_conn, table, result.bi_rows)  # the count just read, exact under the sync's lock
    return result


def _repair(
    crm_conn: psycopg.Connection,
    bi_conn: psycopg.Connection,
    table: str,
    columns: _Columns,
    buckets: list[str],
    result: TableReconciliation,
) -> None:
    """Copy the id ranges of `buckets` again, in one BI transaction."""
    target, stage = sql.Identifier(MIRROR_SCHEMA, table), sql.Identifier("_hd_reconcile_stage")
    ranges = _ranges_sql(buckets)
    with bi_conn.transaction():
        bi_conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                stage, columns.identifiers(), target
            )
        )
        copy_out = sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT binary)").format(
            _values(table, columns, source=True), sql.Identifier("public", table), ranges
        )
        stream_copy(crm_conn, copy_out, bi_conn, sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(stage))
        delete = sql.SQL(read_sql("transforms/sync/reconcile_delete.sql")).format(
            target=target, stage=stage, ranges=ranges
        )
        result.deleted = bi_conn.execute(delete).rowcount
        result.inserted, result.updated = _upsert(bi_conn, target, stage, columns)
        _save_mirror_rows(bi_conn, table, result.bi_rows - result.deleted + result.inserted)
