"""Running the step files of sql/transforms: one serialised, consistent transaction per refresh.

A step file holds `-- step: name` sections. Its header (the comment lines before the first step) declares
the order in which they run:

    -- plan changed: deletions changed leads[changed_leads] upsert
    -- scope changed_leads: AND l.id = ANY (...)

A plan is a sequence of the file's steps; `step[scope]` runs the step with its `{scope}` placeholder replaced
by the named scope (a WHERE fragment or a relation, declared in the same header), and without brackets by
nothing. A line `{step:other}` in a step's body stands for the other step's statement (an upsert that is the
plain insert plus ON CONFLICT: the SELECT written once). Python picks a plan by name and reads the row
counts of its steps; the order lives beside the SQL.

A refresh runs its plans in a single REPEATABLE READ transaction (every step sees the same data), after
taking a session advisory lock so that two refreshes of the same tables never interleave.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from psycopg import IsolationLevel, sql

from hyperdash_pipeline.settings import read_sql

# Sorts and hashes of a refresh stay in memory up to this (PostgreSQL's default, 4MB, spills to disk).
WORK_MEM = "256MB"
_STEP = re.compile(r"^-- step: (\w+)\s*$", re.MULTILINE)


_PLAN = re.compile(r"^-- plan (\w+): (.+)$", re.MULTILINE)
_SCOPE = re.compile(r"^-- scope (\w+): (.+)$", re.MULTILINE)
_PLAN_STEP = re.compile(r"^(\w+)(?:\[(\w+)\])?$")
_INCLUDE = re.compile(r"^\{step:(\w+)\}$", re.MULTILINE)


class TransformFileError(ValueError):
    """A step file under sql/ whose plans, scopes or includes do not fit together."""


@cache
def sql_steps(relative_path: str) -> dict[str, str]:
    """The `-- step: name` sections of a transform file under sql/, `{step:other}` includes expanded."""
    return parse_steps(relative_path, read_sql(relative_path))


def parse_steps(path: str, text: str) -> dict[str, str]:
    """The `-- step: name` sections of a step file's text (`path` names it in errors)."""
    parts = _STEP.split(text)
    raw = {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
    return {name: _expand_include(path, raw, name) for name in raw}


def _expand_include(path: str, raw: dict[str, str], name: str) -> str:
    body = raw[name]
    found = _INCLUDE.search(body)
    if not found:
        return body
    included = found.group(1)
    if included not in raw or _INCLUDE.search(raw[included]):
        raise TransformFileError(f"{path}: step {name} includes {{step:{included}}}, which is not a plain step there")
    return body[: found.start()] + raw[included].rstrip().rstrip(";") + body[found.end() :]


@dataclass(frozen=True)
class Transform:
    """A step file and the plans its header declares; `run` executes one plan inside the caller's transaction."""

    path: str
    steps: dict[str, str]
    plans: dict[str, tuple[tuple[str, str], ...]]  # plan -> ((step, scope name or ""), ...)
    scopes: dict[str, str]

    def query(self, step: str) -> str:
        """One step's SQL, for the queries a refresh reads a value from (counts, state, digests)."""
        return self.steps[step]

    def run(
        self, conn: psycopg.Connection, plan: str, params: dict[str, Any], tables: Mapping[str, str] | None = None
    ) -> dict[str, int]:
        """Run the plan's steps in order; each step's row count by step name (summed when it runs twice).

        `tables` runs the same steps against other tables of the same columns: each schema-qualified name in
        a step or its scope is replaced by its stand-in (e.g. the stage tables a parallel rebuild writes),
        unless quoted on its own ("public.t" or 'public.t') or part of a longer name. A text that merely
        contains the name inside a longer string would be replaced too: the step files have none.
        """
        statements = [(step, self.steps[step], self.scopes[scope] if scope else "") for step, scope in self.plans[plan]]
        if tables:
            statements = self._retargeted(plan, statements, tables)
        counts: dict[str, int] = {}
        for step, body, fragment in statements:
            written = run_step(conn, body, params, fragment)
            counts[step] = counts.get(step, 0) + written
        return counts

    def _retargeted(
        self, plan: str, statements: list[tuple[str, str, str]], tables: Mapping[str, str]
    ) -> list[tuple[str, str, str]]:
        for table, stand_in in tables.items():
            pattern = re.compile(r"(?<![\w.\"'])" + re.escape(table) + r"(?![\w\"'])")
            if "." not in table or not any(pattern.search(body + fragment) for _, body, fragment in statements):
                raise TransformFileError(
                    f"{self.path}: plan {plan} names no table {table!r} (a schema-qualified name) to replace"
                )
            statements = [
                (step, pattern.sub(stand_in, body), pattern.sub(stand_in, fragment))
                for step, body, fragment in statements
            ]
        return statements


@cache
def load_transform(relative_path: str) -> Transform:
    """The step file under sql/ with its header's plans and scopes."""
    return parse_transform(relative_path, read_sql(relative_path))


def parse_transform(path: str, text: str) -> Transform:
    """A step file's text, checked: every plan names steps and scopes the file has (TransformFileError if not)."""
    header = _STEP.split(text)[0]
    steps = parse_steps(path, text)
    scopes = {name: fragment.strip() for name, fragment in _SCOPE.findall(header)}
    plans = {name: _parse_plan(path, name, line, steps, scopes) for name, line in _PLAN.findall(header)}
    return Transform(path, steps, plans, scopes)


def _parse_plan(
    path: str, plan: str, line: str, steps: dict[str, str], scopes: dict[str, str]
) -> tuple[tuple[str, str], ...]:
    parsed = []
    for token in line.split():
        found = _PLAN_STEP.match(token)
        if not found:
            raise TransformFileError(f"{path}: plan {plan}: {token!r} is not `step` or `step[scope]`")
        step, scope = found.group(1), found.group(2) or ""
        if step not in steps:
            raise TransformFileError(f"{path}: plan {plan} names step {step}, which the file does not define")
        if scope and scope not in scopes:
            raise TransformFileError(f"{path}: plan {plan} names scope {scope}, which the header does not declare")
        parsed.append((step, scope))
    return tuple(parsed)


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
def shared(conn: psycopg.Connection, key: str) -> Iterator[None]:
    """A shared session advisory lock on `key`: it waits for (and holds off) `serialised(key)`, a whole-table
    refresh, but not other holders of the shared lock (refreshes of disjoint rows). Released like `serialised`."""
    conn.execute("SELECT pg_advisory_lock_shared(hashtext(%s))", (key,))
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.execute("SELECT pg_advisory_unlock_shared(hashtext(%s))", (key,))
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
    """Drop `table`'s indexes and constraints, run the load, recreate them exactly as they were, ANALYZE it.

    Building an index once after a full load is several times faster than maintaining it row by row
    (and one foreign-key validation beats a trigger per row). Skipped when another table references it.
    The statistics are gathered in the same transaction: the next refresh plans against the loaded table,
    not against the empty one (or none) of before, whether or not autovacuum has run by then.
    """
    with _indexes_dropped(conn, table):
        yield
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(*table.split("."))))


@contextmanager
def _indexes_dropped(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """`table` without its indexes and constraints inside the block, with them as they were after it; left as
    it is when another table references it."""
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


def run_step(conn: psycopg.Connection, body: str, params: dict[str, Any], scope: str = "") -> int:
    """Execute one step's SQL, its `{scope}` filled in; its row count (inserted/deleted rows)."""
    query = body.replace("{scope}", scope)
    with conn.cursor() as cur:
        # Steps without placeholders may hold several statements (only the simple protocol allows that).
        cur.execute(query, params if "%(" in query else None)
        return cur.rowcount


def scalar(
    conn: psycopg.Connection,
    query: str | sql.Composable,
    params: Sequence[object] | Mapping[str, object] | None = None,
) -> Any:
    """The first column of the query's first row; None when it returns no row."""
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None
