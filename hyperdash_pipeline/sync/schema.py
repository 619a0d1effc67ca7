"""The BI mirror follows the CRM's own schema (docs/sync.md "The mirror follows the CRM").

Before a table moves, its CRM columns (from the CRM's catalog) are compared with its mirror's:

- a column the CRM has and the mirror lacks is added (ADD COLUMN, nullable: no rewrite) and backfilled for
  the rows BI already holds, from the same CRM snapshot as the run's rows;
- a column the mirror has and the CRM no longer has stays, NULL from then on (reported in the metadata);
- a type that widens safely (integer -> bigint, varchar(n) -> text, more numeric precision) is widened in
  place; a mirror type already wider that reads the CRM's values as they are (text for varchar(n)) stays;
  any other type change rebuilds the table: emptied, column retyped, re-copied whole, with a message.

Binary COPY needs the types equal on both sides, which is why a type is never left different.
Only the columns the analytics read are required; a missing one is an error naming the migration that adds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from hyperdash_pipeline.settings import read_sql

MIRROR_SCHEMA = "crm_raw"
# The CRM tables the pipeline reads and mirrors (docs/contracts.md), defined here once: no Dagster import, so the
# engine and the migrations read it without loading the code location.
CRM_TABLES = ("contacts", "leads", "deals", "tasks", "notes", "activities")
_ADOPT = "`hyperdash migrate --existing-crm` adds it (sql/crm_adopt/adopt_existing_crm.sql)"
_OWN = "no migration can add it, it is the CRM's own data: add it to the CRM table"
_ATTRIBUTION = (
    "campaign_id",
    "ad_id",
    "ad_set_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "fbclid",
    "touchpoints",
    "attribution_synced",
)
# What the sync and the analytics read from each CRM table, with where a missing one comes from.
REQUIRED_COLUMNS: dict[str, dict[str, str]] = {
    table: {"id": _OWN, "updated_at": _ADOPT} for table in ("contacts", "tasks", "notes", "activities")
} | {
    "leads": {"id": _OWN, "organization_id": _OWN, "created_at": _OWN, "updated_at": _ADOPT}
    | dict.fromkeys(_ATTRIBUTION, _ADOPT),
    "deals": {
        "id": _OWN,
        "organization_id": _OWN,
        "lead_id": _OWN,
        "stage": _OWN,
        "amount": _OWN,
        "updated_at": _ADOPT,
    },
}


class SchemaError(RuntimeError):
    """The CRM table lacks a column the pipeline needs; the message names it and what adds it."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool = False


@dataclass
class MirrorPlan:
    """What one table's mirror needs to match its CRM table, and the columns a run moves."""

    table: str
    crm: list[Column]
    mirror: list[Column]
    added: list[Column] = field(default_factory=list)
    widened: list[tuple[Column, Column]] = field(default_factory=list)  # (mirror, crm)
    retyped: list[tuple[Column, Column]] = field(default_factory=list)  # not safe: the table is rebuilt
    dropped: list[Column] = field(default_factory=list)  # in the mirror, gone from the CRM
    nullable: list[Column] = field(default_factory=list)  # NOT NULL in the mirror, nullable in the CRM
    # Added columns whose value is the same on every CRM row BI may hold (a column added with a default): the
    # mirror adds them with that value as a default, metadata-only, and they need no backfill. None: all NULL.
    constant: dict[str, str | None] = field(default_factory=dict)

    @property
    def changes_mirror(self) -> bool:
        return bool(self.added or self.widened or self.retyped or self.nullable)

    @property
    def rebuild(self) -> bool:
        return bool(self.retyped)

    def mirror_names(self) -> tuple[str, ...]:
        """The mirror's columns after the plan (the upsert writes all of them: dropped ones get NULL)."""
        return tuple(c.name for c in self.mirror) + tuple(c.name for c in self.added)

    def copied_names(self) -> tuple[str, ...]:
        """The columns read from the CRM, in mirror order: the mirror's that the CRM still has."""
        gone = {c.name for c in self.dropped}
        return tuple(name for name in self.mirror_names() if name not in gone)

    def to_backfill(self) -> list[Column]:
        return [c for c in self.added if c.name not in self.constant]

    def messages(self) -> list[str]:
        target = f"{MIRROR_SCHEMA}.{self.table}"
        lines = [
            f"{target}.{c.name} {c.type} added from the CRM and "
            + ("backfilled" if c.name not in self.constant else "filled (one value on every row, no rewrite)")
            for c in self.added
        ]
        lines += [f"{target}.{old.name} widened in place: {old.type} -> {new.type}" for old, new in self.widened]
        lines += [f"{target}.{c.name} made nullable (nullable or gone in the CRM)" for c in self.nullable]
        lines += [
            f"{target} rebuilt (emptied, re-copied whole): {old.name} is {old.type} in BI but {new.type} in the CRM, "
            "which is not a safe widening"
            for old, new in self.retyped
        ]
        return lines


def read_columns(conn: psycopg.Connection, qualified_table: str) -> list[Column]:
    """A table's columns in order, with their exact types, without the mirror's own _synced_at; [] when absent."""
    rows = conn.execute(read_sql("transforms/sync/table_columns.sql"), {"table": qualified_table}).fetchall()
    return [Column(name, type_, not_null) for name, type_, not_null in rows]


def plan_mirror(crm_conn: psycopg.Connection, bi_conn: psycopg.Connection, table: str) -> MirrorPlan:
    """Compare the CRM table with its mirror; raises SchemaError when a required column is missing."""
    crm = read_columns(crm_conn, f"public.{table}")
    mirror = read_columns(bi_conn, f"{MIRROR_SCHEMA}.{table}")
    if not crm:
        raise SchemaError(f"the CRM has no table public.{table}: the pipeline reads its six tables (docs/contracts.md)")
    if not mirror:
        raise SchemaError(f"BI has no {MIRROR_SCHEMA}.{table}: run `hyperdash migrate`")
    _check_required(table, {c.name for c in crm})
    plan = MirrorPlan(table, crm, mirror)
    in_crm = {c.name: c for c in crm}
    in_mirror = {c.name for c in mirror}
    plan.added = [c for c in crm if c.name not in in_mirror]
    for column in mirror:
        source = in_crm.get(column.name)
        if column.not_null and (source is None or not source.not_null):
            plan.nullable.append(column)
        if source is None:
            plan.dropped.append(column)
        elif source.type != column.type and not reads_as_is(source.type, column.type):
            (plan.widened if widens_safely(column.type, source.type) else plan.retyped).append((column, source))
    return plan


def _check_required(table: str, present: set[str]) -> None:
    missing = [(name, fix) for name, fix in REQUIRED_COLUMNS[table].items() if name not in present]
    if missing:
        raise SchemaError(
            "; ".join(f"the CRM's {table}.{name} is missing: {fix}" for name, fix in missing)
            + " (the sync and the analytics read it; docs/sync.md lists the required columns)"
        )


_INTEGERS = {"smallint": 1, "integer": 2, "bigint": 3}
_VARCHAR = re.compile(r"character varying(?:\((\d+)\))?$")
_NUMERIC = re.compile(r"numeric(?:\((\d+),(\d+)\))?$")


def widens_safely(old: str, new: str) -> bool:
    """True when every value of type `old` is a value of `new` unchanged (format_type spellings)."""
    if old in _INTEGERS and new in _INTEGERS:
        return _INTEGERS[new] > _INTEGERS[old]
    if (old_varchar := _VARCHAR.match(old)) and (new == "text" or _VARCHAR.match(new)):
        new_varchar = _VARCHAR.match(new)
        new_length = new_varchar.group(1) if new_varchar else None
        old_length = old_varchar.group(1)
        return new_length is None or (old_length is not None and int(new_length) >= int(old_length))
    if (old_numeric := _NUMERIC.match(old)) and (new_numeric := _NUMERIC.match(new)):
        if new_numeric.group(1) is None:
            return True
        if old_numeric.group(1) is None:
            return False
        old_precision, old_scale = int(old_numeric.group(1)), int(old_numeric.group(2))
        new_precision, new_scale = int(new_numeric.group(1)), int(new_numeric.group(2))
        return new_scale == old_scale and new_precision >= old_precision
    return False


def reads_as_is(crm_type: str, mirror_type: str) -> bool:
    """True when the mirror's type is already wider and binary COPY carries the CRM's values into it as they
    are (varchar and numeric share their wire format with text and wider numerics; integers do not)."""
    return crm_type not in _INTEGERS and widens_safely(crm_type, mirror_type)


def apply_plan(bi_conn: psycopg.Connection, plan: MirrorPlan) -> None:
    """Bring the mirror to the CRM's shape (inside the caller's BI transaction); a rebuild empties it first."""
    target = sql.Identifier(MIRROR_SCHEMA, plan.table)
    if plan.rebuild:
        bi_conn.execute(sql.SQL("TRUNCATE {}").format(target))
    for column in plan.nullable:
        bi_conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(target, _name(column)))
    for old, new in plan.widened:
        bi_conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(target, _name(old), _type(new)))
    for old, new in plan.retyped:  # the table is empty: USING NULL converts no row, even of the primary key
        bi_conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING NULL").format(target, _name(old), _type(new))
        )
    for column in plan.added:
        add = sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, _name(column), _type(column))
        value = plan.constant.get(column.name)
        if value is None:
            bi_conn.execute(add)
            continue
        # A constant default given with ADD COLUMN is metadata-only: the rows already there read it unchanged.
        # It is dropped at once: the mirror has no defaults, every value comes from the CRM.
        bi_conn.execute(sql.SQL("{} DEFAULT {}::{}").format(add, sql.Literal(value), _type(column)))
        bi_conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(target, _name(column)))


def find_constant_columns(crm_conn: psycopg.Connection, plan: MirrorPlan, upper_bound: object) -> None:
    """Fill `plan.constant` with the added columns that hold one value (or only NULL) on every CRM row stamped
    below the upper bound, read in the run's snapshot: two index-free probes that stop at the first difference,
    against a backfill that rewrites every mirror row."""
    source = sql.Identifier("public", plan.table)
    for column in plan.added:
        text = sql.SQL("{}::text").format(_name(column))
        first = crm_conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE updated_at < %s LIMIT 1").format(text, source), [upper_bound]
        ).fetchone()
        if first is None:
            continue  # no rows: nothing to backfill either way
        differs = crm_conn.execute(
            sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE updated_at < %s AND {} IS DISTINCT FROM %s)").format(
                source, text
            ),
            [upper_bound, first[0]],
        ).fetchone()
        if differs == (False,):
            plan.constant[column.name] = first[0]


def _name(column: Column) -> sql.Identifier:
    return sql.Identifier(column.name)


def _type(column: Column) -> sql.SQL:
    """A type name as PostgreSQL's format_type() printed it from a catalog: safe to splice back into DDL."""
    return sql.SQL(column.type)  # catalog text, not user input


def backfill_query(plan: MirrorPlan, upper_bound: object) -> sql.Composed:
    """The CRM rows' id and added columns, for the rows BI may already hold (stamped below the upper bound)."""
    columns = sql.SQL(", ").join(_name(c) for c in plan.to_backfill())
    return sql.SQL("COPY (SELECT id, {} FROM {} WHERE updated_at < {}) TO STDOUT (FORMAT binary)").format(
        columns, sql.Identifier("public", plan.table), sql.Literal(upper_bound)
    )


def backfill_update(plan: MirrorPlan, stage: sql.Identifier) -> sql.Composed:
    """Copy the staged values of the added columns onto the mirror rows; rows whose values are all NULL
    already read right and are not rewritten."""
    names = [_name(c) for c in plan.to_backfill()]
    stage_columns = [sql.SQL("s.{}").format(n) for n in names]
    return sql.SQL(
        "UPDATE {target} AS t SET ({columns}, _synced_at) = ROW({stage_columns}, now()) FROM {stage} AS s "
        "WHERE t.id = s.id AND NOT ({all_null})"
    ).format(
        target=sql.Identifier(MIRROR_SCHEMA, plan.table),
        columns=sql.SQL(", ").join(names),
        stage_columns=sql.SQL(", ").join(stage_columns),
        stage=stage,
        all_null=sql.SQL(" AND ").join(sql.SQL("{} IS NULL").format(c) for c in stage_columns),
    )


def stage_definition(plan: MirrorPlan, stage: sql.Identifier) -> sql.Composed:
    columns = [Column("id", next(c.type for c in plan.crm if c.name == "id")), *plan.to_backfill()]
    return sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        stage, sql.SQL(", ").join(sql.SQL("{} {}").format(_name(c), _type(c)) for c in columns)
    )
