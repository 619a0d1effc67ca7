"""Generate a realistic, reproducible CRM + BI data set inside PostgreSQL.

Everything is produced by `INSERT ... SELECT` over `generate_series` (files under `sql/sample/`);
Python only binds the parameters, runs the files and counts the result. Every value is a hash of
(seed, purpose, row index), so one seed gives identical rows, ids included, whatever the plan.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

from hyperdash_pipeline.conventions import CRM_TABLES
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql

# The BI tables the seed writes, in insert order.
BI_SEEDED_TABLES = ("organizations", "users", "integrations", "campaign_metrics")
# Schemas whose tables a BI reset empties (see `_bi_reset_tables`); migration bookkeeping is kept.
BI_RESET_SCHEMAS = ("public", "crm_raw", "analytics")
_MIGRATION_TABLE_PREFIXES = ("_yoyo", "yoyo_", "hyperdash_migration")

_COMMON_FILES = ("sample/functions.sql", "sample/catalogue.sql")
_CRM_FILES = ("sample/crm_plan.sql", "sample/crm_leads.sql", "sample/crm_deals.sql", "sample/crm_followups.sql")
_BI_FILES = ("sample/bi_organizations.sql", "sample/bi_campaign_metrics.sql")

# Bounds that keep the hash keys of the catalogue apart (see sql/sample/catalogue.sql).
MAX_ORGANIZATIONS = 60
MAX_DAYS = 3_650
MAX_SEED = 2**62

# CRM generation runs in parallel sessions over disjoint lead ranges (see `seed_sample_data`).
STAGING_SCHEMA = "hyperdash_seed_staging"
MAX_WORKERS = 8
MIN_LEADS_PER_WORKER = 20_000
# Ranges per worker: enough steps for a progress ETA, few enough that the per-range plan stays cheap.
CHUNKS_PER_WORKER = 4

ProgressCallback = Callable[[int, int], None]


class SampleDataError(RuntimeError):
    """The sample data cannot be written as asked; the message says why and what to do."""


@dataclass(frozen=True)
class SeedSummary:
    """What a seed wrote: row counts per table (`crm.leads`, `bi.campaign_metrics`, ...) and time taken."""

    seed: int
    leads: int
    organizations: int
    days: int
    today: date
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    reset_tables: tuple[str, ...] = ()

    def describe(self) -> str:
        """A few lines for a terminal."""
        crm = ", ".join(f"{t} {n:,}" for t, n in self.counts.items() if t.startswith("crm."))
        bi = ", ".join(f"{t} {n:,}" for t, n in self.counts.items() if t.startswith("bi."))
        lines = [
            f"seeded sample data (seed {self.seed}, {self.organizations} organizations, "
            f"{self.days} days ending {self.today.isoformat()}) in {self.elapsed_seconds:.1f} s",
            f"  CRM: {crm.replace('crm.', '')}",
            f"  BI:  {bi.replace('bi.', '')}",
        ]
        if self.reset_tables:
            lines.insert(0, f"reset: emptied {len(self.reset_tables)} tables first")
        return "\n".join(lines)


def _validate(leads: int, seed: int, organizations: int, days: int) -> None:
    if leads < 1:
        raise SampleDataError(f"leads must be at least 1 (got {leads})")
    if not 0 <= seed < MAX_SEED:
        raise SampleDataError(f"seed must be between 0 and 2**62 - 1 (got {seed})")
    if not 1 <= organizations <= MAX_ORGANIZATIONS:
        raise SampleDataError(f"organizations must be between 1 and {MAX_ORGANIZATIONS} (got {organizations})")
    if not 1 <= days <= MAX_DAYS:
        raise SampleDataError(f"days must be between 1 and {MAX_DAYS} (got {days})")


def _prepare_session(conn: psycopg.Connection, params: dict[str, object]) -> None:
    """Session settings, run parameters, helper functions and the ad catalogue (identical in both databases)."""
    conn.execute(read_sql("sample/session.sql"))
    conn.execute(read_sql("sample/params.sql"), params)
    for path in _COMMON_FILES:
        conn.execute(read_sql(path))


def _require_tables(conn: psycopg.Connection, database: str, tables: tuple[str, ...]) -> None:
    missing = [
        table for table in tables if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone() == (None,)
    ]
    if missing:
        raise SampleDataError(
            f"the {database} database has no table {', '.join(missing)}: run `hyperdash migrate` first"
        )


def _existing_rows(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """The tables of `tables` that already hold rows."""
    return [
        table
        for table in tables
        if conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))).fetchone() == (True,)
    ]


def _bi_reset_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s) ORDER BY 1, 2",
        (list(BI_RESET_SCHEMAS),),
    ).fetchall()
    return [(schema, table) for schema, table in rows if not table.startswith(_MIGRATION_TABLE_PREFIXES)]


def _truncate(conn: psycopg.Connection, tables: list[tuple[str, str]]) -> None:
    if tables:
        names = sql.SQL(", ").join(sql.Identifier(schema, table) for schema, table in tables)
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(names))


def _refuse_if_not_empty(crm: psycopg.Connection, bi: psycopg.Connection) -> None:
    crm_busy = _existing_rows(crm, CRM_TABLES)
    bi_busy = _existing_rows(bi, BI_SEEDED_TABLES)
    if crm_busy or bi_busy:
        where = "; ".join(
            part
            for part in (
                f"CRM tables {', '.join(crm_busy)}" if crm_busy else "",
                f"BI tables {', '.join(bi_busy)}" if bi_busy else "",
            )
            if part
        )
        raise SampleDataError(
            f"refusing to seed: the databases already hold data ({where}). "
            "Run `hyperdash seed --reset` (or pass reset=True) to empty them and seed again."
        )


def _deferred_schema(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[sql.SQL | sql.Composed]:
    """Drop the keys and indexes of `tables` for the load; return the statements that restore them.

    The bulk-load recipe pg_restore uses: a sorted index build and one anti-join per foreign key
    after the load cost a fraction of an index insert and a trigger call per row. Definitions come
    from the catalog (pg_get_constraintdef / pg_get_indexdef) and everything happens inside the
    seed's transaction, so a failure rolls the schema back with the data: nothing stays disabled.
    """
    regclasses = {"tables": [f"public.{table}" for table in tables]}
    constraints = conn.execute(read_sql("sample/deferrable_constraints.sql"), regclasses).fetchall()
    indexes = conn.execute(read_sql("sample/deferrable_indexes.sql"), regclasses).fetchall()
    keys: list[sql.SQL | sql.Composed] = []
    foreign_keys: list[sql.SQL | sql.Composed] = []
    for schema, table, name, kind, definition in constraints:
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, sql.Identifier(name)))
        add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(target, sql.Identifier(name), sql.SQL(definition))
        (foreign_keys if kind == "f" else keys).append(add)
    for schema, name, _definition in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    return [*keys, *(sql.SQL(definition) for _, _, definition in indexes), *foreign_keys]


def _count(conn: psycopg.Connection, prefix: str, tables: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for table in tables:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        counts[f"{prefix}.{table}"] = int(row[0]) if row else 0
    return counts


def default_workers(leads: int) -> int:
    """One CRM worker per CPU, but never fewer than `MIN_LEADS_PER_WORKER` leads each."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS, leads // MIN_LEADS_PER_WORKER))


def _lead_ranges(leads: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous, disjoint ranges (first, last) covering leads 1..leads: `CHUNKS_PER_WORKER` per worker
    (so progress moves in steps small enough to give an ETA), each at least `MIN_LEADS_PER_WORKER`."""
    chunks = max(workers, min(workers * CHUNKS_PER_WORKER, leads // MIN_LEADS_PER_WORKER))
    bounds = [leads * k // chunks for k in range(chunks + 1)]
    return [(bounds[k] + 1, bounds[k + 1]) for k in range(chunks) if bounds[k + 1] > bounds[k]]


def _create_staging(conn: psycopg.Connection) -> None:
    """Empty UNLOGGED copies of the CRM tables (columns and defaults only) in `STAGING_SCHEMA`."""
    schema = sql.Identifier(STAGING_SCHEMA)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
    for table in CRM_TABLES:
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                sql.Identifier(STAGING_SCHEMA, table), sql.Identifier("public", table)
            )
        )


def _drop_staging(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(STAGING_SCHEMA)))


def _generate_crm_range(conn: psycopg.Connection, params: dict[str, object]) -> None:
    """One worker's share: the plan and rows of leads first_lead..last_lead, into the staging tables.

    The sample files insert into unqualified table names; the search path sends them to staging.
    """
    _prepare_session(conn, params)
    conn.execute(sql.SQL("SET LOCAL search_path = {}, public").format(sql.Identifier(STAGING_SCHEMA)))
    for path in _CRM_FILES:
        conn.execute(read_sql(path))
    conn.commit()


def _run_workers(
    resource: PostgresResource,
    params: dict[str, object],
    ranges: list[tuple[int, int]],
    workers: int,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Generate the CRM ranges on `workers` concurrent sessions; the first failure cancels the rest.

    Each range gets a session of its own (a range's temp helpers live in its session), at most
    `workers` at a time; `on_progress(leads_done, leads)` hears of every finished range."""
    live: set[psycopg.Connection] = set()
    lock = threading.Lock()
    total = sum(last - first + 1 for first, last in ranges)

    def generate(first: int, last: int) -> int:
        with resource.connect() as conn:
            with lock:
                live.add(conn)
            try:
                _generate_crm_range(conn, params | {"first_lead": first, "last_lead": last})
            finally:
                with lock:
                    live.discard(conn)
        return last - first + 1

    with ThreadPoolExecutor(max_workers=min(workers, len(ranges)), thread_name_prefix="hyperdash-seed") as pool:
        futures = [pool.submit(generate, first, last) for first, last in ranges]
        done = 0
        for future in as_completed(futures):
            if future.exception() is not None:
                for pending in futures:
                    pending.cancel()
                with lock:
                    for conn in live:
                        conn.cancel_safe()
                future.result()
            done += future.result()
            if on_progress:
                on_progress(done, total)


def _move_from_staging(conn: psycopg.Connection) -> dict[str, int]:
    """Copy the staged rows into the (empty) CRM tables; return the rows each table now holds."""
    counts = {}
    for table in CRM_TABLES:
        cursor = conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                sql.Identifier("public", table), sql.Identifier(STAGING_SCHEMA, table)
            )
        )
        counts[f"crm.{table}"] = cursor.rowcount
    return counts


def _lock_seed(conn: psycopg.Connection) -> None:
    """One seed at a time per CRM database: they would share the staging schema."""
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (STAGING_SCHEMA,)).fetchone()
    if row != (True,):
        raise SampleDataError("another `hyperdash seed` is running on this CRM database; wait for it to finish")


def seed_sample_data(
    crm_url: str,
    bi_url: str,
    *,
    leads: int = 20_000,
    seed: int = 42,
    organizations: int = 3,
    days: int = 120,
    today: date | None = None,
    reset: bool = False,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> SeedSummary:
    """Fill the CRM and BI databases with `leads` leads over the `days` days before `today` (UTC).

    Refuses when either database already holds seeded tables' rows unless `reset` is true, which
    first empties the CRM tables and every BI data table (so no stale sync state or derived table
    survives). `workers` CRM sessions (default: one per CPU) generate disjoint lead ranges into
    unlogged staging tables at the same time; one CRM transaction then moves the rows into the
    real tables and rebuilds their keys. BI is written in one transaction, committed just before
    the CRM's. The rows do not depend on `workers`. `on_progress(leads_generated, leads)` is called
    as ranges of leads are generated (the final move into the real tables follows).
    """
    _validate(leads, seed, organizations, days)
    workers = default_workers(leads) if workers is None else workers
    if workers < 1:
        raise SampleDataError(f"workers must be at least 1 (got {workers})")
    today = today or datetime.now(UTC).date()
    params = {"seed": seed, "leads": leads, "organizations": organizations, "days": days, "today": today}
    started = time.perf_counter()
    crm_resource = PostgresResource(url=crm_url, application_name="hyperdash-seed/crm", statement_timeout_ms=0)
    bi_resource = PostgresResource(url=bi_url, application_name="hyperdash-seed/bi", statement_timeout_ms=0)
    with crm_resource.connection(autocommit=True) as control:
        _require_tables(control, "CRM", CRM_TABLES)
        _lock_seed(control)
        try:
            with bi_resource.connection() as bi:
                _require_tables(bi, "BI", BI_SEEDED_TABLES)
                if not reset:
                    _refuse_if_not_empty(control, bi)
                _create_staging(control)
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyperdash-seed-bi") as pool:
                    bi_done = pool.submit(_seed_bi, bi, params | {"first_lead": 1, "last_lead": leads}, reset)
                    _run_workers(crm_resource, params, _lead_ranges(leads, workers), workers, on_progress)
                    bi_tables = bi_done.result()
                with crm_resource.connection() as crm:
                    counts = _finish_crm(crm, reset)
                    counts |= _count(bi, "bi", BI_SEEDED_TABLES)
                    bi.commit()
        finally:
            with contextlib.suppress(psycopg.Error):  # never hide the seed's own error; the next seed drops it
                _drop_staging(control)
    reset_tables = [("public", t) for t in CRM_TABLES] + bi_tables if reset else []
    return SeedSummary(
        seed=seed,
        leads=leads,
        organizations=organizations,
        days=days,
        today=today,
        counts=counts,
        elapsed_seconds=time.perf_counter() - started,
        reset_tables=tuple(f"{schema}.{table}" for schema, table in reset_tables),
    )


def _seed_bi(bi: psycopg.Connection, params: dict[str, object], reset: bool) -> list[tuple[str, str]]:
    """Empty BI (with `reset`) and write its tables, leaving the transaction open; return what was emptied."""
    bi_tables = _bi_reset_tables(bi) if reset else []
    _truncate(bi, bi_tables)
    _prepare_session(bi, params)
    for path in _BI_FILES:
        bi.execute(read_sql(path))
    _analyze(bi, "public", BI_SEEDED_TABLES)
    return bi_tables


def _finish_crm(crm: psycopg.Connection, reset: bool) -> dict[str, int]:
    """In the CRM's one transaction: empty (with `reset`), drop keys, move the staged rows, rebuild keys.

    The tables were empty (or emptied here), so the rows moved are the rows they hold: no count(*).
    """
    crm.execute(read_sql("sample/session.sql"))
    if reset:
        _truncate(crm, [("public", t) for t in CRM_TABLES])
    restore = _deferred_schema(crm, CRM_TABLES)
    busy = [] if reset else _existing_rows(crm, CRM_TABLES)  # written to since the check at the start?
    if busy:
        raise SampleDataError(f"refusing to seed: CRM tables {', '.join(busy)} got rows while the seed ran")
    counts = _move_from_staging(crm)
    for statement in restore:
        crm.execute(statement)
    _analyze(crm, "public", CRM_TABLES)
    return counts


def _analyze(conn: psycopg.Connection, schema: str, tables: Sequence[str]) -> None:
    """Statistics for the tables just written, in the seed's transaction.

    Without them (a server with autovacuum off, or before autovacuum's next pass) the planner guessed a third
    of each table for the sync's poll of rows beyond its watermark and scanned the whole table: 0.2-0.6 s per
    poll at 1M leads (docs/scale.md).
    """
    for table in tables:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
