"""The stage tables of a parallel full rebuild: its parts write there, one transaction loads them into place.

The parts (attribution/parallel.py) run the one-session rebuild's own steps, retargeted at an UNLOGGED copy
of each table's columns, with no index, constraint or trigger to maintain and no WAL to write. Then one
transaction empties the stored tables, loads the stage into them (transforms.bulk_load: indexes built once)
and saves the state, so readers see the old tables until that commit and the new ones after it. Writing the
parts straight into the indexed tables (upserts and deletes, as an organization's rebuild does) cost 2.1-2.6x
the database CPU of the one-session rebuild and 9x its WAL, which made 2 sessions slower than one.

The stage tables live in `public`, where the analyst role has no default privileges (docs/security.md):
a stage of the quarantine holds rejected payloads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

import psycopg
from psycopg import sql

STAGE_PREFIX = "rebuild_stage_"


def stage_name(table: str) -> str:
    """The stage of `table` ("schema.table"): public.rebuild_stage_<schema>_<table>."""
    schema, name = table.split(".")
    return f"public.{STAGE_PREFIX}{schema}_{name}"


def _identifier(table: str) -> sql.Identifier:
    return sql.Identifier(*table.split("."))


@contextmanager
def staged(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[dict[str, str]]:
    """Empty stage tables for `tables` ("schema.table"), committed so other sessions can write them; yields
    {table: stage}. Dropped (committed) afterwards, whether the rebuild succeeded or not; a stage left by a
    crashed process is replaced by the next rebuild's."""
    stages = {table: stage_name(table) for table in tables}
    try:
        for table, stage in stages.items():
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_identifier(stage)))
            conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING IDENTITY)").format(
                    _identifier(stage), _identifier(table)
                )
            )
        conn.commit()
        yield stages
    finally:
        # Never hide the rebuild's own error behind the cleanup's (a lost connection): a stage left behind is
        # replaced by the next rebuild's.
        with suppress(psycopg.Error):
            conn.rollback()
            for stage in stages.values():
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_identifier(stage)))
            conn.commit()


def load_stage(conn: psycopg.Connection, stage: str, table: str) -> int:
    """Append every row of `stage` to `table`; the rows loaded. The caller holds the transaction, emptied the
    table and dropped its indexes (bulk_load). An identity column is left to the table: the stage numbered
    its rows from a sequence of its own."""
    columns = [
        sql.Identifier(name)
        for (name,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "AND attidentity = '' AND attgenerated = '' ORDER BY attnum",
            (table,),
        )
    ]
    listed = sql.SQL(", ").join(columns)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                _identifier(table), listed, listed, _identifier(stage)
            )
        )
        return cur.rowcount
