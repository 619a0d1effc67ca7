"""Generate a realistic, reproducible CRM + BI data set inside PostgreSQL.

Everything is produced by `INSERT ... SELECT` over `generate_series` (files under `sql/sample/`);
Python only binds the parameters, runs the files and counts the result. Every value is a hash of
(seed, purpose, row index), so one seed gives identical rows, ids included, whatever the plan.
"""

from __future__ import annotations

import time
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
) -> SeedSummary:
    """Fill the CRM and BI databases with `leads` leads over the `days` days before `today` (UTC).

    Refuses when either database already holds seeded tables' rows unless `reset` is true, which
    first empties the CRM tables and every BI data table (so no stale sync state or derived table
    survives). Both databases are written in one transaction each, committed at the end (BI first).
    """
    _validate(leads, seed, organizations, days)
    today = today or datetime.now(UTC).date()
    params = {"seed": seed, "leads": leads, "organizations": organizations, "days": days, "today": today}
    started = time.perf_counter()
    crm_resource = PostgresResource(url=crm_url, application_name="hyperdash-seed/crm", statement_timeout_ms=0)
    bi_resource = PostgresResource(url=bi_url, application_name="hyperdash-seed/bi", statement_timeout_ms=0)
    with crm_resource.connection() as crm, bi_resource.connection() as bi:
        _require_tables(crm, "CRM", CRM_TABLES)
        _require_tables(bi, "BI", BI_SEEDED_TABLES)
        reset_tables: list[tuple[str, str]] = []
        if reset:
            reset_tables = [("public", t) for t in CRM_TABLES]
            _truncate(crm, reset_tables)
            bi_tables = _bi_reset_tables(bi)
            _truncate(bi, bi_tables)
            reset_tables += bi_tables
        else:
            _refuse_if_not_empty(crm, bi)
        restore = _deferred_schema(crm, CRM_TABLES)
        for conn, files in ((bi, _BI_FILES), (crm, _CRM_FILES)):
            _prepare_session(conn, params)
            for path in files:
                conn.execute(read_sql(path))
        for statement in restore:
            crm.execute(statement)
        counts = _count(crm, "crm", CRM_TABLES) | _count(bi, "bi", BI_SEEDED_TABLES)
        bi.commit()
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
