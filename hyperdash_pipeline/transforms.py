"""Running the step files of sql/transforms: one serialised, consistent transaction per refresh.

A step file holds `-- step: name` sections; a refresh runs them one by one in a single REPEATABLE READ
transaction (every step sees the same data), after taking a session advisory lock so that two refreshes of
the same tables never interleave.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg import IsolationLevel, sql

from hyperdash_pipeline.settings import read_sql

# Sorts and hashes of a refresh stay in memory up to this (PostgreSQL's default, 4MB, spills to disk).
WORK_MEM = "256MB"
_STEP = re.compile(r"^-- step: (\w+)\s*$", re.MULTILINE)


@cache
def sql_steps(relative_path: str) -> dict[str, str]:
    """The `-- step: name` sections of a transform file under sql/."""
    parts = _STEP.split(read_sql(relative_path))
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@contextmanager
def serialised(conn: psycopg.Connection, key: str) -> Iterator[None]:
    """A session advisory lock on `key`, taken before the data snapshot and released after the commit."""
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        conn.commit()


@contextmanager
def snapshot_transaction(conn: psycopg.Connection) -> Iterator[None]:
    """One REPEATABLE READ transaction: every step and the watermark see the same data."""
    if conn.autocommit:
        raise ValueError("pass a connection with autocommit off; the refresh commits its own transaction")
    previous = conn.isolation_level
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            conn.execute("SET LOCAL timezone = 'UTC'")
            conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            yield
        conn.commit()
    finally:
        conn.isolation_level = previous


@contextmanager
def bulk_load(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Drop `table`'s indexes and constraints, run the load, recreate them exactly as they were.

    Building an index once after a full load is several times faster than maintaining it row by row
    (and one foreign-key validation beats a trigger per row). Skipped when another table references it.
    """
    found = conn.execute(read_sql("transforms/table_indexes.sql"), {"table": table}).fetchall()
    if any(kind == "referenced_by" for kind, *_ in found):
        yield
        return
    relation = sql.Identifier(*table.split("."))
    constraints = [(name, definition, order) for kind, name, definition, order in found if kind == "constraint"]
    indexes = [(name, definition) for kind, name, definition, _ in found if kind == "index"]
    schema = table.split(".")[0] if "." in table else "public"
    for name, _, _ in sorted(constraints, key=lambda c: -c[2]):
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(relation, sql.Identifier(name)))
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    yield
    for _, definition in indexes:
        conn.execute(definition)  # pg_get_indexdef output: a complete, quoted CREATE INDEX statement
    for name, definition, _ in sorted(constraints, key=lambda c: c[2]):
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(relation, sql.Identifier(name))
            + sql.SQL(definition)  # pg_get_constraintdef output, already quoted
        )


@contextmanager
def trigger_disabled(conn: psycopg.Connection, table: str, trigger: str) -> Iterator[None]:
    """`trigger` off for a bulk load, inside the refresh's transaction: no other session ever sees it off."""
    relation = sql.Identifier(*table.split("."))
    conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(relation, sql.Identifier(trigger)))
    yield
    conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(relation, sql.Identifier(trigger)))


def run_step(
    conn: psycopg.Connection, steps: dict[str, str], name: str, params: dict[str, Any], scope: str = ""
) -> int:
    """Execute one step, its `{scope}` filled in; its row count (inserted/deleted rows)."""
    query = steps[name].replace("{scope}", scope)
    with conn.cursor() as cur:
        # Steps without placeholders may hold several statements (only the simple protocol allows that).
        cur.execute(query, params if "%(" in query else None)
        return cur.rowcount


def scalar(conn: psycopg.Connection, query: str | sql.Composed, params: dict[str, Any] | None = None) -> Any:
    """The first column of the query's single row."""
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]
