"""The incremental CRM -> BI sync engine (docs/sync.md explains the guarantees and their limits).

Per run: take the upper bound (horizon.py), open one REPEATABLE READ snapshot on the CRM, and for each
table, in one BI transaction: stream the rows stamped in (watermark, upper bound) and the tombstones
likewise with binary COPY into temp staging tables, apply deletes, upsert, and advance the watermarks
in `sync_state`. A table's first run (or a full refresh) COPYs straight into the mirror. After the BI
commits, the CRM leads get their `attribution_synced` receipt. An advisory lock in BI serialises runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg
from psycopg import IsolationLevel, sql

from hyperdash_pipeline.connections import URL_VARS, Database, DatabaseConnectionError
from hyperdash_pipeline.connections import connect as open_connection
from hyperdash_pipeline.poolers import pooled_host, transaction_pooled
from hyperdash_pipeline.settings import read_sql, redact
from hyperdash_pipeline.sync import schema
from hyperdash_pipeline.sync.generation import (
    CrmIdentity,
    bump_generation,
    read_crm_identity,
    recorded_identity,
    time_travel_reason,
)
from hyperdash_pipeline.sync.horizon import (
    Horizon,
    SyncError,
    check_can_read_activity,
    horizon_warning,
    read_horizon,
)
from hyperdash_pipeline.sync.streaming import stream_copy
from hyperdash_pipeline.transforms import bulk_load, scalar

log = logging.getLogger(__name__)

# The tables the engine syncs: the contract's CRM tables (defined once, in sync/schema.py, without Dagster, so
# that a bare `python -c "...run_sync(...)"` starts in a fraction of a second).
SYNCED_TABLES = schema.CRM_TABLES
MIRROR_SCHEMA = schema.MIRROR_SCHEMA
LOCK_NAME = "hyperdash/crm_to_bi_sync"
CRM_APPLICATION = "hyperdash-sync/crm"
EXPLAIN_APPLICATION = "hyperdash-sync/explain"
BI_APPLICATION = "hyperdash-sync/bi"
GENERATION_APPLICATION = "hyperdash-sync/generation"
CHECK_CRM_APPLICATION = "hyperdash-sync-check/crm"
CHECK_BI_APPLICATION = "hyperdash-sync-check/bi"
FINGERPRINT_APPLICATION = "hyperdash-verify"  # mirror_fingerprints: not a sync session
# PgBouncer's answer to a startup packet carrying `options` (not in its ignore_startup_parameters).
_POOLER_REFUSES_OPTIONS = "unsupported startup parameter"

# How often a backend of the sync checks, while running a statement, that its client is still there
# (PostgreSQL 14+, Linux/macOS/BSD). When a sync process is killed, its CRM and BI backends end within this
# time instead of running their statement to the end: the BI lock and the CRM row locks of its receipt are
# released at once for the next run.
CLIENT_CHECK_INTERVAL_MS = 1000

# In BI, a mirrored lead has by definition been delivered: its receipt flag reads true there, and the
# CRM's flag catches up right after the BI commit (or on the next run after a crash).
_MIRROR_VALUE_OVERRIDES = {("leads", "attribution_synced"): sql.SQL("true")}


class SyncAlreadyRunning(SyncError):
    """Another sync holds the BI advisory lock."""


class PooledEndpointError(SyncError):
    """CRM_DATABASE_URL or BI_DATABASE_URL goes through a transaction pooler; the sync needs the direct endpoint."""


class SyncConnectionError(SyncError):
    """A database could not be reached (worth retrying); the message carries no password."""


@dataclass
class TableReport:
    table: str
    mode: Literal["full", "incremental"]
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    watermark: datetime | None = None
    tombstones_watermark: datetime | None = None
    lag_seconds: float = 0.0
    attribution_flagged: int = 0
    tombstones_pruned: int = 0
    schema_changes: list[str] = field(default_factory=list)  # what this run changed in the mirror's shape
    columns_dropped_in_crm: list[str] = field(default_factory=list)  # kept in BI, NULL from then on
    repair: str | None = None  # why an incremental run re-copied this table whole
    mirror_rows: int | None = None  # rows crm_raw.<table> holds after the run (sync_state.mirror_rows)

    @property
    def moved(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass
class SyncReport:
    horizon: Horizon
    tables: dict[str, TableReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    time_travel: str | None = None  # set when the CRM went back in time and BI was re-copied from it
    crm_generation: int | None = None

    def summary(self) -> str:
        lines = [f"{'table':<12}{'mode':<13}{'inserted':>10}{'updated':>10}{'deleted':>10}  watermark"]
        for r in self.tables.values():
            mark = r.watermark.isoformat() if r.watermark else "-"
            lines.append(f"{r.table:<12}{r.mode:<13}{r.inserted:>10}{r.updated:>10}{r.deleted:>10}  {mark}")
        lines.append(f"upper bound {self.horizon.upper_bound.isoformat()}, {self.seconds:.2f} s")
        lines.extend(f"REPAIRED {r.table}: {r.repair}" for r in self.tables.values() if r.repair)
        lines.extend(f"WARNING: {w}" for w in self.warnings)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Columns:
    names: tuple[str, ...]  # the mirror's (the upsert writes them all)
    copied: tuple[str, ...]  # the CRM's among them, in the same order (what is read and COPYed)
    id_type: str  # the primary key's type, the CRM's and the mirror's

    def identifiers(self, prefix: str | None = None) -> sql.Composable:
        return _identifiers(self.names, prefix)

    def copied_identifiers(self) -> sql.Composable:
        return _identifiers(self.copied)

    @classmethod
    def of(cls, plan: schema.MirrorPlan) -> _Columns:
        id_type = next(c.type for c in plan.crm if c.name == "id")
        return cls(plan.mirror_names(), plan.copied_names(), id_type)


def _identifiers(names: Iterable[str], prefix: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(*([prefix] if prefix else []), n) for n in names)


@dataclass(frozen=True)
class _State:
    rows_watermark: datetime | None
    tombstones_watermark: datetime | None
    receipt_watermark: datetime | None = None  # leads only: where the CRM receipt resumes
    mirror_rows: int | None = None  # rows the mirror holds (None: not known yet, see _count_mirror)


def run_sync(
    crm_url: str,
    bi_url: str,
    tables: Iterable[str] | None = None,
    full: bool = False,
    *,
    overlap_seconds: float = 0.0,
    lock_wait_seconds: float = 60.0,
    max_open_transaction_seconds: float = 300.0,
    mark_attribution_synced: bool = True,
    tombstone_retention_days: float = 7.0,
    statement_timeout_ms: int | None = None,
) -> SyncReport:
    """Mirror the CRM tables (all by default) into BI `crm_raw`; `full` re-copies them from scratch.

    `overlap_seconds` re-reads that much before each watermark (idempotently) as a guard against a
    CRM clock stepping backwards. Waits up to `lock_wait_seconds` for a running sync, then raises
    SyncAlreadyRunning. CRM tombstones BI applied more than `tombstone_retention_days` ago are deleted.
    `statement_timeout_ms` bounds both sessions' statements (unset: each database's configured timeout).
    """
    started = time.monotonic()
    names = _validate_tables(tables)
    with (
        closing(connect(bi_url, BI_APPLICATION, statement_timeout_ms)) as bi_conn,
        closing(connect(crm_url, CRM_APPLICATION, statement_timeout_ms)) as crm_conn,
    ):
        _acquire_lock(bi_conn, lock_wait_seconds)
        check_can_read_activity(crm_conn)
        leftover = _wait_for_dead_syncs(crm_conn, lock_wait_seconds)
        horizon = read_horizon(crm_conn)
        report = SyncReport(horizon=horizon)
        for warning in (leftover, horizon_warning(horizon, max_open_transaction_seconds)):
            if warning:
                log.warning(warning)
                report.warnings.append(warning)
        overlap = timedelta(seconds=overlap_seconds)
        crm_conn.isolation_level = IsolationLevel.REPEATABLE_READ
        crm_conn.read_only = True
        with crm_conn.transaction():
            identity = read_crm_identity(crm_conn)  # the first statement: it takes the snapshot
            report.time_travel = _check_time_travel(bi_conn, identity)
            if report.time_travel:
                log.warning(report.time_travel)
                report.warnings.append(report.time_travel)
                names = list(SYNCED_TABLES)  # every table is suspect, whatever was selected
            generation = _RunGeneration(crm_url, bi_conn, identity)
            for name in names:
                repair = report.time_travel or _pruned_past(crm_conn, bi_conn, name, identity)
                table = _sync_table(crm_conn, bi_conn, name, horizon, full or repair is not None, overlap, generation)
                table.repair = repair
                report.tables[name] = table
            report.crm_generation = generation.bumped
        crm_conn.isolation_level = None
        crm_conn.read_only = None
        leads = report.tables.get("leads")
        if mark_attribution_synced and leads is not None and leads.watermark is not None:
            state = _load_state(bi_conn, "leads")
            recopied = leads.mode == "full"  # a full copy (or a repair) re-checks every lead
            leads.attribution_flagged = _mark_attribution_synced(crm_conn, bi_conn, state, overlap, recopied)
        keep = overlap + timedelta(days=tombstone_retention_days)
        _prune_tombstones(crm_conn, report.tables.values(), keep, record=identity.tracked)
    report.seconds = time.monotonic() - started
    return report


def connect(
    url: str, application_name: str, statement_timeout_ms: int | None = None, lock_timeout_ms: int | None = None
) -> psycopg.Connection:
    """An autocommit connection with the sync's session settings (its application_name marks it as the sync's).

    Opened by the one factory (hyperdash_pipeline.connections): timeouts not given are the database's
    configured ones. Refuses a transaction-pooled endpoint (poolers.py): the sync's session state would not
    survive it. An application_name ending in `/bi` is BI's connection, any other the CRM's.
    """
    database: Database = "bi" if application_name.endswith("/bi") else "crm"
    url_var = URL_VARS[database]
    if pooled_host(url):
        raise pooled_endpoint_error(url_var, url, "its host is a pooled endpoint's (Neon's '-pooler')")
    try:
        conn = open_connection(
            url,
            database,
            application_name,
            autocommit=True,
            statement_timeout_ms=statement_timeout_ms,
            lock_timeout_ms=lock_timeout_ms,
        )
    except DatabaseConnectionError as exc:
        if _POOLER_REFUSES_OPTIONS in str(exc):
            raise pooled_endpoint_error(url_var, url, "a pooler (PgBouncer) refused the session's settings") from None
        raise SyncConnectionError(str(exc)) from None
    if transaction_pooled(conn, url):
        conn.close()
        raise pooled_endpoint_error(url_var, url, "a transaction pooler (PgBouncer pool_mode=transaction) serves it")
    _check_client_while_running(conn)
    return conn


def pooled_endpoint_error(url_var: str, url: str, tell: str) -> PooledEndpointError:
    return PooledEndpointError(
        f"{url_var} ({redact(url)}) is a pooled endpoint: {tell}. The sync needs one PostgreSQL session per "
        "connection (BI's advisory lock, the CRM snapshot and its pg_stat_activity checks do not survive "
        f"a pooler switching backends between transactions). Set {url_var} to the direct (unpooled) endpoint "
        "(on Neon, the connection string whose host has no '-pooler'); the webhook can keep the pooled one."
    )


def check_endpoints(crm_url: str, bi_url: str) -> None:
    """Fail fast, as `run_sync` would, when the CRM or BI URL is a transaction-pooled endpoint."""
    for url, application_name in ((crm_url, CHECK_CRM_APPLICATION), (bi_url, CHECK_BI_APPLICATION)):
        connect(url, application_name, statement_timeout_ms=10_000).close()


def _check_client_while_running(conn: psycopg.Connection) -> None:
    """Set client_connection_check_interval where the server allows it.

    Some platforms and managed services refuse any value but 0; the sync then works as before, and a killed
    run's statement holds its locks until it ends (the next run waits for it, see _wait_for_dead_syncs).
    """
    try:
        conn.execute(sql.SQL("SET client_connection_check_interval = {}").format(CLIENT_CHECK_INTERVAL_MS))
    except psycopg.Error as exc:
        log.debug("client_connection_check_interval not set: %s", exc)


def _validate_tables(tables: Iterable[str] | None) -> list[str]:
    names = list(SYNCED_TABLES) if tables is None else list(dict.fromkeys(tables))
    unknown = [t for t in names if t not in SYNCED_TABLES]
    if unknown:
        raise SyncError(f"unknown CRM table(s) {', '.join(unknown)}: choose among {', '.join(SYNCED_TABLES)}")
    return names


def _acquire_lock(conn: psycopg.Connection, wait_seconds: float) -> None:
    """Session-level advisory lock in BI: released by PostgreSQL when this process ends, even by SIGKILL."""
    deadline = time.monotonic() + wait_seconds
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [LOCK_NAME]).fetchone()
        if row and row[0]:
            return
        if time.monotonic() >= deadline:
            raise SyncAlreadyRunning(
                f"another CRM -> BI sync is running (BI advisory lock {LOCK_NAME!r} held by "
                f"{_lock_holder(conn)}); waited {wait_seconds:.0f} s. Let it finish and run again, "
                "or pass a longer lock wait."
            )
        time.sleep(0.2)


def _lock_holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objid::int = hashtext(%s) LIMIT 1",
        [LOCK_NAME],
    ).fetchone()
    return f"BI backend pid {row[0]} ({row[1]})" if row else "a session that just ended"


def _wait_for_dead_syncs(crm_conn: psycopg.Connection, wait_seconds: float) -> str | None:
    """Wait until no other sync backend has a transaction open on the CRM; a warning when some still do.

    Called with the BI lock held, so any such backend belongs to a sync process that died (SIGKILL, a lost
    node) and whose statement has not ended yet: its receipt's row locks would make this run's receipt skip
    those leads and leave them unflagged until the run after. It ends within CLIENT_CHECK_INTERVAL_MS where
    the server checks its client, else when its statement ends. After `wait_seconds` the run goes on.
    """
    query = read_sql("transforms/sync/dead_syncs.sql")
    deadline = time.monotonic() + wait_seconds
    while True:
        holders = crm_conn.execute(query, {"application_name": CRM_APPLICATION}).fetchall()
        if not holders:
            return None
        if time.monotonic() >= deadline:
            pids = ", ".join(str(pid) for (pid,) in holders)
            return (
                f"CRM backend(s) {pids} of an earlier sync that ended still hold a transaction open after "
                f"{wait_seconds:.0f} s; the leads they lock get their receipt on a later run "
                "(pg_terminate_backend ends them now)"
            )
        time.sleep(0.1)


def _plan_mirror(bi_conn: psycopg.Connection, crm_conn: psycopg.Connection, table: str) -> schema.MirrorPlan:
    try:
        return schema.plan_mirror(crm_conn, bi_conn, table)
    except schema.SchemaError as exc:
        raise SyncError(str(exc)) from None


def _changed_rows(table: str, columns: _Columns, lower: datetime | None, upper: datetime) -> sql.Composed:
    """The SELECT of rows stamped in (lower, upper): an index range scan on (updated_at, id)."""
    values = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(_MIRROR_VALUE_OVERRIDES[(table, n)], sql.Identifier(n))
        if (table, n) in _MIRROR_VALUE_OVERRIDES
        else sql.Identifier(n)
        for n in columns.copied
    )
    where = sql.SQL("updated_at < {}").format(sql.Literal(upper))
    if lower is not None:
        where = sql.SQL("updated_at > {} AND {}").format(sql.Literal(lower), where)
    return sql.SQL("SELECT {} FROM {} WHERE {}").format(values, sql.Identifier("public", table), where)


def _source_query(table: str, columns: _Columns, lower: datetime | None, upper: datetime) -> sql.Composed:
    return sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(_changed_rows(table, columns, lower, upper))


def explain_next_read(crm_url: str, bi_url: str, table: str) -> str:
    """The CRM's EXPLAIN of the query the next incremental run of `table` will stream.

    Its CRM connection is not named like the sync's: a run starting meanwhile must not wait for it as for the
    backend of a dead sync."""
    with (
        closing(connect(bi_url, BI_APPLICATION, statement_timeout_ms=60_000)) as bi_conn,
        closing(connect(crm_url, EXPLAIN_APPLICATION, statement_timeout_ms=60_000)) as crm_conn,
    ):
        columns = _Columns.of(_plan_mirror(bi_conn, crm_conn, table))
        watermark = _load_state(bi_conn, table).rows_watermark
        upper = read_horizon(crm_conn).upper_bound
        query = sql.SQL("EXPLAIN {}").format(_changed_rows(table, columns, watermark, upper))
        return "\n".join(str(row[0]) for row in crm_conn.execute(query))


def _tombstone_query(table: str, id_type: str, lower: datetime | None, upper: datetime) -> sql.Composed:
    """The table's tombstones, their id (text in the CRM, any key type) cast back to the key's type."""
    where = sql.SQL("table_name = {} AND deleted_at < {}").format(sql.Literal(table), sql.Literal(upper))
    if lower is not None:
        where = sql.SQL("{} AND deleted_at > {}").format(where, sql.Literal(lower))
    return sql.SQL("COPY (SELECT id::{}, deleted_at FROM sync_tombstones WHERE {}) TO STDOUT (FORMAT binary)").format(
        sql.SQL(id_type),  # format_type() output from the catalog
        where,
    )


def _sync_table(
    crm_conn: psycopg.Connection,
    bi_conn: psycopg.Connection,
    table: str,
    horizon: Horizon,
    full: bool,
    overlap: timedelta,
    generation: _RunGeneration,
) -> TableReport:
    state = _load_state(bi_conn, table)
    plan = _plan_mirror(bi_conn, crm_conn, table)
    dropped = [c.name for c in plan.dropped]
    if not full and not plan.changes_mirror and not _has_pending(crm_conn, table, state, horizon, overlap):
        mirror_rows = state.mirror_rows
        if mirror_rows is None and state.rows_watermark is not None:  # a BI migrated since the last run moved rows
            with bi_conn.transaction():
                mirror_rows = _count_mirror(bi_conn, table)
        return TableReport(
            table,
            "incremental",
            watermark=state.rows_watermark,
            tombstones_watermark=state.tombstones_watermark,
            lag_seconds=horizon.held_seconds,
            columns_dropped_in_crm=dropped,
            mirror_rows=mirror_rows,
        )
    columns = _Columns.of(plan)
    target = sql.Identifier(MIRROR_SCHEMA, table)
    generation.bump()  # before this run's first BI commit
    with bi_conn.transaction():
        state = _load_state(bi_conn, table, for_update=True)
        keeps_its_rows = not (full or plan.rebuild) and state.rows_watermark is not None
        if keeps_its_rows and plan.added:
            schema.find_constant_columns(crm_conn, plan, horizon.upper_bound)
        schema.apply_plan(bi_conn, plan)
        for message in plan.messages():
            log.warning(message)
        full = full or plan.rebuild
        first_copy = state.rows_watermark is None and not _has_rows(bi_conn, target)
        if full or first_copy:
            report = _copy_whole_table(crm_conn, bi_conn, table, columns, horizon, truncate=full)
            report.tombstones_watermark = _latest(report.tombstones_watermark, _pruned_before(crm_conn, table))
            report.mirror_rows = report.inserted  # the copy is all the mirror holds
        else:
            if plan.to_backfill():
                _backfill_added_columns(crm_conn, bi_conn, plan, horizon)
            report = _copy_changes(crm_conn, bi_conn, table, columns, horizon, state, overlap)
            report.mirror_rows = (
                _count_mirror(bi_conn, table, keep=False)
                if state.mirror_rows is None
                else state.mirror_rows + report.inserted - report.deleted
            )
        report.lag_seconds = horizon.held_seconds
        report.schema_changes = plan.messages()
        report.columns_dropped_in_crm = dropped
        unchanged = (report.watermark, report.tombstones_watermark) == (
            state.rows_watermark,
            state.tombstones_watermark,
        )
        if report.moved or not unchanged or full:
            _save_state(bi_conn, report, horizon, full, generation)
        elif report.mirror_rows != state.mirror_rows:  # counted for the first time
            _save_mirror_rows(bi_conn, table, report.mirror_rows)
    return report


def _count_mirror(bi_conn: psycopg.Connection, table: str, keep: bool = True) -> int:
    """count(*) of the mirror, once per table after the migration that added sync_state.mirror_rows (from then on
    the runs keep it); `keep` saves it. Run with the sync's BI lock held: no other writer of the mirror."""
    rows = int(scalar(bi_conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(MIRROR_SCHEMA, table))) or 0)
    if keep:
        _save_mirror_rows(bi_conn, table, rows)
    return rows


def _save_mirror_rows(bi_conn: psycopg.Connection, table: str, rows: int | None) -> None:
    bi_conn.execute("UPDATE sync_state SET mirror_rows = %s WHERE table_name = %s", [rows, table])


def _backfill_added_columns(
    crm_conn: psycopg.Connection, bi_conn: psycopg.Connection, plan: schema.MirrorPlan, horizon: Horizon
) -> None:
    """Bring the values of columns just added to the mirror onto the rows it already holds: one COPY of the
    CRM's ids and those columns only, not a re-copy of the table."""
    stage = sql.Identifier("_hd_sync_backfill")
    bi_conn.execute(schema.stage_definition(plan, stage))
    staged = stream_copy(
        crm_conn,
        schema.backfill_query(plan, horizon.upper_bound),
        bi_conn,
        sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(stage),
    )
    if staged:
        bi_conn.execute(sql.SQL("ANALYZE {}").format(stage))
        bi_conn.execute(schema.backfill_update(plan, stage))


def _check_time_travel(bi_conn: psycopg.Connection, identity: CrmIdentity) -> str | None:
    bi_generation, bi_systems = recorded_identity(bi_conn)
    return time_travel_reason(identity, bi_generation, bi_systems)


class _RunGeneration:
    """The CRM generation this run syncs under: bumped above anything BI recorded, once, after the run's
    snapshot and before its first BI commit (a run that moves nothing writes nothing, in the CRM too)."""

    def __init__(self, crm_url: str, bi_conn: psycopg.Connection, identity: CrmIdentity) -> None:
        self._crm_url, self._bi_conn, self.identity = crm_url, bi_conn, identity
        self.bumped: int | None = None

    def bump(self) -> None:
        if self.bumped is not None or not self.identity.tracked:
            return
        bi_generation, _ = recorded_identity(self._bi_conn)
        current = max(self.identity.generation or 0, bi_generation or 0)
        try:
            self.bumped = bump_generation(self._crm_url, GENERATION_APPLICATION, current + 1)
        except psycopg.OperationalError as exc:
            raise SyncConnectionError(f"cannot write the CRM's sync generation: {redact(str(exc)).strip()}") from None


def _pruned_before(crm_conn: psycopg.Connection, table: str) -> datetime | None:
    if crm_conn.execute("SELECT to_regclass('sync_tombstones_pruned') IS NOT NULL").fetchone() != (True,):
        return None
    value = scalar(crm_conn, "SELECT pruned_before FROM sync_tombstones_pruned WHERE table_name = %s", [table])
    return value if isinstance(value, datetime) else None


def _pruned_past(
    crm_conn: psycopg.Connection, bi_conn: psycopg.Connection, table: str, identity: CrmIdentity
) -> str | None:
    """Why `table` needs a full re-copy because the CRM pruned tombstones BI never applied (None: it does not).

    Happens when BI was restored from a dump older than the tombstone retention: the deletes in between are
    gone from the CRM, so only a re-copy removes those rows."""
    if not identity.tracked:
        return None
    state = _load_state(bi_conn, table)
    pruned = _pruned_before(crm_conn, table)
    if state.rows_watermark is None or pruned is None:
        return None
    applied = state.tombstones_watermark
    if applied is not None and applied >= pruned:
        return None
    return (
        f"BI applied {table} deletes only up to {applied.isoformat() if applied else 'none'} but the CRM pruned "
        f"its tombstones up to {pruned.isoformat()} (BI restored from a backup older than the tombstone "
        "retention?): re-copied whole"
    )


def _load_state(bi_conn: psycopg.Connection, table: str, for_update: bool = False) -> _State:
    query = (
        "SELECT rows_watermark, tombstones_watermark, receipt_watermark, mirror_rows FROM sync_state "
        "WHERE table_name = %s"
    )
    row = bi_conn.execute(query + (" FOR UPDATE" if for_update else ""), [table]).fetchone()
    return _State(*row) if row else _State(None, None)


def _has_pending(crm_conn: psycopg.Connection, table: str, state: _State, horizon: Horizon, overlap: timedelta) -> bool:
    """False only when the table has a watermark and nothing lies between it and the upper bound."""
    if state.rows_watermark is None:
        return True
    never = datetime.min.replace(tzinfo=UTC)
    query = sql.SQL(read_sql("transforms/sync/pending.sql")).format(table=sql.Identifier("public", table))
    params = {
        "table_name": table,
        "rows_from": state.rows_watermark - overlap,
        "tombstones_from": _minus(state.tombstones_watermark, overlap) or never,
        "upper": horizon.upper_bound,
    }
    return crm_conn.execute(query, params).fetchone() == (True,)


def _has_rows(bi_conn: psycopg.Connection, target: sql.Identifier) -> bool:
    return bi_conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(target)).fetchone() == (True,)


def _copy_whole_table(
    crm_conn: psycopg.Connection,
    bi_conn: psycopg.Connection,
    table: str,
    columns: _Columns,
    horizon: Horizon,
    truncate: bool,
) -> TableReport:
    target = sql.Identifier(MIRROR_SCHEMA, table)
    if truncate:
        bi_conn.execute(sql.SQL("TRUNCATE {}").format(target))
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(target, columns.copied_identifiers())
    # Into the empty table without its indexes, built once after the copy: maintained row by row, the random
    # uuid primary key outgrew the cache and the copy grew faster than the table (5M leads: 276 s against
    # 200 s with the indexes built after it, bench_growth). bulk_load also gathers the statistics in the copy's
    # transaction: an incremental refresh right after a first or full copy would otherwise plan against an
    # empty table's.
    with bulk_load(bi_conn, f"{MIRROR_SCHEMA}.{table}"):
        copied = stream_copy(crm_conn, _source_query(table, columns, None, horizon.upper_bound), bi_conn, copy_in)
    watermark = scalar(
        crm_conn,
        sql.SQL("SELECT max(updated_at) FROM {} WHERE updated_at < %s").format(sql.Identifier("public", table)),
        [horizon.upper_bound],
    )
    tombstones = scalar(
        crm_conn,
        "SELECT max(deleted_at) FROM sync_tombstones WHERE table_name = %s AND deleted_at < %s",
        [table, horizon.upper_bound],
    )
    return TableReport(
        table,
        "full",
        inserted=copied,
        watermark=_latest(None, watermark),
        tombstones_watermark=_latest(None, tombstones),
    )


def _copy_changes(
    crm_conn: psycopg.Connection,
    bi_conn: psycopg.Connection,
    table: str,
    columns: _Columns,
    horizon: Horizon,
    state: _State,
    overlap: timedelta,
) -> TableReport:
    target = sql.Identifier(MIRROR_SCHEMA, table)
    stage, tombstones = sql.Identifier("_hd_sync_stage"), sql.Identifier("_hd_sync_tombstones")
    bi_conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            stage, columns.identifiers(), target
        )
    )
    bi_conn.execute(
        sql.SQL("CREATE TEMP TABLE {} (id {}, deleted_at timestamptz) ON COMMIT DROP").format(
            tombstones,
            sql.SQL(columns.id_type),  # format_type() output from the catalog
        )
    )
    rows_from = _minus(state.rows_watermark, overlap)
    staged = stream_copy(
        crm_conn,
        _source_query(table, columns, rows_from, horizon.upper_bound),
        bi_conn,
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(stage, columns.copied_identifiers()),
    )
    tombstones_from = _minus(state.tombstones_watermark, overlap)
    deletes = stream_copy(
        crm_conn,
        _tombstone_query(table, columns.id_type, tombstones_from, horizon.upper_bound),
        bi_conn,
        sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(tombstones),
    )
    report = TableReport(
        table, "incremental", watermark=state.rows_watermark, tombstones_watermark=state.tombstones_watermark
    )
    if deletes:
        bi_conn.execute(sql.SQL("ANALYZE {}").format(tombstones))
        apply = sql.SQL(read_sql("transforms/sync/apply_tombstones.sql")).format(target=target, tombstones=tombstones)
        report.deleted = bi_conn.execute(apply).rowcount
        newest = scalar(bi_conn, sql.SQL("SELECT max(deleted_at) FROM {}").format(tombstones))
        report.tombstones_watermark = _latest(state.tombstones_watermark, newest)
    if staged:
        report.inserted, report.updated = _upsert(bi_conn, target, stage, columns)
        newest = scalar(bi_conn, sql.SQL("SELECT max(updated_at) FROM {}").format(stage))
        report.watermark = _latest(state.rows_watermark, newest)
    return report


def _upsert(
    bi_conn: psycopg.Connection, target: sql.Identifier, stage: sql.Identifier, columns: _Columns
) -> tuple[int, int]:
    query = sql.SQL(read_sql("transforms/sync/upsert.sql")).format(
        target=target,
        stage=stage,
        columns=columns.identifiers(),
        excluded_columns=columns.identifiers("excluded"),
        target_columns=columns.identifiers("t"),
    )
    row = bi_conn.execute(query).fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), int(row[1])


def _save_state(
    bi_conn: psycopg.Connection, report: TableReport, horizon: Horizon, full: bool, generation: _RunGeneration
) -> None:
    bi_conn.execute(
        read_sql("transforms/sync/save_state.sql"),
        {
            "table_name": report.table,
            "rows_watermark": report.watermark,
            "tombstones_watermark": report.tombstones_watermark,
            "horizon": horizon.upper_bound,
            "inserted": report.inserted,
            "updated": report.updated,
            "deleted": report.deleted,
            "full": full,
            "crm_generation": generation.bumped,
            "crm_system_identifier": generation.identity.system_identifier,
            "mirror_rows": report.mirror_rows,
        },
    )


def mark_attribution_synced(
    crm_url: str, bi_url: str, overlap_seconds: float = 0.0, lock_wait_seconds: float = 60.0
) -> int:
    """Set the CRM receipt flag of every lead BI holds in its current version; returns how many.

    `run_sync` does this after each run; calling it alone catches up after a crash between the BI
    commit and the receipt. It takes the sync's BI lock (waiting up to `lock_wait_seconds`).
    """
    with closing(connect(bi_url, BI_APPLICATION, statement_timeout_ms=60_000)) as bi_conn:
        _acquire_lock(bi_conn, lock_wait_seconds)  # one writer of the receipt watermark at a time
        state = _load_state(bi_conn, "leads")
        if state.rows_watermark is None:
            return 0
        with closing(connect(crm_url, CRM_APPLICATION, statement_timeout_ms=60_000)) as crm_conn:
            if warning := _wait_for_dead_syncs(crm_conn, lock_wait_seconds):
                log.warning(warning)
            return _mark_attribution_synced(crm_conn, bi_conn, state, timedelta(seconds=overlap_seconds))


def _mark_attribution_synced(
    crm_conn: psycopg.Connection,
    bi_conn: psycopg.Connection,
    state: _State,
    overlap: timedelta,
    from_the_start: bool = False,
    batch_size: int = 5000,
) -> int:
    """Set the CRM receipt flag in short autocommit batches (no long row locks on the CRM).

    Only leads stamped since the receipt watermark are read, so a run's receipt costs what that run
    moved, not the size of `leads`; the receipt watermark then advances to the committed rows
    watermark, or only to the oldest lead a writer's lock made it skip. `from_the_start` (a full sync)
    re-checks every lead: one sequential scan finds the oldest unflagged one, the batches start there (on a
    CRM whose receipts are all set, that scan is the whole receipt).
    """
    assert state.rows_watermark is not None  # callers skip the receipt before the first sync
    watermark = state.rows_watermark
    resume = None if from_the_start else state.receipt_watermark
    if from_the_start:  # start at the oldest unflagged lead found by one scan, not at the beginning of time
        since = _oldest_unflagged_anywhere(crm_conn, watermark)
        if since is None:
            return _finish_receipt(bi_conn, watermark, resume, 0)
    else:
        since = _minus(resume, overlap) or datetime.min.replace(tzinfo=UTC)
    query = read_sql("transforms/sync/mark_attribution_synced.sql")
    total, start = 0, since
    while True:
        with crm_conn.transaction():
            crm_conn.execute("SET LOCAL hyperdash.receipt = 'on'")
            params = {"from": start, "watermark": watermark, "batch_size": batch_size}
            row = crm_conn.execute(query, params).fetchone()
        done, newest = (int(row[0]), row[1]) if row else (0, None)
        total += done
        if done < batch_size or newest is None:
            break
        start = newest
    left: object
    if from_the_start:
        left = _oldest_unflagged_anywhere(crm_conn, watermark)
    else:
        receipt_range = {"from": since, "watermark": watermark}
        left = scalar(crm_conn, read_sql("transforms/sync/oldest_unflagged.sql"), receipt_range)
    return _finish_receipt(bi_conn, left if isinstance(left, datetime) else watermark, resume, total)


def _oldest_unflagged_anywhere(crm_conn: psycopg.Connection, watermark: datetime) -> datetime | None:
    left = scalar(crm_conn, read_sql("transforms/sync/oldest_unflagged_anywhere.sql"), {"watermark": watermark})
    return left if isinstance(left, datetime) else None


def _finish_receipt(
    bi_conn: psycopg.Connection, receipt_watermark: datetime, resume: datetime | None, flagged: int
) -> int:
    """Save where the next receipt resumes (when it moved) and return how many leads this one flagged."""
    if receipt_watermark != resume:  # a run that moved nothing writes nothing
        _save_receipt_watermark(bi_conn, receipt_watermark)
    return flagged


def _prune_tombstones(
    crm_conn: psycopg.Connection, reports: Iterable[TableReport], keep: timedelta, record: bool
) -> None:
    """Delete the CRM tombstones each table's committed tombstones watermark left `keep` behind.

    `record`: also remember in the CRM how far each table was pruned (sync_tombstones_pruned), so a BI
    restored from an older backup is noticed (see _pruned_past)."""
    name = "prune_tombstones_recorded" if record else "prune_tombstones"
    query = read_sql(f"transforms/sync/{name}.sql")
    for report in reports:
        if report.tombstones_watermark is not None:
            params = {"table_name": report.table, "before": report.tombstones_watermark - keep}
            if record:
                report.tombstones_pruned = int(scalar(crm_conn, query, params) or 0)
            else:
                report.tombstones_pruned = crm_conn.execute(query, params).rowcount


def _save_receipt_watermark(bi_conn: psycopg.Connection, receipt_watermark: datetime) -> None:
    bi_conn.execute("UPDATE sync_state SET receipt_watermark = %s WHERE table_name = 'leads'", [receipt_watermark])


def _minus(moment: datetime | None, overlap: timedelta) -> datetime | None:
    return None if moment is None else moment - overlap


def _latest(current: datetime | None, candidate: object) -> datetime | None:
    if not isinstance(candidate, datetime):
        return current
    return candidate if current is None or candidate > current else current


def mirror_fingerprints(crm_url: str, bi_url: str, table: str) -> tuple[tuple[int, str], tuple[int, str]]:
    """(row count, md5 of all rows' content) of a CRM table and of its BI mirror, over the columns both have.

    Verification only (tests, benchmarks): it reads both tables whole.
    """
    with closing(
        open_connection(bi_url, "bi", FINGERPRINT_APPLICATION, autocommit=True, statement_timeout_ms=0)
    ) as bi_conn:
        mirrored = [c.name for c in schema.read_columns(bi_conn, f"{MIRROR_SCHEMA}.{table}")]
        with closing(
            open_connection(crm_url, "crm", FINGERPRINT_APPLICATION, autocommit=True, statement_timeout_ms=0)
        ) as crm_conn:
            in_crm = {c.name for c in schema.read_columns(crm_conn, f"public.{table}")}
            columns = [name for name in mirrored if name in in_crm]  # a column dropped in the CRM is not compared
            source = _fingerprint(crm_conn, sql.Identifier("public", table), columns)
        mirror = _fingerprint(bi_conn, sql.Identifier(MIRROR_SCHEMA, table), columns)
    return source, mirror


def _fingerprint(conn: psycopg.Connection, table: sql.Identifier, columns: Sequence[str]) -> tuple[int, str]:
    conn.execute("SET TIME ZONE 'UTC'")
    statement = sql.SQL(read_sql("transforms/sync/fingerprint.sql")).format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns), table=table
    )
    row = conn.execute(statement).fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), str(row[1])
